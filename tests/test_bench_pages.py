"""The page benchmark's tools work (bench/dataset.py, bench/pages.py); their speed is not judged."""

from __future__ import annotations

import http.server
import importlib.util
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("home", "article", "tag", "feed", "cart")
# reader, page, status, req/s, p50, p99, ratio, errors: one line of the printed table.
ROW = re.compile(
    r"^(anonymous|logged in)\s+(.+?)\s+(\d{3})\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
    r"\s+([\d.]+|-)\s+(\d+)$"
)
WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:5000/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    14.21ms    3.02ms  40.11ms   80.00%
    Req/Sec     1.10k   100.00     1.30k    70.00%
  Latency Distribution
     50%  812.00us
     75%   15.00ms
     90%   18.00ms
     99%    1.25s
  2200 requests in 1.00s, 10.00MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:   2195.50
Transfer/sec:     10.00MB
"""


def bench_module(name: str):
    """Import ``bench/<name>.py`` (bench/ is not a package: its scripts run by path)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location(
            f"bench_{name}", ROOT / "bench" / f"{name}.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        # Registered before it runs: its dataclasses look their module up by name.
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_wrk_latency_and_errors_are_read_in_milliseconds():
    """p50 in microseconds and p99 in seconds come out in ms; errors are non-2xx plus socket."""
    pages = bench_module("pages")
    assert pages.parse_wrk(WRK_OUTPUT) == (2195.5, 0.812, 1250.0, 6)


def test_unreadable_wrk_output_is_a_clear_error():
    """Output without a rate or a latency distribution stops the run with wrk's text."""
    pages = bench_module("pages")
    with pytest.raises(RuntimeError, match="could not read wrk's output"):
        pages.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


@pytest.mark.slow
def test_dataset_is_migrated_and_filled(tmp_path):
    """A tiny dataset: the migrations' head, its members, tags, a commented article, orders."""
    dataset = bench_module("dataset")
    path = tmp_path / "bench.db"
    made = dataset.build(f"sqlite:///{path}", articles=12, members=50, orders=7)
    with sqlite3.connect(path) as db:

        def count(sql: str) -> int:
            return db.execute(sql).fetchone()[0]

        heads = {row[0] for row in db.execute("SELECT version_num FROM alembic_version")}
        assert count("SELECT count(*) FROM users WHERE role = 'reader'") == 50
        assert count("SELECT count(*) FROM digest_preferences") == 50
        assert count("SELECT count(*) FROM articles WHERE status = 'published'") == 12
        assert count("SELECT count(*) FROM tags") == 50
        assert count("SELECT count(*) FROM orders WHERE status = 'paid' AND total > 0") == 7
        thread = count(
            "SELECT count(DISTINCT c.author_id) FROM comments c JOIN articles a"
            f" ON a.id = c.article_id WHERE a.slug = '{made.article_slug}'"
        )
        # The search index was filled by its own triggers, as the migrations made them.
        found = count("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'barges'")
    assert heads == set(ScriptDirectory(str(ROOT / "migrations")).get_heads())
    assert thread > 5  # a thread of several authors
    assert found > 0


@pytest.mark.slow
def test_quick_run_lists_every_page_answering_with_a_rate(tmp_path):
    """``pages.py --quick`` on SQLite: every page, both readers, status 200, req/s above 0."""
    done = subprocess.run(  # noqa: S603  (arguments built here)
        [
            sys.executable,
            str(ROOT / "bench" / "pages.py"),
            "--quick",
            "--database",
            "sqlite",
            "--articles",
            "20",
            "--members",
            "200",
            "--orders",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = [m.groups() for m in map(ROW.match, done.stdout.splitlines()) if m]
    seen = {(reader, page) for reader, page, *_ in rows}
    for reader in ("anonymous", "logged in"):
        for page in PAGES:
            assert (reader, page) in seen, done.stdout
        assert (reader, "bare /robots.txt (before)") in seen
        assert (reader, "bare /robots.txt (after)") in seen
    for _reader, page, status, rate, _p50, _p99, ratio, errors in rows:
        assert status == "200", page
        assert float(rate) > 0, page
        assert ratio != "-" and float(ratio) > 0, page
        assert errors == "0", page


class _Site(http.server.BaseHTTPRequestHandler):
    """A stand-in site: / is a logged-out page, /cart redirects to the login page."""

    def do_GET(self):  # noqa: N802  (http.server's name)
        if self.path == "/cart":
            self.send_response(302)
            self.send_header("Location", "/login")
            self.end_headers()
            return
        body = b"<html><body><a href='/login'>Log in</a></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in_site():
    """The stand-in site on a free port of 127.0.0.1."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_page_not_answering_200_stops_the_run_before_timing(stand_in_site):
    """A redirect instead of the page is named, and nothing is timed."""
    pages = bench_module("pages")
    with pytest.raises(SystemExit, match="/cart answered 302, not 200"):
        pages.check_pages(stand_in_site, [("home", "/"), ("cart", "/cart")], None, [])


def test_a_logged_out_page_stops_the_logged_in_run(stand_in_site):
    """With the reader's cookie, a page without "Log out" means the login did not hold."""
    pages = bench_module("pages")
    with pytest.raises(SystemExit, match="does not show the reader logged in"):
        pages.check_pages(stand_in_site, [("home", "/")], "session=x", ["Print edition 0"])

"""Page benchmark: the reader's pages under gunicorn, as ratios to a bare route.

Usage (from the project folder, inside .venv; needs ``wrk``: ``apt-get install wrk``):

    python bench/pages.py                       # SQLite and PostgreSQL, 200 and 10,000 articles
    python bench/pages.py --database sqlite --articles 200 --duration 10
    python bench/pages.py --quick               # a smoke run: SQLite, 200 articles, 1 s a page

For each database and size it builds a dataset of its own (``bench/dataset.py``: migrated
schema, 100,000 members, 5,000 orders; on PostgreSQL a database next to
``TEST_DATABASE_URL`` that is dropped at the end), serves the app with gunicorn
(``-w 2 wsgi:app`` on a free port of 127.0.0.1, production settings: a real SECRET_KEY,
no debug) and drives it with ``wrk -t2 -c32`` for ``--duration`` seconds a page, after a
warm-up of that page. The pages are home, an article with a long comment thread, a tag
page, the feed and /cart; first as an anonymous reader, then as a reader who logged in
through the login form and put several products in the cart (the session cookie goes to
wrk with ``-H``). Before any timing every page must answer 200, and the logged-in pages
must show the reader logged in and /cart their items, or the run stops.

The ceiling is ``/robots.txt``, a constant answer that touches no database: it is
measured before and after each reader's pages, and each page's ratio is its req/s over
the mean of those two. p50 and p99 come from wrk's ``--latency`` distribution. Nothing
is judged on time: the table is printed; the exit status is 1 only when a page failed
its checks or answered anything but 2xx/3xx under load. Where wrk is missing, locust
(headless) drives the same pages if it is installed.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import dataset  # noqa: E402  (bench/dataset.py, beside this file)
from load import stop  # noqa: E402  (bench/load.py: ending a process it started)

HOST = "127.0.0.1"
THREADS, CONNECTIONS = 2, 32
CEILING = ("bare /robots.txt", "/robots.txt")
PAGES = (
    ("home", "/"),
    ("article", "/articles/{article}"),
    ("tag", "/tags/{tag}"),
    ("feed", "/feed.xml"),
    ("cart", "/cart"),
)
# With --warm 0 (--quick), a few plain requests warm each page: enough for both workers.
QUICK_WARM_REQUESTS = 6
CART_ITEMS = 5  # distinct products the logged-in reader puts in the cart
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
SIZES = {"both": (200, 10_000)}


@dataclass
class Row:
    """One measured page."""

    reader: str
    page: str
    path: str
    status: int
    rate: float
    p50: float  # milliseconds
    p99: float
    errors: int  # answers other than 2xx/3xx, and socket errors, under load
    ratio: float | None = None


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# --- the load tools --------------------------------------------------------------------------


def parse_wrk(output: str) -> tuple[float, float, float, int]:
    """(req/s, p50 ms, p99 ms, errors) from ``wrk --latency`` output."""
    rate = RATE.search(output)
    latency = {pct: float(value) * TO_MS[unit] for pct, value, unit in LATENCY.findall(output)}
    if rate is None or set(latency) != {"50", "99"}:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    errors = sum(int(n) for n in NON_2XX.findall(output))
    sockets = SOCKET_ERRORS.search(output)
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return float(rate.group(1)), latency["50"], latency["99"], errors


def run_wrk(url: str, seconds: int, cookie: str | None) -> tuple[float, float, float, int]:
    """Drive ``url`` with wrk for ``seconds``; its figures."""
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    command += ["--timeout", "10s"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    done = subprocess.run(  # noqa: S603  (arguments built here)
        [*command, url], capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


LOCUSTFILE = """
import os
from locust import FastHttpUser, constant, task

class Reader(FastHttpUser):
    wait_time = constant(0)
    @task
    def page(self):
        cookie = os.environ.get("BENCH_COOKIE")
        self.client.get(os.environ["BENCH_PATH"], headers={"Cookie": cookie} if cookie else {})
"""


def run_locust(url: str, seconds: int, cookie: str | None) -> tuple[float, float, float, int]:
    """The same measure with locust, headless, where wrk is missing."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with tempfile.TemporaryDirectory(prefix="broadsheet-locust-") as folder:
        locustfile = Path(folder) / "locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        env = {**os.environ, "BENCH_PATH": path, "BENCH_COOKIE": cookie or ""}
        done = subprocess.run(  # noqa: S603  (arguments built here)
            [
                shutil.which("locust") or "locust", "-f", str(locustfile),
                "--headless", "--only-summary",
                "-u", str(CONNECTIONS), "-r", str(CONNECTIONS), "-t", f"{seconds}s",
                "--host", base, "--csv", str(Path(folder) / "run"),
            ],
            capture_output=True, text=True, timeout=seconds + 60, env=env, check=False,
        )  # fmt: skip
        stats = Path(folder) / "run_stats.csv"
        if not stats.exists():
            raise RuntimeError(f"locust failed ({done.returncode}): {done.stderr[-2000:]}")
        with stats.open(newline="") as handle:
            total = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return (
        float(total["Requests/s"]),
        float(total["50%"]),
        float(total["99%"]),
        int(total["Failure Count"]),
    )


def load_tool() -> str:
    """wrk, or locust where wrk is missing; with neither, the run stops here."""
    if shutil.which("wrk"):
        return "wrk"
    if shutil.which("locust"):
        return "locust"
    raise SystemExit("Neither wrk nor locust is installed: apt-get install wrk")


# --- the site --------------------------------------------------------------------------------


def start_app(database_url: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    """gunicorn -w 2 over the dataset, on a free port of 127.0.0.1; (process, site)."""
    port = free_port()
    site = f"http://{HOST}:{port}"
    env = dataset.app_environment(database_url, str(workdir / "instance"), SITE_URL=site)
    log = (workdir / "gunicorn.log").open("w")
    process = subprocess.Popen(  # noqa: S603  (arguments built here)
        [
            sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"{HOST}:{port}",
            "--log-level", "warning", "wsgi:app",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn ended ({process.returncode}); see {workdir}/gunicorn.log")
        try:
            if requests.get(site + "/healthz", timeout=2).status_code == 200:
                return process, site
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop(process)
    raise SystemExit(f"gunicorn did not answer /healthz within 60 s; see {workdir}/gunicorn.log")


def log_in_with_cart(site: str, made: dataset.Dataset) -> tuple[str, list[str]]:
    """Log in through the form, fill the cart; (the Cookie header, the items' names)."""
    http = requests.Session()
    page = http.get(site + "/login", timeout=10)
    token = CSRF.search(page.text)
    if page.status_code != 200 or token is None:
        raise SystemExit(f"/login answered {page.status_code} without a form to log in with")
    answer = http.post(
        site + "/login",
        data={
            "email": made.reader_email,
            "password": made.reader_password,
            "csrf_token": token.group(1),
        },
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code != 302:
        raise SystemExit(f"logging in answered {answer.status_code}, not a redirect")
    home = http.get(site + "/", timeout=10)
    token = CSRF.search(home.text)
    if "Log out" not in home.text or token is None:
        raise SystemExit("after logging in, the home page does not show the reader logged in")
    names = []
    for n, product_id in enumerate(made.product_ids[:CART_ITEMS]):
        added = http.post(
            site + "/cart/add",
            data={"product_id": product_id, "quantity": 1 + n % 2, "csrf_token": token.group(1)},
            headers={"Referer": site + "/cart"},
            timeout=10,
        )
        if added.status_code != 200:
            raise SystemExit(f"/cart/add answered {added.status_code}")
        names.append(f"Print edition {made.product_ids.index(product_id)}")
    # The last page shown took the "added" notices out of the session: the cookie is the
    # steady one a reader browses with.
    http.get(site + "/cart", timeout=10)
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    return cookie, names


def check_pages(site: str, paths: list[tuple[str, str]], cookie: str | None, items: list[str]):
    """Every page answers 200 (the logged-in reader logged in, with the cart); statuses."""
    statuses = {}
    for name, path in paths:
        answer = requests.get(
            site + path,
            headers={"Cookie": cookie} if cookie else {},
            allow_redirects=False,
            timeout=30,
        )
        if answer.status_code != 200:
            raise SystemExit(f"{path} answered {answer.status_code}, not 200: nothing timed")
        html = answer.headers.get("Content-Type", "").startswith("text/html")
        if html and ('class="flash ' in answer.text):
            raise SystemExit(f"{path} shows a notice on every view: the cookie is not steady")
        if cookie and html and "Log out" not in answer.text:
            raise SystemExit(f"{path} does not show the reader logged in")
        if cookie and name == "cart" and not all(item in answer.text for item in items):
            raise SystemExit("/cart does not list the items the reader put in it")
        if not cookie and name == "cart" and any(item in answer.text for item in items):
            raise SystemExit("the anonymous /cart lists the logged-in reader's items")
        statuses[path] = answer.status_code
    return statuses


def warm_up(url: str, cookie: str | None, seconds: int, tool: str) -> None:
    """Fill each worker's caches and connection pool before the page is timed."""
    if seconds <= 0:
        headers = {"Cookie": cookie} if cookie else {}
        with requests.Session() as http:
            for _ in range(QUICK_WARM_REQUESTS):
                http.get(url, headers=headers, timeout=30)
        return
    measure(url, seconds, cookie, tool)


def measure(url: str, seconds: int, cookie: str | None, tool: str):
    """One page's figures with the chosen tool."""
    return (run_wrk if tool == "wrk" else run_locust)(url, seconds, cookie)


def bench_reader(
    site: str,
    reader: str,
    paths: list[tuple[str, str]],
    cookie: str | None,
    statuses: dict[str, int],
    duration: int,
    warm: int,
    tool: str,
) -> list[Row]:
    """The ceiling, each page, the ceiling again; ratios to the ceilings' mean."""
    rows = []

    def one(name: str, path: str, with_cookie: bool) -> Row:
        given = cookie if with_cookie else None
        warm_up(site + path, given, warm, tool)
        rate, p50, p99, errors = measure(site + path, duration, given, tool)
        return Row(reader, name, path, statuses[path], rate, p50, p99, errors)

    # The ceiling is the bare route as any visitor gets it: no cookie, no database.
    rows.append(one(CEILING[0] + " (before)", CEILING[1], False))
    for name, path in paths:
        rows.append(one(name, path, True))
    rows.append(one(CEILING[0] + " (after)", CEILING[1], False))
    ceiling = statistics.mean([rows[0].rate, rows[-1].rate])
    for row in rows:
        row.ratio = row.rate / ceiling if ceiling else None
    return rows


def run_config(kind: str, articles: int, args, tool: str) -> list[Row]:
    """Build one dataset, serve it, measure both readers; the rows."""
    workdir = Path(tempfile.mkdtemp(prefix="broadsheet-pages-"))
    base = os.environ.get("TEST_DATABASE_URL") or dataset.DEFAULT_PG
    pg_name = None
    process = None
    try:
        if kind == "postgresql":
            pg_name = f"broadsheet_pages_{uuid.uuid4().hex[:10]}"
            url = dataset.create_pg_database(base, pg_name)
        else:
            url = f"sqlite:///{workdir / 'pages.db'}"
        started = time.perf_counter()
        made = dataset.build(url, articles, args.members, args.orders, str(workdir / "instance"))
        print(
            f"  dataset: {made.articles} articles, {made.members} members, {made.comments}"
            f" comments, {made.orders} orders in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        process, site = start_app(url, workdir)
        paths = [
            (name, path.format(article=made.article_slug, tag=made.tag_slug))
            for name, path in PAGES
        ]
        cookie, items = log_in_with_cart(site, made)
        everything = [CEILING, *paths]
        anonymous = check_pages(site, everything, None, items)
        logged_in = check_pages(site, everything, cookie, items)
        rows = bench_reader(
            site, "anonymous", paths, None, anonymous, args.duration, args.warm, tool
        )
        rows += bench_reader(
            site, "logged in", paths, cookie, logged_in, args.duration, args.warm, tool
        )
        return rows
    finally:
        stop(process)
        if pg_name:
            dataset.drop_pg_database(base, pg_name)
        shutil.rmtree(workdir, ignore_errors=True)


def table(rows: list[Row]) -> str:
    """The rows as a fixed-width table."""
    lines = [
        f"{'reader':<10} {'page':<24} {'status':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'ratio':>6} {'errors':>6}"
    ]
    for row in rows:
        ratio = f"{row.ratio:.3f}" if row.ratio is not None else "-"
        lines.append(
            f"{row.reader:<10} {row.page:<24} {row.status:>6} {row.rate:>8.1f} {row.p50:>8.2f}"
            f" {row.p99:>8.2f} {ratio:>6} {row.errors:>6}"
        )
    return "\n".join(lines)


def sizes(value: str) -> tuple[int, ...]:
    """``--articles``: a count, or ``both`` (200 and 10,000)."""
    if value in SIZES:
        return SIZES[value]
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of articles, or both") from None
    if not 1 <= count <= 100_000:
        raise argparse.ArgumentTypeError("from 1 to 100000 articles")
    return (count,)


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table; 1 if a page failed under load."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), help="(both; --quick: sqlite)"
    )
    parser.add_argument("--articles", type=sizes, help="200, 10000 or both (both; --quick: 200)")
    parser.add_argument("--duration", type=int, help="seconds of load a page (10; --quick: 1)")
    parser.add_argument(
        "--warm", type=int, help="seconds of warm-up a page (2; --quick: 0, a few requests)"
    )
    parser.add_argument("--members", type=int, default=dataset.MEMBERS, help="(100000)")
    parser.add_argument("--orders", type=int, default=dataset.ORDERS, help="(5000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    args.database = args.database or ("sqlite" if args.quick else "both")
    args.articles = args.articles or ((200,) if args.quick else SIZES["both"])
    args.duration = args.duration or (1 if args.quick else 10)
    args.warm = args.warm if args.warm is not None else (0 if args.quick else 2)
    if not 1 <= args.duration <= 120 or not 0 <= args.warm <= 30:
        parser.error("--duration must be 1-120 seconds and --warm 0-30")
    if not 1 <= args.members <= 1_000_000 or not 0 <= args.orders <= 100_000:
        parser.error("--members must be 1-1000000 and --orders 0-100000")
    tool = load_tool()
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    failed = False
    for kind in kinds:
        for articles in args.articles:
            label = "SQLite" if kind == "sqlite" else "PostgreSQL"
            print(
                f"=== {label}, {articles} articles: gunicorn -w 2, {tool} -t{THREADS}"
                f" -c{CONNECTIONS}, {args.duration} s a page ===",
                flush=True,
            )
            rows = run_config(kind, articles, args, tool)
            print(table(rows), flush=True)
            if any(row.errors for row in rows):
                print("Some answers under load were errors (the errors column).", flush=True)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

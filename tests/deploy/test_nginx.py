"""deploy/nginx.conf.in, filled by deploy/nginx.py: Debian's nginx accepts it and serves by it."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port, service_missing

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "nginx.py"


@pytest.fixture
def nginx_env(tmp_path) -> dict[str, str]:
    """The renderer's settings: a run folder under the test's temp dir, free ports."""
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        service_missing("nginx is not installed (apt-get install nginx)")
    return {
        **os.environ,
        "BROADSHEET_RUN_DIR": str(tmp_path / "run"),
        "BROADSHEET_PORT": str(free_port()),
        "BROADSHEET_UPSTREAMS": f"127.0.0.1:{free_port()} 127.0.0.1:{free_port()}",
        "MEDIA_DIR": str(tmp_path / "media"),
    }


def nginx(env: dict[str, str], action: str) -> subprocess.CompletedProcess[str]:
    """Run the renderer with ``action`` (render or check)."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_nginx_accepts_the_generated_config(nginx_env):
    checked = nginx(nginx_env, "check")

    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    config = Path(nginx_env["BROADSHEET_RUN_DIR"], "nginx.conf").read_text()
    assert not re.search(r"@[A-Z_]+@", config), "every placeholder was filled"
    for upstream in nginx_env["BROADSHEET_UPSTREAMS"].split():
        assert f"server {upstream} " in config


def test_the_config_for_the_distributions_service_is_valid_too(nginx_env, tmp_path):
    out = tmp_path / "system.conf"
    rendered = subprocess.run(
        [sys.executable, str(SCRIPT), "render", "--system", "--out", str(out)],
        env=nginx_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    config = out.read_text()
    # Debian's unit passes -g 'daemon on; ...': a daemon line here would be a duplicate.
    assert "daemon" not in config.split("events")[0]
    assert "pid /run/nginx.pid;" in config
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run(
        [nginx, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(out), "-g", "daemon on;"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_a_bad_setting_is_named_not_a_traceback(nginx_env):
    result = nginx({**nginx_env, "BROADSHEET_UPSTREAMS": "localhost"}, "render")

    assert result.returncode != 0
    assert "BROADSHEET_UPSTREAMS: 'localhost' is not host:port" in result.stderr
    assert "Traceback" not in result.stderr


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET with gzip accepted: status, headers, raw body."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  (127.0.0.1)
        return response.status, dict(response.headers), response.read()


def test_nginx_serves_static_files_compressed_and_cached(nginx_env):
    cmd = subprocess.run(
        [sys.executable, str(SCRIPT), "render"], env=nginx_env, capture_output=True, check=True
    )
    assert cmd.stdout
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "run"],
        env=nginx_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{nginx_env['BROADSHEET_PORT']}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, headers, body = fetch(f"{base}/static/css/site.css")
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        original = (ROOT / "static" / "css" / "site.css").read_bytes()
        assert status == 200
        assert headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == original
        assert headers["Cache-Control"] == "no-cache"
        # A name with a content hash in it is the same file, kept for a year.
        status, headers, body = fetch(f"{base}/static/css/site.0123456789ab.css")
        assert gzip.decompress(body) == original
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        # Pages go to the gunicorn instances; none runs here.
        try:
            fetch(f"{base}/")
        except urllib.error.HTTPError as error:
            assert error.code == 502
        else:
            pytest.fail("a page was answered with no gunicorn behind nginx")
    finally:
        process.terminate()
        process.wait(timeout=10)

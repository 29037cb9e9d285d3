"""The digest benchmark (bench/digest.py) runs on both databases; its speed is not judged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEFAULT_POSTGRES

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_small_run_reports_every_figure(database):
    base = os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES
    # The benchmark makes and drops a database of its own beside the run's.
    postgres = base if base.startswith("postgres") else DEFAULT_POSTGRES
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_POSTGRES_URL": postgres}
    done = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "digest.py"), "--subscribers", "60",
            "--articles", "12", "--tags", "4", "--naive", "10", "--database", database, "--json",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    figures = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    assert figures["sent"] == 60 and figures["a_ceiling"] > 0 and figures["c_real"] > 0
    assert figures["c_over_a"] > 0 and figures["statements_per_1000"] > 0
    assert "c/a = " in done.stdout
    # The local database server's share is measured on PostgreSQL, and only there.
    if database == "postgresql":
        assert figures["server_cpu_seconds"] is not None and figures["server_cpu_seconds"] >= 0
        assert "database server: " in done.stdout
    else:
        assert figures["server_cpu_seconds"] is None

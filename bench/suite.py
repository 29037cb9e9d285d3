"""Test-suite speed: today's suite against the suite of an earlier commit, in the same run.

Usage (from the project folder):

    .venv/bin/python bench/suite.py                    # HEAD against 1dd964c, on SQLite
    .venv/bin/python bench/suite.py --before 1dd964c --after HEAD --database-url postgresql://...

The machine this runs on is shared and its speed drifts by a third over a day, so the two
suites are timed back to back: the later one, the earlier one, the later one again. Each
commit is exported (``git archive``, so uncommitted changes are not measured) into a
temporary folder with a virtualenv of its own, installed from its own ``pyproject.toml``;
each suite runs the way its own ``scripts/test`` ran pytest (before the redesign in one
process, after it on every core with ``--dist loadgroup``). The lint and type checks
``scripts/test`` runs first are left out of both: the figure is pytest's wall time. It
prints each run's time and counts and the ratio of the earlier suite's time to the mean
of the later one's two; it asserts nothing.

The default earlier commit is main as it stood before the redesign's first commit
(2026-12-01), with the suite's old setup.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BEFORE = "1dd964c"
# pytest -q ends with "1536 passed in 85.21s (0:01:25)" (more words when some fail).
SUMMARY = re.compile(r"^(?P<summary>\d+ \w+.*?) in [\d.]+s", re.MULTILINE)


def export(commit: str, into: Path) -> Path:
    """Write the tree of ``commit`` into ``into`` and give it a virtualenv of its own."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "venv", str(into / ".venv")], check=True)
    pip = [str(into / ".venv/bin/python"), "-m", "pip", "install", "--quiet"]
    extras = ["-e", ".[dev]"]
    if (into / "tools/stripe-emulator").is_dir():
        extras += ["-e", "tools/stripe-emulator"]
    # pip's own notices would bury the figures; its errors still fail the run.
    subprocess.run(pip + extras, cwd=into, check=True, stderr=subprocess.DEVNULL)
    return into


def is_parallel(folder: Path) -> bool:
    """Whether that commit's ``scripts/test`` runs pytest on every core (pytest-xdist)."""
    script = folder / "scripts/test"
    return script.is_file() and "--dist loadgroup" in script.read_text()


def run_suite(folder: Path, parallel: bool, env: dict[str, str]) -> tuple[float, str]:
    """Run pytest in ``folder`` as its ``scripts/test`` did; return wall seconds and summary."""
    command = [str(folder / ".venv/bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if parallel:
        command += ["-n", "auto", "--dist", "loadgroup"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    lines = [m.group("summary") for m in SUMMARY.finditer(done.stdout)]
    summary = lines[-1] if lines else f"no summary (exit {done.returncode})"
    if done.returncode != 0:
        summary += f" [exit {done.returncode}]"
    return elapsed, summary


def main() -> None:
    """Time today's suite, the earlier one, and today's again; print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="the earlier commit")
    parser.add_argument("--after", default="HEAD", help="the later commit")
    parser.add_argument("--database-url", help="TEST_DATABASE_URL for both suites")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("TEST_DATABASE_URL", None)
    if args.database_url:
        env["TEST_DATABASE_URL"] = args.database_url
    database = args.database_url or "SQLite"

    with tempfile.TemporaryDirectory(prefix="suite-") as tmp:
        before = export(args.before, Path(tmp) / "before")
        after = export(args.after, Path(tmp) / "after")
        runs = [(args.after, after), (args.before, before), (args.after, after)]
        times: dict[str, list[float]] = {}
        for label, folder in runs:
            elapsed, summary = run_suite(folder, is_parallel(folder), env)
            times.setdefault(label, []).append(elapsed)
            print(f"{label:>8} on {database}: {elapsed:7.1f} s  ({summary})", flush=True)

    later = sum(times[args.after]) / len(times[args.after])
    earlier = times[args.before][0]
    print(f"ratio {args.before} / {args.after}: {earlier / later:.2f}")


if __name__ == "__main__":
    main()

"""What the production wheel holds: the app, never the Stripe emulator (its own distribution)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_PROJECT = ROOT / "tools" / "stripe-emulator"
# Left behind by earlier builds and installs: a stale build/ would be packed into the wheel.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "instance", "__pycache__", "*.pyc", ".*cache"
)


def build_wheel(project: Path, tmp_path: Path) -> list[str]:
    """Build ``project``'s wheel from a clean copy of its sources; the names in the wheel."""
    source = tmp_path / "src"
    shutil.copytree(project, source, ignore=NOT_SOURCES)
    out = tmp_path / "wheels"
    built = subprocess.run(  # noqa: S603  (arguments built here)
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.mark.slow
def test_production_wheel_holds_the_app_and_not_the_emulator(tmp_path):
    """The app's wheel has ``shop/`` and not one ``stripe_emulator`` file."""
    names = build_wheel(ROOT, tmp_path)
    assert "shop/__init__.py" in names
    assert "shop/billing/gateway.py" in names
    assert [name for name in names if "stripe_emulator" in name] == []
    assert [name for name in names if name.startswith(("tools/", "tests/"))] == []


@pytest.mark.slow
def test_emulator_wheel_holds_its_fixtures_and_their_licence(tmp_path):
    """The emulator's own wheel carries Stripe's fixture objects and their MIT licence."""
    names = build_wheel(EMULATOR_PROJECT, tmp_path)
    assert "stripe_emulator/core.py" in names
    assert "stripe_emulator/fixtures/fixtures3.json" in names
    assert "stripe_emulator/fixtures/LICENSE" in names
    assert [name for name in names if name.startswith("shop/")] == []


def test_the_app_imports_nothing_from_the_emulator():
    """Production runs without the emulator installed: no module of ``shop`` imports it."""
    importers = []
    for path in sorted((ROOT / "shop").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            if any(module.split(".")[0] == "stripe_emulator" for module in modules):
                importers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert importers == []

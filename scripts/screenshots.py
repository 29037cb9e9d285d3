"""Take the README's dashboard screenshots: the demo data, an admin, Chromium at two widths.

Usage, from the project folder: .venv/bin/python scripts/screenshots.py
It builds a throwaway SQLite database with the demo, serves it on 127.0.0.1, logs in as
the demo admin and writes docs/screenshots/dashboard-{desktop,phone}.png.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from shop import create_app  # noqa: E402
from shop.demo import load_demo  # noqa: E402
from shop.extensions import db  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SIZES = (("desktop", 1280, 900, 1), ("phone", 390, 844, 2))


def main() -> None:
    """Serve the demo and photograph the dashboard."""
    folder = Path(tempfile.mkdtemp(prefix="broadsheet-shots-"))
    os.environ["BROADSHEET_INSTANCE"] = str(folder)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'demo.db'}",
            "SECRET_KEY": "screenshots-only",
            "DEBUG": True,
            "MAIL_SERVER": "",
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.create_all()
        password = load_demo().admin_password
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        for name, width, height, scale in SIZES:
            context = browser.new_context(
                viewport={"width": width, "height": height}, device_scale_factor=scale
            )
            page = context.new_page()
            page.goto(f"{base}/login")
            page.get_by_label("Email", exact=True).fill("admin@example.com")
            page.get_by_label("Password", exact=True).fill(password)
            page.get_by_role("button", name="Log in", exact=True).click()
            page.wait_for_load_state("load")
            page.goto(f"{base}/admin/")
            page.screenshot(path=str(out / f"dashboard-{name}.png"), full_page=True)
            context.close()
        browser.close()
    server.shutdown()
    print(f"wrote {out}/dashboard-desktop.png and dashboard-phone.png")


if __name__ == "__main__":
    main()

"""Take the screenshots in docs/screenshots/: the demo, Chromium at two widths, two schemes.

Usage, from the project folder: .venv/bin/python scripts/screenshots.py
It builds a throwaway SQLite database with the demo, serves it on 127.0.0.1 and writes
NAME-{desktop,phone}-{light,dark}.png for each page in PAGES (a reader's pages first, with
something in the cart, then the back office as the demo admin), and the README's
dashboard-{desktop,phone}.png (light).
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
SIZES = (("desktop", 1280, 900), ("phone", 390, 844))
SCHEMES = ("light", "dark")
# (name, path, whole page?): what a reader sees, then what an admin sees.
READER_PAGES = [
    ("home", "/", False),
    ("article", "{article}", False),
    ("tag", "{tag}", False),
    ("search", "/search?q=river", False),
    ("shop", "/shop", False),
    ("cart", "/cart", True),
]
ADMIN_PAGES = [
    ("dashboard", "/admin/", True),
    ("subscribers", "/admin/subscribers", False),
    ("import", "/admin/subscribers/import", False),
]


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
        for size, width, height in SIZES:
            for scheme in SCHEMES:
                context = browser.new_context(
                    viewport={"width": width, "height": height}, color_scheme=scheme
                )
                page = context.new_page()
                _photograph(page, base, password, out, f"{size}-{scheme}")
                context.close()
        browser.close()
    server.shutdown()
    print(f"wrote the screenshots in {out}")


def _photograph(page, base: str, password: str | None, out: Path, suffix: str) -> None:
    """One browser's round: the reader's pages with an item in the cart, then the admin's."""
    page.goto(f"{base}/")
    places = {
        "article": page.locator("main .card-title a").first.get_attribute("href"),
        "tag": page.locator("main a[href^='/tags/']").first.get_attribute("href"),
    }
    page.goto(f"{base}/shop")
    page.get_by_role("button", name="Add to cart").first.click()
    page.wait_for_load_state("load")
    for name, path, whole in READER_PAGES:
        page.goto(base + path.format(**places))
        page.screenshot(path=str(out / f"{name}-{suffix}.png"), full_page=whole)
    page.goto(f"{base}/login")
    page.get_by_label("Email", exact=True).fill("admin@example.com")
    page.get_by_label("Password", exact=True).fill(password or "")
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_load_state("load")
    for name, path, whole in ADMIN_PAGES:
        page.goto(base + path)
        page.screenshot(path=str(out / f"{name}-{suffix}.png"), full_page=whole)
        if name == "dashboard" and suffix.endswith("light"):
            size = suffix.split("-")[0]
            page.screenshot(path=str(out / f"dashboard-{size}.png"), full_page=True)


if __name__ == "__main__":
    main()

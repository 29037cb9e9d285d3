"""How much of each stylesheet a page uses, by Chromium's CSS coverage, and the bytes sent.

Usage (from the project folder, inside .venv), against a running publication with the
demo loaded (``flask db upgrade``, ``flask demo``, ``gunicorn -b 127.0.0.1:5077 wsgi:app``):

    python bench/css_coverage.py http://127.0.0.1:5077 --email admin@example.com \\
        --password '...'                 # the demo admin's, for the back office pages

For each page it prints every stylesheet the page loads with the bytes of its rules that
matched something (Chromium's ``CSS.startRuleUsageTracking``, light scheme, 1280 px: the
dark palette and ``:hover`` rules count as unused), then the page's and its sheets' sizes
plain, gzip and brotli as the server sends them. It measures and prints; it judges
nothing (docs/benchmarks.md has a run's figures).
"""

from __future__ import annotations

import argparse
import re
import urllib.request

from playwright.sync_api import Browser, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PUBLIC = ["/", "{article}", "{tag}", "/search?q=river", "/shop", "/cart", "/login", "/register"]
PRIVATE = ["/account", "/account/preferences", "/admin/", "/admin/articles", "/admin/shipping"]


def sheet_usage(
    browser: Browser, state: dict | None, url: str
) -> tuple[dict[str, tuple[int, int]], str]:
    """{sheet name: (bytes used, bytes)} for the page at ``url``, and the page's HTML.

    A fresh browser context each time (with the login's cookies), tracking before it
    navigates: Chromium shares a cached sheet's parsed rules between the pages of one
    context, and with them the marks of rules an earlier page used.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900}, storage_state=state)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    sheets: dict[str, str] = {}
    cdp.on(
        "CSS.styleSheetAdded",
        lambda event: sheets.__setitem__(
            event["header"]["styleSheetId"], event["header"]["sourceURL"]
        ),
    )
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    cdp.send("CSS.startRuleUsageTracking")
    page.goto(url)
    page.wait_for_load_state("load")
    usage = cdp.send("CSS.stopRuleUsageTracking")["ruleUsage"]
    found = {}
    for sheet_id, source in sheets.items():
        if not source:
            continue  # an element's style attribute or an injected sheet, not a file
        try:
            text = cdp.send("CSS.getStyleSheetText", {"styleSheetId": sheet_id})["text"]
        except Exception:  # noqa: BLE001, S112  (a sheet of the page before the navigation)
            continue
        used: set[int] = set()
        for rule in usage:
            if rule["styleSheetId"] == sheet_id and rule["used"]:
                used.update(range(int(rule["startOffset"]), int(rule["endOffset"])))
        found[source.rsplit("/", 1)[-1]] = (len(used), len(text.encode()))
    cdp.detach()
    html = page.content()
    context.close()
    return found, html


def sent_bytes(url: str) -> str:
    """The body's size plain, gzip and brotli, as the server sends it."""
    sizes = []
    for encoding in ("identity", "gzip", "br"):
        request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})  # noqa: S310
        with urllib.request.urlopen(request) as response:  # noqa: S310  (the bench's own server)
            sizes.append(f"{len(response.read()):,}")
    return " / ".join(sizes)


def main() -> None:
    """Visit each page and print its sheets' coverage and sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the publication's address, e.g. http://127.0.0.1:5077")
    parser.add_argument("--email", help="an admin's email, for the back office pages")
    parser.add_argument("--password", help="that admin's password")
    args = parser.parse_args()
    base = args.base.rstrip("/")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(base + "/")
        html = page.content()
        article = re.search(r'href="(/articles/[^"/]+)"', html)
        tag = re.search(r'href="(/tags/[^"/]+)"', html)
        fill = {"article": article[1] if article else "/", "tag": tag[1] if tag else "/"}
        paths = [(path.format(**fill), None) for path in PUBLIC]
        if args.email and args.password:
            page.goto(base + "/login")
            page.fill("input[name=email]", args.email)
            page.fill("input[name=password]", args.password)
            page.click("main button[type=submit]")
            page.wait_for_load_state("load")
            state = context.storage_state()
            paths += [(path, state) for path in PRIVATE]
        seen: set[str] = set()
        for path, login in paths:
            usage, page_html = sheet_usage(browser, login, base + path)
            seen.update(re.findall(r'href="(/static/css/[^"]+)"', page_html))
            parts = ", ".join(
                f"{name} {used / 1024:.1f} of {size / 1024:.1f} KB ({100 * used / size:.0f}%)"
                for name, (used, size) in usage.items()
            )
            print(f"{path}: {parts}")
            if not path.startswith(("/account", "/admin")):
                print(f"    page bytes plain / gzip / br: {sent_bytes(base + path)}")
        for href in sorted(seen):
            print(f"{href}: plain / gzip / br: {sent_bytes(base + href)}")
        browser.close()


if __name__ == "__main__":
    main()

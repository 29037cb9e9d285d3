"""An admin imports the sample Ghost export in a real browser: upload, the detected format
and columns, the dry run line by line, the import's progress to 100%, and the new members
in the subscribers' list; on a desktop and on a phone, every page audited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import AdminFactory, TagFactory
from tests.members.helpers import GHOST

PASSWORD = "correct horse battery"


@pytest.mark.parametrize("width", [1280, 390])
def test_an_admin_imports_a_ghost_export(checked_page, app, live_server, mailbox, width, tmp_path):
    site, page = checked_page, checked_page.page
    page.set_viewport_size({"width": width, "height": 900})
    app.config["MEMBER_IMPORT_CHUNK"] = 2  # several chunks: the bar has steps to take
    editor = AdminFactory(email="editor@example.org")
    TagFactory(name="Climate")
    TagFactory(name="Books")

    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(editor.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto("/admin/subscribers")
    site.follow(page.get_by_role("link", name="Import from Ghost, Substack, Mailchimp or a list"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Import members")
    page.get_by_label("CSV file").set_input_files(str(GHOST))
    site.submit("Check the file")

    expect(page.get_by_role("heading", level=1)).to_have_text("Import ghost_export.csv")
    expect(page.get_by_text("Found: Ghost members export.")).to_be_visible()
    mapping = page.get_by_role("table", name="What each column of the file becomes")
    expect(mapping.get_by_role("row", name="labels followed topics")).to_be_visible()
    expect(mapping.get_by_role("row", name="tiers ignored")).to_be_visible()
    expect(page.locator(".lead")).to_contain_text(
        "Dry run: 5 would be created, 0 updated and 4 skipped, of 9 lines."
    )
    lines = page.get_by_role("table", name="What each line of the file would do")
    expect(lines.locator("tr", has_text="duplicate of line 2")).to_contain_text(
        "ada.byron@example.org"
    )
    expect(lines.locator("tr", has_text="deleted in Ghost")).to_contain_text("gone@example.com")
    expect(lines.locator("tr", has_text="quiet.reader@example.com")).to_contain_text(
        "unsubscribed in Ghost: no digest consent"
    )
    shot(page, tmp_path, f"dry-run-{width}")
    assert fits(page, width)

    site.submit("Import 5 members")
    panel = page.locator(".progress-panel")
    expect(panel.locator('[data-field="status"]')).to_have_text("done")
    expect(panel.locator('[data-field="percent"]')).to_have_text("100")
    expect(panel.locator("progress")).to_have_attribute("value", "9")
    expect(panel.locator('[data-field="created"]')).to_have_text("5")
    expect(panel.locator('[data-field="skipped"]')).to_have_text("4")
    shot(page, tmp_path, f"progress-{width}")
    assert fits(page, width)
    site.follow(panel.get_by_role("link", name="See the report"))
    report = page.get_by_role("table", name="Lines skipped or with a note")
    expect(report.locator("tr", has_text="gone@example.com")).to_contain_text("skipped")
    expect(report.locator("tr", has_text="friend.of.the.paper@example.com")).to_contain_text(
        "complimentary access"
    )
    site.follow(page.get_by_role("link", name="See the subscribers"))
    listing = page.get_by_role("table", name="Subscribers, newest accounts first")
    for email in ("ada.byron@example.org", "bjorn@example.net", "paying.member@example.com"):
        expect(listing.get_by_role("link", name=email)).to_be_visible()
    expect(listing.get_by_role("link", name="gone@example.com")).to_have_count(0)
    shot(page, tmp_path, f"subscribers-{width}")
    assert mailbox.messages == []


def fits(page, width: int) -> bool:
    """Whether the page needs no sideways scrolling at this width."""
    return page.evaluate("() => document.documentElement.scrollWidth") <= width


def shot(page, tmp_path, name: str) -> None:
    """A full-page screenshot, kept in ``E2E_SCREENSHOTS`` (a directory) to look at."""
    folder = Path(os.environ.get("E2E_SCREENSHOTS") or tmp_path)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

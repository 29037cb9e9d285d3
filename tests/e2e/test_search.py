"""Search in a real browser: the header's box at desktop and phone widths, each page audited."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import AdminFactory, ArticleFactory, TagFactory

PASSWORD = "correct horse battery"

WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_a_reader_searches_from_the_header_and_opens_a_story(
    checked_page, live_server, tmp_path, width
):
    site, page = checked_page, checked_page.page
    page.set_viewport_size(WIDTHS[width])
    tag = TagFactory(name="Rivers")
    ArticleFactory(
        title="Barges wait on the Danube",
        summary="Grain moves slowly but steadily.",
        body_markdown="Inspection slots decide when the **barges** sail.",
        tags=[tag],
    )
    ArticleFactory(title="A quiet harbour", body_markdown="Only one barge came in this week.")
    ArticleFactory(title="Nothing to do with boats")

    site.goto("/")
    box = page.get_by_role("search", name="Site").get_by_label("Search stories")
    expect(box).to_be_visible()
    box.fill("barges")
    with page.expect_event("load"):
        box.press("Enter")
    site.audit()
    site.check()

    expect(page.get_by_role("heading", level=1)).to_have_text("Search")
    expect(page.get_by_role("status")).to_have_text("2 stories match “barges”.")
    results = page.locator(".search-hit")
    expect(results).to_have_count(2)
    expect(results.first.get_by_role("link")).to_have_text("Barges wait on the Danube")
    expect(results.nth(1).locator("mark")).to_have_text("barge")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
    page.screenshot(path=tmp_path / f"search-{width}.png", full_page=True)

    # Nothing found: the page suggests topics, and the box keeps the words.
    page.get_by_label("Words to look for").fill("zeppelins")
    site.submit("Search", within=page.get_by_role("main"))
    expect(page.get_by_role("status")).to_contain_text("No stories match “zeppelins”")
    expect(page.get_by_role("link", name="Rivers")).to_be_visible()
    expect(page.get_by_label("Words to look for")).to_have_value("zeppelins")

    page.get_by_label("Words to look for").fill("danube barges")
    site.submit("Search", within=page.get_by_role("main"))
    site.follow(page.get_by_role("link", name="Barges wait on the Danube"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Barges wait on the Danube")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]


def test_an_empty_search_helps(checked_page, live_server):
    site, page = checked_page, checked_page.page
    ArticleFactory(tags=[TagFactory(name="Weather")])
    site.goto("/search?q=")
    expect(page.get_by_text("Type a word or two")).to_be_visible()
    expect(page.get_by_role("link", name="Weather")).to_be_visible()
    site.goto("/search?q=%22%2A%28%29")
    expect(page.get_by_text("We could not find any words")).to_be_visible()


def test_the_header_with_its_box_fits_a_phone_for_an_admin(checked_page, live_server, tmp_path):
    site, page = checked_page, checked_page.page
    page.set_viewport_size(WIDTHS["phone"])
    editor = AdminFactory(email="editor@example.org")
    ArticleFactory(title="Tide tables for the estuary")
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(editor.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto("/")
    # The longest menu (back office, account, log out) and the box, without sideways scroll.
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS["phone"]["width"]
    page.screenshot(path=tmp_path / "home-admin-phone.png")
    box = page.get_by_role("search", name="Site").get_by_label("Search stories")
    box.fill("estuary")
    site.submit("Search", within=page.get_by_role("search", name="Site"))
    expect(page.locator(".search-hit")).to_have_count(1)

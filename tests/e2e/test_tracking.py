"""A sent newsletter opened and clicked in a real browser, then its run page read."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from shop.newsletters.sending import send_now
from shop.newsletters.services import NewsletterInput, create_newsletter
from tests.factories import AdminFactory
from tests.newsletter.digest_helpers import article, subscriber
from tests.support import html_of

PASSWORD = "correct horse battery"
SHOTS = os.environ.get("E2E_SCREENSHOTS")


@pytest.fixture
def tracked(app_config):
    """Tracking on, as the app's default has it."""
    app_config["MAIL_TRACKING"] = True
    return app_config


def test_a_reader_opens_and_clicks_and_the_run_page_counts_it(
    tracked, checked_page, live_server, mailbox, browser
):
    site, page = checked_page, checked_page.page
    editor = AdminFactory(email="editor@example.org")
    reader = subscriber("reader@example.org")
    subscriber("quiet.reader@example.org")
    story = article("Rivers in spring")
    newsletter = create_newsletter(
        editor,
        NewsletterInput(
            subject="The spring issue",
            body_markdown=f"Our pick: [{story.title}](/articles/{story.slug}).",
        ),
    )
    run = send_now(newsletter)
    assert run is not None
    html = html_of(mailbox.last_to(reader.email))
    assert "/t/o/" in html

    # The reader's mail client shows the message: its image is loaded, its link clicked.
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        mail = context.new_page()
        with mail.expect_response(lambda r: "/t/o/" in r.url) as pixel:
            mail.set_content(html)
        assert pixel.value.status == 200
        assert pixel.value.headers["content-type"] == "image/gif"
        with mail.expect_navigation():
            mail.get_by_role("link", name=story.title).click()
        assert mail.url == f"{live_server}/articles/{story.slug}"
        expect(mail.get_by_role("heading", level=1)).to_have_text(story.title)
    finally:
        context.close()

    # The editor reads what the run did.
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(editor.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        site.goto(f"/admin/runs/{run.id}")
        figures = page.locator(".run-figures")
        expect(figures.locator(".stat", has_text="Delivered").locator("dd")).to_have_text("2")
        expect(figures.locator(".stat", has_text="Opened").locator("dd")).to_have_text("1 (50.0%)")
        expect(figures.locator(".stat", has_text="Clicked").locator("dd")).to_have_text("1 (50.0%)")
        expect(page.get_by_text("Apple Mail Privacy Protection")).to_be_visible()
        table = page.get_by_role("table", name="Clicks per link")
        row = table.locator("tbody tr", has_text=f"/articles/{story.slug}")
        expect(row.locator("td")).to_have_text([f"{live_server}/articles/{story.slug}", "1", "1"])
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/run-{width}.png", full_page=True)

    page.set_viewport_size({"width": 1280, "height": 900})
    site.goto("/admin/")
    chart = page.locator("#chart-engagement")
    expect(chart.locator("svg[role=img]")).to_have_count(1)
    expect(chart.locator("table tbody tr").last.locator("td")).to_have_text(["50%", "50%"])
    if SHOTS:
        chart.screenshot(path=f"{SHOTS}/dashboard-chart.png")
    site.goto(f"/admin/subscribers/{reader.id}")
    engagement = page.locator("section", has=page.get_by_role("heading", name="Engagement"))
    expect(engagement).to_contain_text("Mails received")
    expect(engagement.locator("dd").nth(0)).to_have_text("1")

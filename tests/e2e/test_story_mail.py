"""An editor writes a story and emails it on publishing, in a real browser, every page audited."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from shop import background
from tests.e2e.conftest import audit
from tests.factories import AdminFactory, TagFactory
from tests.newsletter.digest_helpers import subscriber
from tests.support import html_of, text_of

PASSWORD = "correct horse battery"


@pytest.mark.parametrize("width", [1280, 390])
def test_an_editor_publishes_and_emails_a_story(
    checked_page, live_server, mailbox, width, tmp_path
):
    site, page = checked_page, checked_page.page
    page.set_viewport_size({"width": width, "height": 900})
    editor = AdminFactory(email="editor@example.org")
    TagFactory(name="Climate")
    subscriber("first.reader@example.org")
    subscriber("second.reader@example.org", "weekly")
    subscriber("not.for.mail@example.org", "off")

    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(editor.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto("/admin/articles/new")
    page.get_by_label("Title").fill("Glaciers in retreat")
    page.get_by_label("Summary").fill("The ice is going faster than the models said.")
    page.get_by_label("Body (Markdown)").fill(
        "Measurements from **forty** glaciers.\n\n"
        "![The Rhone glacier](/static/img/logo.svg)\n\n"
        "The melt season now starts in May."
    )
    page.get_by_label("Climate").check()
    page.get_by_label("Email it to").select_option(label="Everyone who gets our email")
    expect(page.get_by_role("button", name="Publish only", exact=True)).to_be_visible()
    page.screenshot(path=f"{tmp_path}/story-mail-new-{width}.png", full_page=True)
    site.submit("Publish and email")
    expect(page.get_by_role("status")).to_contain_text("The story goes by email now.")

    # A thread of the server sends it; then the editor says what went out.
    assert background.join_background(timeout=30)
    assert sorted(m["To"] for m in mailbox.messages) == [
        "first.reader@example.org",
        "second.reader@example.org",
    ]
    message = mailbox.last_to("first.reader@example.org")
    assert message["Subject"] == "Glaciers in retreat"
    assert f'<img src="{live_server}/static/img/logo.svg"' in html_of(message)
    assert "The melt season now starts in May." in text_of(message)

    site.goto(page.url)
    state = page.locator("#email-state")
    expect(state).to_contain_text("Emailed to 2 readers on")
    expect(page.get_by_role("button", name="Publish and email")).to_have_count(0)
    expect(page.get_by_role("button", name="Update and email")).to_have_count(0)
    page.screenshot(path=f"{tmp_path}/story-mail-editor-{width}.png", full_page=True)
    no_scroll = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert no_scroll, "the editor scrolls sideways"

    # Its run, in the back office.
    site.follow(state.get_by_role("link", name="See the deliveries"))
    facts = page.locator("dl.run-facts")
    expect(facts).to_contain_text("story")
    expect(facts.get_by_role("link", name="Glaciers in retreat")).to_be_visible()
    expect(page.get_by_text("first.reader@example.org")).to_be_visible()

    # The mail as a reader sees it, at this width (a page of its own: not the site's).
    context = page.context.browser.new_context(viewport={"width": width, "height": 900})
    try:
        mail = context.new_page()
        mail.set_content(html_of(message))
        mail.screenshot(path=f"{tmp_path}/story-mail-message-{width}.png", full_page=True)
        assert mail.evaluate("document.documentElement.scrollWidth") <= width
        audit(mail)
    finally:
        context.close()

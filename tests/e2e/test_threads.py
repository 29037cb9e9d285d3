"""A conversation in two real browsers: one reader comments, another replies, the first is told."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.conftest import CheckedPage
from tests.factories import ArticleFactory, UserFactory
from tests.support import html_of, link_in

PASSWORD = "correct horse battery"
COMMENT = "The glacier above our village has lost a third of its length since 1990."
REPLY = "Same here in the valley: the lake it feeds is half the size it was."


def _log_in(site: CheckedPage, email: str) -> None:
    page = site.page
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    expect(page.get_by_role("status")).to_contain_text("You are logged in")


def test_a_reader_replies_and_the_commenter_reads_the_thread(
    request, browser, checked_page, live_server, mailbox, tmp_path
):
    # The screenshots, to be looked at: pytest keeps tmp_path for its last runs.
    shots = Path(os.environ.get("E2E_SCREENSHOTS") or tmp_path)
    ArticleFactory(title="Glaciers retreat")
    UserFactory(email="nina@example.org", display_name="Nina")
    UserFactory(email="rami@example.org", display_name="Rami")
    nina, page = checked_page, checked_page.page

    # Nina leaves a comment.
    _log_in(nina, "nina@example.org")
    nina.goto("/articles/glaciers-retreat")
    form = page.get_by_role("region", name="Leave a Reply")
    form.get_by_label("Comment", exact=True).fill(COMMENT)
    nina.submit("Post comment", within=form)
    expect(page.get_by_role("status")).to_contain_text("Your comment is posted")

    # Rami, in a browser of his own, answers it from the Reply under her comment.
    context = browser.new_context()
    rami = CheckedPage(context.new_page(), live_server)
    try:
        _log_in(rami, "rami@example.org")
        rami.goto("/articles/glaciers-retreat")
        hers = rami.page.locator("article.comment", has_text=COMMENT)
        hers.get_by_text("Reply", exact=True).click()
        hers.get_by_label("Your reply to Nina").fill(REPLY)
        rami.audit()  # the opened form, audited too
        rami.submit("Post reply", within=hers)
        expect(rami.page.get_by_role("status")).to_contain_text("Your reply is posted")
        expect(rami.page.get_by_role("heading", name="2 comments")).to_be_visible()
        rami.final_check(request)
    finally:
        context.close()

    # Nina gets the mail, and its link opens the thread at the reply.
    mail = mailbox.last_to("nina@example.org")
    assert mail["Subject"] == "Rami replied to your comment on “Glaciers retreat”"
    assert mailbox.to("rami@example.org") == []
    nina.goto("/")  # away first: the same page with only a new anchor is no navigation
    nina.goto(link_in(mail, "/articles/glaciers-retreat"))
    replies = page.get_by_role("list", name="Replies to Nina")
    expect(replies.get_by_role("listitem")).to_have_count(1)
    expect(replies.locator(".comment-body")).to_have_text([REPLY])
    expect(replies.locator(".author")).to_have_text(["Rami"])

    shots.mkdir(parents=True, exist_ok=True)
    thread = page.locator("section.comments")
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        nina.audit()
        # Nothing wider than the screen: the thread wraps on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        thread.screenshot(path=str(shots / f"thread-{width}.png"))

    # The mail fits a phone too, and its one-click link leaves the thread.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        mail_page = phone.new_page()
        mail_page.set_content(html_of(mail))
        assert mail_page.evaluate("document.documentElement.scrollWidth") <= 390
        mail_page.screenshot(path=str(shots / "reply-mail-390.png"), full_page=True)
    finally:
        phone.close()
    nina.goto(mail["List-Unsubscribe"].strip("<>"))
    nina.submit("Stop these emails")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "No more emails about this conversation"
    )

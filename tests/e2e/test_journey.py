"""A reader's first visit in a real browser: register, confirm, log in, read, comment."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from shop.articles.models import Comment
from shop.extensions import db
from tests.factories import ArticleFactory, TagFactory
from tests.support import link_in

EMAIL = "river.reader@example.org"
PASSWORD = "correct horse battery"
COMMENT = "The river by our house rose two metres overnight. Thanks for this report."


def test_a_reader_registers_confirms_logs_in_and_comments(checked_page, live_server, mailbox):
    site, page = checked_page, checked_page.page
    ArticleFactory(
        title="Rivers rise across the north",
        tags=[TagFactory(name="Climate"), TagFactory(name="North Korea")],
    )

    # Register.
    site.goto("/register")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Create account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    expect(page.get_by_role("status")).to_contain_text(f"we sent a message to {EMAIL}")
    expect(page.get_by_role("banner").get_by_role("button", name="Log out")).to_have_count(0)

    # Confirm through the mailed link, which points at this server and logs the reader in.
    link = link_in(mailbox.last_to(EMAIL), "/confirm/")
    assert link.startswith(live_server + "/confirm/"), link
    site.goto(link)
    expect(page.get_by_role("status")).to_contain_text(
        "Your email address is confirmed and you are logged in"
    )

    # Log out from the header, then log in again.
    site.submit("Log out", within=page.get_by_role("banner"))
    expect(page.get_by_role("status")).to_contain_text("You are logged out")
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    expect(page.get_by_role("status")).to_contain_text("You are logged in")
    expect(page.get_by_role("banner").get_by_role("button", name="Log out")).to_be_visible()

    # Open the article from the home page.
    site.follow(page.get_by_role("link", name="Rivers rise across the north"))
    expect(page).to_have_url(f"{live_server}/articles/rivers-rise-across-the-north")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rivers rise across the north")
    expect(page.get_by_text("Your cart is currently empty!")).to_be_visible()

    # The tags, once: a line of hashtags, each a link to its tag's page.
    tags = page.get_by_role("list", name="Tags")
    expect(tags.get_by_role("link")).to_have_text(["#climate", "#north-korea"])
    expect(tags.get_by_role("link", name="#climate")).to_have_attribute("href", "/tags/climate")
    expect(tags.get_by_role("link", name="#north-korea")).to_have_attribute(
        "href", "/tags/north-korea"
    )
    expect(page.locator(".hashtags")).to_have_text("#climate #north-korea")

    # Leave a reply.
    reply = page.get_by_role("region", name="Leave a Reply")
    reply.get_by_label("Comment", exact=True).fill(COMMENT)
    site.submit("Post comment", within=reply)
    expect(page.get_by_role("status")).to_contain_text("Your comment is posted")
    comments = page.get_by_role("region", name="1 comment")
    expect(comments.locator(".comment-body")).to_have_text([COMMENT])
    expect(comments.locator(".author")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/articles/rivers-rise-across-the-north#comment-\d+$"))

    stored = db.session.scalars(select(Comment)).all()
    assert [c.body for c in stored] == [COMMENT]
    assert stored[0].author.email == EMAIL

"""Subscribing with an email alone from a tag page, and logging in by a mailed link, in a
real browser with every page audited."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from shop.preferences.models import DigestPreference
from tests.factories import ArticleFactory, TagFactory
from tests.support import link_in, text_of


def test_a_visitor_subscribes_from_a_tag_page_and_lands_on_their_topic(
    checked_page, live_server, mailbox
):
    site, page = checked_page, checked_page.page
    climate = TagFactory(name="Climate")
    TagFactory(name="Courts")
    ArticleFactory(title="Glaciers retreat", tags=[climate])

    site.goto("/tags/climate")
    box = page.get_by_role("region", name="Get the stories you choose, by email")
    expect(box).to_contain_text("New stories about Climate")
    box.get_by_label("Email address").fill("ada@example.org")
    site.submit("Subscribe", within=box)
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    expect(page.get_by_role("status")).to_contain_text("We sent a message to ada@example.org")

    # The mailed link shows what it will do; only the button subscribes.
    message = mailbox.last_to("ada@example.org")
    assert "for stories about Climate" in text_of(message)
    site.goto(link_in(message, "/subscribe/confirm/"))
    expect(page.get_by_role("main")).to_contain_text("Subscribe ada@example.org")
    site.submit("Confirm my subscription")

    # Logged in, on preferences, with Climate already chosen and saved.
    expect(page.get_by_role("heading", level=1)).to_contain_text("preferences")
    expect(page.get_by_role("status").first).to_contain_text("stories about Climate")
    expect(page.get_by_label("Only the topics I tick")).to_be_checked()
    expect(page.get_by_label("Climate", exact=True)).to_be_checked()
    expect(page.get_by_label("Courts", exact=True)).not_to_be_checked()
    user = db.session.scalar(select(User).where(User.email == "ada@example.org"))
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == user.id))
    assert [t.name for t in pref.tags] == ["Climate"] and pref.follow_all is False

    # A member sees "Follow this topic" on another tag, not the box.
    site.goto("/tags/courts")
    expect(page.get_by_role("region", name="Get the stories you choose, by email")).to_have_count(0)
    site.submit("Follow this topic")
    expect(page.get_by_role("status").first).to_contain_text("You follow Courts now")


def test_a_reader_logs_in_by_a_mailed_link(checked_page, live_server, reader, mailbox):
    site, page = checked_page, checked_page.page
    site.goto("/login?next=/account")
    section = page.get_by_role("region", name="Or log in without a password")
    section.get_by_label("Email address").fill("reader@example.org")
    site.submit("Email me a sign-in link", within=section)
    expect(page.get_by_role("status")).to_contain_text("works once, within 15 minutes")

    link = link_in(mailbox.last_to("reader@example.org"), "/signin/")
    site.goto(link)
    site.submit("Log in as reader@example.org")
    expect(page).to_have_url(live_server + "/account")
    expect(page.get_by_role("status").first).to_contain_text("You are logged in.")

    # Used once: opened again, it says so and offers a new one.
    site.submit("Log out", within=page.get_by_role("banner"))
    site.goto(link, status=410)
    expect(page.get_by_role("alert")).to_contain_text("already been used")

"""The digest in a real browser: preferences, preview, an admin publishes, the mail, unsubscribe."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from shop import clock
from shop.clock import utcnow
from shop.digests import runs as digest
from shop.extensions import db
from shop.preferences.models import DigestPreference
from tests.factories import AdminFactory, TagFactory, UserFactory
from tests.support import link_in, text_of

PASSWORD = "correct horse battery"


def _log_in(site, email: str) -> None:
    site.goto("/login")
    site.page.get_by_label("Email", exact=True).fill(email)
    site.page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")


def test_a_reader_sets_preferences_gets_the_digest_and_unsubscribes(
    checked_page, live_server, mailbox
):
    site, page = checked_page, checked_page.page
    TagFactory(name="Climate")
    TagFactory(name="Economy")
    reader = UserFactory(email="follower@example.org", digest_consent_at=utcnow())
    AdminFactory(email="editor@example.org")

    # Preferences: only Climate, daily.
    _log_in(site, reader.email)
    site.goto("/account/preferences")
    page.get_by_label("Only the topics I tick").check()
    page.get_by_label("Climate", exact=True).check()
    page.get_by_label("Daily", exact=True).check()
    site.submit("Save")
    preview = page.get_by_role("region", name="Your next digest")
    expect(preview).to_contain_text("No new stories")
    site.submit("Log out", within=page.get_by_role("banner"))

    # An admin writes and publishes a Climate story.
    _log_in(site, "editor@example.org")
    site.goto("/admin/articles/new")
    page.get_by_label("Title", exact=True).fill("Glaciers retreat faster")
    page.get_by_label("Summary", exact=True).fill("Ice loss doubled in a decade.")
    page.get_by_label("Body (Markdown)").fill("Measurements from **forty** glaciers.")
    page.get_by_label("Climate", exact=True).check()
    site.submit("Publish only")
    expect(page.get_by_role("status")).to_contain_text("Published.")
    site.submit("Log out", within=page.get_by_role("banner"))

    # The preview now holds it, built by the code that sends.
    _log_in(site, reader.email)
    site.goto("/account/preferences")
    expect(preview).to_contain_text("1 new story in Climate")
    site.follow(page.get_by_role("link", name="Open the preview"))
    expect(page.get_by_text("Glaciers retreat faster")).to_be_visible()

    # The digest goes out (tomorrow's run, so today's story is inside its window).
    tomorrow = clock.local_date(utcnow()) + timedelta(days=1)
    assert digest.run_digest("daily", tomorrow).summary.sent == 1
    message = mailbox.last_to(reader.email)
    assert message["Subject"] == "1 new story in Climate"
    assert "Glaciers retreat faster" in text_of(message)

    # Its unsubscribe link works in the browser, with no login needed.
    site.goto("/")
    site.submit("Log out", within=page.get_by_role("banner"))
    site.goto(link_in(message, "/unsubscribe/"))
    site.submit("Unsubscribe")
    expect(page.get_by_role("heading", level=1)).to_contain_text("unsubscribed")
    db.session.expire_all()
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == reader.id))
    assert pref.unsubscribed_at is not None

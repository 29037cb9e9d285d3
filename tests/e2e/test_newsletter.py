"""Digest consent, preferences and unsubscribing in a real browser, every page audited."""

from __future__ import annotations

from playwright.sync_api import expect

from shop.preferences.tokens import unsubscribe_url
from tests.factories import TagFactory, UserFactory
from tests.newsletter.helpers import FakePreview, preference_of, use_preview, user
from tests.support import link_in

EMAIL = "digest.reader@example.org"
PASSWORD = "correct horse battery"
PREVIEW_HTML = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Your week</title>'
    '</head><body><main><h1 style="color:#1d1d1f">Your week</h1><p>Three stories.</p>'
    "</main></body></html>"
)


def test_a_reader_opts_in_chooses_topics_and_unsubscribes(
    checked_page, live_server, mailbox, monkeypatch
):
    site, page = checked_page, checked_page.page
    TagFactory(name="Climate")
    TagFactory(name="Courts")
    use_preview(monkeypatch, FakePreview("Your week: 3 stories", PREVIEW_HTML, 3))

    # Register, asking for the daily digest.
    site.goto("/register")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    expect(page.get_by_label("Email me a digest of new stories")).not_to_be_checked()
    page.get_by_label("Email me a digest of new stories").check()
    page.get_by_label("How often").select_option("daily")
    site.submit("Create account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    assert user(EMAIL).digest_consent_at is not None

    # Before confirming (logged in with the password), the preferences ask for
    # confirmation and cannot be saved.
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto("/account")
    site.follow(page.get_by_role("link", name="Email preferences"))
    expect(page.get_by_role("heading", level=2)).to_have_text("Confirm your address first")
    expect(page.get_by_role("button", name="Save")).to_have_count(0)

    site.goto(link_in(mailbox.last_to(EMAIL), "/confirm/"))
    site.goto("/account/preferences")
    stories = page.get_by_role("group", name="Which stories")
    often = page.get_by_role("group", name="How often")
    expect(often.get_by_label("Daily")).to_be_checked()
    expect(stories.get_by_label("Everything, including topics added later")).to_be_checked()
    # Under "Everything" no topic can be ticked, and the weekday is only for weekly.
    expect(stories.get_by_label("Climate")).to_be_hidden()
    expect(page.get_by_label("Day of the weekly digest")).to_be_hidden()

    # A mistake is explained beside the topics.
    stories.get_by_label("Only the topics I tick").check()
    expect(stories.get_by_label("Climate")).to_be_visible()
    site.submit("Save")
    expect(page.get_by_text("Choose at least one tag, or follow everything.")).to_be_visible()
    expect(page.get_by_role("group", name="How often").get_by_label("Daily")).to_be_checked()

    page.get_by_role("group", name="Which stories").get_by_label("Climate").check()
    page.get_by_role("group", name="How often").get_by_label("Weekly").check()
    expect(page.get_by_label("Day of the weekly digest")).to_be_visible()
    page.get_by_label("Day of the weekly digest").select_option("Friday")
    site.submit("Save")
    expect(page.get_by_role("status")).to_contain_text("Your email preferences are saved")
    expect(page.get_by_text("You get a weekly digest on Fridays")).to_be_visible()
    assert [t.name for t in preference_of(EMAIL).tags] == ["Climate"]

    # The next digest, as the email it will be.
    expect(page.get_by_text("Your week: 3 stories")).to_be_visible()
    site.follow(page.get_by_role("link", name="Open the preview"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your week")

    # The mailed unsubscribe link: a page with one button, then done.
    site.goto(unsubscribe_url(user(EMAIL).id).replace("http://localhost", live_server))
    site.submit("Unsubscribe")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    assert preference_of(EMAIL).unsubscribed_at is not None

    site.follow(page.get_by_role("link", name="Resubscribe in your email preferences"))
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    site.submit("Resubscribe")
    expect(page.get_by_role("status")).to_contain_text("You are subscribed again")
    assert preference_of(EMAIL).unsubscribed_at is None


def test_a_bad_unsubscribe_link_says_so(checked_page, live_server):
    site, page = checked_page, checked_page.page
    UserFactory(email="someone@example.org")
    site.goto("/unsubscribe/not-a-real-token", status=400)
    expect(page.get_by_text("This unsubscribe link is not valid.")).to_be_visible()

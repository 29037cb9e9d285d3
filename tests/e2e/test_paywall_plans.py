"""The paywall's plans in a real browser: one click to the emulator's Checkout, then back
to the story, reading it; a yearly plan with its saving, and a monthly one with a trial."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from shop.billing.catalogue import push_product
from shop.extensions import db
from tests.factories import ArticleFactory, make_product
from tests.support import WEBHOOK_SECRET, use_emulator

EMAIL = "reader@example.org"
PASSWORD = "correct horse battery"
BODY = "The paragraph only subscribers read."


@pytest.fixture
def app_config(app_config, emulator_server):
    """The app talks to the emulator."""
    return use_emulator(app_config, emulator_server)


@pytest.fixture
def story(live_server, emulator_server):
    """A paid story, a monthly plan with a 14-day trial and a yearly plan, in Stripe."""
    emulator_server.configure_webhook(live_server + "/webhooks/stripe", WEBHOOK_SECRET)
    monthly = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    monthly.trial_days = 14
    db.session.commit()
    push_product(monthly)
    push_product(make_product("Supporter, yearly", 8000, kind="plan", interval="year"))
    return ArticleFactory(
        title="What the budget hides",
        summary="A close reading of the numbers.",
        access="paid",
        body_markdown=BODY,
    )


def _log_in_from_the_story(site, page, story) -> None:
    """A reader on the story follows its "Log in" link, logs in, and is back on it."""
    site.goto(f"/articles/{story.slug}")
    expect(page.get_by_text("No account needed: each button below goes straight")).to_be_visible()
    paywall = page.get_by_role("region", name="This story is for subscribers")
    site.follow(paywall.get_by_role("link", name="Log in"))
    expect(page).to_have_url(re.compile(r"/login\?next=/articles/"))
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    expect(page).to_have_url(re.compile(rf"/articles/{story.slug}$"))
    expect(page.get_by_text(BODY)).to_have_count(0)


def test_a_reader_takes_the_yearly_plan_from_the_paywall_and_reads_on(
    checked_page, live_server, reader, story, mailbox
):
    site, page = checked_page, checked_page.page
    _log_in_from_the_story(site, page, story)

    paywall = page.get_by_role("region", name="This story is for subscribers")
    yearly = paywall.get_by_role("listitem").filter(has_text="Supporter, yearly")
    expect(yearly).to_contain_text("$80 a year")
    expect(yearly).to_contain_text("save $16 a year")
    monthly = paywall.get_by_role("listitem").filter(has_text="Supporter, monthly")
    expect(monthly).to_contain_text("14 days free, then $8 a month")

    # One click: straight to Checkout, for that plan alone.
    site.submit("Subscribe yearly", within=yearly)
    expect(page).to_have_url(re.compile(r"/c/pay/cs_"))
    expect(page.get_by_role("main")).to_contain_text("Supporter, yearly")
    expect(page.get_by_role("main")).not_to_contain_text("Supporter, monthly")
    site.submit("Pay")

    # Back on the story, reading it.
    expect(page).to_have_url(re.compile(re.escape(live_server) + rf"/articles/{story.slug}$"))
    expect(page.get_by_role("status")).to_contain_text("Thank you! Your subscription is active")
    expect(page.get_by_text(BODY)).to_be_visible()
    assert len(mailbox.to(EMAIL)) == 1

    site.goto("/account")
    expect(page.get_by_role("region", name="Your plan")).to_contain_text(
        "Supporter, yearly: active"
    )


def test_a_reader_starts_a_free_trial_from_the_paywall(checked_page, live_server, reader, story):
    site, page = checked_page, checked_page.page
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto(f"/articles/{story.slug}")
    monthly = page.get_by_role("listitem").filter(has_text="Supporter, monthly")
    site.submit("Start the free trial", within=monthly)

    expect(page).to_have_url(re.compile(r"/c/pay/cs_"))
    expect(page.get_by_text("Free for 14 days")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("$0.00")
    site.submit("Pay")

    expect(page).to_have_url(re.compile(re.escape(live_server) + rf"/articles/{story.slug}$"))
    expect(page.get_by_role("status")).to_contain_text("Your 14-day free trial has started")
    expect(page.get_by_text(BODY)).to_be_visible()

    site.goto("/account")
    expect(page.get_by_role("region", name="Your plan")).to_contain_text(
        "Supporter, monthly: free trial, first payment on"
    )

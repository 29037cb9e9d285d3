"""The purchase journey in a real browser, paying on the Stripe emulator's page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from shop.billing.catalogue import push_product
from tests.factories import ArticleFactory, make_product
from tests.support import WEBHOOK_SECRET, use_emulator

EMAIL = "reader@example.org"
PASSWORD = "correct horse battery"


@pytest.fixture
def app_config(app_config, emulator_server):
    """The app talks to the emulator."""
    return use_emulator(app_config, emulator_server)


def test_a_reader_buys_a_plan_and_a_product_then_reads_and_manages_billing(
    checked_page, live_server, emulator_server, reader, mailbox
):
    site, page = checked_page, checked_page.page
    emulator_server.configure_webhook(live_server + "/webhooks/stripe", WEBHOOK_SECRET)
    push_product(make_product("Supporter, monthly", 800, kind="plan", interval="month"))
    push_product(make_product("Tote bag", 1800, stock=5))
    ArticleFactory(
        title="What the budget hides",
        summary="A close reading of the numbers.",
        access="paid",
        body_markdown="The paragraph only subscribers read.",
    )

    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")

    # Before paying, the paid article shows its offer, not its body.
    site.goto("/articles/what-the-budget-hides")
    expect(page.get_by_text("This story is for subscribers")).to_be_visible()
    expect(page.get_by_text("The paragraph only subscribers read.")).to_have_count(0)

    site.goto("/shop")
    site.submit("Add to cart", within=page.get_by_role("listitem").filter(has_text="monthly"))
    site.goto("/shop")
    site.submit("Add to cart", within=page.get_by_role("listitem").filter(has_text="Tote bag"))
    expect(page.get_by_role("link", name="2 items in your cart")).to_be_visible()
    expect(page.get_by_text("test emulator")).to_be_visible()

    # Check out: Stripe's (the emulator's) hosted page.
    site.submit("Check out")
    expect(page).to_have_url(re.compile(r"/c/pay/cs_"))
    expect(page.get_by_text("No real payment is taken")).to_be_visible()
    site.submit("Pay")

    # Back on the site, paid.
    expect(page).to_have_url(re.compile(re.escape(live_server) + r"/checkout/success"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    expect(page.get_by_text("Your cart is currently empty!")).to_be_visible()
    assert len(mailbox.to(EMAIL)) == 1

    site.goto("/articles/what-the-budget-hides")
    expect(page.get_by_text("The paragraph only subscribers read.")).to_be_visible()

    site.goto("/account")
    plan = page.get_by_role("region", name="Your plan")
    expect(plan).to_contain_text("Supporter, monthly: active")
    site.submit("Manage billing")
    expect(page).to_have_url(re.compile(r"/p/session/"))
    expect(page.get_by_role("main")).to_contain_text("Supporter, monthly")


def test_a_reader_leaves_the_checkout_and_ends_it(
    checked_page, live_server, emulator_server, reader
):
    from shop.cart.models import Order
    from shop.catalogue.models import Product
    from shop.extensions import db

    site, page = checked_page, checked_page.page
    emulator_server.configure_webhook(live_server + "/webhooks/stripe", WEBHOOK_SECRET)
    tote = make_product("Tote bag", 1800, stock=2)
    push_product(tote)

    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto("/shop")
    site.submit("Add to cart", within=page.get_by_role("listitem").filter(has_text="Tote bag"))
    site.submit("Check out")
    expect(page).to_have_url(re.compile(r"/c/pay/cs_"))

    # Back to the site without paying: a page that changes nothing by itself.
    site.follow(page.get_by_role("link", name="Cancel and return"))
    expect(page.get_by_role("heading", level=1)).to_have_text("You left the checkout")
    expect(page.get_by_text("held for you until")).to_be_visible()
    db.session.expire_all()
    assert db.session.get(Product, tote.id).stock == 1
    site.submit("End that checkout")
    expect(page.get_by_role("status")).to_contain_text("Checkout cancelled.")
    expect(page.get_by_role("link", name="1 item in your cart")).to_be_visible()
    db.session.expire_all()
    assert db.session.get(Product, tote.id).stock == 2
    assert db.session.scalars(db.select(Order.status)).all() == ["abandoned"]

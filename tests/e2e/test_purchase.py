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
    expect(page.get_by_role("link", name="Cart: 2 items")).to_be_visible()
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
    expect(page.get_by_role("link", name="Cart: 1 item")).to_be_visible()
    db.session.expire_all()
    assert db.session.get(Product, tote.id).stock == 2
    assert db.session.scalars(db.select(Order.status)).all() == ["abandoned"]


def test_a_reader_buys_a_posted_item_and_the_admin_posts_it_with_tracking(
    checked_page, live_server, emulator_server, reader, mailbox
):
    from shop.extensions import db
    from shop.shipping.models import ShippingRate
    from tests.factories import AdminFactory

    site, page = checked_page, checked_page.page
    emulator_server.configure_webhook(live_server + "/webhooks/stripe", WEBHOOK_SECRET)
    push_product(make_product("Tote bag", 1800, stock=5, needs_shipping=True))
    db.session.add_all(
        [
            ShippingRate(name="Standard post", amount=350, currency="usd"),
            ShippingRate(name="Tracked", amount=695, currency="usd"),
        ]
    )
    db.session.commit()
    editor = AdminFactory(email="editor@example.org")

    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto("/shop")
    tote = page.get_by_role("listitem").filter(has_text="Tote bag")
    expect(tote).to_contain_text("Posted to you: postage is added at checkout.")
    site.submit("Add to cart", within=tote)
    site.submit("Check out")

    # Stripe's (the emulator's) page asks where to post it, and how.
    expect(page).to_have_url(re.compile(r"/c/pay/cs_"))
    page.get_by_label("Full name").fill("Nina Reader")
    page.get_by_label("Address line 1").fill("14 Harbour Row")
    page.get_by_label("City").fill("Whitby")
    page.get_by_label("Postal code").fill("YO21 3PU")
    page.get_by_label("Country").select_option("GB")
    page.get_by_label(re.compile(r"^Tracked")).check()
    site.submit("Pay")

    expect(page).to_have_url(re.compile(re.escape(live_server) + r"/checkout/success"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    receipt = mailbox.last_to(EMAIL).get_body(preferencelist=("plain",)).get_content()
    assert "Postage: Tracked: $6.95" in receipt and "14 Harbour Row" in receipt
    assert "Total: $24.95" in receipt
    site.submit("Log out")

    # The editor finds it in the shipping queue and posts it.
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(editor.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto("/admin/")
    site.follow(
        page.get_by_role("navigation", name="Back office").get_by_role("link", name="Shipping")
    )
    expect(page.get_by_role("link", name="To ship (1)")).to_be_visible()
    order = page.locator("section.shipment").first
    expect(order).to_contain_text("Nina Reader")
    expect(order).to_contain_text("United Kingdom")
    expect(order).to_contain_text("Tote bag × 1")
    expect(order).to_contain_text("Tracked: $6.95")
    order.get_by_label("Tracking number (optional)").fill("RM 4821 7730 GB")
    site.submit("Mark as posted and email the reader", within=order)
    expect(page.get_by_role("status")).to_contain_text(
        "marked as posted, and the reader was emailed"
    )
    expect(page.get_by_text("Nothing is waiting to be posted.")).to_be_visible()
    notice = mailbox.last_to(EMAIL)
    assert notice["Subject"].endswith("is on its way")
    assert "RM 4821 7730 GB" in notice.get_body(preferencelist=("plain",)).get_content()

    site.follow(page.get_by_role("link", name="Shipped"))
    expect(page.locator("section.shipment")).to_contain_text("posted")


def test_a_reader_switches_to_the_yearly_plan_in_the_portal(
    checked_page, live_server, emulator_server, reader
):
    site, page = checked_page, checked_page.page
    emulator_server.configure_webhook(live_server + "/webhooks/stripe", WEBHOOK_SECRET)
    push_product(make_product("Supporter, monthly", 800, kind="plan", interval="month"))
    push_product(make_product("Supporter, yearly", 8000, kind="plan", interval="year"))

    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto("/shop")
    site.submit("Add to cart", within=page.get_by_role("listitem").filter(has_text="monthly"))
    site.submit("Check out")
    site.submit("Pay")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")

    site.goto("/account")
    site.submit("Manage billing")
    expect(page).to_have_url(re.compile(r"/p/session/"))
    site.submit("Switch to Supporter, yearly: $80.00 a year")
    expect(
        page.get_by_role("button", name="Switch to Supporter, monthly: $8.00 a month")
    ).to_be_visible()
    site.follow(page.get_by_role("link", name="Return to the site"))
    plan = page.get_by_role("region", name="Your plan")
    expect(plan).to_contain_text("Supporter, yearly: active")


def test_a_gift_is_bought_sent_on_its_day_and_redeemed(
    checked_page, live_server, emulator_server, reader, mailbox
):
    from shop import scheduler
    from tests.support import link_in

    site, page = checked_page, checked_page.page
    emulator_server.configure_webhook(live_server + "/webhooks/stripe", WEBHOOK_SECRET)
    push_product(make_product("Supporter, yearly", 8000, kind="plan", interval="year"))
    ArticleFactory(title="Behind the wall", access="paid", body_markdown="The paid paragraph.")

    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto("/shop")
    site.follow(page.get_by_role("link", name="Give a subscription"))
    page.get_by_label("From (your name, as they will see it)").fill("Nina Reader")
    page.get_by_label("Their name").fill("Grace Hopper")
    page.get_by_label("Their email address").fill("grace@example.org")
    page.get_by_label("A message (optional)").fill("For the long train rides.")
    site.submit("Continue to payment")
    expect(page).to_have_url(re.compile(r"/c/pay/cs_"))
    site.submit("Pay")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    receipt = mailbox.last_to(EMAIL).get_body(preferencelist=("plain",)).get_content()
    assert "goes to Grace Hopper (grace@example.org) by email on" in receipt
    site.submit("Log out", within=page.get_by_role("banner"))

    # Its day has come: the tick mails the recipient, who redeems it with no card.
    assert scheduler.tick().gifts_sent == 1
    site.goto(link_in(mailbox.last_to("grace@example.org"), "/gifts/redeem/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Nina Reader gave you a year of Broadsheet"
    )
    expect(page.get_by_role("main")).to_contain_text("For the long train rides.")
    site.submit("Redeem my gift")
    expect(page.get_by_role("status").first).to_contain_text("Your gift is redeemed")
    plan = page.get_by_role("region", name="Your plan")
    expect(plan).to_contain_text("gift from Nina Reader")
    site.goto("/articles/behind-the-wall")
    expect(page.get_by_text("The paid paragraph.")).to_be_visible()


def test_a_visitor_subscribes_with_a_trial_without_an_account(
    checked_page, live_server, emulator_server, mailbox
):
    from shop.extensions import db

    site, page = checked_page, checked_page.page
    emulator_server.configure_webhook(live_server + "/webhooks/stripe", WEBHOOK_SECRET)
    plan = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    plan.trial_days = 14
    db.session.commit()
    push_product(plan)
    ArticleFactory(title="Behind the wall", access="paid", body_markdown="The paid paragraph.")

    site.goto("/shop")
    site.submit("Add to cart", within=page.get_by_role("listitem").filter(has_text="monthly"))
    site.submit("Check out")
    # Stripe's (the emulator's) page asks the guest for their email.
    expect(page).to_have_url(re.compile(r"/c/pay/cs_"))
    page.get_by_label("Email").fill("ada.guest@example.org")
    site.submit("Pay")

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    expect(page.get_by_role("status").first).to_contain_text("you are logged in on this browser")
    site.goto("/articles/behind-the-wall")
    expect(page.get_by_text("The paid paragraph.")).to_be_visible()
    site.goto("/account")
    expect(page.get_by_role("region", name="Your plan")).to_contain_text("free trial")
    subjects = [m["Subject"] for m in mailbox.to("ada.guest@example.org")]
    assert "Your sign-in link for Broadsheet" in subjects

"""The customer portal: readers switch between the plans on sale (monthly and yearly),
with Stripe's prorations, through a configuration the gateway makes once."""

from __future__ import annotations

import re

from sqlalchemy import select

from shop.billing.catalogue import push_product
from shop.billing.models import Payment, Subscription
from shop.catalogue import admin as catalogue_admin
from shop.extensions import db
from tests.billing.conftest import order_for, synced
from tests.factories import make_product
from tests.support import csrf_token


def _open_portal(client) -> str:
    response = client.post("/account/billing", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    match = re.search(r"/p/session/(bps_\w+)", response.headers["Location"])
    assert match
    return match.group(1)


def test_a_reader_switches_from_monthly_to_yearly_in_the_portal(client, shopper, emulator):
    monthly = synced(make_product("Supporter, monthly", 800, kind="plan", interval="month"))
    yearly = synced(make_product("Supporter, yearly", 8000, kind="plan", interval="year"))
    shopper.add(monthly)
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id)
    sub_id = order_for(session_id).stripe_subscription_id

    portal_id = _open_portal(client)
    portal = emulator.get(portal_id)
    config = emulator.get(portal["configuration"])
    update = config["features"]["subscription_update"]
    assert update["enabled"] is True and update["default_allowed_updates"] == ["price"]
    assert update["proration_behavior"] == "create_prorations"
    assert config["features"]["subscription_cancel"]["mode"] == "at_period_end"
    # The same plans, the same configuration: it is not made again on every visit.
    assert emulator.get(_open_portal(client))["configuration"] == config["id"]

    page = emulator.portal_page(portal_id)
    (choice,) = page["subscriptions"][0]["_switch_to"]
    assert choice["price"] == yearly.price.stripe_price_id
    invoice_id = emulator.portal_switch_price(portal_id, sub_id, choice["price"])

    db.session.expire_all()
    sub = db.session.scalar(
        select(Subscription).where(Subscription.stripe_subscription_id == sub_id)
    )
    assert sub.product_id == yearly.id and sub.status == "active"
    switch = db.session.scalar(select(Payment).where(Payment.stripe_invoice_id == invoice_id))
    # A year, less the unused part of the month just paid.
    assert 8000 - 800 <= switch.amount < 8000
    assert "Supporter, yearly" in client.get("/account").get_data(as_text=True)


def test_a_new_price_makes_a_new_configuration(client, shopper, emulator):
    monthly = synced(make_product("Supporter, monthly", 800, kind="plan", interval="month"))
    yearly = synced(make_product("Supporter, yearly", 8000, kind="plan", interval="year"))
    shopper.add(monthly)
    emulator.pay(shopper.session_id(shopper.checkout()))
    first = emulator.get(_open_portal(client))["configuration"]
    # The yearly plan's price goes up: the portal must offer the new price, not the old.
    catalogue_admin.save_product(
        catalogue_admin.ProductInput(
            name="Supporter, yearly", kind="plan", amount=9000, interval="year"
        ),
        yearly,
    )
    push_product(yearly)
    second = emulator.get(_open_portal(client))["configuration"]
    assert second != first
    prices = emulator.get(second)
    assert prices["features"]["subscription_update"]["enabled"] is True

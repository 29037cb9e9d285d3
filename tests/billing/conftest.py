"""Billing fixtures: the Stripe emulator, with webhooks to a live server of the app."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from shop.billing.catalogue import push_product
from shop.cart.models import Order
from shop.extensions import db
from tests.factories import make_product
from tests.support import WEBHOOK_SECRET, csrf_token, use_emulator


@pytest.fixture
def app_config(app_config, emulator_server):
    """Point the app at the emulator, which starts each test empty."""
    return use_emulator(app_config, emulator_server)


@pytest.fixture
def emulator(emulator_server, live_server):
    """The emulator's control object, delivering signed webhooks to the live app."""
    emulator_server.configure_webhook(live_server + "/webhooks/stripe", WEBHOOK_SECRET)
    yield emulator_server.emulator
    emulator_server.emulator.wait_for_deliveries(timeout=5)
    emulator_server.configure_webhook(None, None)


def synced(product):
    """A product pushed to the emulator, as an admin's save would."""
    push_product(product)
    return product


@pytest.fixture
def catalogue(app, emulator):
    """A monthly plan and two one-off items, in Stripe."""
    return {
        "plan": synced(make_product("Supporter", 800, kind="plan", interval="month")),
        "annual": synced(make_product("Printed annual", 2500, stock=3)),
        "tote": synced(make_product("Tote bag", 1800)),
    }


class Shopper:
    """A logged-in reader who shops through the real routes."""

    def __init__(self, client, auth) -> None:
        self.client = client
        self.auth = auth

    def add(self, product, quantity: int = 1):
        """Add a product to the cart."""
        token = csrf_token(self.client, "/shop")
        return self.client.post(
            "/cart/add",
            data={"product_id": product.id, "quantity": quantity, "csrf_token": token},
        )

    def checkout(self):
        """Press "Check out"; the response (303 to Stripe's page when it works)."""
        token = csrf_token(self.client, "/cart")
        return self.client.post("/checkout", data={"csrf_token": token})

    def session_id(self, response) -> str:
        """The Checkout Session id in a checkout redirect."""
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        match = re.search(r"/c/pay/(cs_[A-Za-z0-9_]+)", response.headers["Location"])
        assert match, response.headers["Location"]
        return match.group(1)


@pytest.fixture
def shopper(client, auth, reader):
    """The confirmed reader, logged in."""
    auth.login("reader@example.org")
    return Shopper(client, auth)


def order_for(session_id: str) -> Order:
    """The order behind a Checkout Session, fresh from the database."""
    db.session.expire_all()
    return db.session.scalar(select(Order).where(Order.stripe_checkout_session_id == session_id))

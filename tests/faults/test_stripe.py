"""Stripe goes down in the middle of a purchase: the cart stays, nothing is half paid.

The emulator of these tests keeps its state in a file, so it can be stopped (Stripe
unreachable: connections refused) and started again on the same port with the same
sessions, as Stripe comes back after an outage.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import func, select

from shop.billing.catalogue import push_product
from shop.billing.models import Payment
from shop.cart.models import Cart, Order
from shop.catalogue.models import Product
from shop.extensions import db
from stripe_emulator.testing import TEST_API_KEY, EmulatorServer
from tests.factories import UserFactory, make_product
from tests.support import WEBHOOK_SECRET, AuthActions, csrf_token, free_port, path_of

UNREACHABLE = "could not reach the payment provider"


class Outage:
    """A Stripe emulator that the test stops and starts again, keeping its state."""

    def __init__(self, state_file) -> None:
        self.port = free_port()
        self.state_file = state_file
        self.webhook_url: str | None = None
        self.server: EmulatorServer | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve again, on the same port, with every object kept."""
        self.server = EmulatorServer(port=self.port, state_file=self.state_file).start()
        if self.webhook_url:
            self.server.configure_webhook(self.webhook_url, WEBHOOK_SECRET)

    def stop(self) -> None:
        """Stop answering: every call to Stripe now fails to connect."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def pay(self, session_id: str) -> str:
        """Press Pay on the hosted Checkout page; where it sends the buyer back."""
        request = urllib.request.Request(  # noqa: S310  (the emulator, on loopback)
            f"{self.url}/c/pay/{session_id}",
            data=urllib.parse.urlencode({"action": "pay"}).encode(),
            method="POST",
        )
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(request, timeout=10)
        except urllib.error.HTTPError as answer:
            assert answer.code == 303, answer.code
            return answer.headers["Location"]
        raise AssertionError("the hosted page did not send the buyer back")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Leave redirects to the caller."""

    def redirect_request(self, *args, **kwargs):
        """Do not follow."""
        return None


@pytest.fixture
def stripe(app_config, tmp_path):
    """Our own emulator, up; the app points at it."""
    outage = Outage(tmp_path / "stripe.json")
    outage.start()
    app_config.update(
        STRIPE_SECRET_KEY=TEST_API_KEY,
        STRIPE_API_BASE=outage.url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    yield outage
    outage.stop()


@pytest.fixture
def shop(stripe, app, live_server):
    """A logged-in reader, a limited product in Stripe, webhooks to the live app."""
    stripe.webhook_url = live_server + "/webhooks/stripe"
    stripe.server.configure_webhook(stripe.webhook_url, WEBHOOK_SECRET)
    UserFactory(email="buyer@example.org")
    annual = make_product("Printed annual", 2500, stock=5)
    tote = make_product("Tote bag", 1800)
    push_product(annual)
    push_product(tote)
    client = app.test_client()
    assert AuthActions(client).login("buyer@example.org").status_code == 302
    return client, annual, tote


def _add(client, product, quantity: int) -> None:
    token = csrf_token(client, "/shop")
    data = {"product_id": product.id, "quantity": quantity, "csrf_token": token}
    assert client.post("/cart/add", data=data).status_code in (302, 303)


def _checkout(client):
    return client.post("/checkout", data={"csrf_token": csrf_token(client, "/cart")})


def _session_id(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    match = re.search(r"/c/pay/(cs_[A-Za-z0-9_]+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def _state(product) -> dict:
    """What the buyer and the shop would notice: stock, cart, orders, payments."""
    db.session.expire_all()
    cart = db.session.scalar(select(Cart))
    statuses = db.session.scalars(select(Order.status).order_by(Order.id)).all()
    return {
        "stock": db.session.get(Product, product.id).stock,
        "in_cart": sum(i.quantity for i in cart.items) if cart else 0,
        "paid": statuses.count("paid"),
        "pending": statuses.count("pending"),
        "payments": db.session.scalar(select(func.count()).select_from(Payment)),
    }


def _refused_checkout(client) -> str:
    """Check out with Stripe down: back to the cart with a message, never a 500."""
    response = _checkout(client)
    assert response.status_code in (302, 303), response.status_code
    assert path_of(response.headers["Location"]).startswith("/cart")
    page = client.get("/cart").get_data(as_text=True)
    assert "payment provider" in page, re.sub(r"\s+", " ", page)[-3000:]
    assert "Nothing was charged" in page
    return page


def test_stripe_down_before_checkout_keeps_the_cart_and_the_stock(stripe, shop):
    client, annual, _ = shop
    _add(client, annual, 2)
    stripe.stop()

    _refused_checkout(client)
    assert _state(annual) == {"stock": 5, "in_cart": 2, "paid": 0, "pending": 0, "payments": 0}

    stripe.start()
    session_id = _session_id(_checkout(client))
    back = stripe.pay(session_id)
    assert client.get(path_of(back)).status_code == 200
    assert _state(annual) == {"stock": 3, "in_cart": 0, "paid": 1, "pending": 0, "payments": 1}


def test_stripe_down_after_the_session_was_made_leaves_no_half_paid_order(stripe, shop):
    client, annual, tote = shop
    _add(client, annual, 2)
    session_id = _session_id(_checkout(client))
    reserved = {"stock": 3, "in_cart": 2, "paid": 0, "pending": 1, "payments": 0}
    assert _state(annual) == reserved
    stripe.stop()

    # Back from Stripe's page while Stripe is away: the order is shown as not yet paid.
    returned = client.get(f"/checkout/success?session_id={session_id}")
    assert returned.status_code == 200
    # Check out the same cart again: the open session cannot be asked about.
    _refused_checkout(client)
    assert _state(annual) == reserved  # reserved once, not twice, and not released
    # A changed cart: the old session cannot be closed, so it is kept (it may be paid).
    _add(client, tote, 1)
    _refused_checkout(client)
    assert _state(annual) == {**reserved, "in_cart": 3}

    stripe.start()
    back = stripe.pay(session_id)  # the buyer had the page open all along
    assert client.get(path_of(back)).status_code == 200
    assert _state(annual) == {"stock": 3, "in_cart": 3, "paid": 1, "pending": 0, "payments": 1}


def test_checking_out_the_same_cart_again_is_not_refused_by_its_own_reservation(stripe, shop):
    # Stripe is up here: the buyer pressed Back on Stripe's page, then Check out again.
    client, annual, _ = shop
    _add(client, annual, 3)  # of 5: the open checkout holds 3, and 2 are left for others
    first = _session_id(_checkout(client))
    again = _checkout(client)
    assert again.status_code == 303, client.get("/cart").get_data(as_text=True)[-3000:]
    assert _session_id(again) == first
    assert _state(annual) == {"stock": 2, "in_cart": 3, "paid": 0, "pending": 1, "payments": 0}

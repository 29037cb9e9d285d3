"""Twenty copies of one event at once, to several gunicorn workers on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shop import create_app
from shop.accounts.models import User
from shop.billing import checkout
from shop.billing.catalogue import push_product
from shop.billing.models import Payment, StripeEvent
from shop.cart import services as carts
from shop.cart.models import Order
from shop.catalogue.models import Product
from shop.extensions import db
from stripe_emulator.testing import TEST_API_KEY
from tests import support
from tests.factories import UserFactory, make_product
from tests.support import WEBHOOK_SECRET

# A gunicorn site in other processes on PostgreSQL (postgres_url: real commits).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3


def _wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up within {seconds} s")


@pytest.fixture
def gunicorn_site(postgres_url, smtp_sink, emulator_server, tmp_path):
    """The app under gunicorn with several worker processes, on that database."""
    port = support.free_port()
    site = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SECRET_KEY": "concurrency-test-secret-key",
        "DATABASE_URL": postgres_url,
        "SITE_URL": site,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_sink[0].port),
        "STRIPE_SECRET_KEY": TEST_API_KEY,
        "STRIPE_API_BASE": emulator_server.url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BROADSHEET_INSTANCE": str(tmp_path / "instance"),
    }
    env.pop("FLASK_DEBUG", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        _wait_for(site + "/healthz")
        yield site
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_twenty_concurrent_deliveries_fulfil_exactly_once(
    postgres_url, smtp_sink, emulator_server, gunicorn_site, mailbox
):
    emulator = emulator_server.emulator
    emulator.reset()
    emulator.set_delivery_mode("hold")
    emulator_server.configure_webhook(gunicorn_site + "/webhooks/stripe", WEBHOOK_SECRET)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "concurrency-test-secret-key",
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "SITE_URL": gunicorn_site,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_sink[0].port,
            "MAIL_SUPPRESS_SEND": False,
            "STRIPE_SECRET_KEY": TEST_API_KEY,
            "STRIPE_API_BASE": emulator_server.url,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    )
    try:
        with app.app_context():
            db.create_all()
            user = UserFactory(email="crowd@example.org")
            annual = make_product("Printed annual", 2500, stock=5)
            push_product(annual)
            cart, _ = carts.get_or_create_cart(user, None)
            carts.add_item(cart, annual.id, 2)
            checkout.start_checkout(db.session.get(User, user.id))
            order = db.session.scalar(select(Order))
            emulator.pay(order.stripe_checkout_session_id)
            completed = emulator.events(type="checkout.session.completed")
            assert len(completed) == 1

            statuses = emulator.deliver_concurrently(completed[0]["id"], copies=20)
            assert statuses == [200] * 20

            db.session.expire_all()
            assert db.session.get(Order, order.id).status == "paid"
            assert db.session.get(Product, annual.id).stock == 3
            assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
            assert (
                db.session.scalar(
                    select(func.count())
                    .select_from(StripeEvent)
                    .where(StripeEvent.id == completed[0]["id"])
                )
                == 1
            )
            assert len(mailbox.to("crowd@example.org")) == 1
    finally:
        emulator_server.configure_webhook(None, None)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

"""Paying without an account: Stripe Checkout collects the email, fulfilment finds or
makes the reader by it, and only the browser that paid is logged in, and only as a
reader its payment made."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.billing.models import Customer, Subscription
from shop.extensions import db
from tests.billing.conftest import order_for, synced
from tests.factories import ArticleFactory, make_product
from tests.support import csrf_token, link_in, path_of, text_of


@pytest.fixture
def goods(app, emulator):
    """A tote bag and a monthly plan with a free trial, in Stripe."""
    plan = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    plan.trial_days = 14
    db.session.commit()
    return {"tote": synced(make_product("Tote bag", 1800, stock=5)), "plan": synced(plan)}


def _guest_checkout(client, product) -> str:
    token = csrf_token(client, "/shop")
    client.post("/cart/add", data={"product_id": product.id, "quantity": 1, "csrf_token": token})
    response = client.post("/checkout", data={"csrf_token": csrf_token(client, "/cart")})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return re.search(r"/c/pay/(cs_\w+)", response.headers["Location"]).group(1)


def _user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def _logged_in(client) -> bool:
    return client.get("/account").status_code == 200


def test_a_guest_pays_with_an_email_and_becomes_a_reader_logged_in_here(
    app, client, goods, emulator, mailbox
):
    session_id = _guest_checkout(client, goods["tote"])
    session = emulator.get(session_id)
    assert session["customer"] is None and session["customer_email"] is None
    assert session["customer_creation"] == "always"
    assert order_for(session_id).user_id is None

    redirect = emulator.pay(session_id, email="New.Buyer@Example.org")
    reader = _user("new.buyer@example.org")
    assert reader is not None and not reader.has_password and reader.confirmed_at is None
    order = order_for(session_id)
    assert order.status == "paid" and order.user_id == reader.id and order.guest_made_reader
    assert (
        db.session.scalar(
            select(Customer.user_id).where(
                Customer.stripe_customer_id == session_id.replace("cs_", "x")
            )
        )
        is None
    )

    # Another browser with the same URL finds nothing and is logged in as no one.
    other = app.test_client()
    assert other.get(path_of(redirect)).status_code == 404
    assert not _logged_in(other)

    page = client.get(path_of(redirect)).get_data(as_text=True)
    assert "Thank you!" in page and "you are logged in on this browser" in page
    assert _logged_in(client)
    subjects = [m["Subject"] for m in mailbox.to("new.buyer@example.org")]
    assert any(s.startswith("Your receipt") for s in subjects)
    assert "Your sign-in link for Broadsheet" in subjects
    # Once: a reload mails no second link.
    client.get(path_of(redirect))
    assert [m["Subject"] for m in mailbox.to("new.buyer@example.org")] == subjects
    assert "Tote bag" in client.get("/account").get_data(as_text=True)


def test_a_guest_who_types_an_accounts_email_is_not_logged_in_but_mailed_a_link(
    app, client, reader, goods, emulator, mailbox
):
    session_id = _guest_checkout(client, goods["tote"])
    redirect = emulator.pay(session_id, email="reader@example.org")
    order = order_for(session_id)
    assert order.user_id == reader.id and not order.guest_made_reader
    page = client.get(path_of(redirect)).get_data(as_text=True)
    assert "reader@example.org already has an account here" in page
    assert not _logged_in(client)
    link = link_in(mailbox.last_to("reader@example.org"), "/signin/")
    assert "Your order at Broadsheet is in your account" in text_of(
        mailbox.last_to("reader@example.org")
    )
    assert client.get(path_of(link)).status_code == 200


def test_a_guest_subscribes_with_a_trial_and_reads(app, client, goods, emulator, mailbox):
    ArticleFactory(title="Behind the wall", access="paid", body_markdown="The paid paragraph.")
    session_id = _guest_checkout(client, goods["plan"])
    assert emulator.get(session_id)["mode"] == "subscription"
    redirect = emulator.pay(session_id, email="trial.reader@example.org")
    reader = _user("trial.reader@example.org")
    sub = db.session.scalar(select(Subscription).where(Subscription.user_id == reader.id))
    assert sub is not None and sub.status == "trialing"
    client.get(path_of(redirect))
    assert "The paid paragraph." in client.get("/articles/behind-the-wall").get_data(as_text=True)


def test_a_guest_who_leaves_checkout_can_end_it_from_this_browser_only(
    app, client, goods, emulator
):
    session_id = _guest_checkout(client, goods["tote"])
    order = order_for(session_id)
    other = app.test_client()
    assert "End that checkout" not in other.get(f"/checkout/cancel?order={order.id}").get_data(
        as_text=True
    )
    page = client.get(f"/checkout/cancel?order={order.id}").get_data(as_text=True)
    assert "End that checkout" in page
    client.post(
        "/checkout/cancel",
        data={
            "order": order.id,
            "csrf_token": csrf_token(client, f"/checkout/cancel?order={order.id}"),
        },
    )
    assert order_for(session_id).status == "abandoned"

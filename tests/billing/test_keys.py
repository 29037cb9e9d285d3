"""Stripe idempotency keys: one per install and row, the same for a retry of the same thing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from shop.accounts.models import User
from shop.billing import checkout, customers, refunds
from shop.billing.catalogue import price_key
from shop.billing.models import Customer, Payment
from shop.cart.models import Cart, CartItem, Order, OrderLine
from shop.extensions import db
from tests.billing.conftest import Shopper, order_for
from tests.factories import UserFactory
from tests.support import AuthActions


def _restored(user: User, created_at) -> User:
    """The same id, after a database restore, for another account made at another time."""
    return User(id=user.id, email="someone.else@example.org", created_at=created_at)


def test_every_key_names_the_install_and_the_rows_creation_time(app, reader, catalogue):
    price = catalogue["tote"].price
    order = Order(id=41, user_id=reader.id, mode="payment", currency="usd", total=1, cart_version=3)
    order.created_at = reader.created_at
    payment = Payment(id=9, amount=500, currency="usd", paid_at=reader.created_at)
    keys = {
        "customer": lambda: customers.customer_key(reader),
        "checkout": lambda: checkout.checkout_key(order, 3),
        "refund": lambda: refunds.refund_key(payment, 500, "attempt-abcdefgh"),
        "price": lambda: price_key(price, "prod_x"),
    }
    app.config["INSTALL_ID"] = "install-one"
    first = {kind: key() for kind, key in keys.items()}
    assert first == {kind: key() for kind, key in keys.items()}  # a retry: the same key
    assert all(key.startswith("install-one-") for key in first.values())

    app.config["INSTALL_ID"] = "install-two"
    other_install = {kind: key() for kind, key in keys.items()}
    assert all(other_install[kind] != first[kind] for kind in keys)

    app.config["INSTALL_ID"] = "install-one"
    later = reader.created_at + timedelta(days=3)
    assert customers.customer_key(_restored(reader, later)) != first["customer"]
    order.created_at = later
    assert checkout.checkout_key(order, 3) != first["checkout"]
    assert checkout.checkout_key(order, 4) != checkout.checkout_key(order, 3)
    payment.paid_at = later
    assert refunds.refund_key(payment, 500, "attempt-abcdefgh") != first["refund"]
    price.created_at = later
    assert price_key(price, "prod_x") != first["price"]


def _forget_everything_about(user_id: int) -> None:
    """What a restore from an older backup does: this account and its rows never existed."""
    db.session.execute(delete(Customer).where(Customer.user_id == user_id))
    carts = select(Cart.id).where(Cart.user_id == user_id)
    db.session.execute(delete(CartItem).where(CartItem.cart_id.in_(carts)))
    db.session.execute(delete(Cart).where(Cart.user_id == user_id))
    orders = select(Order.id).where(Order.user_id == user_id)
    db.session.execute(delete(OrderLine).where(OrderLine.order_id.in_(orders)))
    db.session.execute(delete(Order).where(Order.user_id == user_id))
    db.session.execute(delete(User).where(User.id == user_id))
    db.session.commit()


@pytest.mark.parametrize("case", ["restored database", "another install"])
def test_a_reused_account_id_still_checks_out(app, client, catalogue, emulator, case):
    """Stripe keeps keys for 24 hours: a reused row id must not replay another's request."""
    first = UserFactory(email="first@example.org")
    first_id, first_created = first.id, first.created_at
    auth = AuthActions(client)
    auth.login("first@example.org")
    shopper = Shopper(client, auth)
    shopper.add(catalogue["tote"])
    shopper.session_id(shopper.checkout())
    auth.logout()

    _forget_everything_about(first_id)
    if case == "restored database":
        created = first_created + timedelta(minutes=5)
    else:
        app.config["INSTALL_ID"] = "the-other-install"
        created = first_created
    UserFactory(id=first_id, email="second@example.org", created_at=created)

    auth.login("second@example.org")
    shopper.add(catalogue["tote"])
    response = shopper.checkout()
    session_id = shopper.session_id(response)
    customer = db.session.scalar(select(Customer).where(Customer.user_id == first_id))
    # A customer of its own, not the first account's replayed by Stripe.
    assert emulator.get(customer.stripe_customer_id)["email"] == "second@example.org"
    assert emulator.get(session_id)["customer"] == customer.stripe_customer_id
    assert order_for(session_id).status == "pending"
    emulator.pay(session_id)
    assert order_for(session_id).status == "paid"


def test_a_lost_customer_answer_retried_is_the_same_customer(app, reader, emulator):
    """The request that made the Stripe Customer died before storing it: no second one."""
    stripe_id = customers.stripe_customer_id(reader)
    db.session.execute(delete(Customer))
    db.session.commit()
    assert customers.stripe_customer_id(reader) == stripe_id
    assert len(emulator.events("customer.created")) == 1
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1

"""Stock held by a checkout: a short session, released when it ends, capped per reader."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from shop import scheduler
from shop.billing import checkout, fulfilment, holds
from shop.billing.models import Payment
from shop.cart.models import Order
from shop.catalogue.models import Product
from shop.extensions import db
from tests.billing.conftest import Shopper, order_for
from tests.factories import UserFactory
from tests.support import AuthActions


def _stock(product) -> int | None:
    db.session.expire_all()
    return db.session.get(Product, product.id).stock


def _set_stock(product, stock: int) -> None:
    db.session.execute(
        Product.__table__.update().where(Product.id == product.id).values(stock=stock)
    )
    db.session.commit()


def _lifetime(emulator, session_id: str) -> int:
    """Seconds from the session's creation to its expires_at, as Stripe holds them."""
    session = emulator.get(session_id)
    return session["expires_at"] - session["created"]


def _past_expiry(session_id: str, minutes: int = 6):
    """A moment ``minutes`` after the order's checkout expired (our clock, naive UTC)."""
    return order_for(session_id).checkout_expires_at + timedelta(minutes=minutes)


# --- a short session ---------------------------------------------------------------------


def test_a_checkout_that_holds_stock_ends_within_the_hour(shopper, catalogue, emulator):
    shopper.add(catalogue["annual"], 2)
    session_id = shopper.session_id(shopper.checkout())
    assert 30 * 60 <= _lifetime(emulator, session_id) <= 60 * 60
    order = order_for(session_id)
    assert order.checkout_expires_at is not None
    stripe_end = emulator.get(session_id)["expires_at"]
    assert checkout._unix(order.checkout_expires_at) == stripe_end


def test_the_hold_follows_the_setting_and_never_goes_below_stripes_minimum(
    app, shopper, catalogue, emulator
):
    app.config["CHECKOUT_HOLD_MINUTES"] = 45
    shopper.add(catalogue["annual"])
    first = shopper.session_id(shopper.checkout())
    assert 44 * 60 <= _lifetime(emulator, first) <= 46 * 60

    app.config["CHECKOUT_HOLD_MINUTES"] = 5  # Stripe would refuse it: 30 is the least
    shopper.add(catalogue["annual"])
    second = shopper.session_id(shopper.checkout())
    assert 30 * 60 <= _lifetime(emulator, second) <= 33 * 60


def test_a_cart_with_nothing_in_stock_keeps_stripes_default(shopper, catalogue, emulator):
    shopper.add(catalogue["tote"])
    session_id = shopper.session_id(shopper.checkout())
    assert _lifetime(emulator, session_id) == 24 * 3600
    assert order_for(session_id).checkout_expires_at is None


# --- released when it ends ---------------------------------------------------------------


def test_stripe_ending_the_session_gives_the_stock_back(shopper, catalogue, emulator):
    annual = catalogue["annual"]
    shopper.add(annual, 3)
    session_id = shopper.session_id(shopper.checkout())
    assert _stock(annual) == 0
    expires_at = emulator.get(session_id)["expires_at"]
    assert emulator.expire_due(now=expires_at) == [session_id]  # the webhook follows
    assert order_for(session_id).status == "abandoned"
    assert _stock(annual) == 3


def test_the_sweep_gives_stock_back_when_the_webhook_never_comes(shopper, catalogue, emulator):
    annual = catalogue["annual"]
    emulator.set_delivery_mode("hold")  # Stripe's expired event is lost
    shopper.add(annual, 3)
    session_id = shopper.session_id(shopper.checkout())
    emulator.expire_due(now=emulator.get(session_id)["expires_at"])
    assert order_for(session_id).status == "pending" and _stock(annual) == 0

    assert fulfilment.release_expired_checkouts(order_for(session_id).checkout_expires_at) == 0
    assert fulfilment.release_expired_checkouts(_past_expiry(session_id)) == 1
    assert order_for(session_id).status == "abandoned"
    assert _stock(annual) == 3
    assert fulfilment.release_expired_checkouts(_past_expiry(session_id)) == 0  # safe twice

    # The lost event turns up after all: the units are not given back twice.
    assert {status for _, status in emulator.deliver()} == {200}
    assert _stock(annual) == 3


def test_the_sweep_ends_a_session_stripe_left_open(shopper, catalogue, emulator):
    annual = catalogue["annual"]
    emulator.set_delivery_mode("hold")
    shopper.add(annual, 2)
    session_id = shopper.session_id(shopper.checkout())
    assert fulfilment.release_expired_checkouts(_past_expiry(session_id)) == 1
    assert emulator.get(session_id)["status"] == "expired"  # it can no longer be paid
    assert order_for(session_id).status == "abandoned"
    assert _stock(annual) == 3
    assert {status for _, status in emulator.deliver()} == {200}
    assert _stock(annual) == 3


def test_the_sweep_fulfils_a_payment_whose_webhook_is_late(shopper, catalogue, emulator, mailbox):
    annual = catalogue["annual"]
    emulator.set_delivery_mode("hold")
    shopper.add(annual, 2)
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id)  # paid just before the end; the webhook is late

    assert fulfilment.release_expired_checkouts(_past_expiry(session_id)) == 0
    assert order_for(session_id).status == "paid"
    assert _stock(annual) == 1  # sold, not given back
    assert len(mailbox.to("reader@example.org")) == 1
    assert {status for _, status in emulator.deliver()} == {200}
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
    assert len(mailbox.to("reader@example.org")) == 1


def test_the_sweep_leaves_a_bank_payment_that_is_still_settling(shopper, catalogue, emulator):
    annual = catalogue["annual"]
    shopper.add(annual)
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id, action="delayed")
    assert fulfilment.release_expired_checkouts(_past_expiry(session_id)) == 0
    assert order_for(session_id).status == "pending" and _stock(annual) == 2
    emulator.settle_async(session_id, succeeded=True)
    assert order_for(session_id).status == "paid"


def test_the_sweep_waits_while_stripe_is_down(shopper, catalogue, emulator):
    annual = catalogue["annual"]
    emulator.set_delivery_mode("hold")
    shopper.add(annual, 2)
    session_id = shopper.session_id(shopper.checkout())
    emulator.fail_requests()
    assert fulfilment.release_expired_checkouts(_past_expiry(session_id)) == 0
    assert order_for(session_id).status == "pending" and _stock(annual) == 1
    emulator.clear_faults()
    assert fulfilment.release_expired_checkouts(_past_expiry(session_id)) == 1
    assert _stock(annual) == 3


def test_the_sweep_leaves_open_checkouts_alone(shopper, catalogue, emulator):
    annual = catalogue["annual"]
    shopper.add(annual, 2)
    session_id = shopper.session_id(shopper.checkout())
    assert fulfilment.release_expired_checkouts() == 0
    assert emulator.get(session_id)["status"] == "open"
    assert order_for(session_id).status == "pending" and _stock(annual) == 1


def test_the_sweep_releases_an_order_whose_session_was_never_made(app, reader, catalogue):
    """The request died after reserving and before Stripe answered: no one can pay it."""
    annual = catalogue["annual"]
    _set_stock(annual, 1)
    order = Order(
        user_id=reader.id,
        mode="payment",
        currency="usd",
        total=2500,
        cart_version=1,
        checkout_expires_at=fulfilment.utcnow() + timedelta(minutes=32),
    )
    db.session.add(order)
    db.session.commit()
    from shop.cart.models import OrderLine

    order.lines.append(
        OrderLine(product_id=annual.id, name="Printed annual", unit_amount=2500, quantity=1)
    )
    db.session.flush()
    holds.reserve(order)
    db.session.commit()
    assert _stock(annual) == 0
    assert (
        fulfilment.release_expired_checkouts(order.checkout_expires_at + timedelta(minutes=6)) == 1
    )
    assert _stock(annual) == 1


# --- one reader cannot hold it all -------------------------------------------------------


def test_an_unconfirmed_account_cannot_put_all_the_stock_in_its_cart(app, client, catalogue):
    app.config["MAX_UNITS_PER_ACCOUNT"] = 2
    UserFactory(email="fresh@example.org", confirmed_at=None)
    auth = AuthActions(client)
    auth.login("fresh@example.org")
    shopper = Shopper(client, auth)
    response = shopper.add(catalogue["annual"], 3)
    assert response.status_code in (302, 303)
    page = client.get("/cart").get_data(as_text=True)
    assert "You can hold at most 2 limited-stock items at once" in page
    assert _stock(catalogue["annual"]) == 3


def test_units_held_by_an_open_checkout_count_towards_the_cap(app, shopper, catalogue, emulator):
    app.config["MAX_UNITS_PER_ACCOUNT"] = 3
    annual = catalogue["annual"]
    _set_stock(annual, 10)
    shopper.add(annual, 2)
    first = shopper.session_id(shopper.checkout())
    emulator.pay(first, action="delayed")  # still pending, still holding 2
    assert _stock(annual) == 8

    shopper.add(annual, 1)  # the cart is emptied only once paid: it holds 3
    response = shopper.checkout()
    assert response.status_code in (302, 303) and "/cart" in response.headers["Location"]
    page = shopper.client.get("/cart").get_data(as_text=True)
    assert "You can hold at most 3 limited-stock items at once" in page
    assert "already held for a checkout of yours" in page
    assert _stock(annual) == 8  # nothing more reserved
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_a_checkout_that_replaces_the_last_one_is_not_counted_twice(
    app, shopper, catalogue, emulator
):
    app.config["MAX_UNITS_PER_ACCOUNT"] = 3
    annual = catalogue["annual"]
    shopper.add(annual, 2)
    first = shopper.session_id(shopper.checkout())
    shopper.add(catalogue["tote"])  # a changed cart: a new checkout replaces the first
    second = shopper.session_id(shopper.checkout())  # 2 + 2 would be over the cap
    assert order_for(first).status == "abandoned"
    assert order_for(second).status == "pending" and _stock(annual) == 1


def test_tick_gives_back_the_stock_of_a_checkout_whose_webhook_never_came(
    shopper, catalogue, emulator
):

    annual = catalogue["annual"]
    emulator.set_delivery_mode("hold")  # the expiry event is lost
    shopper.add(annual, 2)
    session_id = shopper.session_id(shopper.checkout())
    assert _stock(annual) == 1

    result = scheduler.tick(_past_expiry(session_id))
    assert result.checkouts_released == 1
    assert order_for(session_id).status == "abandoned"
    assert _stock(annual) == 3

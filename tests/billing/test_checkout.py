"""Checkout through the emulator: payment, subscription, return pages, reservations."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from shop.billing.models import Payment, Subscription
from shop.cart.models import Cart, Order
from shop.catalogue.models import Product
from shop.extensions import db
from tests.billing.conftest import order_for
from tests.factories import ArticleFactory, UserFactory
from tests.support import AuthActions, csrf_token, path_of, text_of

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _stock(product) -> int | None:
    db.session.expire_all()
    return db.session.get(Product, product.id).stock


def _cart_count(user_email="reader@example.org") -> int:
    db.session.expire_all()
    from shop.accounts.models import User

    user = db.session.scalar(select(User).where(User.email == user_email))
    cart = db.session.scalar(select(Cart).where(Cart.user_id == user.id))
    return sum(i.quantity for i in cart.items) if cart else 0


def test_one_off_purchase_end_to_end(client, shopper, catalogue, emulator, mailbox):
    annual = catalogue["annual"]
    shopper.add(annual, 2)
    response = shopper.checkout()
    session_id = shopper.session_id(response)
    order = order_for(session_id)
    assert order.status == "pending" and order.mode == "payment"
    assert order.total == 5000
    assert [(line.name, line.quantity, line.reserved) for line in order.lines] == [
        ("Printed annual", 2, 2)
    ]
    assert _stock(annual) == 1  # reserved while the session is open

    session = emulator.get(session_id)
    assert session["amount_total"] == 5000 and session["mode"] == "payment"
    assert session["client_reference_id"] == str(order.id)
    assert session["allow_promotion_codes"] is True

    redirect = emulator.pay(session_id)  # the webhook arrives before the redirect
    order = order_for(session_id)
    assert order.status == "paid"
    assert [line.reserved for line in order.lines] == [0]
    assert _stock(annual) == 1  # the reservation became the sale
    assert _cart_count() == 0
    payment = db.session.scalar(select(Payment))
    assert (payment.amount, payment.currency, payment.order_id) == (5000, "usd", order.id)
    receipts = mailbox.to("reader@example.org")
    assert len(receipts) == 1
    assert "Printed annual" in text_of(receipts[0]) and "$50.00" in text_of(receipts[0])

    page = client.get(path_of(redirect)).get_data(as_text=True)
    assert "Thank you!" in page and "Printed annual" in page


def test_plan_purchase_gives_paid_access_and_the_portal(client, shopper, catalogue, emulator):
    article = ArticleFactory(
        title="Behind the paywall", access="paid", body_markdown="The paid paragraph."
    )
    before = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert "The paid paragraph." not in before
    assert "This story is for subscribers" in before

    shopper.add(catalogue["plan"])
    shopper.add(catalogue["tote"])
    session_id = shopper.session_id(shopper.checkout())
    order = order_for(session_id)
    assert order.mode == "subscription" and order.total == 2600
    emulator.pay(session_id)

    order = order_for(session_id)
    assert order.status == "paid" and order.stripe_subscription_id
    sub = db.session.scalar(select(Subscription))
    assert sub.status == "active" and sub.product_id == catalogue["plan"].id
    assert sub.current_period_end is not None
    assert [c.status for c in sub.changes] == ["active"]
    payment = db.session.scalar(select(Payment))
    assert payment.amount == 2600 and payment.subscription_id == sub.id
    assert payment.period_end == sub.current_period_end

    after = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert "The paid paragraph." in after

    account = client.get("/account").get_data(as_text=True)
    assert "Supporter" in account and "active" in account
    response = shopper.auth.post("/account/billing", token_from="/account")
    assert response.status_code == 303
    assert "/p/session/" in response.headers["Location"]


def test_success_page_fulfils_when_the_webhook_is_late(
    client, shopper, catalogue, emulator, mailbox
):
    emulator.set_delivery_mode("hold")
    shopper.add(catalogue["tote"])
    session_id = shopper.session_id(shopper.checkout())
    redirect = emulator.pay(session_id)
    assert order_for(session_id).status == "pending"

    page = client.get(path_of(redirect)).get_data(as_text=True)
    assert "Thank you!" in page
    assert order_for(session_id).status == "paid"

    statuses = emulator.deliver()  # the webhooks arrive after all
    assert all(status == 200 for _, status in statuses)
    assert len(mailbox.to("reader@example.org")) == 1
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1


def test_success_page_never_trusts_its_query_string(client, shopper, catalogue, emulator):
    other = UserFactory(email="other@example.org")
    AuthActions(client).logout()
    AuthActions(client).login(other.email)
    emulator.set_delivery_mode("hold")
    assert client.get("/checkout/success?session_id=cs_test_made_up").status_code == 404
    assert client.get("/checkout/success").status_code == 404


def test_cancel_returns_to_an_intact_cart_and_releases_stock(client, shopper, catalogue, emulator):
    annual = catalogue["annual"]
    shopper.add(annual, 2)
    response = shopper.checkout()
    session_id = shopper.session_id(response)
    assert _stock(annual) == 1
    cancel_url = emulator.get(session_id)["cancel_url"]

    page = client.get(path_of(cancel_url))
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert "Nothing was charged, and your cart is just as you left it." in text
    assert "held for you until" in text
    assert order_for(session_id).status == "pending"  # coming back changes nothing

    token = CSRF.search(text).group(1)
    order = order_for(session_id).id
    response = client.post(
        "/checkout/cancel", data={"order": order, "csrf_token": token}, follow_redirects=True
    )
    assert "Checkout cancelled. Your cart is just as you left it." in html.unescape(
        response.get_data(as_text=True)
    )
    assert order_for(session_id).status == "abandoned"
    assert emulator.get(session_id)["status"] == "expired"
    assert _stock(annual) == 3
    assert _cart_count() == 2


def test_a_cross_site_link_to_the_cancel_page_changes_nothing(client, shopper, catalogue, emulator):
    """Another site can send a logged-in reader's browser to the cancel URL: it is only a page."""
    annual = catalogue["annual"]
    shopper.add(annual, 2)
    session_id = shopper.session_id(shopper.checkout())
    order_id = order_for(session_id).id
    response = client.get(
        f"/checkout/cancel?order={order_id}", headers={"Referer": "https://evil.example/"}
    )
    assert response.status_code == 200
    assert order_for(session_id).status == "pending"
    assert emulator.get(session_id)["status"] == "open"
    assert _stock(annual) == 1

    # Nor can a forged form end it: the button needs this site's token.
    forged = client.post("/checkout/cancel", data={"order": order_id})
    assert forged.status_code == 400
    assert order_for(session_id).status == "pending" and _stock(annual) == 1


def test_another_reader_cannot_cancel_my_checkout(app, shopper, catalogue, emulator):
    annual = catalogue["annual"]
    shopper.add(annual, 2)
    session_id = shopper.session_id(shopper.checkout())
    order_id = order_for(session_id).id
    other = app.test_client()
    UserFactory(email="other@example.org")
    auth = AuthActions(other)
    auth.login("other@example.org")
    page = other.get(f"/checkout/cancel?order={order_id}").get_data(as_text=True)
    assert "End that checkout" not in page
    response = auth.post("/checkout/cancel", data={"order": order_id})
    assert response.status_code == 303
    assert order_for(session_id).status == "pending" and _stock(annual) == 1


def test_checkout_while_stripe_cannot_end_the_earlier_session(shopper, catalogue, emulator):
    annual = catalogue["annual"]
    shopper.add(annual, 2)
    first = shopper.session_id(shopper.checkout())
    shopper.add(catalogue["tote"])  # a changed cart: the earlier session must end first
    emulator.fail_requests("/v1/checkout/sessions/*/expire", method="POST")

    response = shopper.checkout()
    assert response.status_code == 302 and response.headers["Location"] == "/cart"
    page = html.unescape(shopper.client.get("/cart").get_data(as_text=True))
    assert "could not reach the payment provider to close your earlier checkout" in page
    assert "your cart is just as you left it" in page
    assert _cart_count() == 3
    # The earlier session may still be paid: its order and its units stay as they were.
    assert order_for(first).status == "pending"
    assert emulator.get(first)["status"] == "open"
    assert _stock(annual) == 1
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1

    emulator.clear_faults()
    second = shopper.session_id(shopper.checkout())
    assert order_for(first).status == "abandoned"
    assert order_for(second).status == "pending"
    assert _stock(annual) == 1  # the new checkout holds the same two units


def test_checkout_again_while_stripe_is_stopped(app, shopper, catalogue, emulator):
    annual = catalogue["annual"]
    shopper.add(annual, 2)
    first = shopper.session_id(shopper.checkout())
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:1"  # Stripe is gone
    for _ in range(2):  # the same cart, then a changed one
        response = shopper.checkout()
        assert response.status_code == 302 and response.headers["Location"] == "/cart"
        page = html.unescape(shopper.client.get("/cart").get_data(as_text=True))
        assert "could not reach the payment provider" in page
        assert order_for(first).status == "pending" and _stock(annual) == 1
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1
        shopper.add(catalogue["tote"])


def test_a_double_click_on_checkout_is_one_customer_and_one_session(shopper, catalogue, emulator):
    annual = catalogue["annual"]
    shopper.add(annual, 2)
    first = shopper.session_id(shopper.checkout())
    again = shopper.session_id(shopper.checkout())  # its own units count as left for it
    assert again == first
    assert _stock(annual) == 1
    assert len([o for o in emulator.events("customer.created")]) == 1
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_an_expired_session_releases_the_reservation(shopper, catalogue, emulator):
    annual = catalogue["annual"]
    shopper.add(annual, 3)
    session_id = shopper.session_id(shopper.checkout())
    assert _stock(annual) == 0
    emulator.expire(session_id)
    assert order_for(session_id).status == "abandoned"
    assert _stock(annual) == 3


def test_same_cart_twice_is_the_same_session_and_a_changed_cart_a_new_one(
    shopper, catalogue, emulator
):
    shopper.add(catalogue["tote"])
    first = shopper.session_id(shopper.checkout())
    again = shopper.session_id(shopper.checkout())
    assert again == first

    shopper.add(catalogue["annual"])
    second = shopper.session_id(shopper.checkout())
    assert second != first
    assert emulator.get(first)["status"] == "expired"
    assert order_for(first).status == "abandoned"
    assert order_for(second).status == "pending"


def test_two_readers_racing_for_the_last_item(client, app, catalogue, emulator):
    annual = catalogue["annual"]
    db.session.execute(Product.__table__.update().where(Product.id == annual.id).values(stock=1))
    db.session.commit()
    first, second = app.test_client(), app.test_client()
    from tests.billing.conftest import Shopper

    shoppers = []
    for c, email in [(first, "first@example.org"), (second, "second@example.org")]:
        UserFactory(email=email)
        auth = AuthActions(c)
        auth.login(email)
        shopper = Shopper(c, auth)
        assert shopper.add(annual).status_code in (302, 303)
        shoppers.append(shopper)

    assert shoppers[0].checkout().status_code == 303
    response = shoppers[1].checkout()
    assert response.status_code in (302, 303) and "/cart" in response.headers["Location"]
    page = second.get("/cart").get_data(as_text=True)
    assert "Printed annual”: Sold out." in page
    assert _stock(annual) == 0
    assert _cart_count("second@example.org") == 1  # their cart is intact


def test_the_reservation_itself_is_atomic(app, catalogue, emulator, monkeypatch):
    """Both readers pass the cart check at the same moment; only one reservation wins."""
    from shop.accounts.models import User
    from shop.billing import checkout
    from shop.cart import services as carts

    annual = catalogue["annual"]
    db.session.execute(Product.__table__.update().where(Product.id == annual.id).values(stock=1))
    db.session.commit()
    users = [UserFactory(email=f"racer{n}@example.org") for n in range(2)]
    checked = {}
    for user in users:
        cart, _ = carts.get_or_create_cart(user, None)
        carts.add_item(cart, annual.id, 1)
        checked[user.id] = carts.check_cart_for_checkout(cart)  # both see one left

    # Replay the interleaving: each checkout runs with the check it made before either
    # reserved, so only the reservation's own atomic UPDATE can tell them apart.
    monkeypatch.setattr(carts, "check_cart_for_checkout", lambda cart: checked[cart.user_id])
    assert checkout.start_checkout(db.session.get(User, users[0].id)).startswith(emulator.base_url)
    with pytest.raises(checkout.BillingError, match="sold out while you were shopping"):
        checkout.start_checkout(db.session.get(User, users[1].id))
    assert _stock(annual) == 0


def test_a_visitor_checks_out_as_a_guest_and_logging_in_instead_keeps_the_cart(
    client, catalogue, reader, emulator
):
    token = csrf_token(client, "/shop")
    client.post("/cart/add", data={"product_id": catalogue["tote"].id, "csrf_token": token})
    token = csrf_token(client, "/cart")
    response = client.post("/checkout", data={"csrf_token": token})
    # Straight to Stripe's page, which asks for the email (tests/billing/test_guest_checkout.py).
    assert response.status_code == 303 and "/c/pay/cs_" in response.headers["Location"]
    AuthActions(client).login("reader@example.org")
    assert _cart_count() == 1


def test_a_reader_with_a_plan_cannot_buy_a_second(shopper, catalogue, emulator):
    shopper.add(catalogue["plan"])
    emulator.pay(shopper.session_id(shopper.checkout()))
    shopper.add(catalogue["plan"])
    response = shopper.checkout()
    assert response.status_code == 302
    page = shopper.client.get("/cart").get_data(as_text=True)
    assert "You already have a plan" in page


def test_stripe_down_gives_a_clear_message_and_keeps_the_cart(
    app, shopper, catalogue, emulator_server
):
    shopper.add(catalogue["tote"])
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:1"  # nothing listens there
    response = shopper.checkout()
    assert response.status_code == 302
    page = shopper.client.get("/cart").get_data(as_text=True)
    assert "could not reach the payment provider" in page
    assert _cart_count() == 1


def test_an_unknown_price_at_stripe_is_a_clear_message(shopper, catalogue, emulator):
    from shop.catalogue.models import Price

    price = catalogue["tote"].price
    db.session.get(Price, price.id).stripe_price_id = "price_does_not_exist"
    db.session.commit()
    shopper.add(catalogue["tote"])
    shopper.checkout()
    page = shopper.client.get("/cart").get_data(as_text=True)
    assert "refused the request" in page
    assert _cart_count() == 1


def test_delayed_payment_settles_later(client, shopper, catalogue, emulator, mailbox):
    shopper.add(catalogue["annual"])
    session_id = shopper.session_id(shopper.checkout())
    redirect = emulator.pay(session_id, action="delayed")
    assert order_for(session_id).status == "pending"
    assert "waiting for the payment provider" in client.get(path_of(redirect)).get_data(
        as_text=True
    )
    assert mailbox.to("reader@example.org") == []
    emulator.settle_async(session_id, succeeded=True)
    assert order_for(session_id).status == "paid"
    assert len(mailbox.to("reader@example.org")) == 1


def test_delayed_payment_that_fails_releases_stock(shopper, catalogue, emulator):
    annual = catalogue["annual"]
    shopper.add(annual)
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id, action="delayed")
    assert _stock(annual) == 2
    emulator.settle_async(session_id, succeeded=False)
    assert order_for(session_id).status == "failed"
    assert _stock(annual) == 3


def test_a_declined_card_changes_nothing(shopper, catalogue, emulator):
    shopper.add(catalogue["tote"])
    session_id = shopper.session_id(shopper.checkout())
    assert emulator.pay(session_id, action="decline") is None
    assert order_for(session_id).status == "pending"
    assert _cart_count() == 1


def test_automatic_tax_is_asked_for_when_set(app, shopper, catalogue, emulator):
    app.config["STRIPE_AUTOMATIC_TAX"] = True
    shopper.add(catalogue["tote"])
    session_id = shopper.session_id(shopper.checkout())
    assert emulator.get(session_id)["automatic_tax"]["enabled"] is True


def test_automatic_tax_is_off_by_default(shopper, catalogue, emulator):
    shopper.add(catalogue["tote"])
    session_id = shopper.session_id(shopper.checkout())
    assert emulator.get(session_id)["automatic_tax"]["enabled"] is False

"""Free trials and the paywall's one-click plans: checkout, the trial rule, the way back to
the story, and what happens when a trial ends paid or unpaid."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.accounts.models import User
from shop.billing import access, offers
from shop.billing.account import plan_state
from shop.billing.catalogue import push_product
from shop.billing.models import Payment, Subscription
from shop.cart.models import Cart, Order
from shop.clock import utcnow
from shop.extensions import db
from tests.billing.conftest import order_for, synced
from tests.factories import ArticleFactory, UserFactory, make_product
from tests.support import csrf_token, path_of, text_of

BODY = "The paragraph only subscribers read."


@pytest.fixture
def plans(app, emulator):
    """A monthly plan with a 14-day trial, a yearly plan without one, and a tote bag."""
    monthly = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    monthly.trial_days = 14
    db.session.commit()
    return {
        "monthly": synced(monthly),
        "yearly": synced(make_product("Supporter, yearly", 8000, kind="plan", interval="year")),
        "tote": synced(make_product("Tote bag", 1800)),
    }


@pytest.fixture
def story(app):
    """A paid story."""
    return ArticleFactory(title="What the budget hides", access="paid", body_markdown=BODY)


def _press(client, product_id: int, story=None, next_path: str | None = None):
    """Press a paywall plan button (as the story page posts it)."""
    page = f"/articles/{story.slug}" if story is not None else "/shop"
    data = {"csrf_token": csrf_token(client, page)}
    if next_path is not None or story is not None:
        data["next"] = next_path if next_path is not None else page
    # A browser says the story page sent it: a visitor with no session has no token.
    return client.post(
        f"/checkout/plan/{product_id}", data=data, headers={"Sec-Fetch-Site": "same-origin"}
    )


def _flashes(client, path: str) -> str:
    return html.unescape(client.get(path).get_data(as_text=True))


def _subscription(user_email: str = "reader@example.org") -> Subscription:
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == user_email))
    return db.session.scalar(
        select(Subscription)
        .where(Subscription.user_id == user.id)
        .order_by(Subscription.id.desc())
        .limit(1)
    )


def _reader() -> User:
    return db.session.scalar(select(User).where(User.email == "reader@example.org"))


# --- the one-click checkout and the way back ----------------------------------------------


def test_the_yearly_plan_in_one_click_returns_to_the_story(
    client, shopper, plans, story, emulator, mailbox
):
    shopper.add(plans["tote"])  # the cart is not part of it
    response = _press(client, plans["yearly"].id, story)
    session_id = shopper.session_id(response)
    order = order_for(session_id)
    assert (order.mode, order.total, order.trial_days) == ("subscription", 8000, None)
    assert order.return_path == f"/articles/{story.slug}"
    assert [(line.name, line.quantity) for line in order.lines] == [("Supporter, yearly", 1)]
    session = emulator.get(session_id)
    assert session["amount_total"] == 8000 and session["mode"] == "subscription"

    redirect = emulator.pay(session_id)
    back = client.get(path_of(redirect))
    assert back.status_code == 303
    assert back.headers["Location"] == f"/articles/{story.slug}"
    page = _flashes(client, back.headers["Location"])
    assert "Thank you! Your subscription is active" in page
    assert BODY in page
    assert order_for(session_id).status == "paid"
    assert _subscription().status == "active"
    # The tote bag is still in the cart, untouched.
    db.session.expire_all()
    cart = db.session.scalar(select(Cart).where(Cart.user_id == _reader().id))
    assert [(item.product.name, item.quantity) for item in cart.items] == [("Tote bag", 1)]
    assert len(mailbox.to("reader@example.org")) == 1


def test_a_trial_starts_with_nothing_charged_and_the_reader_reads(
    client, shopper, plans, story, emulator, mailbox
):
    session_id = shopper.session_id(_press(client, plans["monthly"].id, story))
    order = order_for(session_id)
    assert (order.total, order.trial_days) == (0, 14)
    assert emulator.get(session_id)["amount_total"] == 0

    redirect = emulator.pay(session_id)
    back = client.get(path_of(redirect))
    assert back.headers["Location"] == f"/articles/{story.slug}"
    page = _flashes(client, back.headers["Location"])
    assert "Your 14-day free trial has started" in page and BODY in page

    sub = _subscription()
    assert sub.status == "trialing" and sub.trial_end is not None
    assert timedelta(days=13, hours=23) < sub.trial_end - utcnow() <= timedelta(days=14)
    assert plan_state(sub).words == "free trial, first payment on"
    assert plan_state(sub).on == sub.trial_end
    payment = db.session.scalar(select(Payment))
    assert (payment.amount, payment.subscription_id) == (0, sub.id)
    assert order_for(session_id).status == "paid"
    receipt = text_of(mailbox.last_to("reader@example.org"))
    assert "Charged today: $0.00" in receipt and "14-day free trial has started" in receipt
    account = _flashes(client, "/account")
    assert "free trial, first payment on" in account


def test_a_plan_in_the_cart_gets_its_trial_and_the_tote_is_charged(
    client, shopper, plans, emulator
):
    shopper.add(plans["monthly"])
    shopper.add(plans["tote"])
    session_id = shopper.session_id(shopper.checkout())
    order = order_for(session_id)
    assert (order.total, order.trial_days) == (1800, 14)  # the tote today; the plan later
    assert emulator.get(session_id)["amount_total"] == 1800
    emulator.pay(session_id)
    assert _subscription().status == "trialing"
    assert db.session.scalar(select(Payment.amount)) == 1800


def test_the_success_page_keeps_the_way_back_while_a_payment_is_pending(
    client, shopper, plans, story, emulator
):
    session_id = shopper.session_id(_press(client, plans["yearly"].id, story))
    redirect = emulator.pay(session_id, action="delayed")
    page = client.get(path_of(redirect))
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert "Almost there" in text
    assert f'href="/articles/{story.slug}"' in text and "Continue reading" in text


def test_pressing_twice_opens_one_checkout(client, shopper, plans, story, emulator):
    first = shopper.session_id(_press(client, plans["yearly"].id, story))
    second = shopper.session_id(_press(client, plans["yearly"].id, story))
    assert first == second
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    # Another plan replaces that checkout.
    third = shopper.session_id(_press(client, plans["monthly"].id, story))
    assert third != first
    assert order_for(first).status == "abandoned"
    assert emulator.get(first)["status"] == "expired"


def test_an_unsafe_next_is_dropped(client, shopper, plans, emulator):
    session_id = shopper.session_id(
        _press(client, plans["yearly"].id, next_path="//evil.example/x")
    )
    assert order_for(session_id).return_path is None
    redirect = emulator.pay(session_id)
    page = client.get(path_of(redirect))
    assert page.status_code == 200 and "Thank you!" in page.get_data(as_text=True)


# --- refusals ------------------------------------------------------------------------------


def test_a_visitor_pays_from_the_paywall_as_a_guest_and_is_back_on_the_story(
    client, plans, story, emulator
):
    response = _press(client, plans["monthly"].id, story)
    assert response.status_code == 303 and "/c/pay/cs_" in response.headers["Location"]
    session_id = re.search(r"/c/pay/(cs_\w+)", response.headers["Location"]).group(1)
    order = order_for(session_id)
    assert order.user_id is None and order.trial_days == 14  # a visitor is offered the trial
    redirect = emulator.pay(session_id, email="paywall.guest@example.org")
    back = client.get(path_of(redirect))
    assert back.status_code == 303 and back.headers["Location"] == f"/articles/{story.slug}"
    assert BODY in client.get(f"/articles/{story.slug}").get_data(as_text=True)
    reader = db.session.scalar(select(User).where(User.email == "paywall.guest@example.org"))
    assert reader is not None and order_for(session_id).user_id == reader.id


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("unknown", "We could not find that plan."),
        ("inactive", "is no longer on sale. Choose another plan in the shop."),
        ("one-off", "“Tote bag” is not a subscription plan: add it to your cart in the shop."),
    ],
)
def test_a_button_for_no_plan_on_sale_explains_itself(
    client, shopper, plans, story, emulator, which, message
):
    product_id = {
        "unknown": 999_999,
        "inactive": plans["yearly"].id,
        "one-off": plans["tote"].id,
    }[which]
    if which == "inactive":
        plans["yearly"].active = False
        db.session.commit()
    response = _press(client, product_id, story)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/articles/{story.slug}"
    assert message in _flashes(client, response.headers["Location"])
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    # Without a way back, the shop.
    response = _press(client, product_id, next_path="")
    assert response.headers["Location"] == "/shop"


def test_an_id_beyond_any_row_is_not_found(client, shopper, plans):
    assert _press(client, 2**40).status_code == 404  # the router's own range check
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_a_reader_with_a_plan_is_sent_to_manage_it(client, shopper, plans, story, emulator):
    emulator.pay(shopper.session_id(_press(client, plans["yearly"].id, story)))
    response = _press(client, plans["monthly"].id, story)
    assert response.headers["Location"] == f"/articles/{story.slug}"
    assert "You already have a plan." in _flashes(client, "/shop")


def test_payments_not_set_up_is_said(app, client, shopper, plans, story):
    app.config["STRIPE_SECRET_KEY"] = ""
    response = _press(client, plans["yearly"].id, story)
    assert "Payments are not set up on this site yet." in _flashes(
        client, response.headers["Location"]
    )


def test_the_button_needs_this_sessions_csrf_token(client, shopper, plans):
    response = client.post(f"/checkout/plan/{plans['yearly'].id}", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


# --- one trial per reader ----------------------------------------------------------------


def test_no_second_trial_after_any_earlier_plan(client, shopper, plans, story, emulator):
    reader = _reader()
    assert offers.trial_days_for(reader, plans["monthly"]) == 14
    assert offers.trial_days_for(None, plans["monthly"]) == 14  # visitors are offered it
    assert offers.trial_days_for(reader, plans["yearly"]) is None  # no trial on that plan
    assert offers.trial_days_for(reader, plans["tote"]) is None

    session_id = shopper.session_id(_press(client, plans["monthly"].id, story))
    emulator.pay(session_id)
    sub = _subscription()
    emulator.end_trial(sub.stripe_subscription_id, "canceled")
    assert _subscription().status == "canceled"

    # Back for more: the same plan, at its price, with no trial.
    assert offers.trial_days_for(reader, plans["monthly"]) is None
    session_id = shopper.session_id(_press(client, plans["monthly"].id, story))
    order = order_for(session_id)
    assert (order.trial_days, order.total) == (None, 800)
    assert emulator.get(session_id)["amount_total"] == 800
    emulator.pay(session_id)
    assert _subscription().status == "active"


def test_what_uses_up_the_trial(app, plans):
    reader = UserFactory(email="someone@example.org")
    monthly = plans["monthly"]
    never = Subscription(
        user_id=reader.id,
        stripe_subscription_id="sub_never_started",
        stripe_customer_id="cus_x",
        status="incomplete_expired",
    )
    db.session.add(never)
    db.session.commit()
    assert offers.trial_days_for(reader, monthly) == 14  # it never started: no trial used

    # A paid subscription checkout whose webhook has not arrived yet counts already.
    db.session.add(
        Order(
            user_id=reader.id,
            status="paid",
            mode="subscription",
            currency="usd",
            total=0,
            cart_version=0,
        )
    )
    db.session.commit()
    assert offers.trial_days_for(reader, monthly) is None


# --- the end of a trial ----------------------------------------------------------------------


def _trialing(client, shopper, plans, story, emulator) -> Subscription:
    emulator.pay(shopper.session_id(_press(client, plans["monthly"].id, story)))
    sub = _subscription()
    assert sub.status == "trialing" and access.has_paid_access(_reader())
    return sub


def test_a_trial_that_ends_paid_goes_on(client, shopper, plans, story, emulator):
    sub = _trialing(client, shopper, plans, story, emulator)
    trial_end = sub.trial_end
    emulator.end_trial(sub.stripe_subscription_id)
    sub = _subscription()
    assert sub.status == "active"
    assert [c.status for c in sub.changes] == ["trialing", "active"]
    assert sub.trial_end == trial_end and sub.current_period_end > trial_end
    amounts = sorted(db.session.scalars(select(Payment.amount)))
    assert amounts == [0, 800]
    assert access.has_paid_access(_reader())
    assert BODY in client.get(f"/articles/{story.slug}").get_data(as_text=True)


@pytest.mark.parametrize("outcome", ["past_due", "unpaid", "canceled"])
def test_a_trial_that_ends_unpaid_stops_the_reading(
    client, shopper, plans, story, emulator, mailbox, outcome
):
    sub = _trialing(client, shopper, plans, story, emulator)
    mailbox.clear()
    emulator.end_trial(sub.stripe_subscription_id, outcome)
    sub = _subscription()
    assert sub.status == outcome
    assert sub.current_period_end > utcnow()  # Stripe moved the period on: no grace from it
    assert not access.has_paid_access(_reader())
    page = client.get(f"/articles/{story.slug}").get_data(as_text=True)
    assert BODY not in page and "This story is for subscribers" in page
    assert "did not go through" in mailbox.last_to("reader@example.org")["Subject"]
    assert db.session.scalars(select(Payment.amount)).all() == [0]


def test_a_deleted_subscription_stripe_has_forgotten_ends_here(client, shopper, plans, story):
    from stripe_emulator import signature_header
    from tests.support import WEBHOOK_SECRET

    sub = Subscription(
        user_id=_reader().id,
        stripe_subscription_id="sub_gone_from_stripe",
        stripe_customer_id="cus_gone",
        status="trialing",
        current_period_end=utcnow() + timedelta(days=10),
        trial_end=utcnow() + timedelta(days=10),
    )
    db.session.add(sub)
    db.session.commit()
    assert access.has_paid_access(_reader())
    payload = (
        b'{"id": "evt_gone", "object": "event", "type": "customer.subscription.deleted", '
        b'"data": {"object": {"id": "sub_gone_from_stripe", "object": "subscription", '
        b'"status": "canceled", "canceled_at": 1700000000}}}'
    )
    response = client.post(
        "/webhooks/stripe",
        data=payload,
        headers={
            "Stripe-Signature": signature_header(payload, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200 and response.get_json()["outcome"] == "processed"
    sub = _subscription()
    assert sub.status == "canceled"
    assert [(c.old_status, c.status) for c in sub.changes] == [("trialing", "canceled")]
    assert not access.has_paid_access(_reader())


def test_the_shop_shows_the_trial(client, plans):
    page = html.unescape(client.get("/shop").get_data(as_text=True))
    assert "<strong>14 days free, then $8 a month.</strong> One free trial per reader" in page
    assert page.count("days free") == 1  # only the plan that has one


def test_pushing_a_trial_plan_is_unchanged(app, emulator):
    """The trial is Checkout's, not the price's: Stripe's price stays the plan's price."""
    plan = make_product("Trial plan", 500, kind="plan", interval="month")
    plan.trial_days = 30
    push_product(plan)
    price = emulator.get(plan.price.stripe_price_id)
    assert price["unit_amount"] == 500 and price["recurring"]["interval"] == "month"
    assert re.fullmatch(r"price_\w+", price["id"])


def test_a_reader_is_told_before_their_trial_ends_and_what_it_will_cost(
    client, shopper, plans, story, emulator, mailbox
):
    sub = _trialing(client, shopper, plans, story, emulator)
    before = len(mailbox.to("reader@example.org"))
    emulator.trial_will_end(sub.stripe_subscription_id)
    (notice,) = mailbox.to("reader@example.org")[before:]
    assert notice["Subject"] == "Your free trial ends soon"
    body = text_of(notice)
    assert f"ends on {sub.trial_end:%-d %B %Y}" in body
    assert "Then $8.00 a month is charged" in body and "Manage billing" in body


def test_no_trial_notice_for_a_trial_set_to_cancel(
    client, shopper, plans, story, emulator, mailbox
):
    sub = _trialing(client, shopper, plans, story, emulator)
    # The reader cancels in the portal: the trial ends and nothing will be charged.
    portal = re.search(
        r"/p/session/(bps_\w+)",
        client.post(
            "/account/billing", data={"csrf_token": csrf_token(client, "/account")}
        ).headers["Location"],
    ).group(1)
    emulator.portal_set_cancel_at_period_end(portal, sub.stripe_subscription_id, True)
    before = len(mailbox.to("reader@example.org"))
    emulator.trial_will_end(sub.stripe_subscription_id)
    assert mailbox.to("reader@example.org")[before:] == []

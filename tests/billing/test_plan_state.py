"""The account page says where a subscription stands, in words true for every status."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from shop.billing.account import plan_state
from shop.billing.models import Subscription
from shop.clock import utcnow
from shop.extensions import db
from tests.factories import UserFactory, make_product
from tests.support import AuthActions

NOW = datetime(2026, 12, 2, 12, 0)
LATER = NOW + timedelta(days=20)
EARLIER = NOW - timedelta(days=3)


def _sub(status: str, *, end=LATER, cancel_at_end=False, canceled_at=None) -> Subscription:
    return Subscription(
        status=status,
        current_period_end=end,
        cancel_at_period_end=cancel_at_end,
        canceled_at=canceled_at,
    )


@pytest.mark.parametrize(
    ("sub", "words", "on"),
    [
        (_sub("active"), "active, renews on", LATER),
        (_sub("active", cancel_at_end=True), "active, cancels on", LATER),
        (_sub("trialing"), "free trial, first payment on", LATER),
        (_sub("trialing", cancel_at_end=True), "free trial, ends on", LATER),
        (_sub("past_due"), "payment overdue", None),
        (_sub("unpaid"), "unpaid: reading is paused until a payment goes through", None),
        (_sub("incomplete"), "waiting for the first payment", None),
        # Ran to the end of a period that was set to cancel.
        (
            _sub("canceled", end=EARLIER, canceled_at=EARLIER - timedelta(days=9)),
            "ended on",
            EARLIER,
        ),
        # Cancelled at once: Stripe keeps the unused period's end, which is not the end.
        (_sub("canceled", end=LATER, canceled_at=EARLIER), "ended on", EARLIER),
    ],
)
def test_each_status_reads_as_what_it_means(sub, words, on):
    state = plan_state(sub, NOW)
    assert (state.words, state.on) == (words, on)


def test_an_ended_plan_says_when_it_ended_not_that_it_ends(app, client):
    reader = UserFactory(email="former@example.org")
    plan = make_product("Supporter", 800, kind="plan", interval="month")
    ended = utcnow() - timedelta(days=2)
    db.session.add(
        Subscription(
            user_id=reader.id,
            product_id=plan.id,
            stripe_subscription_id="sub_ended",
            stripe_customer_id="cus_ended",
            status="canceled",
            current_period_end=utcnow() + timedelta(days=28),
            canceled_at=ended,
        )
    )
    db.session.commit()
    AuthActions(client).login(reader.email)

    html = client.get("/account").get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert f"Supporter: ended on {ended.day} {ended:%B %Y}" in text
    assert "ends" not in text and "canceled" not in text
    assert 'href="/shop">See the plans</a>' in html

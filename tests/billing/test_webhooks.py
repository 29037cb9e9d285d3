"""Webhooks: signatures, exactly-once handling, order of arrival, renewals and refunds."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.billing import access, fulfilment, gateway
from shop.billing.models import Payment, StripeEvent, Subscription
from shop.clock import utcnow
from shop.extensions import db
from stripe_emulator import signature_header
from tests.billing.conftest import order_for
from tests.support import WEBHOOK_SECRET, text_of


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def _paid_plan(shopper, catalogue, emulator) -> tuple[str, Subscription]:
    shopper.add(catalogue["plan"])
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id)
    db.session.expire_all()
    return session_id, db.session.scalar(select(Subscription))


@pytest.mark.parametrize("signature", ["forged", "stale", "missing"])
def test_bad_signatures_get_400_and_store_nothing(signature, shopper, catalogue, emulator):
    emulator.set_delivery_mode("hold")
    shopper.add(catalogue["tote"])
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id)
    statuses = emulator.deliver(signature=signature)
    assert statuses and {status for _, status in statuses} == {400}
    assert _count(StripeEvent) == 0
    assert order_for(session_id).status == "pending"


def test_a_payload_that_is_not_json_is_400(client):
    response = client.post(
        "/webhooks/stripe", data=b"not json", headers={"Stripe-Signature": "t=1,v1=abc"}
    )
    assert response.status_code == 400


def test_repeated_deliveries_fulfil_once(shopper, catalogue, emulator, mailbox):
    annual = catalogue["annual"]
    emulator.set_delivery_mode("hold")
    shopper.add(annual)
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id)
    statuses = emulator.deliver(times=3)
    assert {status for _, status in statuses} == {200}
    order = order_for(session_id)
    assert order.status == "paid"
    assert db.session.get(type(annual), annual.id).stock == 2
    assert len(mailbox.to("reader@example.org")) == 1
    assert _count(Payment) == 1
    handled = {e["id"] for e in emulator.events() if e["type"] in _handled_types()}
    assert _count(StripeEvent) == len(handled)


def _handled_types() -> set[str]:
    from shop.billing.webhooks import HANDLERS

    return set(HANDLERS)


def test_events_in_reverse_order_reach_the_same_state(shopper, catalogue, emulator, mailbox):
    emulator.set_delivery_mode("hold")
    shopper.add(catalogue["plan"])
    shopper.add(catalogue["tote"])
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id)
    statuses = emulator.deliver(order="reverse")
    assert {status for _, status in statuses} == {200}
    order = order_for(session_id)
    assert order.status == "paid"
    sub = db.session.scalar(select(Subscription))
    assert sub.status == "active" and sub.current_period_end is not None
    payment = db.session.scalar(select(Payment))
    assert payment.amount == 2600 and payment.order_id == order.id
    assert _count(Payment) == 1
    assert len(mailbox.to("reader@example.org")) == 1


def test_unknown_event_types_answer_200(shopper, catalogue, emulator):
    shopper.add(catalogue["tote"])
    emulator.pay(shopper.session_id(shopper.checkout()))
    unknown = [d for d in emulator.deliveries() if d["type"] in ("payment_intent.succeeded",)]
    assert unknown and {d["status"] for d in unknown} == {200}


def test_a_failing_handler_answers_500_and_the_retry_processes_it(
    shopper, catalogue, emulator, monkeypatch, mailbox
):
    emulator.set_delivery_mode("hold")
    shopper.add(catalogue["tote"])
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id)
    completed = [e["id"] for e in emulator.held() if e["type"] == "checkout.session.completed"]

    real_fulfil = fulfilment.fulfil

    def broken(session):
        real_fulfil(session)
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(fulfilment, "fulfil", broken)
    assert emulator.deliver(event_ids=completed) == [(completed[0], 500)]
    assert order_for(session_id).status == "pending"  # rolled back
    assert db.session.get(StripeEvent, completed[0]) is None
    assert mailbox.to("reader@example.org") == []

    monkeypatch.setattr(fulfilment, "fulfil", real_fulfil)
    assert emulator.deliver(event_ids=completed) == [(completed[0], 200)]
    assert order_for(session_id).status == "paid"
    assert len(mailbox.to("reader@example.org")) == 1


def test_renewals_are_stored_as_payments_with_their_periods(shopper, catalogue, emulator):
    _, sub = _paid_plan(shopper, catalogue, emulator)
    first_end = sub.current_period_end
    emulator.renew(sub.stripe_subscription_id)
    db.session.expire_all()
    payments = db.session.scalars(select(Payment).order_by(Payment.id)).all()
    assert len(payments) == 2
    assert payments[1].amount == 800 and payments[1].order_id is None
    assert payments[1].period_start == first_end
    sub = db.session.get(Subscription, sub.id)
    assert sub.current_period_end > first_end


def test_a_failed_renewal_is_past_due_mails_the_reader_and_keeps_grace(
    app, client, shopper, catalogue, emulator, mailbox
):
    from shop.accounts.models import User

    _, sub = _paid_plan(shopper, catalogue, emulator)
    mailbox.clear()
    emulator.fail_payment(sub.stripe_subscription_id)
    db.session.expire_all()
    sub = db.session.get(Subscription, sub.id)
    assert sub.status == "past_due"
    assert [c.status for c in sub.changes] == ["active", "past_due"]
    message = mailbox.last_to("reader@example.org")
    assert "did not go through" in message["Subject"]
    assert "/account" in text_of(message)

    user = db.session.get(User, sub.user_id)
    sub.current_period_end = utcnow() - timedelta(days=2)
    db.session.commit()
    assert access.has_paid_access(user)  # within the 7-day grace
    app.config["PAYWALL_GRACE_DAYS"] = 1
    assert not access.has_paid_access(user)


def test_cancel_in_the_portal_is_mirrored(shopper, catalogue, emulator):
    _, sub = _paid_plan(shopper, catalogue, emulator)
    portal = shopper.auth.post("/account/billing", token_from="/account").headers["Location"]
    portal_id = portal.rsplit("/", 1)[1]
    emulator.portal_set_cancel_at_period_end(portal_id, sub.stripe_subscription_id, True)
    db.session.expire_all()
    sub = db.session.get(Subscription, sub.id)
    assert sub.cancel_at_period_end is True and sub.status == "active"
    assert sub.changes[-1].cancel_at_period_end is True
    assert emulator.renew(sub.stripe_subscription_id) is None  # the period ends: canceled
    db.session.expire_all()
    assert db.session.get(Subscription, sub.id).status == "canceled"


def test_refunds_settle_through_the_webhook(app, shopper, catalogue, emulator):
    shopper.add(catalogue["tote"])
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id)
    payment = db.session.scalar(select(Payment))
    gateway.refund(payment.stripe_payment_intent_id, 500)
    db.session.expire_all()
    payment = db.session.get(Payment, payment.id)
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", 500)
    assert order_for(session_id).status == "partially_refunded"
    gateway.refund(payment.stripe_payment_intent_id)
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "refunded"
    assert order_for(session_id).status == "refunded"


def test_a_repeated_payment_failure_event_mails_once(shopper, catalogue, emulator, mailbox):
    _, sub = _paid_plan(shopper, catalogue, emulator)
    mailbox.clear()
    emulator.set_delivery_mode("hold")
    emulator.fail_payment(sub.stripe_subscription_id)
    failed = [e["id"] for e in emulator.held() if e["type"] == "invoice.payment_failed"]
    assert emulator.deliver(event_ids=failed, times=3) == [(failed[0], 200)] * 3
    assert len(mailbox.to("reader@example.org")) == 1


# --- what a retry can and cannot fix --------------------------------------------------------


def _post_signed(client, payload: bytes):
    """POST a payload signed with the webhook secret, exactly as Stripe signs one."""
    return client.post(
        "/webhooks/stripe",
        data=payload,
        headers={
            "Stripe-Signature": signature_header(payload, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )


def _event(event_type: str, obj, event_id: str = "evt_test_hardening") -> bytes:
    return json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "data": {"object": obj}}
    ).encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b'[{"id": "evt_1", "type": "checkout.session.completed"}]',
        b'"checkout.session.completed"',
        b"null",
        b"{not json",
        b'{"id": "evt_1"}',
        b'{"id": 7, "type": "checkout.session.completed", "data": {"object": {"id": "cs_1"}}}',
        _event("checkout.session.completed", ["cs_1"]),
        _event("checkout.session.completed", {"object": "checkout.session"}),
        _event("customer.subscription.updated", {"id": ["sub_1"]}),
        _event("checkout.session.completed", {"id": "cs_1", "metadata": ["order_id", "1"]}),
    ],
)
def test_a_signed_payload_that_is_not_an_event_is_400(client, app, payload, caplog):
    response = _post_signed(client, payload)
    assert response.status_code == 400
    assert response.get_json() == {"error": "malformed payload"}
    assert _count(StripeEvent) == 0
    assert "refused" in caplog.text


@pytest.mark.parametrize(
    ("event_type", "obj"),
    [
        ("customer.subscription.updated", {"id": "sub_not_at_stripe", "object": "subscription"}),
        ("customer.subscription.deleted", {"id": "sub_not_at_stripe", "object": "subscription"}),
        ("charge.refunded", {"id": "ch_not_at_stripe", "object": "charge"}),
    ],
)
def test_an_event_about_an_object_stripe_does_not_know_is_200_and_logged(
    client, emulator, event_type, obj, caplog
):
    response = _post_signed(client, _event(event_type, obj))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "unknown object"
    assert f"names {obj['id']}, which Stripe does not know" in caplog.text
    assert _count(StripeEvent) == 1  # its redeliveries stop at the record
    again = _post_signed(client, _event(event_type, obj))
    assert again.status_code == 200 and again.get_json()["outcome"] == "duplicate"
    assert _count(Subscription) == 0


def test_stripe_down_during_a_webhook_is_500_and_the_retry_succeeds(shopper, catalogue, emulator):
    _, sub = _paid_plan(shopper, catalogue, emulator)
    emulator.set_delivery_mode("hold")
    emulator.fail_payment(sub.stripe_subscription_id)
    updated = [e["id"] for e in emulator.held() if e["type"] == "customer.subscription.updated"]
    emulator.fail_requests("/v1/subscriptions/*", method="GET")
    assert emulator.deliver(event_ids=updated) == [(updated[0], 500)]
    db.session.expire_all()
    assert db.session.get(Subscription, sub.id).status == "active"
    assert db.session.get(StripeEvent, updated[0]) is None  # not recorded: it will be retried

    emulator.clear_faults()
    assert emulator.deliver(event_ids=updated) == [(updated[0], 200)]
    db.session.expire_all()
    assert db.session.get(Subscription, sub.id).status == "past_due"


def test_database_down_during_a_webhook_is_500(app_config, emulator):
    from shop import create_app

    config = {
        **app_config,
        # Nothing listens on port 1: the database is down.
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/broadsheet",
    }
    down = create_app(config)
    payload = _event("customer.subscription.updated", {"id": "sub_1", "object": "subscription"})
    response = _post_signed(down.test_client(), payload)
    assert response.status_code == 500
    assert response.get_json() == {"error": "handler failed"}

"""Stripe webhooks: verified first, recorded once, then dispatched through a table.

Each event id is stored in the same transaction as its handler's work. A handler that
fails rolls everything back, including the record, so Stripe's retry runs it again;
a delivery of an event already processed finds the record and does nothing.

Stripe retries every answer but a 2xx for three days, so only what a retry can fix
fails the delivery (the database or Stripe unreachable). An event about an object that
Stripe does not know is recorded and answered 200: no retry can ever succeed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop.billing import fulfilment, gateway, sync
from shop.billing.models import StripeEvent
from shop.extensions import db

log = logging.getLogger(__name__)

Handler = Callable[[dict], Callable[[], None] | None]


def _session_completed(obj: dict):
    session = gateway.checkout_session_from(obj)
    if session.payment_status not in fulfilment.SETTLED:
        # A delayed method: async_payment_succeeded or _failed follows.
        return None
    return _fulfil(session)


def _fulfil(session: gateway.CheckoutSession):
    if fulfilment.fulfil(session):
        order = fulfilment.order_for_session(session)
        assert order is not None  # fulfil has just found it and marked it paid
        return lambda: fulfilment.send_receipt(order.id)
    return None


def _async_succeeded(obj: dict):
    return _fulfil(gateway.checkout_session_from(obj))


def _async_failed(obj: dict):
    fulfilment.fail_order(gateway.checkout_session_from(obj))


def _session_expired(obj: dict):
    fulfilment.abandon_order(gateway.checkout_session_from(obj))


def _invoice_paid(obj: dict):
    invoice = gateway.invoice_from(obj)
    invoice.payment_intent = gateway.payment_intent_for_invoice(invoice.id)
    sync.record_invoice_payment(invoice)


def _invoice_failed(obj: dict):
    sync.payment_failed(gateway.invoice_from(obj))


def _subscription_changed(obj: dict):
    # Never the event's copy, which may be stale: ask Stripe for the state now.
    sync.sync_subscription(obj["id"])


def _subscription_deleted(obj: dict):
    try:
        sync.sync_subscription(obj["id"])
    except gateway.MissingObjectError:
        # Stripe no longer has it. A deleted subscription never comes back, so the
        # event's copy is final: without this the reader would keep reading for free.
        if sync.end_subscription(gateway.subscription_state_from(obj)) is None:
            raise  # not ours either: nothing to end


def _trial_will_end(obj: dict):
    sync.trial_ending(obj["id"])


def _charge_refunded(obj: dict):
    sync.record_refund(gateway.retrieve_charge(obj["id"]))


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _async_succeeded,
    "checkout.session.async_payment_failed": _async_failed,
    "checkout.session.expired": _session_expired,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_deleted,
    "customer.subscription.trial_will_end": _trial_will_end,
    "charge.refunded": _charge_refunded,
}


def process(event: gateway.Event) -> str:
    """Handle one verified event exactly once; return what happened, for the log.

    Raises whatever the handler raised, after rolling back, so the caller answers 500.
    """
    handler = HANDLERS.get(event.type)
    if handler is None:
        return "ignored"
    object_id = event.object.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise gateway.MalformedEventError(f"a {event.type} event whose object has no id")
    if db.session.get(StripeEvent, event.id) is not None:
        return "duplicate"
    try:
        # The record goes in first: a concurrent delivery of the same event waits on
        # this row, then finds it taken and stops, rather than doing the work twice.
        db.session.add(StripeEvent(id=event.id, type=event.type, created=event.created))
        db.session.flush()
        after_commit = handler(event.object)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if db.session.scalar(select(StripeEvent.id).where(StripeEvent.id == event.id)):
            return "duplicate"
        raise
    except gateway.MissingObjectError:
        db.session.rollback()
        log.warning(
            "Stripe event %s (%s) names %s, which Stripe does not know; nothing to do",
            event.id,
            event.type,
            object_id,
        )
        return _record_only(event, "unknown object")
    except Exception:
        db.session.rollback()
        raise
    if after_commit is not None:
        try:
            after_commit()
        except Exception:
            # The payment is recorded; a receipt that failed to send is logged, and the
            # order shows it was never sent, rather than Stripe retrying the event.
            log.exception("After-commit step of event %s failed", event.id)
    return "processed"


def _record_only(event: gateway.Event, outcome: str) -> str:
    """Record an event that can never be handled, so its redeliveries stop at the record."""
    db.session.add(StripeEvent(id=event.id, type=event.type, created=event.created))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return "duplicate"
    return outcome

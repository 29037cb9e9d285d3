"""The control API: what a test does that an API client cannot (mirrored under ``/_emulator/``).

Webhook settings and deliveries, the hosted pages' buttons (pay, settle, expire), the clock of
a subscription (renew, fail a payment), simulated outages, and a reset.
"""

from __future__ import annotations

import copy

from .common import diff, type_matches
from .errors import EmulatorError, missing
from .store import Fault, Store
from .webhooks import MODES

PAY_ACTIONS = ("pay", "decline", "delayed")
# How a free trial ends: its first invoice is paid, or it fails and the subscription is left
# as Stripe's "Manage failed payments" settings say (past due while retries are pending,
# then unpaid or canceled once they have all failed).
TRIAL_OUTCOMES = ("paid", "past_due", "unpaid", "canceled")


class Control(Store):
    """The control API, for tests (and ``/_emulator/`` over HTTP)."""

    @property
    def webhook_url(self) -> str | None:
        """Where events are delivered (``None``: nowhere)."""
        return self._webhooks.url

    @property
    def delivery_mode(self) -> str:
        """``"sync"``, ``"async"`` or ``"hold"``."""
        return self._webhooks.mode

    @delivery_mode.setter
    def delivery_mode(self, mode: str) -> None:
        self.set_delivery_mode(mode)

    def set_delivery_mode(self, mode: str) -> None:
        """Switch delivery mode at runtime; events already held stay held."""
        if mode not in MODES:
            raise ValueError(f"delivery mode must be one of {', '.join(MODES)}, not {mode!r}")
        self._webhooks.mode = mode

    def events(self, type: str | None = None) -> list[dict]:
        """Every event so far, oldest first; ``type`` filters (``"invoice.*"`` matches a prefix)."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._events if type_matches(e["type"], type)]

    def event(self, event_id: str) -> dict:
        """One event by id."""
        return self._event_for_delivery(event_id)

    def held(self) -> list[dict]:
        """The events held (delivery mode ``hold``) and not yet delivered, oldest first."""
        return [self._event_for_delivery(event_id) for event_id in self._webhooks.held()]

    def deliveries(self) -> list[dict]:
        """Every delivery attempt: event_id, type, url, signature, status, error, at."""
        return self._webhooks.attempts()

    def deliver(
        self,
        event_ids: list[str] | None = None,
        order: str | None = None,
        times: int = 1,
        signature: str = "valid",
    ) -> list[tuple[str, int | None]]:
        """Deliver events (default: all held) now; ``[(event_id, HTTP status or None)]``.

        ``order``: ``None``/``"given"``, ``"reverse"`` or ``"shuffle"``; ``times``: sends of
        each; ``signature``: ``"valid"``, ``"forged"`` (wrong secret), ``"stale"`` (signed
        10 minutes ago) or ``"missing"`` (no ``Stripe-Signature`` header).
        """
        self._require_webhook()
        return self._webhooks.deliver(event_ids, order=order, times=times, signature=signature)

    def deliver_concurrently(self, event_id: str, copies: int = 20) -> list[int | None]:
        """Send one event ``copies`` times at once over separate connections; the statuses."""
        self._require_webhook()
        return self._webhooks.deliver_concurrently(event_id, copies)

    def wait_for_deliveries(self, timeout: float = 5.0) -> bool:
        """Wait until the ``async`` worker has delivered (or given up on) everything queued."""
        return self._webhooks.wait(timeout)

    def pay(
        self,
        session_id: str,
        action: str = "pay",
        shipping: dict | None = None,
        shipping_rate: int | str | None = None,
        email: str | None = None,
    ) -> str | None:
        """Press a hosted Checkout page button; the URL it redirects to (``None``: declined).

        ``"pay"``: the card succeeds; ``"decline"``: nothing happens (the page says the card
        was declined); ``"delayed"``: complete but unpaid until :meth:`settle_async`.

        ``shipping``, for a session that collects an address: ``name``, ``line1``, ``line2``,
        ``city``, ``state``, ``postal_code``, ``country`` (one of its allowed countries; by
        default a test address in the first). ``shipping_rate``: the option taken, by index
        (from 0) or ``shr_`` id (by default the first). ``email``: what the buyer types on a
        session that knows no customer or address (by default a test address).
        """
        if action not in PAY_ACTIONS:
            raise EmulatorError(f"action must be one of {', '.join(PAY_ACTIONS)}", param="action")
        with self._transaction():
            session = self._get("checkout.session", session_id)
            if session["status"] != "open":
                raise EmulatorError(
                    f"This Checkout Session is {session['status']}, not open: it cannot be paid.",
                    code="checkout_session_not_open",
                )
            address = self._shipping_address(session, shipping)
            option = self._shipping_choice(session, shipping_rate)
            typed = self._buyer_email(session, email)
            if action == "decline":
                return None
            if typed:
                session["customer_email"] = typed
            # Before completing: checkout.session.completed carries the address and the cost.
            self._apply_shipping(session, address, option)
            self._complete_session(session, paid=action == "pay")
            return self._success_url(session)

    def _buyer_email(self, session: dict, email: str | None) -> str | None:
        """The address a buyer types when the session knows none (None when it does)."""
        if session["customer"] or session["customer_email"]:
            return None
        typed = (email if email is not None else "guest.buyer@example.org").strip()
        if not typed:
            raise EmulatorError("Enter your email address.", param="email")
        try:
            self._email(typed)
        except EmulatorError:
            raise EmulatorError(f"{typed} is not a valid email address.", param="email") from None
        return typed

    def settle_async(self, session_id: str, succeeded: bool = True) -> None:
        """Settle a ``delayed`` payment: ``checkout.session.async_payment_succeeded``/``_failed``.

        On success the payment objects (and the subscription) are made as :meth:`pay` makes them.
        """
        with self._transaction():
            session = self._get("checkout.session", session_id)
            extra = self._checkout[session["id"]]
            if not extra["awaiting_payment"]:
                raise EmulatorError(
                    "This Checkout Session has no delayed payment waiting to settle.",
                    param="session",
                )
            extra["awaiting_payment"] = False
            if succeeded:
                self._fulfil(session)
                session["payment_status"] = "paid"
                self._emit("checkout.session.async_payment_succeeded", session)
            else:
                self._emit("checkout.session.async_payment_failed", session)

    def renew(self, subscription_id: str) -> str | None:
        """Move a subscription to its next period with a paid invoice; the invoice id.

        A subscription set to cancel at period end ends instead (``None``).
        """
        with self._transaction():
            sub = self._get("subscription", subscription_id)
            self._require_live_subscription(sub)
            if sub["cancel_at_period_end"]:
                end = self._period(sub)[1]
                sub.update(status="canceled", ended_at=end, canceled_at=sub["canceled_at"] or end)
                self._emit("customer.subscription.deleted", sub)
                return None
            old = self._view(sub)
            invoice = self._cycle_invoice(sub, paid=True)
            sub["status"] = "active"
            self._emit("customer.subscription.updated", sub, diff(old, self._view(sub)))
            return invoice["id"]

    def fail_payment(self, subscription_id: str) -> str:
        """Bill the next period with a card that fails: an open invoice, ``past_due``; its id."""
        with self._transaction():
            sub = self._get("subscription", subscription_id)
            self._require_live_subscription(sub)
            old = self._view(sub)
            invoice = self._cycle_invoice(sub, paid=False)
            sub["status"] = "past_due"
            self._emit("customer.subscription.updated", sub, diff(old, self._view(sub)))
            return invoice["id"]

    def trial_will_end(self, subscription_id: str) -> None:
        """Send ``customer.subscription.trial_will_end``, as Stripe does three days before a
        trial ends (at once for a shorter trial); the emulator sends it when asked."""
        with self._transaction():
            sub = self._get("subscription", subscription_id)
            if sub["status"] != "trialing":
                raise EmulatorError(
                    f"Subscription {subscription_id} is {sub['status']}, not trialing.",
                    param="subscription",
                )
            self._emit("customer.subscription.trial_will_end", sub)

    def end_trial(self, subscription_id: str, outcome: str = "paid") -> str | None:
        """End a ``trialing`` subscription's free trial, as its trial end would; the invoice id.

        The items move to the first paid period and it is billed (``subscription_cycle``).
        ``outcome``: ``"paid"`` (the card works: ``active``), ``"past_due"`` (it fails, retries
        pending), ``"unpaid"`` or ``"canceled"`` (it fails, and every retry has failed too,
        with the settings set to mark the subscription unpaid, or to cancel it:
        ``customer.subscription.deleted``). A trial set to cancel at its end just ends
        (``None``), as in :meth:`renew`.
        """
        if outcome not in TRIAL_OUTCOMES:
            raise EmulatorError(
                f"outcome must be one of {', '.join(TRIAL_OUTCOMES)}", param="outcome"
            )
        with self._transaction():
            sub = self._get("subscription", subscription_id)
            if sub["status"] != "trialing":
                raise EmulatorError(
                    f"Subscription {subscription_id} is {sub['status']}, not trialing: it has "
                    "no trial to end.",
                    param="subscription",
                )
            if sub["cancel_at_period_end"]:
                end = self._period(sub)[1]
                sub.update(status="canceled", ended_at=end, canceled_at=sub["canceled_at"] or end)
                self._emit("customer.subscription.deleted", sub)
                return None
            old = self._view(sub)
            invoice = self._cycle_invoice(sub, paid=outcome == "paid")
            sub["status"] = "active" if outcome == "paid" else "past_due"
            self._emit("customer.subscription.updated", sub, diff(old, self._view(sub)))
            if outcome == "unpaid":
                old = self._view(sub)
                sub["status"] = "unpaid"
                self._emit("customer.subscription.updated", sub, diff(old, self._view(sub)))
            elif outcome == "canceled":
                now = self._now()
                sub.update(status="canceled", canceled_at=now, ended_at=now, cancel_at=None)
                sub["cancellation_details"] = {
                    "comment": None,
                    "feedback": None,
                    "reason": "payment_failed",
                }
                self._emit("customer.subscription.deleted", sub)
            return invoice["id"]

    def expire(self, session_id: str) -> dict:
        """Expire an open Checkout Session (as ``POST .../expire``); the session."""
        with self._transaction():
            return self._expire(self._get("checkout.session", session_id))

    def expire_due(self, now: int | None = None) -> list[str]:
        """Expire every open session whose ``expires_at`` has passed at ``now``; their ids.

        Stripe does this on its own when a session's time is up (``checkout.session.expired``
        follows); the emulator does it when asked, so a test can say how late it is.
        """
        at = self._now() if now is None else int(now)
        with self._transaction():
            due = [
                session
                for session in self._all("checkout.session")
                if session["status"] == "open" and session["expires_at"] <= at
            ]
            for session in reversed(due):  # oldest first, as the events would come
                self._expire(session)
            return [session["id"] for session in reversed(due)]

    def fail_requests(
        self, path: str = "/v1/*", method: str = "*", status: int = 500, times: int | None = None
    ) -> None:
        """Answer matching API requests with a Stripe ``api_error``, as when Stripe is down.

        ``path`` is a glob (``/v1/checkout/sessions/*/expire``), ``method`` ``GET``, ``POST``,
        ``DELETE`` or ``*``; ``times``: how many requests fail (``None``: until
        :meth:`clear_faults` or :meth:`reset`). Hosted pages and control calls are not affected.
        """
        if method not in ("*", "GET", "POST", "DELETE"):
            raise ValueError(f"method must be GET, POST, DELETE or *, not {method!r}")
        if not 500 <= int(status) <= 599:
            raise ValueError(f"a fault answers a 5xx status, not {status!r}")
        if times is not None and int(times) < 1:
            raise ValueError("times must be at least 1, or None for until cleared")
        with self._lock:
            self._faults.append(
                Fault(method, path, int(status), None if times is None else int(times))
            )

    def clear_faults(self) -> None:
        """Stop failing requests on purpose."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget every object, event, held event, delivery and idempotency key (and save that)."""
        self._webhooks.wait(timeout=5)
        with self._lock:
            self._clear()
            self._webhooks.clear()
            self._save()

    def close(self) -> None:
        """Stop the background delivery thread (``async`` mode), if any."""
        self._webhooks.close()

    def get(self, object_id: str) -> dict:
        """Any object the emulator holds, by id, as the API would answer it."""
        with self._lock:
            obj = self._objects.get(object_id)
            if obj is None:
                raise missing("object", object_id)
            return self._view(obj)

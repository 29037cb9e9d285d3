"""The one module that talks to Stripe, and the one that knows the shapes of its objects.

Everything else in Broadsheet calls these functions with plain values and gets plain
dataclasses back. Objects follow the API version the installed ``stripe`` library
pins: a subscription's period sits on its items, an invoice names its subscription
under ``parent.subscription_details``, and an invoice reaches its PaymentIntent
through an InvoicePayment.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import stripe
from flask import current_app

from shop.shipping.address import Address

if TYPE_CHECKING:
    from stripe import RequestOptions
    from stripe.checkout import Session
    from stripe.params import (
        PriceCreateParams,
        ProductCreateParams,
        ProductUpdateParams,
        RefundCreateParams,
    )
    from stripe.params.checkout import SessionCreateParams

log = logging.getLogger(__name__)

_ORDER_REFERENCE = re.compile(r"[0-9]{1,9}")
T = TypeVar("T")
P = ParamSpec("P")


class GatewayError(Exception):
    """Stripe could not do what was asked; the message is fit to show a reader."""


class NotConfiguredError(GatewayError):
    """No Stripe key is set, so payments are off."""


class MissingObjectError(GatewayError):
    """Stripe has no object with that id: asking again will never find it."""


class SignatureError(Exception):
    """A webhook's Stripe-Signature is missing, forged or stale."""


class MalformedEventError(Exception):
    """A correctly signed webhook whose payload is not a Stripe event."""


def is_configured() -> bool:
    """Whether a Stripe key (or the emulator's) is set."""
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def uses_emulator() -> bool:
    """Whether requests go to a Stripe-compatible emulator rather than Stripe."""
    return bool(current_app.config.get("STRIPE_API_BASE"))


def _client() -> stripe.StripeClient:
    key = current_app.config.get("STRIPE_SECRET_KEY")
    if not key:
        raise NotConfiguredError("Payments are not set up on this site yet.")
    base = current_app.config.get("STRIPE_API_BASE")
    if base:
        return stripe.StripeClient(key, base_addresses={"api": base}, max_network_retries=0)
    return stripe.StripeClient(key, max_network_retries=2)


def _call(what: str, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run one Stripe call; log a failure and raise a GatewayError a reader can read."""
    try:
        return func(*args, **kwargs)
    except stripe.CardError as exc:
        log.warning("Stripe %s: card error: %s", what, exc.user_message)
        raise GatewayError(exc.user_message or "Your card was declined.") from exc
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            log.warning("Stripe %s: no such object: %s", what, exc.user_message)
            raise MissingObjectError(
                "The payment provider has no record of that. Nothing was charged."
            ) from exc
        log.error("Stripe %s refused: %s (param %s)", what, exc.user_message, exc.param)
        raise GatewayError(
            "The payment provider refused the request. Nothing was charged; please try "
            "again, or contact us if it keeps happening."
        ) from exc
    except stripe.StripeError as exc:
        log.error("Stripe %s failed: %s", what, exc)
        raise GatewayError(
            "We could not reach the payment provider. Nothing was charged; please try "
            "again in a moment."
        ) from exc


def _ts(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None)


def _plain(obj: Any) -> Any:
    """A StripeObject as plain dicts and lists."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict(recursive=True)
    return obj


def _reads_object(read: Callable[[Any], T]) -> Callable[[Any], T]:
    """Make a reader of Stripe objects raise MalformedEventError on a malformed one."""

    @functools.wraps(read)
    def wrapper(obj: Any) -> T:
        try:
            return read(obj)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # A signed event whose object lacks Stripe's fields: a retry cannot help.
            raise MalformedEventError(f"{read.__name__}: {type(exc).__name__}: {exc}") from exc

    return wrapper


def _id(value: Any) -> str | None:
    """An id whether the field holds the id or an expanded object."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return cast("str | None", value.get("id"))


# --- customers and catalogue -------------------------------------------------------


def create_customer(email: str, user_id: int, idempotency_key: str) -> str:
    """Create a Stripe Customer for a user and return its id; the key makes a retry one."""
    customer = _call(
        "customer create",
        _client().v1.customers.create,
        params={"email": email, "metadata": {"user_id": str(user_id)}},
        options={"idempotency_key": idempotency_key},
    )
    return customer.id


def customer_email(customer_id: str) -> str | None:
    """The email of an existing Stripe Customer; MissingObjectError if there is none."""
    customer = _call("customer retrieve", _client().v1.customers.retrieve, customer_id)
    if getattr(customer, "deleted", False):
        raise MissingObjectError("The payment provider has no record of that customer.")
    return customer.email


def find_customer_by_email(email: str) -> str | None:
    """The id of the oldest Stripe Customer with this exact email, or None."""
    found = _call(
        "customer list", _client().v1.customers.list, params={"email": email, "limit": 100}
    )
    customers = sorted(found.data, key=lambda c: c.created)
    return customers[0].id if customers else None


def upsert_product(stripe_id: str | None, name: str, description: str, active: bool) -> str:
    """Create the Stripe Product, or update its name and state; return its id."""
    client = _client()
    # The same fields either way, but Stripe types an update's and a create's apart.
    if stripe_id:
        update: ProductUpdateParams = {"name": name, "active": active}
        if description:
            update["description"] = description
        return _call("product update", client.v1.products.update, stripe_id, params=update).id
    create: ProductCreateParams = {"name": name, "active": active}
    if description:
        create["description"] = description
    return _call("product create", client.v1.products.create, params=create).id


def create_price(
    stripe_product_id: str,
    amount: int,
    currency: str,
    interval: str | None,
    local_id: int,
    idempotency_key: str,
) -> str:
    """Create an immutable Stripe Price and return its id; the key makes a retry one."""
    params: PriceCreateParams = {
        "product": stripe_product_id,
        "unit_amount": amount,
        "currency": currency,
        "metadata": {"price_id": str(local_id)},
    }
    if interval:
        params["recurring"] = {"interval": interval}
    price = _call(
        "price create",
        _client().v1.prices.create,
        params=params,
        options={"idempotency_key": idempotency_key},
    )
    return price.id


def deactivate_price(stripe_price_id: str) -> None:
    """Retire a Stripe Price so no new checkout uses it."""
    _call("price update", _client().v1.prices.update, stripe_price_id, params={"active": False})


# --- checkout ------------------------------------------------------------------------


def _shipping_from(data: dict[str, Any]) -> Address | None:
    """The address and postage a session collected: under ``collected_information`` in the
    API version the library pins, at the top level (``shipping_details``) in older ones."""
    details = (data.get("collected_information") or {}).get("shipping_details") or data.get(
        "shipping_details"
    )
    if not details:
        return None
    address = details.get("address") or {}
    return Address(
        name=details.get("name") or "",
        line1=address.get("line1") or "",
        line2=address.get("line2") or "",
        city=address.get("city") or "",
        state=address.get("state") or "",
        postal_code=address.get("postal_code") or "",
        country=(address.get("country") or "").upper(),
        amount=int((data.get("shipping_cost") or {}).get("amount_total") or 0),
    )


@dataclass
class CheckoutSession:
    """What Broadsheet needs to know about a Checkout Session."""

    id: str
    url: str | None
    status: str  # open, complete, expired
    payment_status: str  # paid, unpaid, no_payment_required
    mode: str
    order_id: int | None
    customer: str | None
    subscription: str | None
    payment_intent: str | None
    invoice: str | None
    amount_total: int | None
    currency: str | None
    # Who paid, as they typed it at Checkout (a guest checkout knows no one before).
    customer_email: str | None = None
    customer_name: str | None = None
    # Where to post it (the rate's name is not on the session: see shipping_rate_name).
    shipping: Address | None = None
    shipping_rate: str | None = None  # the Stripe shipping rate's id


@_reads_object
def checkout_session_from(obj: Any) -> CheckoutSession:
    """Read a Checkout Session object (from the API or an event)."""
    data = _plain(obj)
    reference = data.get("client_reference_id") or (data.get("metadata") or {}).get("order_id")
    # Our own order ids: a few ASCII digits. Anything else names no order of ours.
    reference = str(reference) if reference is not None else ""
    return CheckoutSession(
        id=data["id"],
        url=data.get("url"),
        status=data.get("status") or "",
        payment_status=data.get("payment_status") or "",
        mode=data.get("mode") or "",
        order_id=int(reference) if _ORDER_REFERENCE.fullmatch(reference) else None,
        customer=_id(data.get("customer")),
        subscription=_id(data.get("subscription")),
        payment_intent=_id(data.get("payment_intent")),
        invoice=_id(data.get("invoice")),
        amount_total=data.get("amount_total"),
        currency=data.get("currency"),
        customer_email=(data.get("customer_details") or {}).get("email")
        or data.get("customer_email"),
        customer_name=(data.get("customer_details") or {}).get("name"),
        shipping=_shipping_from(data),
        shipping_rate=_id((data.get("shipping_cost") or {}).get("shipping_rate")),
    )


def create_checkout_session(params: dict[str, Any], idempotency_key: str) -> CheckoutSession:
    """Create a Checkout Session; the key makes a repeated attempt return the same one."""
    if current_app.config.get("STRIPE_AUTOMATIC_TAX"):
        params = {**params, "automatic_tax": {"enabled": True}}
    # The caller builds the session's fields (line items, mode, URLs) as a plain dict.
    session: Session = _call(
        "checkout create",
        _client().v1.checkout.sessions.create,
        params=cast("SessionCreateParams", params),
        options={"idempotency_key": idempotency_key},
    )
    return checkout_session_from(session)


def shipping_rate_name(rate_id: str) -> str:
    """The display name of a Stripe shipping rate, as the reader saw it at checkout."""
    rate = _call("shipping rate retrieve", _client().v1.shipping_rates.retrieve, rate_id)
    return rate.display_name or ""


def retrieve_checkout_session(session_id: str) -> CheckoutSession:
    """Fetch a Checkout Session's current state from Stripe."""
    session = _call("checkout retrieve", _client().v1.checkout.sessions.retrieve, session_id)
    return checkout_session_from(session)


def expire_checkout_session(session_id: str) -> CheckoutSession | None:
    """Expire an open session; None when it was no longer open (paid or expired)."""
    try:
        session = _client().v1.checkout.sessions.expire(session_id)
    except stripe.InvalidRequestError as exc:
        log.info("Stripe session %s not expired: %s", session_id, exc.user_message)
        return None
    except stripe.StripeError as exc:
        log.error("Stripe checkout expire failed: %s", exc)
        raise GatewayError("We could not reach the payment provider.") from exc
    return checkout_session_from(session)


# The metadata key that names a portal configuration made by Broadsheet, and for what.
PORTAL_KEY = "broadsheet_plans"


def portal_configuration(key: str, plans: list[tuple[str, list[str]]]) -> str:
    """The id of a customer portal configuration that lets readers switch between these
    plans ((Stripe product, its prices)) with prorations, cancel at period end, and update
    their card; made once per ``key`` (found again by its metadata), so it is not
    duplicated on every visit."""
    client = _client()
    found = _call(
        "portal configuration list",
        client.v1.billing_portal.configurations.list,
        params={"active": True, "limit": 100},
    )
    for config in found.data:
        metadata: dict[str, str] = _plain(config).get("metadata") or {}
        if metadata.get(PORTAL_KEY) == key:
            return config.id
    features: dict[str, Any] = {
        "customer_update": {"enabled": False},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
    }
    if len(plans) > 1 or any(len(prices) > 1 for _, prices in plans):
        features["subscription_update"] = {
            "enabled": True,
            "default_allowed_updates": ["price"],
            "proration_behavior": "create_prorations",
            "products": [{"product": product, "prices": prices} for product, prices in plans],
        }
    config = _call(
        "portal configuration create",
        client.v1.billing_portal.configurations.create,
        params=cast("Any", {"features": features, "metadata": {PORTAL_KEY: key}}),
    )
    return config.id


def create_portal_session(
    customer_id: str, return_url: str, configuration: str | None = None
) -> str:
    """Open a customer portal session (with that configuration, if given); return its URL."""
    params: dict[str, Any] = {"customer": customer_id, "return_url": return_url}
    if configuration:
        params["configuration"] = configuration
    session = _call(
        "portal create",
        _client().v1.billing_portal.sessions.create,
        params=cast("Any", params),
    )
    return session.url


# --- subscriptions, invoices, charges ----------------------------------------------


@dataclass
class SubscriptionState:
    """A subscription's state as Stripe holds it now."""

    id: str
    customer: str
    status: str
    cancel_at_period_end: bool
    current_period_end: datetime | None
    canceled_at: datetime | None
    price_id: str | None
    trial_end: datetime | None = None


@_reads_object
def subscription_state_from(obj: Any) -> SubscriptionState:
    """Read a Subscription object; the period end sits on its first item."""
    data = _plain(obj)
    items = (data.get("items") or {}).get("data") or []
    first = items[0] if items else {}
    return SubscriptionState(
        id=data["id"],
        customer=_id(data.get("customer")) or "",
        status=data.get("status") or "",
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        current_period_end=_ts(first.get("current_period_end")),
        canceled_at=_ts(data.get("canceled_at")),
        price_id=_id(first.get("price")),
        trial_end=_ts(data.get("trial_end")),
    )


def retrieve_subscription(subscription_id: str) -> SubscriptionState:
    """Fetch a subscription's current state (never trust an event's copy)."""
    sub = _call("subscription retrieve", _client().v1.subscriptions.retrieve, subscription_id)
    return subscription_state_from(sub)


@dataclass
class InvoiceInfo:
    """A paid (or failed) invoice, as a payment record needs it."""

    id: str
    customer: str | None
    subscription: str | None
    amount_paid: int
    amount_due: int
    currency: str
    period_start: datetime | None
    period_end: datetime | None
    billing_reason: str | None
    payment_intent: str | None


@_reads_object
def invoice_from(obj: Any) -> InvoiceInfo:
    """Read an Invoice object; its subscription is under parent.subscription_details."""
    data = _plain(obj)
    parent = data.get("parent") or {}
    details = parent.get("subscription_details") or {}
    lines = (data.get("lines") or {}).get("data") or []
    # The subscription period is on the recurring line; the invoice's own period
    # fields describe when line items were collected, not what was bought.
    period = next(
        (line.get("period") for line in lines if (line.get("period") or {}).get("end")), None
    )
    return InvoiceInfo(
        id=data["id"],
        customer=_id(data.get("customer")),
        subscription=_id(details.get("subscription")),
        amount_paid=int(data.get("amount_paid") or 0),
        amount_due=int(data.get("amount_due") or 0),
        currency=data.get("currency") or "",
        period_start=_ts((period or {}).get("start") or data.get("period_start")),
        period_end=_ts((period or {}).get("end") or data.get("period_end")),
        billing_reason=data.get("billing_reason"),
        payment_intent=None,
    )


def retrieve_invoice(invoice_id: str) -> InvoiceInfo:
    """Fetch an invoice with the PaymentIntent that paid it."""
    client = _client()
    info = invoice_from(_call("invoice retrieve", client.v1.invoices.retrieve, invoice_id))
    info.payment_intent = payment_intent_for_invoice(invoice_id)
    return info


def payment_intent_for_invoice(invoice_id: str) -> str | None:
    """The PaymentIntent that paid an invoice, through its InvoicePayment."""
    payments = _call(
        "invoice payments",
        _client().v1.invoice_payments.list,
        params={"invoice": invoice_id},
    )
    for payment in payments.data:
        data = _plain(payment)
        if data.get("status") in (None, "paid") or data.get("is_default"):
            inner = data.get("payment") or {}
            intent = _id(inner.get("payment_intent"))
            if intent:
                return intent
    return None


@dataclass
class ChargeInfo:
    """A charge's refund state."""

    id: str
    payment_intent: str | None
    amount: int
    amount_refunded: int


@_reads_object
def charge_from(obj: Any) -> ChargeInfo:
    """Read a Charge object."""
    data = _plain(obj)
    return ChargeInfo(
        id=data["id"],
        payment_intent=_id(data.get("payment_intent")),
        amount=int(data.get("amount") or 0),
        amount_refunded=int(data.get("amount_refunded") or 0),
    )


def retrieve_charge(charge_id: str) -> ChargeInfo:
    """Fetch a charge's current refund state."""
    return charge_from(_call("charge retrieve", _client().v1.charges.retrieve, charge_id))


def refund(
    payment_intent_id: str, amount: int | None = None, idempotency_key: str | None = None
) -> str:
    """Refund a payment in full or in part; return the refund id.

    With a key, a repeated request (a double-click, a retry after a timeout) gets the
    same refund back instead of refunding twice. Only admins refund, so Stripe's own
    reason for refusing is passed on rather than the reader-facing wording of ``_call``.
    """
    params: RefundCreateParams = {"payment_intent": payment_intent_id}
    if amount is not None:
        params["amount"] = amount
    options: RequestOptions = {"idempotency_key": idempotency_key} if idempotency_key else {}
    client = _client()
    try:
        return client.v1.refunds.create(params=params, options=options).id
    except stripe.InvalidRequestError as exc:
        log.warning("Stripe refund of %s refused: %s", payment_intent_id, exc.user_message)
        raise GatewayError(f"Stripe refused the refund: {exc.user_message or exc}") from exc
    except stripe.StripeError as exc:
        log.error("Stripe refund create failed: %s", exc)
        raise GatewayError(
            "Stripe did not answer, so the refund is not confirmed. Check the payment in "
            "Stripe before trying again."
        ) from exc


# --- webhooks ------------------------------------------------------------------------


@dataclass
class Event:
    """A verified Stripe event."""

    id: str
    type: str
    created: datetime | None
    object: dict[str, Any]


def verify_event(payload: bytes, signature: str | None) -> Event:
    """Check the Stripe-Signature header and parse the event; raise SignatureError."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise SignatureError("STRIPE_WEBHOOK_SECRET is not set")
    if not signature:
        raise SignatureError("no Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise SignatureError(str(exc)) from exc
    except (ValueError, AttributeError, TypeError) as exc:
        # The signature was good (construct_event checks it first): the body is not an
        # event object (a JSON array, a string, bad JSON). A retry can never fix it.
        raise MalformedEventError(f"the payload is not a Stripe event: {exc}") from exc
    data = _plain(event)
    body = data.get("data") if isinstance(data, dict) else None
    obj = body.get("object") if isinstance(body, dict) else None
    event_id, event_type = data.get("id"), data.get("type")
    if not (isinstance(event_id, str) and event_id and isinstance(event_type, str)):
        raise MalformedEventError("the event has no id or type")
    if not isinstance(obj, dict):
        raise MalformedEventError("the event has no data.object")
    return Event(id=event_id, type=event_type, created=_event_time(data.get("created")), object=obj)


def _event_time(value: Any) -> datetime | None:
    """An event's ``created`` as a datetime, or None when it is not a usable Unix time."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return _ts(value)
    except (OverflowError, OSError, ValueError):
        return None

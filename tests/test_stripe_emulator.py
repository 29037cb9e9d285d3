"""The Stripe emulator, driven through the real ``stripe`` library over HTTP.

No Flask app of Broadsheet is involved: an :class:`EmulatorServer` serves the emulator on
127.0.0.1, and a tiny local receiver takes its webhooks and checks each one with
``stripe.Webhook.construct_event``, as the app will.
"""

from __future__ import annotations

import contextvars
import http.client
import json
import re
import subprocess
import sys
import threading
import time
import typing
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import stripe
from stripe.params.checkout import SessionCreateParamsShippingAddressCollection
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import stripe_emulator
from stripe_emulator import API_VERSION, EmulatorError, add_interval
from stripe_emulator.__main__ import is_loopback, main
from stripe_emulator.countries import SHIPPING_COUNTRIES, UNSUPPORTED_COUNTRIES
from stripe_emulator.params import parse_pairs
from stripe_emulator.shapes import EXTRA_KEYS, LIST_ITEM_KEYS
from stripe_emulator.testing import EmulatorServer, QuietRequestHandler
from tests.support import SHUTDOWN_POLL_SECONDS

SECRET = "whsec_test_secret_for_the_emulator_tests"
KEY = "sk_test_emulator_tests"
FIXTURES = json.loads(
    (Path(stripe_emulator.__file__).parent / "fixtures" / "fixtures3.json").read_text("utf-8")
)["resources"]

SUBSCRIPTION_EVENTS = [
    "customer.subscription.created",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
    "payment_intent.succeeded",
    "charge.succeeded",
    "checkout.session.completed",
]
PAYMENT_EVENTS = ["payment_intent.succeeded", "charge.succeeded", "checkout.session.completed"]


# --- a webhook receiver ----------------------------------------------------------------------


class Receiver:
    """A local webhook endpoint: records each POST and verifies it as the app will."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.fail_next = 0
        self.on_event = None  # called with each verified event before the answer
        self.secret = SECRET
        self.server = make_server(
            "127.0.0.1", 0, self.wsgi, threaded=True, request_handler=QuietRequestHandler
        )
        self.url = f"http://127.0.0.1:{self.server.server_port}/stripe/webhook"
        context = contextvars.Context()
        self.thread = threading.Thread(
            target=context.run,
            args=(self.server.serve_forever, SHUTDOWN_POLL_SECONDS),
            daemon=True,
        )
        self.thread.start()

    def wsgi(self, environ, start_response):
        """Record, verify with stripe.Webhook.construct_event, answer 200/400 (or 500)."""
        request = Request(environ)
        body = request.get_data()
        header = request.headers.get("Stripe-Signature")
        try:
            event = stripe.Webhook.construct_event(body, header, self.secret)
            verified, event_type, event_id = True, event.type, event.id
            if self.on_event is not None:
                self.on_event(event)
        except (stripe.SignatureVerificationError, ValueError):
            verified, event_type, event_id = False, None, None
        with self.lock:
            failing = self.fail_next > 0
            if failing:
                self.fail_next -= 1
            status = 500 if failing else 200 if verified else 400
            self.received.append(
                {
                    "body": body,
                    "headers": dict(request.headers),
                    "verified": verified,
                    "type": event_type,
                    "id": event_id,
                    "status": status,
                }
            )
        return Response("ok" if status == 200 else "no", status=status)(environ, start_response)

    def types(self) -> list[str]:
        """Types of the deliveries accepted (verified and answered 200), in arrival order."""
        with self.lock:
            return [r["type"] for r in self.received if r["status"] == 200]

    def clear(self) -> None:
        """Forget what was received."""
        with self.lock:
            self.received.clear()
            self.fail_next = 0
            self.on_event = None

    def stop(self) -> None:
        """Shut the server down."""
        self.server.shutdown()
        self.server.server_close()


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver():
    """One webhook receiver for the module."""
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def server():
    """One emulator server for the module."""
    with EmulatorServer() as s:
        yield s


@pytest.fixture
def emu(server, receiver):
    """The emulator, reset, delivering synchronously to the receiver."""
    server.emulator.reset()
    server.emulator.set_delivery_mode("sync")
    server.configure_webhook(receiver.url, SECRET)
    receiver.clear()
    yield server.emulator
    server.emulator.set_delivery_mode("sync")
    server.emulator.wait_for_deliveries()


@pytest.fixture
def client(server, emu):
    """A StripeClient pointed at the emulator."""
    return stripe.StripeClient(KEY, base_addresses={"api": server.url}, max_network_retries=0)


def raw(stripe_object) -> dict:
    """The JSON the emulator answered with (not stripe-python's conversion of it)."""
    return stripe_object.last_response.data


# --- shape helpers -------------------------------------------------------------------------------


def assert_same_shape(obj, fixture, path="$", object_type=None, rel=()):
    """Assert ``obj`` has exactly the keys of ``fixture``, recursively; report the first path.

    A value that is ``null`` in the fixture may hold anything of the right kind (an expanded
    object is checked against its own type's fixture). An object in the fixture may be
    ``null``. ``metadata`` may hold any strings. Keys of :data:`EXTRA_KEYS` are allowed.
    """
    if isinstance(obj, dict) and isinstance(obj.get("object"), str) and obj["object"] in FIXTURES:
        # A typed object (top level, nested, expanded, an event's data.object): its own fixture.
        fixture, object_type, rel = FIXTURES[obj["object"]], obj["object"], ()
    if isinstance(fixture, dict):
        if obj is None:
            return
        assert isinstance(obj, dict), f"{path}: expected an object, got {obj!r}"
        if rel and rel[-1] == "metadata":
            assert all(isinstance(v, str) for v in obj.values()), f"{path}: metadata {obj!r}"
            return
        extra = {key[-1] for key in EXTRA_KEYS.get(object_type, ()) if key[:-1] == rel}
        missing = set(fixture) - set(obj)
        unexpected = set(obj) - set(fixture) - extra
        assert not missing and not unexpected, (
            f"{path}: missing keys {sorted(missing)}, unexpected keys {sorted(unexpected)}"
        )
        for key in fixture:
            assert_same_shape(obj[key], fixture[key], f"{path}.{key}", object_type, (*rel, key))
    elif isinstance(fixture, list):
        assert isinstance(obj, list), f"{path}: expected a list, got {obj!r}"
        item_keys = LIST_ITEM_KEYS.get(object_type, {}).get(rel)
        for index, element in enumerate(obj):
            if fixture:
                assert_same_shape(element, fixture[0], f"{path}[{index}]", object_type, rel)
            elif item_keys is not None:
                # An element the sample file has none of: Stripe's documented keys, and any
                # expanded object in it checked against its own fixture.
                assert isinstance(element, dict), f"{path}[{index}]: expected an object"
                assert set(element) == set(item_keys), f"{path}[{index}]: keys {sorted(element)}"
                for key, value in element.items():
                    if isinstance(value, dict):
                        assert value.get("object") in FIXTURES, f"{path}[{index}].{key}: untyped"
                        assert_same_shape(value, None, f"{path}[{index}].{key}")
            elif isinstance(element, dict):
                assert element.get("object") in FIXTURES, f"{path}[{index}]: untyped {element!r}"
                assert_same_shape(element, FIXTURES[element["object"]], f"{path}[{index}]")
    elif fixture is not None and obj is not None:
        kinds = (bool,) if isinstance(fixture, bool) else (int,) if isinstance(fixture, int) else ()
        if isinstance(fixture, str):
            kinds = (str,)
        if kinds:
            assert isinstance(obj, kinds) and (bool in kinds or not isinstance(obj, bool)), (
                f"{path}: {obj!r} is not of the fixture's kind ({fixture!r})"
            )


STRIPE_ID = r"^[a-z]+(_test)?_(?=[a-z0-9]*[A-Z0-9])[A-Za-z0-9]{3,}$"


def _placeholders() -> tuple[set, set]:
    values, keyed = set(), set()

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, bool) or node is None:
            return
        elif isinstance(node, int) and node >= 100_000:
            values.add(node)
        elif isinstance(node, str):
            if node == key or node == "currency":
                keyed.add((key, node))
            elif "://" in node or re.match(STRIPE_ID, node):
                values.add(node)

    walk(FIXTURES)
    return values, keyed


PLACEHOLDER_VALUES, PLACEHOLDER_KEYED = _placeholders()


def assert_no_placeholders(obj, path="$", key=""):
    """No fixture placeholder (its ids, urls, timestamps, ``"invoice": "invoice"``) leaks."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert_no_placeholders(v, f"{path}.{k}", k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            assert_no_placeholders(v, f"{path}[{i}]", key)
    elif not isinstance(obj, bool) and obj is not None:
        assert obj not in PLACEHOLDER_VALUES, f"{path}: placeholder value {obj!r}"
        assert (key, obj) not in PLACEHOLDER_KEYED, f"{path}: placeholder value {obj!r}"


def check_object(obj: dict) -> None:
    """Fixture shape and no placeholders, for an object of a type in the fixture."""
    assert_same_shape(obj, FIXTURES[obj["object"]], obj["object"])
    assert_no_placeholders(obj, obj["object"])
    if "livemode" in obj:
        assert obj["livemode"] is False, f"{obj['object']}: livemode"


def test_assert_same_shape_reports_the_path():
    """The shape helper itself: a missing nested key is reported with its path."""
    good = FIXTURES["refund"] | {
        "destination_details": {"card": {"type": "refund"}, "type": "card"}
    }
    assert_same_shape(good, FIXTURES["refund"])
    bad = good | {"destination_details": {"card": {}, "type": "card"}}
    with pytest.raises(AssertionError, match=r"\$\.destination_details\.card: missing keys"):
        assert_same_shape(bad, FIXTURES["refund"])
    with pytest.raises(AssertionError, match="unexpected keys"):
        assert_same_shape(good | {"surprise": 1}, FIXTURES["refund"])
    # Lists the sample leaves empty: their elements have Stripe's documented keys.
    option = {"shipping_amount": 350, "shipping_rate": "shr_x"}
    shipped = FIXTURES["checkout.session"] | {"shipping_options": [option]}
    assert_same_shape(shipped, FIXTURES["checkout.session"])
    shipped["shipping_options"] = [{"shipping_amount": 350}]
    with pytest.raises(AssertionError, match=r"\$\.shipping_options\[0\]: keys"):
        assert_same_shape(shipped, FIXTURES["checkout.session"])


# --- catalogue helpers ----------------------------------------------------------------------------


def catalogue(client, currency="gbp"):
    """A customer, a monthly plan, a yearly plan and a one-off product."""
    customer = client.v1.customers.create(
        params={"email": "reader@example.org", "name": "Ada Reader", "metadata": {"user_id": "7"}}
    )
    plan = client.v1.products.create(params={"name": "Supporter"})
    book = client.v1.products.create(params={"name": "Annual print edition"})
    monthly = client.v1.prices.create(
        params={
            "product": plan.id,
            "unit_amount": 500,
            "currency": currency,
            "recurring": {"interval": "month"},
        }
    )
    yearly = client.v1.prices.create(
        params={
            "product": plan.id,
            "unit_amount": 5000,
            "currency": currency,
            "recurring": {"interval": "year"},
        }
    )
    one_off = client.v1.prices.create(
        params={"product": book.id, "unit_amount": 1250, "currency": currency}
    )
    return customer, monthly, yearly, one_off


def session(client, customer, lines, mode="payment", **extra):
    """A Checkout Session with ``lines`` = [(price, quantity)]."""
    params = {
        "mode": mode,
        "customer": customer.id,
        "line_items": [{"price": p.id, "quantity": q} for p, q in lines],
        "success_url": "http://localhost:5000/done?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost:5000/cart",
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params)


def rate_data(name="Standard post", amount=350, currency="gbp", **extra):
    """``shipping_rate_data`` (or ``POST /v1/shipping_rates`` params) for a fixed amount."""
    return {
        "type": "fixed_amount",
        "display_name": name,
        "fixed_amount": {"amount": amount, "currency": currency},
        **extra,
    }


def shipping_session(client, customer, lines, countries=("GB", "US"), options=None, **extra):
    """A payment session that collects an address in ``countries`` and offers ``options``."""
    if options is None:
        options = [
            {"shipping_rate_data": rate_data("Standard post", 350)},
            {"shipping_rate_data": rate_data("Next day", 900)},
        ]
    return session(
        client,
        customer,
        lines,
        shipping_address_collection={"allowed_countries": list(countries)},
        shipping_options=options,
        **extra,
    )


def types_since(emu, start: int) -> list[str]:
    """Event types after the first ``start`` events."""
    return [e["type"] for e in emu.events()[start:]]


# --- shapes ---------------------------------------------------------------------------------------


def test_every_object_has_the_fixture_shape_and_no_placeholders(client, emu, server):
    """Each object type the emulator returns, in its states, has exactly the fixture's keys."""
    customer, monthly, yearly, one_off = catalogue(client)
    objects = [raw(customer), raw(monthly), raw(one_off)]
    objects.append(raw(client.v1.products.retrieve(monthly.product)))

    pay = session(client, customer, [(one_off, 2)], payment_intent_data={"metadata": {"o": "1"}})
    objects.append(raw(pay))
    emu.pay(pay.id)
    done = client.v1.checkout.sessions.retrieve(pay.id, params={"expand": ["payment_intent"]})
    objects.append(raw(done))
    intent = client.v1.payment_intents.retrieve(done.payment_intent.id)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    objects += [raw(intent), raw(charge)]
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 100})
    objects += [raw(refund), raw(client.v1.charges.retrieve(charge.id))]

    sub_session = session(client, customer, [(monthly, 1), (one_off, 1)], mode="subscription")
    emu.pay(sub_session.id)
    expanded = client.v1.checkout.sessions.retrieve(
        sub_session.id, params={"expand": ["subscription", "invoice", "line_items"]}
    )
    objects.append(raw(expanded))
    items = raw(expanded)["line_items"]
    assert items["object"] == "list" and len(items["data"]) == 2
    objects += items["data"]
    objects += raw(client.v1.checkout.sessions.line_items.list(sub_session.id))["data"]
    sub_id = expanded.subscription.id
    objects.append(raw(client.v1.subscriptions.retrieve(sub_id)))
    objects += raw(client.v1.subscriptions.list(params={"customer": customer.id}))["data"]
    invoice = client.v1.invoices.retrieve(expanded.invoice.id)
    objects.append(raw(invoice))
    objects += raw(client.v1.invoice_payments.list(params={"invoice": invoice.id}))["data"]
    objects.append(raw(client.v1.billing_portal.sessions.create(params={"customer": customer.id})))

    client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    emu.renew(sub_id)
    failed = emu.fail_payment(sub_id)
    objects.append(raw(client.v1.invoices.retrieve(failed)))
    objects += raw(client.v1.invoice_payments.list(params={"invoice": failed}))["data"]
    objects.append(raw(client.v1.subscriptions.cancel(sub_id)))
    expired = session(client, customer, [(one_off, 1)])
    objects.append(raw(client.v1.checkout.sessions.expire(expired.id)))
    objects += raw(client.v1.events.list(params={"limit": 100}))["data"]

    rate = client.v1.shipping_rates.create(params=rate_data("Courier", 1200))
    shipped = shipping_session(
        client,
        customer,
        [(one_off, 1)],
        options=[{"shipping_rate_data": rate_data()}, {"shipping_rate": rate.id}],
    )
    objects.append(raw(shipped))
    emu.pay(shipped.id, shipping_rate=1)
    paid = client.v1.checkout.sessions.retrieve(
        shipped.id,
        params={"expand": ["shipping_cost.shipping_rate", "shipping_options.shipping_rate"]},
    )
    assert paid.shipping_cost.shipping_rate.id == rate.id
    objects += [raw(client.v1.checkout.sessions.retrieve(shipped.id)), raw(paid), raw(rate)]
    objects += raw(client.v1.shipping_rates.list())["data"]
    collecting = session(
        client,
        customer,
        [(monthly, 1)],
        mode="subscription",
        shipping_address_collection={"allowed_countries": ["GB"]},
    )
    emu.pay(collecting.id)
    objects.append(raw(client.v1.checkout.sessions.retrieve(collecting.id)))
    objects += raw(client.v1.events.list(params={"limit": 100}))["data"]

    seen = set()
    for obj in objects:
        check_object(obj)
        seen.add(obj["object"])
    for event in emu.events():
        check_object(event)
        seen.add(event["data"]["object"]["object"])
    assert seen >= {
        "customer",
        "product",
        "price",
        "checkout.session",
        "item",
        "billing_portal.session",
        "subscription",
        "invoice",
        "invoice_payment",
        "payment_intent",
        "charge",
        "refund",
        "shipping_rate",
        "event",
    }
    # Subscription items and invoice lines were checked inside their parents; once more alone.
    sub = emu.get(sub_id)
    check_object(sub["items"]["data"][0])
    check_object(emu.get(failed)["lines"]["data"][0])


# --- checkout: payment ----------------------------------------------------------------------------


def test_payment_checkout(client, emu, receiver):
    """A one-off purchase: amounts from stored prices, PaymentIntent and Charge, events."""
    customer, _, _, one_off = catalogue(client)
    book2 = client.v1.prices.create(
        params={"product": one_off.product, "unit_amount": 99, "currency": "gbp"}
    )
    s = session(
        client,
        customer,
        [(one_off, 2), (book2, 3)],
        client_reference_id="order-7",
        metadata={"order_id": "7"},
        payment_intent_data={"metadata": {"order_id": "7"}},
    )
    assert (s.amount_subtotal, s.amount_total, s.currency) == (2 * 1250 + 3 * 99,) * 2 + ("gbp",)
    assert (s.status, s.payment_status, s.mode) == ("open", "unpaid", "payment")
    assert s.url == f"{emu.base_url}/c/pay/{s.id}"
    assert s.id.startswith("cs_test_") and s.expires_at == s.created + 24 * 3600
    assert s.metadata.to_dict() == {"order_id": "7"} and s.client_reference_id == "order-7"

    start = len(emu.events())
    target = emu.pay(s.id)
    assert target == f"http://localhost:5000/done?session_id={s.id}"
    assert types_since(emu, start) == PAYMENT_EVENTS
    assert receiver.types()[-3:] == PAYMENT_EVENTS

    done = client.v1.checkout.sessions.retrieve(s.id)
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.customer_details.email == "reader@example.org"
    assert done.subscription is None and done.invoice is None and done.url is None
    intent = client.v1.payment_intents.retrieve(done.payment_intent)
    assert intent.id.startswith("pi_") and intent.status == "succeeded"
    assert (intent.amount, intent.amount_received, intent.currency) == (2797, 2797, "gbp")
    assert intent.customer == customer.id and intent.metadata.to_dict() == {"order_id": "7"}
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.id.startswith("ch_") and charge.payment_intent == intent.id
    assert charge.paid and charge.captured and charge.status == "succeeded"
    assert (charge.amount, charge.amount_refunded, charge.refunded) == (2797, 0, False)

    completed = emu.events("checkout.session.completed")[-1]
    assert completed["data"]["object"]["payment_intent"] == intent.id
    assert completed["data"]["object"]["status"] == "complete"


def test_line_items_list(client, emu):
    """GET /v1/checkout/sessions/{id}/line_items: product names, quantities, amounts."""
    customer, monthly, _, one_off = catalogue(client)
    s = session(client, customer, [(monthly, 1), (one_off, 2)], mode="subscription")
    items = client.v1.checkout.sessions.line_items.list(s.id)
    assert [(i.description, i.quantity, i.amount_total) for i in items.data] == [
        ("Supporter", 1, 500),
        ("Annual print edition", 2, 2500),
    ]
    assert items.data[0].price.id == monthly.id and items.data[0].id.startswith("li_")


# --- checkout: subscription -----------------------------------------------------------------------


def test_subscription_checkout(client, emu, receiver):
    """A subscription with a one-off line: sub, invoice, invoice payment, PI, charge, events."""
    customer, monthly, _, one_off = catalogue(client)
    s = session(
        client,
        customer,
        [(monthly, 1), (one_off, 1)],
        mode="subscription",
        subscription_data={"metadata": {"user_id": "7"}},
    )
    assert s.amount_total == 1750
    start = len(emu.events())
    before = int(time.time())
    emu.pay(s.id)
    after = int(time.time())
    assert types_since(emu, start) == SUBSCRIPTION_EVENTS
    assert receiver.types()[-len(SUBSCRIPTION_EVENTS) :] == SUBSCRIPTION_EVENTS

    done = client.v1.checkout.sessions.retrieve(s.id)
    assert (done.status, done.payment_status, done.payment_intent) == ("complete", "paid", None)
    sub = client.v1.subscriptions.retrieve(done.subscription)
    assert sub.id.startswith("sub_") and sub.status == "active" and sub.customer == customer.id
    assert sub.metadata.to_dict() == {"user_id": "7"} and sub.latest_invoice == done.invoice
    assert len(sub["items"].data) == 1
    item = sub["items"].data[0]
    assert item.id.startswith("si_") and item.price.id == monthly.id
    assert before <= item.current_period_start <= after
    assert item.current_period_end == add_interval(item.current_period_start, "month")

    invoice = client.v1.invoices.retrieve(done.invoice)
    assert invoice.id.startswith("in_") and invoice.status == "paid"
    assert invoice.billing_reason == "subscription_create"
    assert (invoice.amount_paid, invoice.amount_due, invoice.amount_remaining) == (1750, 1750, 0)
    assert invoice.parent.type == "subscription_details"
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.parent.subscription_details.metadata.to_dict() == {"user_id": "7"}
    assert invoice.customer == customer.id and invoice.number
    lines = invoice.lines.data
    assert [line.amount for line in lines] == [500, 1250]
    assert lines[0].parent.type == "subscription_item_details"
    assert lines[0].parent.subscription_item_details.subscription_item == item.id
    assert (lines[0].period.start, lines[0].period.end) == (
        item.current_period_start,
        item.current_period_end,
    )
    assert lines[1].parent.type == "invoice_item_details"
    assert lines[1].parent.invoice_item_details.subscription == sub.id

    payments = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    assert len(payments) == 1 and payments[0].id.startswith("inpay_")
    assert payments[0].status == "paid" and payments[0].amount_paid == 1750
    intent_id = payments[0].payment.payment_intent
    by_intent = client.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": intent_id}}
    ).data
    assert [p.id for p in by_intent] == [payments[0].id]
    assert client.v1.invoice_payments.retrieve(payments[0].id).invoice == invoice.id
    intent = client.v1.payment_intents.retrieve(intent_id)
    assert intent.status == "succeeded" and intent.amount == 1750
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.payment_intent == intent.id and charge.amount == 1750

    paid_event = emu.events("invoice.paid")[-1]
    assert paid_event["data"]["object"]["parent"]["subscription_details"]["subscription"] == sub.id
    created = emu.events("invoice.created")[-1]["data"]["object"]
    assert created["status"] == "draft"  # a snapshot of the moment, not of now
    expanded = client.v1.checkout.sessions.retrieve(
        s.id, params={"expand": ["subscription", "invoice"]}
    )
    assert expanded.subscription.id == sub.id and expanded.invoice.id == invoice.id


def test_yearly_subscription_period(client, emu):
    """A yearly price gives a one-year period on the item."""
    customer, _, yearly, _ = catalogue(client)
    s = session(client, customer, [(yearly, 1)], mode="subscription")
    emu.pay(s.id)
    item = emu.get(emu.get(s.id)["subscription"])["items"]["data"][0]
    assert item["current_period_end"] == add_interval(item["current_period_start"], "year")
    assert add_interval(1706659200, "month") == 1709164800  # 31 Jan 2024 -> 29 Feb 2024


def test_subscription_checkout_without_customer_creates_one(client, emu):
    """``customer_email`` instead of ``customer``: a customer is made at payment."""
    _, monthly, _, _ = catalogue(client)
    s = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer_email": "new@example.org",
            "line_items": [{"price": monthly.id, "quantity": 1}],
            "success_url": "http://localhost/ok",
        }
    )
    emu.pay(s.id)
    done = emu.get(s.id)
    assert done["customer"].startswith("cus_")
    assert emu.get(done["customer"])["email"] == "new@example.org"


# --- checkout: shipping ---------------------------------------------------------------------------


def test_shipping_rates_api(client, emu):
    """``/v1/shipping_rates``: create, retrieve, list (newest first, filters), errors."""
    first = client.v1.shipping_rates.create(
        params=rate_data("Standard post", 350, metadata={"shipping_rate_id": "3"})
    )
    assert first.id.startswith("shr_") and first.object == "shipping_rate"
    assert (first.active, first.type, first.tax_behavior) == (True, "fixed_amount", "unspecified")
    assert (first.tax_code, first.delivery_estimate, first.livemode) == (None, None, False)
    assert first.fixed_amount.to_dict() == {"amount": 350, "currency": "gbp"}
    assert first.metadata.to_dict() == {"shipping_rate_id": "3"}
    assert abs(first.created - time.time()) < 5
    second = client.v1.shipping_rates.create(
        params={"display_name": "Free post", "fixed_amount": {"amount": 0, "currency": "EUR"}}
    )
    assert second.type == "fixed_amount" and second.fixed_amount.to_dict() == {
        "amount": 0,
        "currency": "eur",
    }
    assert raw(client.v1.shipping_rates.retrieve(first.id)) == raw(first)
    assert [r.id for r in client.v1.shipping_rates.list().data] == [second.id, first.id]
    listed = client.v1.shipping_rates.list(params={"currency": "gbp", "active": True})
    assert [r.id for r in listed.data] == [first.id]
    page = client.v1.shipping_rates.list(params={"limit": 1})
    assert page.has_more and page.url == "/v1/shipping_rates"
    assert [r.id for r in page.auto_paging_iter()] == [second.id, first.id]
    assert emu.events() == []  # Stripe sends no events for shipping rates

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.shipping_rates.retrieve("shr_missing")
    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")
    for params, param in (
        ({"fixed_amount": {"amount": 1, "currency": "gbp"}}, "display_name"),
        ({"display_name": "Post"}, "fixed_amount"),
        (rate_data(amount=-1), "fixed_amount[amount]"),
        (rate_data(currency="pounds"), "fixed_amount[currency]"),
        ({**rate_data(), "type": "calculated"}, "type"),
        ({**rate_data(), "rate": "cheap"}, "rate"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.shipping_rates.create(params=params)
        assert (caught.value.param, caught.value.http_status) == (param, 400)
    assert len(client.v1.shipping_rates.list().data) == 2

    customer, _, _, one_off = catalogue(client)
    stored = session(
        client, customer, [(one_off, 1)], shipping_options=[{"shipping_rate": first.id}]
    )
    assert raw(stored)["shipping_options"] == [{"shipping_amount": 350, "shipping_rate": first.id}]
    assert len(client.v1.shipping_rates.list().data) == 2  # an existing rate is not copied


@pytest.mark.parametrize(
    ("case", "param"),
    [
        ("unsupported country", "shipping_address_collection[allowed_countries][1]"),
        ("lower-case country", "shipping_address_collection[allowed_countries][0]"),
        ("three-letter country", "shipping_address_collection[allowed_countries][0]"),
        ("unknown country", "shipping_address_collection[allowed_countries][0]"),
        ("no countries", "shipping_address_collection[allowed_countries]"),
        ("six options", "shipping_options"),
        ("rate and rate data", "shipping_options[0]"),
        ("neither rate nor rate data", "shipping_options[0]"),
        ("currency mismatch", "shipping_options[0][shipping_rate_data][fixed_amount][currency]"),
        ("stored rate in another currency", "shipping_options[1][shipping_rate]"),
        ("unknown stored rate", "shipping_options[0][shipping_rate]"),
        ("negative amount", "shipping_options[0][shipping_rate_data][fixed_amount][amount]"),
        ("no display name", "shipping_options[0][shipping_rate_data][display_name]"),
        ("not a fixed amount", "shipping_options[0][shipping_rate_data][type]"),
        ("options in subscription mode", "shipping_options"),
    ],
)
def test_shipping_validation(client, emu, case, param):
    """Bad shipping parameters: a 400 naming the parameter; no session and no rate made."""
    customer, monthly, _, one_off = catalogue(client)
    euro = client.v1.shipping_rates.create(params=rate_data("Europe", 500, "eur"))
    mode, lines = "payment", [(one_off, 1)]
    countries = ["GB", "US"]
    options = [{"shipping_rate_data": rate_data()}]
    if case == "unsupported country":
        countries = ["GB", "CU"]
    elif case == "lower-case country":
        countries = ["gb"]
    elif case == "three-letter country":
        countries = ["GBR"]
    elif case == "unknown country":
        countries = ["QQ"]
    elif case == "no countries":
        countries = ""
    elif case == "six options":
        options = [{"shipping_rate_data": rate_data(f"Rate {i}", i)} for i in range(6)]
    elif case == "rate and rate data":
        options = [{"shipping_rate": euro.id, "shipping_rate_data": rate_data()}]
    elif case == "neither rate nor rate data":
        options = [{"shipping_rate": ""}]
    elif case == "currency mismatch":
        options = [{"shipping_rate_data": rate_data(currency="usd")}]
    elif case == "stored rate in another currency":
        options = [{"shipping_rate_data": rate_data()}, {"shipping_rate": euro.id}]
    elif case == "unknown stored rate":
        options = [{"shipping_rate": "shr_missing"}]
    elif case == "negative amount":
        options = [{"shipping_rate_data": rate_data(amount=-1)}]
    elif case == "no display name":
        options = [{"shipping_rate_data": rate_data(name="")}]
    elif case == "not a fixed amount":
        options = [{"shipping_rate_data": {**rate_data(), "type": "calculated"}}]
    elif case == "options in subscription mode":
        mode, lines = "subscription", [(monthly, 1)]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        session(
            client,
            customer,
            lines,
            mode=mode,
            shipping_address_collection={"allowed_countries": countries},
            shipping_options=options,
        )
    assert (caught.value.param, caught.value.http_status) == (param, 400)
    assert caught.value.json_body["error"]["type"] == "invalid_request_error"
    assert client.v1.checkout.sessions.list().data == []
    assert [rate.id for rate in client.v1.shipping_rates.list().data] == [euro.id]


# Not in Stripe's allowed_countries: ISO countries Checkout cannot ship to.
STRIPE_DOES_NOT_SHIP_TO = ("AS", "CX", "CC", "CU", "HM", "IR", "KP", "MH", "FM", "NF",
                           "MP", "PW", "SY", "UM", "VI")  # fmt: skip


def test_the_countries_are_stripes():
    """The emulator's countries are exactly the ``stripe`` library's allowed_countries."""
    hints = typing.get_type_hints(SessionCreateParamsShippingAddressCollection)
    literal = typing.get_args(typing.get_args(hints["allowed_countries"])[0])[0]
    assert list(SHIPPING_COUNTRIES) == list(typing.get_args(literal))
    assert sorted(UNSUPPORTED_COUNTRIES) == sorted(STRIPE_DOES_NOT_SHIP_TO)
    assert not set(SHIPPING_COUNTRIES) & set(UNSUPPORTED_COUNTRIES)
    names = {**SHIPPING_COUNTRIES, **UNSUPPORTED_COUNTRIES}
    assert all(name and name != code for code, name in names.items())
    assert len(set(names.values())) == len(names)


def test_countries_stripe_does_not_ship_to_are_refused(client, emu):
    """Each country Stripe cannot ship to is refused by name; the others are accepted."""
    customer, _, _, one_off = catalogue(client)
    for code in STRIPE_DOES_NOT_SHIP_TO:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            session(
                client,
                customer,
                [(one_off, 1)],
                shipping_address_collection={"allowed_countries": [code]},
            )
        assert caught.value.param == "shipping_address_collection[allowed_countries][0]", code
        assert f"({code})" in caught.value.user_message
    accepted = ["AC", "TA", "XK", "ZZ", "GB", "US", "FR", "JP"]
    s = session(
        client,
        customer,
        [(one_off, 1)],
        shipping_address_collection={"allowed_countries": accepted},
    )
    assert s.shipping_address_collection.allowed_countries == accepted


ADDRESS = {
    "name": "Ada Reader",
    "line1": "12 Fleet Street",
    "line2": "Flat 3",
    "city": "London",
    "state": "",
    "postal_code": "EC4Y 1AA",
    "country": "GB",
}
STORED_ADDRESS = {
    "line1": "12 Fleet Street",
    "line2": "Flat 3",
    "city": "London",
    "state": None,  # left empty: Stripe answers null
    "postal_code": "EC4Y 1AA",
    "country": "GB",
}
NO_RATE = {"amount_subtotal": 0, "amount_tax": 0, "amount_total": 0, "shipping_rate": None}


def test_shipping_checkout(client, emu, receiver):
    """Address and rate: on the completed event and on retrieve; total and charge include it."""
    customer, _, _, one_off = catalogue(client)
    s = shipping_session(
        client,
        customer,
        [(one_off, 2)],
        options=[
            {"shipping_rate_data": rate_data("Standard post", 350)},
            {"shipping_rate_data": rate_data("Next day", 900, metadata={"shipping_rate_id": "3"})},
        ],
    )
    assert raw(s)["shipping_address_collection"] == {"allowed_countries": ["GB", "US"]}
    options = raw(s)["shipping_options"]
    assert [option["shipping_amount"] for option in options] == [350, 900]
    assert all(option["shipping_rate"].startswith("shr_") for option in options)
    assert (s.amount_subtotal, s.amount_total, s.shipping_cost) == (2500, 2500, None)
    assert s.collected_information is None and s.total_details.amount_shipping == 0
    next_day = client.v1.shipping_rates.retrieve(options[1]["shipping_rate"])
    assert (next_day.display_name, next_day.fixed_amount.amount) == ("Next day", 900)
    assert next_day.metadata.to_dict() == {"shipping_rate_id": "3"}

    start = len(emu.events())
    emu.pay(s.id, shipping=ADDRESS, shipping_rate=next_day.id)
    assert types_since(emu, start) == PAYMENT_EVENTS
    delivered = receiver.received[-1]  # the webhook as the app receives it
    assert delivered["type"] == "checkout.session.completed" and delivered["verified"]
    done = client.v1.checkout.sessions.retrieve(s.id)
    for answer in (json.loads(delivered["body"])["data"]["object"], raw(done)):
        assert answer["collected_information"] == {
            "shipping_details": {"name": "Ada Reader", "address": STORED_ADDRESS},
            "business_name": None,
            "individual_name": None,
        }
        assert answer["shipping_cost"] == {
            "amount_subtotal": 900,
            "amount_tax": 0,
            "amount_total": 900,
            "shipping_rate": next_day.id,
        }
        assert answer["total_details"]["amount_shipping"] == 900
        assert (answer["amount_subtotal"], answer["amount_total"]) == (2500, 3400)
    intent = client.v1.payment_intents.retrieve(done.payment_intent)
    assert (intent.amount, intent.amount_received) == (3400, 3400)
    assert client.v1.charges.retrieve(intent.latest_charge).amount == 3400
    # What the app reads, through the library.
    assert done.collected_information.shipping_details.address.postal_code == "EC4Y 1AA"
    rate = client.v1.shipping_rates.retrieve(done.shipping_cost.shipping_rate)
    assert rate.display_name == "Next day"


def test_shipping_with_a_delayed_payment(client, emu):
    """Bank debit: the completed event carries the shipping; settling charges the new total."""
    customer, _, _, one_off = catalogue(client)
    s = shipping_session(client, customer, [(one_off, 1)])
    emu.pay(s.id, "delayed", shipping=ADDRESS, shipping_rate=0)
    completed = emu.events("checkout.session.completed")[-1]["data"]["object"]
    assert completed["payment_status"] == "unpaid"
    assert completed["shipping_cost"]["amount_total"] == 350 and completed["amount_total"] == 1600
    assert completed["collected_information"]["shipping_details"]["name"] == "Ada Reader"
    emu.settle_async(s.id)
    assert emu.get(emu.get(s.id)["payment_intent"])["amount"] == 1600


def test_pay_without_an_address_uses_a_test_one(client, emu):
    """The control API with no address: a test one in the first allowed country, first rate."""
    customer, _, _, one_off = catalogue(client)
    s = shipping_session(client, customer, [(one_off, 1)], countries=("US", "GB"))
    assert emu.pay(s.id) == f"http://localhost:5000/done?session_id={s.id}"
    done = emu.get(s.id)
    assert done["collected_information"]["shipping_details"] == {
        "name": "Nina Reader",
        "address": {
            "line1": "1 Test Street",
            "line2": None,
            "city": "Springfield",
            "state": None,
            "postal_code": "12345",
            "country": "US",
        },
    }
    assert done["shipping_cost"]["shipping_rate"] == done["shipping_options"][0]["shipping_rate"]
    assert (done["shipping_cost"]["amount_total"], done["amount_total"]) == (350, 1600)

    by_index = shipping_session(client, customer, [(one_off, 1)])
    emu.pay(by_index.id, shipping={**ADDRESS, "country": "US", "state": "NY"}, shipping_rate=1)
    done = emu.get(by_index.id)
    assert done["shipping_cost"]["amount_total"] == 900 and done["amount_total"] == 2150
    address = done["collected_information"]["shipping_details"]["address"]
    assert (address["country"], address["state"]) == ("US", "NY")

    plain = session(client, customer, [(one_off, 1)])
    emu.pay(plain.id)
    done = emu.get(plain.id)
    assert (done["collected_information"], done["shipping_cost"]) == (None, None)
    assert done["amount_total"] == 1250 and done["total_details"]["amount_shipping"] == 0


def test_address_collection_without_rates_in_subscription_mode(client, emu):
    """An address alone is allowed in subscription mode: collected, nothing charged for it."""
    customer, monthly, _, _ = catalogue(client)
    s = session(
        client,
        customer,
        [(monthly, 1)],
        mode="subscription",
        shipping_address_collection={"allowed_countries": ["GB"]},
    )
    assert raw(s)["shipping_options"] == []
    emu.pay(s.id, shipping=ADDRESS)
    done = emu.get(s.id)
    assert done["collected_information"]["shipping_details"]["address"] == STORED_ADDRESS
    assert done["shipping_cost"] == NO_RATE and done["total_details"]["amount_shipping"] == 0
    assert done["amount_total"] == 500
    assert emu.get(done["invoice"])["amount_paid"] == 500


@pytest.mark.parametrize(
    ("shipping", "shipping_rate", "param"),
    [
        ({**ADDRESS, "country": "FR"}, None, "shipping[country]"),
        ({**ADDRESS, "city": "  "}, None, "shipping[city]"),
        ({"name": "Ada Reader", "country": "GB"}, None, "shipping[line1]"),
        ({**ADDRESS, "county": "Kent"}, None, "shipping[county]"),
        ({**ADDRESS, "postal_code": 12345}, None, "shipping[postal_code]"),
        ("12 Fleet Street", None, "shipping"),
        (None, 2, "shipping_rate"),
        (None, -1, "shipping_rate"),
        (None, "shr_nope", "shipping_rate"),
        (None, True, "shipping_rate"),
    ],
)
def test_pay_refuses_a_bad_address_or_rate(client, emu, shipping, shipping_rate, param):
    """A country not allowed, a missing field, a rate not offered: EmulatorError, nothing done."""
    customer, _, _, one_off = catalogue(client)
    s = shipping_session(client, customer, [(one_off, 1)])
    start = len(emu.events())
    for action in ("pay", "decline"):
        with pytest.raises(EmulatorError) as caught:
            emu.pay(s.id, action, shipping=shipping, shipping_rate=shipping_rate)
        assert caught.value.param == param
    if param == "shipping[country]":
        assert "France" in caught.value.message and "United Kingdom" in caught.value.message
    assert types_since(emu, start) == []
    left = emu.get(s.id)
    assert left["status"] == "open" and left["collected_information"] is None
    assert left["shipping_cost"] is None and left["amount_total"] == 1250


def test_pay_refuses_shipping_a_session_does_not_ask_for(client, emu):
    """No address collection: no address; no shipping options: no rate."""
    customer, _, _, one_off = catalogue(client)
    plain = session(client, customer, [(one_off, 1)])
    with pytest.raises(EmulatorError) as caught:
        emu.pay(plain.id, shipping=ADDRESS)
    assert caught.value.param == "shipping"
    with pytest.raises(EmulatorError) as caught:
        emu.pay(plain.id, shipping_rate=0)
    assert caught.value.param == "shipping_rate"
    assert emu.get(plain.id)["status"] == "open"


def test_control_pay_passes_shipping_through(client, emu, server):
    """``POST /_emulator/pay`` takes ``shipping`` and ``shipping_rate`` as the method does."""
    customer, _, _, one_off = catalogue(client)
    s = shipping_session(client, customer, [(one_off, 1)])
    json_headers = {"Content-Type": "application/json"}
    refused = {"session_id": s.id, "shipping": {**ADDRESS, "country": "FR"}}
    status, _, body = _get(server, "/_emulator/pay", json_headers, "POST", json.dumps(refused))
    assert status == 400 and json.loads(body)["error"]["param"] == "shipping[country]"
    assert emu.get(s.id)["status"] == "open"
    paid = {"session_id": s.id, "shipping": ADDRESS, "shipping_rate": 1}
    status, _, body = _get(server, "/_emulator/pay", json_headers, "POST", json.dumps(paid))
    assert status == 200 and json.loads(body)["redirect_url"].endswith(s.id)
    done = emu.get(s.id)
    assert done["collected_information"]["shipping_details"]["address"] == STORED_ADDRESS
    assert done["shipping_cost"]["amount_total"] == 900 and done["amount_total"] == 2150


class _FormParser(HTMLParser):
    """The controls, labels, options and legends of a hosted page's form."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict] = []
        self.labels: list[str] = []
        self.options: list[dict] = []
        self.legends: list[str] = []
        self._text: list[str] | None = None
        self._option: dict | None = None

    def handle_starttag(self, tag, attrs):
        """Record inputs, selects, labels' targets, options; start collecting text."""
        attributes = dict(attrs)
        if tag in ("input", "select") and attributes.get("type") != "hidden":
            self.controls.append(attributes | {"tag": tag})
        elif tag == "label":
            self.labels.append(attributes.get("for"))
        elif tag == "option":
            self._option = attributes
            self._text = []
        elif tag == "legend":
            self._text = []

    def handle_data(self, data):
        """Text inside an option or a legend."""
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        """The end of an option or a legend."""
        if tag == "option" and self._option is not None:
            self.options.append(self._option | {"text": "".join(self._text or [])})
            self._option, self._text = None, None
        elif tag == "legend":
            self.legends.append("".join(self._text or []))
            self._text = None

    def value(self, name: str) -> str | None:
        """The value a text field shows."""
        return next(c.get("value") for c in self.controls if c.get("name") == name)

    def flagged(self) -> set[str]:
        """The names of the controls marked invalid."""
        return {c["name"] for c in self.controls if c.get("aria-invalid") == "true"}


def _parse(page: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(page)
    return parser


def _post_form(server, path, fields):
    return _get(
        server,
        path,
        {"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
        body=urlencode(fields),
    )


def test_hosted_checkout_collects_the_address_and_rate(client, emu, server):
    """The page asks for the address (labelled) and a rate; mistakes keep what was typed."""
    customer, _, _, one_off = catalogue(client)
    s = shipping_session(client, customer, [(one_off, 2)], countries=("US", "GB", "FR"))
    rates = [option["shipping_rate"] for option in raw(s)["shipping_options"]]
    path = urlsplit(s.url).path
    status, _, body = _get(server, path)
    page = body.decode()
    assert status == 200 and "<script" not in page
    form = _parse(page)
    assert form.legends == ["Shipping address", "Shipping rate"]
    ids = [control["id"] for control in form.controls]
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(form.labels)  # each labelled
    required = {control["name"] for control in form.controls if "required" in control}
    assert required == {
        "shipping_name",
        "shipping_line1",
        "shipping_city",
        "shipping_postal_code",
        "shipping_country",
    }
    assert [(o["value"], o["text"]) for o in form.options] == [
        ("US", "United States"),
        ("GB", "United Kingdom"),
        ("FR", "France"),
    ]
    radios = [(c["value"], "checked" in c) for c in form.controls if c.get("type") == "radio"]
    assert radios == [(rates[0], True), (rates[1], False)]
    assert "Standard post: £3.50" in page and "(total £28.50)" in page
    assert "Next day: £9.00" in page and "(total £34.00)" in page
    for button in ("Pay", "Pay with a card that is declined", "Pay by bank debit (settles later)"):
        assert f">{button}</button>" in page

    start = len(emu.events())
    typed = {
        "action": "pay",
        "shipping_name": "Ada Reader",
        "shipping_line1": "",
        "shipping_line2": "Flat 3",
        "shipping_city": " ",
        "shipping_state": "",
        "shipping_postal_code": "EC4Y 1AA",
        "shipping_country": "GB",
        "shipping_rate": rates[1],
    }
    status, _, body = _post_form(server, path, typed)
    page = body.decode()
    assert status == 400 and "Missing from the shipping address: address line 1, city." in page
    form = _parse(page)
    assert form.value("shipping_name") == "Ada Reader" and form.value("shipping_line2") == "Flat 3"
    assert form.value("shipping_postal_code") == "EC4Y 1AA"
    assert [o["value"] for o in form.options if "selected" in o] == ["GB"]
    radios = [(c["value"], "checked" in c) for c in form.controls if c.get("type") == "radio"]
    assert radios == [(rates[0], False), (rates[1], True)]
    assert form.flagged() == {"shipping_line1", "shipping_city"}
    assert types_since(emu, start) == [] and emu.get(s.id)["status"] == "open"

    filled = typed | {"shipping_line1": "12 Fleet Street", "shipping_city": "London"}
    status, _, body = _post_form(server, path, filled | {"shipping_country": "DE"})
    page = body.decode()
    assert status == 400 and "does not ship to Germany" in page
    assert _parse(page).flagged() == {"shipping_country"}
    status, _, body = _post_form(server, path, filled | {"action": "decline"})
    assert status == 200 and "Your card was declined." in body.decode()
    assert _parse(body.decode()).value("shipping_line1") == "12 Fleet Street"
    assert types_since(emu, start) == [] and emu.get(s.id)["status"] == "open"

    status, headers, _ = _post_form(server, path, filled)
    assert status == 303
    assert headers["Location"] == f"http://localhost:5000/done?session_id={s.id}"
    done = emu.get(s.id)
    assert done["collected_information"]["shipping_details"] == {
        "name": "Ada Reader",
        "address": STORED_ADDRESS,
    }
    assert done["shipping_cost"]["shipping_rate"] == rates[1] and done["amount_total"] == 3400
    assert types_since(emu, start) == PAYMENT_EVENTS
    page = _get(server, path)[2].decode()
    assert "Shipping to Ada Reader, 12 Fleet Street, Flat 3, London, EC4Y 1AA, United Kingdom." in (
        page
    )
    assert "£9.00" in page and "£34.00" in page and ">Pay</button>" not in page


def test_hosted_checkout_without_rates_asks_only_for_the_address(client, emu, server):
    """Address collection alone: the fieldset, no rates; a blank form is refused."""
    customer, _, _, one_off = catalogue(client)
    s = session(
        client, customer, [(one_off, 1)], shipping_address_collection={"allowed_countries": ["GB"]}
    )
    path = urlsplit(s.url).path
    form = _parse(_get(server, path)[2].decode())
    assert form.legends == ["Shipping address"]
    assert not [c for c in form.controls if c.get("type") == "radio"]
    status, _, body = _post_form(server, path, {"action": "pay"})
    assert status == 400
    assert "full name, address line 1, city, postal code, country" in body.decode()
    assert emu.get(s.id)["status"] == "open"
    fields = {f"shipping_{key}": value for key, value in ADDRESS.items()}
    status, _, _ = _post_form(server, path, {"action": "pay", **fields})
    assert status == 303
    assert emu.get(s.id)["shipping_cost"] == NO_RATE and emu.get(s.id)["amount_total"] == 1250


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "param"),
    [
        ("unknown price", "line_items[0][price]"),
        ("unknown customer", "customer"),
        ("inactive price", "line_items[0][price]"),
        ("mixed currencies", "line_items"),
        ("recurring in payment mode", "line_items[0][price]"),
        ("no recurring in subscription mode", "line_items"),
        ("zero quantity", "line_items[0][quantity]"),
        ("no success_url", "success_url"),
        ("unknown parameter", "line_item"),
    ],
)
def test_checkout_validation(client, emu, case, param):
    """Bad sessions raise stripe.InvalidRequestError naming the parameter."""
    customer, monthly, _, one_off = catalogue(client)
    params = {
        "mode": "payment",
        "customer": customer.id,
        "line_items": [{"price": one_off.id, "quantity": 1}],
        "success_url": "http://localhost/ok",
    }
    if case == "unknown price":
        params["line_items"] = [{"price": "price_nope", "quantity": 1}]
    elif case == "unknown customer":
        params["customer"] = "cus_nope"
    elif case == "inactive price":
        client.v1.prices.update(one_off.id, params={"active": False})
    elif case == "mixed currencies":
        euro = client.v1.prices.create(
            params={"product": one_off.product, "unit_amount": 100, "currency": "eur"}
        )
        params["line_items"].append({"price": euro.id, "quantity": 1})
    elif case == "recurring in payment mode":
        params["line_items"] = [{"price": monthly.id, "quantity": 1}]
    elif case == "no recurring in subscription mode":
        params["mode"] = "subscription"
    elif case == "zero quantity":
        params["line_items"][0]["quantity"] = 0
    elif case == "no success_url":
        del params["success_url"]
    elif case == "unknown parameter":
        params["line_item"] = params.pop("line_items")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=params)
    assert caught.value.param == param
    assert caught.value.http_status == 400
    assert caught.value.json_body["error"]["type"] == "invalid_request_error"
    if case.startswith("unknown ") and case != "unknown parameter":
        assert caught.value.code == "resource_missing"
    assert client.v1.checkout.sessions.list().data == []


def test_unknown_ids_are_404(client, emu):
    """Retrieving an unknown id: 404 resource_missing."""
    for call in (
        lambda: client.v1.customers.retrieve("cus_missing"),
        lambda: client.v1.checkout.sessions.retrieve("cs_test_missing"),
        lambda: client.v1.subscriptions.retrieve("sub_missing"),
        lambda: client.v1.events.retrieve("evt_missing"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            call()
        assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")


def test_products_prices_customers(client, emu):
    """Create, retrieve, update, list; prices keep their amounts."""
    customer, monthly, _, one_off = catalogue(client)
    updated = client.v1.customers.update(
        customer.id, params={"name": "Ada L.", "metadata": {"user_id": "", "tier": "gold"}}
    )
    assert updated.name == "Ada L." and updated.metadata.to_dict() == {"tier": "gold"}
    assert client.v1.customers.retrieve(customer.id).email == "reader@example.org"
    assert emu.events("customer.updated")[-1]["data"]["previous_attributes"]["name"] == "Ada Reader"

    product = client.v1.products.update(
        monthly.product, params={"description": "Monthly support", "active": False}
    )
    assert (product.description, product.active) == ("Monthly support", False)
    assert [p.id for p in client.v1.products.list(params={"active": True}).data] == [
        one_off.product
    ]

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.prices.update(monthly.id, params={"unit_amount": 1})
    assert caught.value.param == "unit_amount"
    price = client.v1.prices.update(
        monthly.id, params={"nickname": "Monthly", "active": False, "metadata": {"k": "v"}}
    )
    assert (price.nickname, price.active, price.unit_amount) == ("Monthly", False, 500)
    assert price.recurring.interval == "month" and price.type == "recurring"
    assert one_off.recurring is None and one_off.type == "one_time"
    listed = client.v1.prices.list(params={"product": monthly.product, "active": False}).data
    assert [p.id for p in listed] == [monthly.id]

    for params, param in (
        ({"product": "prod_nope", "unit_amount": 1, "currency": "gbp"}, "product"),
        ({"product": monthly.product, "unit_amount": -1, "currency": "gbp"}, "unit_amount"),
        ({"product": monthly.product, "unit_amount": 1, "currency": "pounds"}, "currency"),
        (
            {
                "product": monthly.product,
                "unit_amount": 1,
                "currency": "gbp",
                "recurring": {"interval": "fortnight"},
            },
            "recurring[interval]",
        ),
    ):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.prices.create(params=params)
        assert caught.value.param == param


def test_list_pagination(client, emu):
    """Lists: newest first, ``limit``, ``has_more``, auto-paging with ``starting_after``."""
    ids = [client.v1.customers.create(params={"name": f"C{i}"}).id for i in range(3)]
    page = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in page.data] == ids[::-1][:2] and page.has_more
    assert page.url == "/v1/customers" and raw(page)["object"] == "list"
    assert [c.id for c in page.auto_paging_iter()] == ids[::-1]


# --- idempotency and keys -------------------------------------------------------------------------


def test_idempotency(client, emu):
    """Same key and params: the same answer, nothing new; other params: idempotency_error."""
    params = {"email": "same@example.org"}
    first = client.v1.customers.create(params=params, options={"idempotency_key": "key-1"})
    events = len(emu.events())
    again = client.v1.customers.create(params=params, options={"idempotency_key": "key-1"})
    assert again.id == first.id and raw(again) == raw(first)
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(emu.events()) == events
    assert len(client.v1.customers.list().data) == 1
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.customers.create(
            params={"email": "other@example.org"}, options={"idempotency_key": "key-1"}
        )
    assert caught.value.http_status == 400
    assert caught.value.json_body["error"]["type"] == "idempotency_error"
    assert "same parameters" in caught.value.json_body["error"]["message"]


def _get(server, path, headers=None, method="GET", body=None):
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), data


def test_api_keys(server, emu):
    """No key: 401 in Stripe's format; a live key is refused; so is a key of another kind."""
    status, _, body = _get(server, "/v1/customers")
    assert status == 401
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    live = stripe.StripeClient(
        "sk_live_" + "x" * 24, base_addresses={"api": server.url}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError, match="never runs with a live key"):
        live.v1.customers.list()
    publishable = stripe.StripeClient("pk_test_x", base_addresses={"api": server.url})
    with pytest.raises(stripe.AuthenticationError):
        publishable.v1.customers.list()
    status, _, body = _get(server, "/v1/nothing", {"Authorization": f"Bearer {KEY}"})
    assert status == 404 and "Unrecognized request URL" in json.loads(body)["error"]["message"]


# --- expire, refunds ------------------------------------------------------------------------------


def test_expire(client, emu):
    """Expire an open session once; then it cannot be paid or expired again."""
    customer, _, _, one_off = catalogue(client)
    s = session(client, customer, [(one_off, 1)])
    expired = client.v1.checkout.sessions.expire(s.id)
    assert (expired.status, expired.url) == ("expired", None)
    assert emu.events()[-1]["type"] == "checkout.session.expired"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(s.id)
    with pytest.raises(EmulatorError):
        emu.pay(s.id)
    other = session(client, customer, [(one_off, 1)])
    assert emu.expire(other.id)["status"] == "expired"


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (29 * 60, False),
        (30 * 60 + 5, True),
        (45 * 60, True),
        (24 * 3600 - 5, True),
        (25 * 3600, False),
    ],
)
def test_expires_at_is_checked_as_stripe_checks_it(client, emu, offset, accepted):
    """``expires_at`` must be 30 minutes to 24 hours ahead; it is answered as given."""
    customer, _, _, one_off = catalogue(client)
    expires_at = int(time.time()) + offset
    if not accepted:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            session(client, customer, [(one_off, 1)], expires_at=expires_at)
        assert caught.value.param == "expires_at"
        assert client.v1.checkout.sessions.list().data == []
        return
    s = session(client, customer, [(one_off, 1)], expires_at=expires_at)
    assert s.expires_at == expires_at and s.status == "open"


def test_expire_due_ends_the_sessions_whose_time_has_passed(client, emu, receiver):
    """Stripe's own expiry, when asked: open sessions past ``expires_at``, with their events."""
    customer, _, _, one_off = catalogue(client)
    now = int(time.time())
    short = session(client, customer, [(one_off, 1)], expires_at=now + 31 * 60)
    longer = session(client, customer, [(one_off, 1)], expires_at=now + 50 * 60)
    paid = session(client, customer, [(one_off, 1)], expires_at=now + 31 * 60)
    emu.pay(paid.id)
    start = len(emu.events())

    assert emu.expire_due(now=now + 30 * 60) == []
    assert emu.expire_due(now=now + 40 * 60) == [short.id]
    assert client.v1.checkout.sessions.retrieve(short.id).status == "expired"
    assert client.v1.checkout.sessions.retrieve(longer.id).status == "open"
    assert client.v1.checkout.sessions.retrieve(paid.id).status == "complete"
    assert types_since(emu, start) == ["checkout.session.expired"]
    assert receiver.types()[-1] == "checkout.session.expired"
    with pytest.raises(EmulatorError):
        emu.pay(short.id)
    assert emu.expire_due(now=now + 24 * 3600) == [longer.id]
    assert emu.expire_due(now=now + 24 * 3600) == []  # twice is harmless


def test_fail_requests_simulates_stripe_down(client, emu):
    """Matching API requests fail with a 5xx ``api_error``; others and the count are honoured."""
    customer, _, _, one_off = catalogue(client)
    s = session(client, customer, [(one_off, 1)])
    emu.fail_requests("/v1/checkout/sessions/*/expire", method="POST", status=503, times=1)
    with pytest.raises(stripe.APIError) as caught:
        client.v1.checkout.sessions.expire(s.id)
    assert caught.value.http_status == 503
    assert caught.value.json_body["error"]["type"] == "api_error"
    assert client.v1.checkout.sessions.retrieve(s.id).status == "open"  # nothing changed
    assert client.v1.checkout.sessions.expire(s.id).status == "expired"  # one time only

    emu.fail_requests()  # everything, until cleared
    with pytest.raises(stripe.APIError):
        client.v1.customers.list()
    with pytest.raises(stripe.APIError):
        client.v1.customers.create(params={"email": "x@example.org"})
    emu.clear_faults()
    assert client.v1.customers.list().data
    emu.fail_requests()
    emu.reset()  # forgets the faults with the rest
    assert client.v1.customers.list().data == []
    with pytest.raises(ValueError):
        emu.fail_requests(status=404)


def test_refunds(client, emu):
    """A partial refund, then the rest; then nothing is left."""
    customer, _, _, one_off = catalogue(client)
    s = session(client, customer, [(one_off, 2)])
    emu.pay(s.id)
    intent_id = emu.get(s.id)["payment_intent"]
    charge_id = emu.get(intent_id)["latest_charge"]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 2501})
    assert caught.value.param == "amount"
    part = client.v1.refunds.create(
        params={"payment_intent": intent_id, "amount": 1000, "reason": "requested_by_customer"}
    )
    assert part.id.startswith("re_") and (part.amount, part.charge) == (1000, charge_id)
    assert (part.status, part.currency, part.payment_intent) == ("succeeded", "gbp", intent_id)
    charge = client.v1.charges.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (1000, False)
    event = emu.events("charge.refunded")[-1]
    assert event["data"]["object"]["id"] == charge_id
    assert event["data"]["object"]["amount_refunded"] == 1000
    assert event["data"]["previous_attributes"]["amount_refunded"] == 0

    rest = client.v1.refunds.create(params={"charge": charge_id})
    assert rest.amount == 1500
    charge = client.v1.charges.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (2500, True)
    assert [r.id for r in charge.refunds.data] == [rest.id, part.id]
    assert len(emu.events("charge.refunded")) == 2
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"charge": charge_id})
    assert caught.value.code == "charge_already_refunded"


# --- subscriptions over time ----------------------------------------------------------------------


def _subscribe(client, emu, interval="month"):
    customer, monthly, yearly, _ = catalogue(client)
    s = session(client, customer, [(monthly if interval == "month" else yearly, 1)], "subscription")
    emu.pay(s.id)
    return customer, emu.get(s.id)["subscription"]


def test_renew_and_fail_payment(client, emu):
    """``renew``: next period, paid cycle invoice; ``fail_payment``: open invoice, past_due."""
    customer, sub_id = _subscribe(client, emu)
    first = emu.get(sub_id)["items"]["data"][0]
    start = len(emu.events())
    invoice_id = emu.renew(sub_id)
    assert types_since(emu, start) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "payment_intent.succeeded",
        "charge.succeeded",
        "customer.subscription.updated",
    ]
    sub = client.v1.subscriptions.retrieve(sub_id)
    item = sub["items"].data[0]
    assert item.current_period_start == first["current_period_end"]
    assert item.current_period_end == add_interval(first["current_period_end"], "month")
    assert sub.latest_invoice == invoice_id and sub.status == "active"
    invoice = client.v1.invoices.retrieve(invoice_id)
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == (
        "subscription_cycle",
        "paid",
        500,
    )
    assert invoice.parent.subscription_details.subscription == sub_id
    assert invoice.lines.data[0].period.end == item.current_period_end
    updated = emu.events("customer.subscription.updated")[-1]["data"]
    assert updated["previous_attributes"]["latest_invoice"] != invoice_id
    assert "items" in updated["previous_attributes"]
    intent = client.v1.invoice_payments.list(params={"invoice": invoice_id}).data[0]
    assert client.v1.payment_intents.retrieve(intent.payment.payment_intent).status == "succeeded"
    listed = client.v1.invoices.list(params={"subscription": sub_id}).data
    assert [i.id for i in listed][0] == invoice_id and len(listed) == 2

    start = len(emu.events())
    failed_id = emu.fail_payment(sub_id)
    assert types_since(emu, start) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    failed = client.v1.invoices.retrieve(failed_id)
    assert (failed.status, failed.attempted, failed.amount_paid) == ("open", True, 0)
    assert failed.amount_remaining == 500 and failed.next_payment_attempt
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "past_due" and sub.latest_invoice == failed_id
    updated = emu.events("customer.subscription.updated")[-1]
    assert updated["data"]["previous_attributes"]["status"] == "active"
    payment = client.v1.invoice_payments.list(params={"invoice": failed_id}).data[0]
    assert payment.status == "open"
    assert client.v1.invoices.list(params={"customer": customer.id, "status": "open"}).data


# --- free trials ----------------------------------------------------------------------------

TRIAL_START_EVENTS = [
    "customer.subscription.created",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
    "checkout.session.completed",
]


def _trial(client, emu, days=14, lines=None):
    """A customer and a paid trial Checkout Session of the monthly plan; (customer, session)."""
    customer, monthly, _, one_off = catalogue(client)
    lines = lines or [(monthly, 1)]
    if lines == "with one-off":
        lines = [(monthly, 1), (one_off, 2)]
    s = session(
        client,
        customer,
        lines,
        mode="subscription",
        subscription_data={"trial_period_days": days, "metadata": {"order_id": "9"}},
    )
    return customer, s


def test_a_trial_checkout_starts_a_trialing_subscription_with_a_zero_invoice(client, emu):
    """Checkout with trial_period_days: nothing due today, a trialing sub, a paid 0 invoice."""
    _, s = _trial(client, emu)
    assert (s.amount_subtotal, s.amount_total) == (0, 0)
    start = len(emu.events())
    emu.pay(s.id)
    assert types_since(emu, start) == TRIAL_START_EVENTS  # no PaymentIntent, no charge
    done = client.v1.checkout.sessions.retrieve(s.id)
    assert (done.status, done.payment_status) == ("complete", "no_payment_required")
    sub = raw(client.v1.subscriptions.retrieve(done.subscription))
    check_object(sub)
    day = 24 * 60 * 60
    assert sub["status"] == "trialing"
    assert sub["trial_end"] - sub["trial_start"] == 14 * day
    assert sub["trial_start"] == sub["created"] and sub["billing_cycle_anchor"] == sub["trial_end"]
    item = sub["items"]["data"][0]
    assert (item["current_period_start"], item["current_period_end"]) == (
        sub["trial_start"],
        sub["trial_end"],
    )
    assert sub["metadata"] == {"order_id": "9"}
    invoice = raw(client.v1.invoices.retrieve(done.invoice))
    check_object(invoice)
    assert (invoice["billing_reason"], invoice["status"]) == ("subscription_create", "paid")
    assert (invoice["total"], invoice["amount_due"], invoice["amount_paid"]) == (0, 0, 0)
    line = invoice["lines"]["data"][0]
    assert (line["amount"], line["description"]) == (0, "Trial period for Supporter")
    assert line["period"] == {"start": sub["trial_start"], "end": sub["trial_end"]}
    assert client.v1.invoice_payments.list(params={"invoice": invoice["id"]}).data == []
    assert client.v1.payment_intents.list().data == []


def test_a_trial_with_a_one_off_item_charges_the_item_today(client, emu):
    """One-off items in a trial checkout are paid at once; the plan line is 0."""
    _, s = _trial(client, emu, days=7, lines="with one-off")
    assert s.amount_total == 2500
    emu.pay(s.id)
    done = client.v1.checkout.sessions.retrieve(s.id)
    assert done.payment_status == "paid"
    assert client.v1.subscriptions.retrieve(done.subscription).status == "trialing"
    invoice = client.v1.invoices.retrieve(done.invoice)
    assert (invoice.amount_paid, [line.amount for line in invoice.lines.data]) == (2500, [0, 2500])
    assert client.v1.invoice_payments.list(params={"invoice": invoice.id}).data


def test_a_trial_needs_no_delayed_payment(client, emu):
    """A bank debit for nothing due: the trial starts at once, nothing is left to settle."""
    _, s = _trial(client, emu)
    emu.pay(s.id, action="delayed")
    done = client.v1.checkout.sessions.retrieve(s.id)
    assert done.payment_status == "no_payment_required"
    assert client.v1.subscriptions.retrieve(done.subscription).status == "trialing"
    with pytest.raises(EmulatorError):
        emu.settle_async(s.id)


@pytest.mark.parametrize(
    ("mode", "days", "message"),
    [
        ("subscription", 0, "greater than or equal to 1"),
        ("subscription", 731, "at most 730"),
        ("subscription", "two weeks", "Invalid integer"),
        ("payment", 14, "only pass subscription_data in subscription mode"),
    ],
)
def test_trial_period_days_is_checked_as_stripe_checks_it(client, emu, mode, days, message):
    """1 to 730 days, subscription mode only; anything else is a 400 naming the parameter."""
    customer, monthly, _, one_off = catalogue(client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        session(
            client,
            customer,
            [(monthly if mode == "subscription" else one_off, 1)],
            mode=mode,
            subscription_data={"trial_period_days": days},
        )
    assert caught.value.http_status == 400 and message in str(caught.value.user_message)
    assert caught.value.param.startswith("subscription_data")
    assert client.v1.checkout.sessions.list().data == []
    ok = session(
        client,
        customer,
        [(monthly, 1)],
        mode="subscription",
        subscription_data={"trial_period_days": 730},
    )
    assert ok.amount_total == 0


def test_ending_a_trial_paid_makes_it_active(client, emu):
    """``end_trial``: the first paid period is billed (subscription_cycle), the sub goes active."""
    _, s = _trial(client, emu)
    emu.pay(s.id)
    sub_id = emu.get(s.id)["subscription"]
    trial = emu.get(sub_id)
    start = len(emu.events())
    invoice_id = emu.end_trial(sub_id)
    assert types_since(emu, start) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "payment_intent.succeeded",
        "charge.succeeded",
        "customer.subscription.updated",
    ]
    sub = emu.get(sub_id)
    check_object(sub)
    item = sub["items"]["data"][0]
    assert sub["status"] == "active" and sub["trial_end"] == trial["trial_end"]
    assert item["current_period_start"] == trial["trial_end"]
    assert item["current_period_end"] == add_interval(trial["trial_end"], "month")
    invoice = client.v1.invoices.retrieve(invoice_id)
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == (
        "subscription_cycle",
        "paid",
        500,
    )
    updated = emu.events("customer.subscription.updated")[-1]["data"]
    assert updated["previous_attributes"]["status"] == "trialing"
    with pytest.raises(EmulatorError, match="not trialing"):
        emu.end_trial(sub_id)


@pytest.mark.parametrize(
    ("outcome", "status", "last_event"),
    [
        ("past_due", "past_due", "customer.subscription.updated"),
        ("unpaid", "unpaid", "customer.subscription.updated"),
        ("canceled", "canceled", "customer.subscription.deleted"),
    ],
)
def test_ending_a_trial_unpaid(client, emu, outcome, status, last_event):
    """A failed first payment: past due, then unpaid or canceled as the retry settings say."""
    _, s = _trial(client, emu)
    emu.pay(s.id)
    sub_id = emu.get(s.id)["subscription"]
    start = len(emu.events())
    invoice_id = emu.end_trial(sub_id, outcome)
    types = types_since(emu, start)
    assert types[:4] == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    assert types[-1] == last_event and len(types) == (4 if outcome == "past_due" else 5)
    first_update = emu.events("customer.subscription.updated")[-1 if outcome != "unpaid" else -2]
    assert first_update["data"]["object"]["status"] == "past_due"
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.status == status
    if outcome == "canceled":
        assert sub.ended_at and sub.cancellation_details.reason == "payment_failed"
    invoice = client.v1.invoices.retrieve(invoice_id)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("open", 0, 500)
    with pytest.raises(EmulatorError, match="outcome must be one of"):
        emu.end_trial(sub_id, "forgiven")


def test_a_trial_set_to_cancel_just_ends(client, emu):
    """Cancelled during the trial: at its end the subscription ends, with nothing billed."""
    _, s = _trial(client, emu)
    emu.pay(s.id)
    sub_id = emu.get(s.id)["subscription"]
    client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    start = len(emu.events())
    assert emu.end_trial(sub_id) is None
    assert types_since(emu, start) == ["customer.subscription.deleted"]
    assert emu.get(sub_id)["status"] == "canceled"


def test_the_hosted_page_shows_the_trial(client, emu, server):
    """The page says the trial's length and that nothing is charged today."""
    _, s = _trial(client, emu)
    page = _get(server, f"/c/pay/{s.id}")[2].decode()
    assert "Free for 14 days" in page and "not charged today" in page
    assert "Total due today" in page and "£0.00" in page


def test_end_trial_over_http(client, emu, server):
    """``POST /_emulator/end_trial`` mirrors the Python call."""
    _, s = _trial(client, emu)
    emu.pay(s.id)
    sub_id = emu.get(s.id)["subscription"]
    status, _, body = _get(
        server,
        "/_emulator/end_trial",
        {"Content-Type": "application/json"},
        "POST",
        json.dumps({"subscription_id": sub_id, "outcome": "past_due"}),
    )
    assert status == 200 and json.loads(body)["invoice"].startswith("in_")
    assert emu.get(sub_id)["status"] == "past_due"


def test_cancel_at_period_end_and_cancel(client, emu):
    """Update cancel_at_period_end (updated events), cancel now (deleted event), list filters."""
    customer, sub_id = _subscribe(client, emu)
    sub = client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    assert sub.cancel_at_period_end and sub.cancel_at == sub["items"].data[0].current_period_end
    event = emu.events("customer.subscription.updated")[-1]
    assert event["data"]["previous_attributes"]["cancel_at_period_end"] is False
    assert event["data"]["object"]["cancel_at_period_end"] is True
    sub = client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    assert not sub.cancel_at_period_end and sub.cancel_at is None
    assert len(emu.events("customer.subscription.updated")) == 2

    canceled = client.v1.subscriptions.cancel(
        sub_id, params={"cancellation_details": {"comment": "Too busy to read"}}
    )
    assert canceled.status == "canceled" and canceled.ended_at
    assert canceled.cancellation_details.comment == "Too busy to read"
    assert emu.events()[-1]["type"] == "customer.subscription.deleted"
    assert client.v1.subscriptions.list(params={"customer": customer.id}).data == []
    listed = client.v1.subscriptions.list(params={"customer": customer.id, "status": "canceled"})
    assert [s.id for s in listed.data] == [sub_id]
    with pytest.raises(EmulatorError):
        emu.renew(sub_id)


def test_renew_at_period_end_ends_a_cancelling_subscription(client, emu):
    """``renew`` of a subscription set to cancel at period end ends it instead."""
    _, sub_id = _subscribe(client, emu, "year")
    client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    assert emu.renew(sub_id) is None
    assert emu.get(sub_id)["status"] == "canceled"
    assert emu.events()[-1]["type"] == "customer.subscription.deleted"


# --- delayed and declined payments ----------------------------------------------------------------


def test_decline_completes_nothing(client, emu):
    """A declined card: no redirect, no event, the session stays open."""
    customer, _, _, one_off = catalogue(client)
    s = session(client, customer, [(one_off, 1)])
    start = len(emu.events())
    assert emu.pay(s.id, "decline") is None
    assert types_since(emu, start) == [] and emu.get(s.id)["status"] == "open"


@pytest.mark.parametrize("mode", ["payment", "subscription"])
def test_delayed_payment_settles(client, emu, mode):
    """Bank debit: complete but unpaid; settling succeeds (objects made) or fails."""
    customer, monthly, _, one_off = catalogue(client)
    price = monthly if mode == "subscription" else one_off
    s = session(client, customer, [(price, 1)], mode=mode)
    start = len(emu.events())
    assert emu.pay(s.id, "delayed").startswith("http://localhost:5000/done")
    assert types_since(emu, start) == ["checkout.session.completed"]
    waiting = emu.get(s.id)
    assert (waiting["status"], waiting["payment_status"]) == ("complete", "unpaid")
    assert waiting["subscription"] is None and waiting["payment_intent"] is None

    emu.settle_async(s.id, succeeded=True)
    done = emu.get(s.id)
    assert done["payment_status"] == "paid"
    assert emu.events()[-1]["type"] == "checkout.session.async_payment_succeeded"
    assert emu.events()[-1]["data"]["object"]["payment_status"] == "paid"
    if mode == "subscription":
        assert emu.get(done["subscription"])["status"] == "active"
        assert emu.get(done["invoice"])["status"] == "paid"
    else:
        assert emu.get(done["payment_intent"])["status"] == "succeeded"
    with pytest.raises(EmulatorError):
        emu.settle_async(s.id, succeeded=True)

    other = session(client, customer, [(price, 1)], mode=mode)
    emu.pay(other.id, "delayed")
    emu.settle_async(other.id, succeeded=False)
    assert emu.events()[-1]["type"] == "checkout.session.async_payment_failed"
    assert emu.get(other.id)["payment_status"] == "unpaid"


# --- hosted pages ---------------------------------------------------------------------------------


def _form(server, path, action):
    return _get(
        server,
        path,
        {"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
        body=f"action={action}",
    )


def test_hosted_checkout_page(client, emu, server):
    """The page lists the items and total; decline re-renders; pay redirects to success_url."""
    customer, _, _, one_off = catalogue(client)
    s = session(client, customer, [(one_off, 2)])
    path = urlsplit(s.url).path
    status, headers, body = _get(server, path)
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<html lang="en">' in page and page.count("<h1>") == 1 and "<main>" in page
    assert "<title>" in page and '<link rel="icon" href="data:,">' in page
    assert "Test mode — Stripe emulator. No real payment is taken." in page
    assert "Annual print edition" in page and "£25.00" in page
    for button in ("Pay", "Pay with a card that is declined", "Pay by bank debit (settles later)"):
        assert f">{button}</button>" in page
    assert 'href="http://localhost:5000/cart">Cancel and return</a>' in page
    assert "<script" not in page and "http://" not in page.split("</style>")[0]

    status, _, body = _form(server, path, "decline")
    assert status == 200 and "Your card was declined." in body.decode()
    assert emu.get(s.id)["status"] == "open"

    status, headers, _ = _form(server, path, "pay")
    assert status == 303
    assert headers["Location"] == f"http://localhost:5000/done?session_id={s.id}"
    assert emu.get(s.id)["payment_status"] == "paid"
    status, _, body = _get(server, path)
    assert "Return to the site" in body.decode() and ">Pay</button>" not in body.decode()

    status, _, body = _get(server, "/c/pay/cs_test_missing")
    assert status == 404 and '<html lang="en">' in body.decode()


def test_hosted_portal_page(client, emu, server):
    """Portal: the plan, renewal date, a toggle that sets cancel_at_period_end, a return link."""
    customer, sub_id = _subscribe(client, emu)
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "http://localhost:5000/account"}
    )
    assert portal.id.startswith("bps_") and portal.url == f"{emu.base_url}/p/session/{portal.id}"
    path = urlsplit(portal.url).path
    page = _get(server, path)[2].decode()
    assert "Supporter" in page and "Renews on" in page and "Active" in page
    assert ">Cancel plan at period end</button>" in page
    assert 'href="http://localhost:5000/account">Return to the site</a>' in page
    assert "Test mode — Stripe emulator. No real payment is taken." in page

    status, headers, _ = _form(server, f"{path}/subscriptions/{sub_id}", "cancel")
    assert status == 303 and headers["Location"].endswith(path)
    assert emu.get(sub_id)["cancel_at_period_end"] is True
    assert emu.events()[-1]["type"] == "customer.subscription.updated"
    page = _get(server, path)[2].decode()
    assert "Ends on" in page and ">Keep my plan</button>" in page
    _form(server, f"{path}/subscriptions/{sub_id}", "keep")
    assert emu.get(sub_id)["cancel_at_period_end"] is False
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing_portal.sessions.create(params={"customer": "cus_nope"})
    assert caught.value.param == "customer"


# --- events and webhooks --------------------------------------------------------------------------


def test_events_and_signed_delivery(client, emu, receiver):
    """Events: fixture fields, API version, request; deliveries verify with construct_event."""
    customer = client.v1.customers.create(
        params={"email": "e@example.org"}, options={"idempotency_key": "evt-key"}
    )
    # sync mode: delivered before the API call answered
    assert receiver.types() == ["customer.created"]
    delivery = receiver.received[0]
    assert delivery["headers"]["Content-Type"] == "application/json"
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", delivery["headers"]["Stripe-Signature"])
    event = stripe.Webhook.construct_event(
        delivery["body"], delivery["headers"]["Stripe-Signature"], SECRET
    )
    assert event.type == "customer.created" and event.data.object.id == customer.id
    payload = json.loads(delivery["body"])
    assert payload["id"].startswith("evt_") and payload["api_version"] == API_VERSION
    assert payload["request"]["idempotency_key"] == "evt-key"
    assert payload["request"]["id"].startswith("req_")
    assert payload["livemode"] is False and payload["pending_webhooks"] == 1
    assert abs(payload["created"] - time.time()) < 5
    assert b", " not in delivery["body"]  # compact JSON

    listed = client.v1.events.list(params={"type": "customer.created"})
    assert [e.id for e in listed.data] == [payload["id"]]
    assert client.v1.events.retrieve(payload["id"]).type == "customer.created"
    attempts = emu.deliveries()
    assert attempts[-1]["event_id"] == payload["id"] and attempts[-1]["status"] == 200


def test_webhook_handler_may_call_the_api_back(client, emu, receiver):
    """Sync delivery: the handler retrieves the session (expanded) while the payment answers."""
    customer, monthly, _, _ = catalogue(client)
    s = session(client, customer, [(monthly, 1)], mode="subscription")
    seen = {}

    def handle(event):
        if event.type == "checkout.session.completed":
            full = client.v1.checkout.sessions.retrieve(
                event.data.object.id, params={"expand": ["subscription", "line_items"]}
            )
            seen["status"] = full.subscription.status
            seen["metadata"] = client.v1.subscriptions.update(
                full.subscription.id, params={"metadata": {"seen": "yes"}}
            ).metadata.to_dict()

    receiver.on_event = handle
    emu.pay(s.id)
    assert seen == {"status": "active", "metadata": {"seen": "yes"}}
    # The handler's own update was delivered (in sync mode) while the handler was running.
    assert receiver.types()[-2:] == ["customer.subscription.updated", "checkout.session.completed"]


def test_hold_mode_and_deliver_in_any_order(client, emu, receiver):
    """Hold: nothing is sent until ``deliver``; order, repeats, and the held queue."""
    emu.set_delivery_mode("hold")
    customer, _, _, one_off = catalogue(client)
    s = session(client, customer, [(one_off, 1)])
    emu.pay(s.id)
    assert receiver.received == []
    held = [e["id"] for e in emu.held()]
    assert len(held) == 9 and held == [e["id"] for e in emu.events()]

    results = emu.deliver(held[-3:], order="reverse", times=2)
    assert [status for _, status in results] == [200] * 6
    assert receiver.types() == [t for t in PAYMENT_EVENTS[::-1] for _ in range(2)]
    assert len(emu.held()) == 6
    emu.deliver()
    assert emu.held() == [] and len(receiver.types()) == 12


@pytest.mark.parametrize("signature", ["forged", "stale", "missing"])
def test_bad_signatures_are_rejected_by_construct_event(client, emu, receiver, signature):
    """Forged, stale and missing signatures fail stripe.Webhook.construct_event."""
    emu.set_delivery_mode("hold")
    client.v1.customers.create(params={"name": "Sig"})
    event_id = emu.held()[0]["id"]
    assert emu.deliver([event_id], signature=signature) == [(event_id, 400)]
    delivery = receiver.received[-1]
    assert not delivery["verified"]
    header = delivery["headers"].get("Stripe-Signature")
    assert (header is None) == (signature == "missing")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery["body"], header, SECRET)
    assert [e["id"] for e in emu.held()] == [event_id]  # still held: not delivered properly
    assert emu.deliveries()[-1]["signature"] == signature


def test_async_mode_retries_in_order(client, emu, receiver):
    """Async: a background thread delivers in order and retries a failing delivery."""
    emu.set_delivery_mode("async")
    receiver.fail_next = 2
    customer, _, _, one_off = catalogue(client)
    assert emu.wait_for_deliveries(timeout=5)
    statuses = [(a["type"], a["status"]) for a in emu.deliveries()]
    assert statuses[:3] == [("customer.created", 500)] * 2 + [("customer.created", 200)]
    assert receiver.types() == [e["type"] for e in emu.events()]


def test_async_mode_gives_up_after_three_tries(client, emu, receiver):
    """Async: three failures and the event is given up on; the next one goes through."""
    emu.set_delivery_mode("async")
    receiver.fail_next = 3
    client.v1.customers.create(params={"name": "One"})
    client.v1.customers.create(params={"name": "Two"})
    assert emu.wait_for_deliveries(timeout=5)
    assert [a["status"] for a in emu.deliveries()] == [500, 500, 500, 200]


def test_delivery_failure_is_recorded(client, emu, receiver):
    """A webhook URL nobody listens on: the attempt is recorded with its error."""
    closed = make_server("127.0.0.1", 0, lambda e, s: [])
    port = closed.server_port
    closed.server_close()
    emu.configure_webhook(f"http://127.0.0.1:{port}/hook", SECRET)
    client.v1.customers.create(params={"name": "Lost"})
    attempt = emu.deliveries()[-1]
    assert attempt["status"] is None and attempt["error"]


def test_deliver_concurrently(client, emu, receiver):
    """The same event at once over separate connections: every copy arrives."""
    client.v1.customers.create(params={"name": "Twin"})
    event_id = emu.events()[-1]["id"]
    receiver.clear()
    statuses = emu.deliver_concurrently(event_id, copies=12)
    assert statuses == [200] * 12
    assert [r["id"] for r in receiver.received] == [event_id] * 12


# --- control over HTTP, CLI, parser ---------------------------------------------------------------


def test_control_endpoints(client, emu, server, receiver):
    """/_emulator/... mirrors the control API for another process."""
    customer, _, _, one_off = catalogue(client)
    s = session(client, customer, [(one_off, 1)])
    json_headers = {"Content-Type": "application/json"}
    status, _, body = _get(
        server, "/_emulator/pay", json_headers, "POST", json.dumps({"session_id": s.id})
    )
    assert status == 200 and json.loads(body)["redirect_url"].endswith(s.id)
    status, _, body = _get(server, "/_emulator/events?type=charge.succeeded")
    assert [e["type"] for e in json.loads(body)] == ["charge.succeeded"]
    status, _, body = _get(
        server, "/_emulator/pay", {"Content-Type": "application/x-www-form-urlencoded"}, "POST"
    )
    assert status == 415
    body = json.dumps({"mode": "hold"})
    assert _get(server, "/_emulator/delivery_mode", json_headers, "POST", body)[0] == 200
    assert emu.delivery_mode == "hold"
    status, _, body = _get(server, "/_emulator/")
    assert json.loads(body)["delivery_mode"] == "hold"
    assert _get(server, "/_emulator/reset", json_headers, "POST", "{}")[0] == 200
    assert emu.events() == []

    body = json.dumps({"path": "/v1/customers", "method": "GET", "times": 1})
    assert _get(server, "/_emulator/fail_requests", json_headers, "POST", body)[0] == 200
    assert _get(server, "/v1/customers", {"Authorization": f"Bearer {KEY}"})[0] == 500
    assert _get(server, "/v1/customers", {"Authorization": f"Bearer {KEY}"})[0] == 200
    body = json.dumps({"status": 200})
    assert _get(server, "/_emulator/fail_requests", json_headers, "POST", body)[0] == 400
    assert _get(server, "/_emulator/clear_faults", json_headers, "POST", "{}")[0] == 200
    customer, _, _, one_off = catalogue(client)
    s = session(client, customer, [(one_off, 1)], expires_at=int(time.time()) + 31 * 60)
    body = json.dumps({"now": int(time.time()) + 32 * 60})
    status, _, answer = _get(server, "/_emulator/expire_due", json_headers, "POST", body)
    assert status == 200 and json.loads(answer) == {"expired": [s.id]}


# --- the state file -------------------------------------------------------------------------------


def test_state_file_survives_a_restart(tmp_path):
    """A new emulator on the same state file knows the old ids, events and idempotency keys."""
    state = tmp_path / "state" / "emulator.json"
    with EmulatorServer(state_file=state) as first:
        client = first.client(KEY)
        customer, monthly, _, _ = catalogue(client)
        key = {"idempotency_key": "new-customer-1"}
        again = client.v1.customers.create(params={"name": "Once"}, options=key)
        s = session(client, customer, [(monthly, 1)], mode="subscription")
        first.emulator.pay(s.id)
        sub_id = first.emulator.get(s.id)["subscription"]
        events = first.emulator.events()
    assert state.exists() and not list(state.parent.glob("*.tmp"))

    with EmulatorServer(state_file=state) as second:
        client = second.client(KEY)
        assert client.v1.customers.retrieve(customer.id).email == "reader@example.org"
        assert client.v1.prices.retrieve(monthly.id).unit_amount == 500
        sub = client.v1.subscriptions.retrieve(sub_id)
        assert sub.status == "active" and sub.items.data[0].price.id == monthly.id
        assert client.v1.checkout.sessions.line_items.list(s.id).data[0].price.id == monthly.id
        assert second.emulator.events() == events
        assert [e.id for e in client.v1.events.list(params={"limit": 100}).data] == [
            e["id"] for e in reversed(events)
        ]
        replay = client.v1.customers.create(params={"name": "Once"}, options=key)
        assert replay.id == again.id
        assert replay.last_response.headers["Idempotent-Replayed"] == "true"
        fresh = session(client, customer, [(monthly, 1)], mode="subscription")
        assert fresh.url.startswith(second.url) and second.emulator.pay(fresh.id)
        assert second.emulator.events()[-1]["type"] == "checkout.session.completed"
        saved = json.loads(state.read_text("utf-8"))
        assert fresh.id in saved["objects"] and len(saved["events"]) > len(events)
        second.emulator.reset()
    assert json.loads(state.read_text("utf-8"))["objects"] == {}


@pytest.mark.parametrize("text", ["{not json", '{"format": 1, "objects": []}', "[]", "\udcff"])
def test_unreadable_state_file_starts_empty_with_a_warning(tmp_path, capsys, text):
    """A corrupt state file is a warning on stderr; the emulator starts empty and overwrites it."""
    state = tmp_path / "emulator.json"
    state.write_bytes(text.encode("utf-8", "surrogateescape"))
    emulator = stripe_emulator.Emulator(state_file=state)
    assert "could not load the state file" in capsys.readouterr().err
    assert emulator.events() == [] and emulator.held() == []
    status, body, _ = emulator.handle(
        method="POST",
        path="/v1/customers",
        params={"name": "After"},
        handler=emulator.create_customer,
        path_args={},
        idempotency_key=None,
        base_url=None,
    )
    assert status == 200
    assert list(json.loads(state.read_text("utf-8"))["objects"]) == [json.loads(body)["id"]]


def test_cli_serves_on_loopback_only(capsys, tmp_path):
    """``python -m stripe_emulator`` refuses other hosts and says where it listens."""
    with pytest.raises(SystemExit):
        main(["--host", "0.0.0.0"])  # noqa: S104 - the point: it is refused
    assert "loopback" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("8.8.8.8")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_emulator",
            "--port",
            "0",
            "--state-file",
            str(tmp_path / "cli.json"),
        ],
        cwd=Path(stripe_emulator.__file__).parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "never takes real payments" in line
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        cli = stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)
        customer = cli.v1.customers.create(params={"name": "CLI"})
        assert customer.id.startswith("cus_")
        assert customer.id in json.loads((tmp_path / "cli.json").read_text("utf-8"))["objects"]
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_form_parser():
    """Bracket syntax to nested dicts and lists; metadata keys stay keys."""
    pairs = [
        ("line_items[0][price]", "price_a"),
        ("line_items[0][quantity]", "2"),
        ("line_items[1][price]", "price_b"),
        ("metadata[0]", "zero"),
        ("metadata[order_id]", "7"),
        ("expand[0]", "subscription"),
        ("expand[]", "invoice"),
        ("recurring[interval]", "month"),
    ]
    assert parse_pairs(pairs) == {
        "line_items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}],
        "metadata": {"0": "zero", "order_id": "7"},
        "expand": ["subscription", "invoice"],
        "recurring": {"interval": "month"},
    }
    with pytest.raises(EmulatorError):
        parse_pairs([("items[0]", "a"), ("items[2]", "b")])
    with pytest.raises(EmulatorError):
        parse_pairs([("a]b", "x")])


# --- portal configurations and plan switching -------------------------------------------------


def _switchable_portal(client, emu, proration="create_prorations"):
    customer, monthly, yearly, _ = catalogue(client)
    s = session(client, customer, [(monthly, 1)], "subscription")
    emu.pay(s.id)
    sub_id = emu.get(s.id)["subscription"]
    config = client.v1.billing_portal.configurations.create(
        params={
            "features": {
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "proration_behavior": proration,
                    "products": [{"product": monthly.product, "prices": [monthly.id, yearly.id]}],
                },
                "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
            },
            "metadata": {"broadsheet_plans": "k1"},
        }
    )
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "configuration": config.id}
    )
    return config, portal, sub_id, monthly, yearly


def test_portal_configurations_are_made_listed_and_read(client, emu):
    config, portal, _, _, _ = _switchable_portal(client, emu)
    assert config.id.startswith("bpc_") and config.object == "billing_portal.configuration"
    assert config.features.subscription_update.enabled is True
    assert config.features.subscription_update.proration_behavior == "create_prorations"
    assert config.metadata.to_dict() == {"broadsheet_plans": "k1"}
    assert portal.configuration == config.id
    listed = client.v1.billing_portal.configurations.list(params={"active": True})
    assert [c.id for c in listed.data] == [config.id]
    check_object(raw(client.v1.billing_portal.configurations.retrieve(config.id)))
    check_object(raw(portal))


@pytest.mark.parametrize(
    ("update", "param"),
    [
        ({"enabled": True, "default_allowed_updates": ["price"]}, "products"),
        ({"enabled": True, "default_allowed_updates": ["colour"]}, "default_allowed_updates"),
        ({"enabled": True, "proration_behavior": "sometimes"}, "proration_behavior"),
        (
            {
                "enabled": True,
                "default_allowed_updates": ["price"],
                "products": [{"product": "prod_nope", "prices": ["price_nope"]}],
            },
            "product",
        ),
    ],
)
def test_portal_configuration_validation(client, emu, update, param):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing_portal.configurations.create(
            params={"features": {"subscription_update": update}}
        )
    assert param in (caught.value.param or "")
    customer = client.v1.customers.create(params={"email": "reader@example.org"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing_portal.sessions.create(
            params={"customer": customer.id, "configuration": "bpc_nope"}
        )
    assert caught.value.param == "configuration"


def test_switching_monthly_to_yearly_in_the_portal_restarts_the_period_and_prorates(
    client, emu, server
):
    _, portal, sub_id, monthly, yearly = _switchable_portal(client, emu)
    path = urlsplit(portal.url).path
    page = _get(server, path)[2].decode()
    assert ">Switch to Supporter: £50.00 a year</button>" in page
    assert "£5.00 a month</button>" not in page  # not to the plan it is on
    start = len(emu.events())
    status, headers, _ = _get(
        server,
        f"{path}/subscriptions/{sub_id}/price",
        {"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
        body=f"price={yearly.id}",
    )
    assert status == 303 and headers["Location"].endswith(path)
    types = types_since(emu, start)
    assert types[-1] == "customer.subscription.updated" and "invoice.paid" in types
    sub = client.v1.subscriptions.retrieve(sub_id)
    item = sub["items"].data[0]
    assert item.price.id == yearly.id
    assert item.current_period_end == add_interval(item.current_period_start, "year")
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.billing_reason == "subscription_update" and invoice.status == "paid"
    amounts = sorted(line.amount for line in invoice.lines.data)
    # Almost the whole month unused: nearly its full price comes off the year.
    assert amounts[0] < 0 and -amounts[0] <= 500 and amounts[1] == 5000
    assert invoice.total == 5000 + amounts[0]
    page = _get(server, path)[2].decode()
    assert ">Switch to Supporter: £5.00 a month</button>" in page

    # A price the configuration does not offer is refused.
    status, _, body = _get(
        server,
        f"{path}/subscriptions/{sub_id}/price",
        {"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
        body="price=price_nope",
    )
    assert status == 400 and b"does not offer that plan" in body


def test_a_portal_without_price_updates_offers_no_switch(client, emu, server):
    customer, sub_id = _subscribe(client, emu)
    portal = client.v1.billing_portal.sessions.create(params={"customer": customer.id})
    page = _get(server, urlsplit(portal.url).path)[2].decode()
    assert "Switch to" not in page


# --- price_data: a one-time price made for one session --------------------------------------


def _inline_session(client, customer, price_data, **line):
    return client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": customer.id,
            "line_items": [{"price_data": price_data, "quantity": 1, **line}],
            "success_url": "http://localhost:5000/done",
        }
    )


def test_price_data_makes_a_one_time_price_for_the_session(client, emu):
    customer = client.v1.customers.create(params={"email": "buyer@example.org"})
    s = _inline_session(
        client,
        customer,
        {"currency": "gbp", "unit_amount": 8000, "product_data": {"name": "Gift: a year"}},
    )
    assert s.amount_total == 8000
    (item,) = client.v1.checkout.sessions.line_items.list(s.id).data
    assert item.description == "Gift: a year" and item.price.active is False
    assert item.price.recurring is None
    emu.pay(s.id)
    paid = client.v1.checkout.sessions.retrieve(s.id)
    assert paid.payment_status == "paid"
    assert client.v1.payment_intents.retrieve(paid.payment_intent).amount == 8000
    check_object(raw(client.v1.prices.retrieve(item.price.id)))


@pytest.mark.parametrize(
    ("price_data", "line", "param"),
    [
        ({"currency": "gbp", "unit_amount": 100}, {}, "price_data][product"),
        (
            {
                "currency": "gbp",
                "unit_amount": 100,
                "product": "prod_x",
                "product_data": {"name": "X"},
            },
            {},
            "price_data][product",
        ),
        ({"currency": "gbp", "unit_amount": -1, "product_data": {"name": "X"}}, {}, "unit_amount"),
        (
            {"currency": "gbp", "unit_amount": 100, "product_data": {"name": "X"}},
            {"price": "price_x"},
            "price_data",
        ),
    ],
)
def test_price_data_is_checked_as_stripe_checks_it(client, emu, price_data, line, param):
    customer = client.v1.customers.create(params={"email": "buyer@example.org"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _inline_session(client, customer, price_data, **line)
    assert param in (caught.value.param or "")


# --- a session that knows no customer: the page asks for the email ----------------------


def _guest_session(client, price, mode="payment", **extra):
    return client.v1.checkout.sessions.create(
        params={
            "mode": mode,
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "http://localhost:5000/done?session_id={CHECKOUT_SESSION_ID}",
            **extra,
        }
    )


def test_a_guest_types_their_email_and_customer_creation_makes_a_customer(client, emu, server):
    _, _, _, one_off = catalogue(client)
    s = _guest_session(client, one_off, customer_creation="always")
    path = urlsplit(s.url).path
    page = _get(server, path)[2].decode()
    assert 'id="email" name="email"' in page and 'autocomplete="email"' in page
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = _get(server, path, form, method="POST", body="action=pay&email=nope")
    assert status == 400 and b"is not a valid email address" in body
    assert b'value="nope"' in body  # kept as typed
    status, _, body = _get(server, path, form, method="POST", body="action=pay&email=")
    assert status == 400 and b"Enter your email address." in body
    status, headers, _ = _get(
        server, path, form, method="POST", body="action=pay&email=guest%40example.org"
    )
    assert status == 303
    paid = client.v1.checkout.sessions.retrieve(s.id)
    assert paid.customer_details.email == "guest@example.org"
    assert client.v1.customers.retrieve(paid.customer).email == "guest@example.org"


def test_the_control_api_takes_the_guests_email_and_subscriptions_make_a_customer(client, emu):
    _, monthly, _, _ = catalogue(client)
    s = _guest_session(client, monthly, mode="subscription")
    emu.pay(s.id, email="sub.guest@example.org")
    paid = client.v1.checkout.sessions.retrieve(s.id)
    assert client.v1.customers.retrieve(paid.customer).email == "sub.guest@example.org"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _guest_session(client, monthly, mode="subscription", customer_creation="always")
    assert caught.value.param == "customer_creation"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _guest_session(client, monthly, mode="subscription", customer_creation="sometimes")
    assert caught.value.param == "customer_creation"

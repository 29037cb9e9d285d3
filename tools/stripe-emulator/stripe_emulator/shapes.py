"""Stripe's sample objects (``fixtures/fixtures3.json``) as templates, and Stripe-style ids.

Every object the emulator returns starts as :func:`blank` of its type: a deep copy of the
fixture object with every value cleared (``None``, ``[]``, nested objects cleared in turn;
``metadata`` stays ``{}``), so no placeholder value from the file can leak out. The builders
in :mod:`stripe_emulator.objects` then set each value with :func:`fill`, which refuses a key
the fixture does not have.
"""

from __future__ import annotations

import copy
import functools
import json
import secrets
import string
from importlib import resources
from typing import Any

_ALPHABET = string.ascii_letters + string.digits

# Keys the fixture file lacks but the emulator adds, as Stripe does (see the emulator's README.md):
# the PaymentIntent of an invoice payment (the app links invoices and PaymentIntents by it),
# the old values in a ``*.updated`` event, and Checkout line items when asked to expand them.
EXTRA_KEYS = {
    "invoice_payment": {("payment", "payment_intent")},
    "event": {("data", "previous_attributes")},
    "checkout.session": {("line_items",)},
}

# The keys of the elements of lists the fixture file leaves empty, from Stripe's API reference:
# a Checkout Session's ``shipping_options`` (``[]`` in the sample) hold a rate and its amount.
LIST_ITEM_KEYS = {
    "checkout.session": {("shipping_options",): ("shipping_amount", "shipping_rate")},
}


@functools.cache
def _resources() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("fixtures", "fixtures3.json").read_text("utf-8")
    return json.loads(text)["resources"]


def fixture(object_type: str) -> dict[str, Any]:
    """A deep copy of the fixture object of a type (``"customer"``, ``"checkout.session"``...)."""
    return copy.deepcopy(_resources()[object_type])


def has_fixture(object_type: str) -> bool:
    """Whether the fixture file has an object of this type."""
    return object_type in _resources()


def _cleared(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        if key == "metadata":
            return {}
        return {k: _cleared(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return []
    return None


def blank(object_type: str) -> dict[str, Any]:
    """The fixture object of a type with every value cleared: the shape, without placeholders."""
    return _cleared(fixture(object_type))


def fill(obj: dict[str, Any], **values: Any) -> dict[str, Any]:
    """Set values on a shaped object; a key the shape does not have is a bug, so it raises."""
    for key, value in values.items():
        if key not in obj:
            raise KeyError(f"{obj.get('object') or 'object'} has no key {key!r} in the fixture")
        obj[key] = value
    return obj


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-style id: ``prefix_`` and random letters and digits (``cus_9fT...``)."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))

"""A postal address as Checkout collects it: a plain value, shared by the gateway (which
reads it from Stripe) and the shipping rules (which keep it on the order)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Address:
    """Where to post an order, the rate the reader chose and what it cost (minor units)."""

    name: str
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str
    country: str
    rate_name: str = ""
    amount: int = 0

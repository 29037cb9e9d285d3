"""PaymentIntents and charges: ``/v1/payment_intents``, ``/v1/charges``."""

from __future__ import annotations

import datetime as dt

from .. import objects
from ..common import LIST_PARAMS
from ..params import (
    STR,
    as_str,
    check,
)
from ..shapes import new_id
from ..store import Store


class Payments(Store):
    """PaymentIntents and charges: made as payments succeed or fail, then read and listed."""

    def _payment(
        self,
        *,
        amount: int,
        currency: str,
        customer_obj: dict | None,
        description: str | None,
        metadata: dict,
        method_type: str,
    ) -> tuple[dict, dict]:
        now = self._now()
        intent_id, charge_id, method = new_id("pi", 24), new_id("ch", 24), new_id("pm", 24)
        intent = objects.payment_intent(
            object_id=intent_id,
            now=now,
            amount=amount,
            currency=currency,
            customer_id=(customer_obj or {}).get("id"),
            description=description,
            metadata=dict(metadata),
            status="succeeded",
            charge_id=charge_id,
            payment_method=method,
            method_type=method_type,
            receipt_email=(customer_obj or {}).get("email"),
        )
        charge = objects.charge(
            object_id=charge_id,
            now=now,
            now_year=dt.datetime.now(dt.UTC).year,
            amount=amount,
            currency=currency,
            customer_obj=customer_obj,
            description=description,
            payment_intent_id=intent_id,
            payment_method=method,
            method_type=method_type,
            metadata=dict(metadata),
        )
        self._store(intent)
        self._store(charge)
        return intent, charge

    def _failed_payment(self, invoice: dict, customer_obj: dict, description: str) -> dict:
        intent = objects.payment_intent(
            object_id=new_id("pi", 24),
            now=self._now(),
            amount=invoice["total"],
            currency=invoice["currency"],
            customer_id=customer_obj["id"],
            description=description,
            metadata={},
            status="requires_payment_method",
            charge_id=None,
            payment_method=new_id("pm", 24),
            method_type="card",
            receipt_email=customer_obj["email"],
            declined=True,
        )
        return self._store(intent)

    def retrieve_payment_intent(self, params: dict, object_id: str) -> dict:
        """GET /v1/payment_intents/{id}"""
        check(params, {"client_secret": STR})
        return self._view(self._get("payment_intent", object_id))

    def list_payment_intents(self, params: dict) -> dict:
        """GET /v1/payment_intents"""
        check(params, {"customer": STR, **LIST_PARAMS})
        customer = as_str(params.get("customer"), "customer")
        items = [
            p for p in self._all("payment_intent") if customer is None or p["customer"] == customer
        ]
        return self._page(items, "/v1/payment_intents", params)

    def retrieve_charge(self, params: dict, object_id: str) -> dict:
        """GET /v1/charges/{id}"""
        check(params, {})
        return self._view(self._get("charge", object_id))

    def list_charges(self, params: dict) -> dict:
        """GET /v1/charges"""
        check(params, {"customer": STR, "payment_intent": STR, **LIST_PARAMS})
        customer = as_str(params.get("customer"), "customer")
        intent = as_str(params.get("payment_intent"), "payment_intent")
        items = [
            c
            for c in self._all("charge")
            if (customer is None or c["customer"] == customer)
            and (intent is None or c["payment_intent"] == intent)
        ]
        return self._page(items, "/v1/charges", params)

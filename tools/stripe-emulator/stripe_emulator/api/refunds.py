"""Refunds: ``/v1/refunds``."""

from __future__ import annotations

from .. import objects
from ..common import LIST_PARAMS, diff, format_money
from ..errors import EmulatorError
from ..params import (
    METADATA,
    STR,
    as_int,
    as_metadata,
    as_str,
    check,
)
from ..shapes import new_id
from ..store import Store

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


class Refunds(Store):
    """Refunds of all or part of a charge."""

    def create_refund(self, params: dict) -> dict:
        """POST /v1/refunds: all of what is left of the charge, or ``amount`` of it."""
        check(
            params,
            {
                "payment_intent": STR,
                "charge": STR,
                "amount": STR,
                "reason": STR,
                "metadata": METADATA,
            },
        )
        intent_id = as_str(params.get("payment_intent"), "payment_intent")
        charge_id = as_str(params.get("charge"), "charge")
        if bool(intent_id) == bool(charge_id):
            raise EmulatorError(
                "Pass exactly one of charge or payment_intent.",
                param="payment_intent" if intent_id else "charge",
                code="parameter_missing" if not intent_id else None,
            )
        if intent_id:
            intent = self._get("payment_intent", intent_id, param="payment_intent", status=400)
            if intent["status"] != "succeeded" or not intent["latest_charge"]:
                raise EmulatorError(
                    f"PaymentIntent {intent_id} has no successful charge to refund.",
                    param="payment_intent",
                )
            charge_id = intent["latest_charge"]
        charge = self._get("charge", charge_id, param="charge", status=400)
        left = charge["amount"] - charge["amount_refunded"]
        if left <= 0:
            raise EmulatorError(
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = as_int(params.get("amount"), "amount", minimum=1)
        amount = left if amount is None else amount
        if amount > left:
            raise EmulatorError(
                f"Refund amount ({format_money(amount, charge['currency'])}) is greater than "
                f"unrefunded amount on charge ({format_money(left, charge['currency'])})",
                param="amount",
                code="amount_too_large",
            )
        reason = as_str(params.get("reason"), "reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise EmulatorError(
                f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}", param="reason"
            )
        refund = objects.refund(
            object_id=new_id("re", 24),
            now=self._now(),
            amount=amount,
            charge_obj=charge,
            reason=reason,
            metadata=as_metadata(params.get("metadata")),
        )
        self._store(refund)
        old = self._view(charge)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        charge["refunds"]["data"].insert(0, self._view(refund))
        self._emit("charge.refunded", charge, diff(old, charge))
        return self._view(refund)

    def retrieve_refund(self, params: dict, object_id: str) -> dict:
        """GET /v1/refunds/{id}"""
        check(params, {})
        return self._view(self._get("refund", object_id))

    def list_refunds(self, params: dict) -> dict:
        """GET /v1/refunds"""
        check(params, {"charge": STR, "payment_intent": STR, **LIST_PARAMS})
        charge = as_str(params.get("charge"), "charge")
        intent = as_str(params.get("payment_intent"), "payment_intent")
        items = [
            r
            for r in self._all("refund")
            if (charge is None or r["charge"] == charge)
            and (intent is None or r["payment_intent"] == intent)
        ]
        return self._page(items, "/v1/refunds", params)

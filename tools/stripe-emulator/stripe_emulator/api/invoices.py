"""Invoices and invoice payments: ``/v1/invoices``, ``/v1/invoice_payments``."""

from __future__ import annotations

import copy

from .. import objects
from ..common import LIST_PARAMS, format_money
from ..errors import EmulatorError
from ..params import (
    STR,
    as_str,
    check,
)
from ..shapes import new_id
from ..store import Store


class Invoices(Store):
    """Invoices: their lines, billing (finalize, then pay or fail), reading and listing."""

    def _invoice_line(
        self,
        invoice_id: str,
        price_obj: dict,
        quantity: int,
        *,
        period: tuple[int, int],
        subscription_id: str,
        subscription_item_id: str | None,
        trial: bool = False,
    ) -> dict:
        """One line of an invoice; ``trial``: a recurring price in its free trial, for 0."""
        product_obj = self._objects.get(price_obj["product"]) or {}
        name = product_obj.get("name") or price_obj["nickname"] or price_obj["id"]
        recurring = price_obj["recurring"]
        if trial:
            description = f"Trial period for {name}"
        elif recurring:
            amount = format_money(price_obj["unit_amount"], price_obj["currency"])
            description = f"{quantity} × {name} (at {amount} / {recurring['interval']})"
        else:
            description = name if quantity == 1 else f"{quantity} × {name}"
        return objects.invoice_line(
            object_id=new_id("il", 24),
            invoice_id=invoice_id,
            price_obj=price_obj,
            quantity=quantity,
            description=description,
            period_start=period[0],
            period_end=period[1],
            subscription_id=subscription_id,
            subscription_item_id=subscription_item_id,
            amount=0 if trial else None,
        )

    def _bill(
        self,
        invoice: dict,
        customer_obj: dict,
        *,
        paid: bool,
        description: str,
        method_type: str = "card",
    ) -> None:
        """Store, finalize and pay (or fail to pay) an invoice, emitting Stripe's events."""
        now = self._now()
        self._store(invoice)
        self._emit("invoice.created", invoice)
        sequence = customer_obj["next_invoice_sequence"]
        customer_obj["next_invoice_sequence"] = sequence + 1
        invoice.update(
            status="open",
            number=f"{customer_obj['invoice_prefix']}-{sequence:04d}",
            effective_at=now,
        )
        invoice["status_transitions"]["finalized_at"] = now
        self._emit("invoice.finalized", invoice)
        if invoice["total"] == 0:
            # Nothing to collect (a free trial's first invoice): Stripe marks it paid at
            # once, with no PaymentIntent, charge or invoice payment.
            invoice.update(status="paid", attempted=True, auto_advance=False)
            invoice.update(webhooks_delivered_at=now)
            invoice["status_transitions"]["paid_at"] = now
            self._emit("invoice.paid", invoice)
            self._emit("invoice.payment_succeeded", invoice)
            return
        if paid:
            intent, charge = self._payment(
                amount=invoice["total"],
                currency=invoice["currency"],
                customer_obj=customer_obj,
                description=description,
                metadata={},
                method_type=method_type,
            )
        else:
            intent = self._failed_payment(invoice, customer_obj, description)
            charge = None
        self._store(
            objects.invoice_payment(
                object_id=new_id("inpay", 24),
                now=now,
                invoice_id=invoice["id"],
                payment_intent_id=intent["id"],
                amount=invoice["total"],
                currency=invoice["currency"],
                paid=paid,
            )
        )
        invoice.update(attempted=True, attempt_count=1, webhooks_delivered_at=now)
        if paid:
            invoice.update(
                status="paid", amount_paid=invoice["total"], amount_remaining=0, auto_advance=False
            )
            invoice["status_transitions"]["paid_at"] = now
            self._emit("invoice.paid", invoice)
            self._emit("invoice.payment_succeeded", invoice)
            self._emit("payment_intent.succeeded", intent)
            assert charge is not None
            self._emit("charge.succeeded", charge)
        else:
            invoice["next_payment_attempt"] = now + 3 * 24 * 60 * 60
            self._emit("invoice.payment_failed", invoice)

    def retrieve_invoice(self, params: dict, object_id: str) -> dict:
        """GET /v1/invoices/{id}"""
        check(params, {})
        return self._view(self._get("invoice", object_id))

    def list_invoices(self, params: dict) -> dict:
        """GET /v1/invoices"""
        check(params, {"customer": STR, "subscription": STR, "status": STR, **LIST_PARAMS})
        customer = as_str(params.get("customer"), "customer")
        subscription = as_str(params.get("subscription"), "subscription")
        status = as_str(params.get("status"), "status")
        items = [
            i
            for i in self._all("invoice")
            if (customer is None or i["customer"] == customer)
            and (
                subscription is None
                or i["parent"]["subscription_details"]["subscription"] == subscription
            )
            and (status is None or i["status"] == status)
        ]
        return self._page(items, "/v1/invoices", params)

    def list_invoice_lines(self, params: dict, object_id: str) -> dict:
        """GET /v1/invoices/{id}/lines"""
        check(params, LIST_PARAMS)
        invoice = self._get("invoice", object_id)
        lines = copy.deepcopy(invoice["lines"]["data"])
        return self._page(lines, f"/v1/invoices/{object_id}/lines", params, copies=True)

    def list_invoice_payments(self, params: dict) -> dict:
        """GET /v1/invoice_payments (by ``invoice`` or ``payment[payment_intent]``)."""
        check(
            params,
            {
                "invoice": STR,
                "payment": {"type": STR, "payment_intent": STR},
                "status": STR,
                **LIST_PARAMS,
            },
        )
        invoice = as_str(params.get("invoice"), "invoice")
        payment = params.get("payment") or {}
        kind = as_str(payment.get("type"), "payment[type]")
        intent = as_str(payment.get("payment_intent"), "payment[payment_intent]")
        if intent is not None and kind is None:
            raise EmulatorError(
                "Missing required param: payment[type].",
                param="payment[type]",
                code="parameter_missing",
            )
        if kind is not None and kind != "payment_intent":
            raise EmulatorError(
                "Invalid payment[type]: the emulator only makes payment_intent invoice payments.",
                param="payment[type]",
            )
        status = as_str(params.get("status"), "status")
        items = [
            p
            for p in self._all("invoice_payment")
            if (invoice is None or p["invoice"] == invoice)
            and (intent is None or p["payment"]["payment_intent"] == intent)
            and (status is None or p["status"] == status)
        ]
        return self._page(items, "/v1/invoice_payments", params)

    def retrieve_invoice_payment(self, params: dict, object_id: str) -> dict:
        """GET /v1/invoice_payments/{id}"""
        check(params, {})
        return self._view(self._get("invoice_payment", object_id))

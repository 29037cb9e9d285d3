"""Subscriptions: ``/v1/subscriptions``, started by Checkout, renewed by the control API."""

from __future__ import annotations

from .. import objects
from ..common import LIST_PARAMS, add_interval, diff
from ..errors import EmulatorError
from ..params import (
    METADATA,
    STR,
    as_bool,
    as_metadata,
    as_str,
    check,
)
from ..shapes import new_id
from ..store import Store

DAY = 24 * 60 * 60


class Subscriptions(Store):
    """Subscriptions: started, read, set to cancel, canceled, listed, moved to the next period."""

    def _start_subscription(self, session: dict, customer_obj: dict) -> tuple[str, str]:
        """The subscription a paid Checkout Session starts, and its first invoice, paid."""
        extra = self._checkout[session["id"]]
        now = self._now()
        lines = [
            {**line, "price_obj": self._view(self._objects[line["price"]])}
            for line in extra["lines"]
        ]
        recurring = [line for line in lines if line["price_obj"]["recurring"]]
        first = recurring[0]["price_obj"]["recurring"]
        trial_days = extra.get("trial_period_days")
        # A free trial is the first period: the first charge comes when it ends.
        trial_end = now + trial_days * DAY if trial_days else None
        end = trial_end or add_interval(now, first["interval"], first["interval_count"])
        sub_id = new_id("sub", 24)
        items = [
            objects.subscription_item(
                object_id=new_id("si", 14),
                now=now,
                subscription_id=sub_id,
                price_obj=line["price_obj"],
                quantity=line["quantity"],
                period_start=now,
                period_end=end,
            )
            for line in recurring
        ]
        sub = objects.subscription(
            object_id=sub_id,
            now=now,
            customer_id=customer_obj["id"],
            currency=session["currency"],
            items=items,
            metadata=dict(extra["subscription_metadata"]),
            automatic_tax=session["automatic_tax"]["enabled"],
            payment_method=new_id("pm", 24),
        )
        sub["description"] = extra["subscription_description"]
        if trial_end is not None:
            sub.update(
                status="trialing", trial_start=now, trial_end=trial_end, billing_cycle_anchor=end
            )
        invoice_id = new_id("in", 24)
        sub["latest_invoice"] = invoice_id
        self._store(sub)
        self._emit("customer.subscription.created", sub)
        item_for_price = {item["price"]["id"]: item["id"] for item in items}
        invoice_lines = []
        for line in lines:
            is_recurring = bool(line["price_obj"]["recurring"])
            invoice_lines.append(
                self._invoice_line(
                    invoice_id,
                    line["price_obj"],
                    line["quantity"],
                    period=(now, end) if is_recurring else (now, now),
                    subscription_id=sub_id,
                    subscription_item_id=(
                        item_for_price.get(line["price"]) if is_recurring else None
                    ),
                    trial=is_recurring and trial_end is not None,
                )
            )
        invoice = objects.invoice(
            object_id=invoice_id,
            now=now,
            customer_obj=customer_obj,
            currency=session["currency"],
            lines=invoice_lines,
            billing_reason="subscription_create",
            period_start=now,
            period_end=now,
            subscription_id=sub_id,
            subscription_metadata=sub["metadata"],
            automatic_tax=session["automatic_tax"]["enabled"],
        )
        self._bill(
            invoice,
            customer_obj,
            paid=True,
            description="Subscription creation",
            method_type=extra["method_type"],
        )
        return sub_id, invoice_id

    def retrieve_subscription(self, params: dict, object_id: str) -> dict:
        """GET /v1/subscriptions/{id}"""
        check(params, {})
        return self._view(self._get("subscription", object_id))

    def update_subscription(self, params: dict, object_id: str) -> dict:
        """POST /v1/subscriptions/{id}: ``cancel_at_period_end`` and ``metadata``."""
        check(params, {"cancel_at_period_end": STR, "metadata": METADATA})
        sub = self._get("subscription", object_id)
        cancel = as_bool(params.get("cancel_at_period_end"), "cancel_at_period_end")
        if sub["status"] == "canceled" and cancel is not None:
            raise EmulatorError(
                "A canceled subscription can only update its cancellation_details and metadata.",
                param="cancel_at_period_end",
            )
        old = self._view(sub)
        sub["metadata"] = as_metadata(params.get("metadata"), current=sub["metadata"])
        if cancel is not None:
            self._set_cancel_at_period_end(sub, cancel)
        changes = diff(old, self._view(sub))
        if changes:
            self._emit("customer.subscription.updated", sub, changes)
        return self._view(sub)

    def _set_cancel_at_period_end(self, sub: dict, cancel: bool) -> None:
        if cancel == sub["cancel_at_period_end"]:
            return
        if cancel:
            sub.update(
                cancel_at_period_end=True, cancel_at=self._period(sub)[1], canceled_at=self._now()
            )
            sub["cancellation_details"] = {
                "comment": None,
                "feedback": None,
                "reason": "cancellation_requested",
            }
        else:
            sub.update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)
            sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": None}

    def cancel_subscription(self, params: dict, object_id: str) -> dict:
        """DELETE /v1/subscriptions/{id}: cancel now."""
        check(
            params,
            {
                "invoice_now": STR,
                "prorate": STR,
                "cancellation_details": {"comment": STR, "feedback": STR},
            },
        )
        sub = self._get("subscription", object_id)
        if sub["status"] == "canceled":
            raise EmulatorError(
                f"Subscription {object_id} is already canceled.", param="subscription"
            )
        details = params.get("cancellation_details") or {}
        now = self._now()
        sub.update(status="canceled", canceled_at=now, ended_at=now, cancel_at=None)
        sub["cancellation_details"] = {
            "comment": as_str(details.get("comment"), "cancellation_details[comment]"),
            "feedback": as_str(details.get("feedback"), "cancellation_details[feedback]"),
            "reason": "cancellation_requested",
        }
        self._emit("customer.subscription.deleted", sub)
        return self._view(sub)

    def list_subscriptions(self, params: dict) -> dict:
        """GET /v1/subscriptions (without ``status``: every one not canceled, as Stripe does)."""
        check(params, {"customer": STR, "status": STR, "price": STR, **LIST_PARAMS})
        customer = as_str(params.get("customer"), "customer")
        status = as_str(params.get("status"), "status")
        price = as_str(params.get("price"), "price")

        def wanted(sub: dict) -> bool:
            if customer is not None and sub["customer"] != customer:
                return False
            if price is not None and all(
                item["price"]["id"] != price for item in sub["items"]["data"]
            ):
                return False
            if status is None:
                return sub["status"] != "canceled"
            return status == "all" or sub["status"] == status

        items = [s for s in self._all("subscription") if wanted(s)]
        return self._page(items, "/v1/subscriptions", params)

    def _period(self, sub: dict) -> tuple[int, int]:
        item = sub["items"]["data"][0]
        return item["current_period_start"], item["current_period_end"]

    def _require_live_subscription(self, sub: dict) -> None:
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise EmulatorError(
                f"Subscription {sub['id']} is {sub['status']}.", param="subscription"
            )

    def _cycle_invoice(self, sub: dict, *, paid: bool) -> dict:
        """Move the items to the next period and bill it (``subscription_cycle``)."""
        old_start, old_end = self._period(sub)
        customer_obj = self._get("customer", sub["customer"])
        invoice_id = new_id("in", 24)
        lines = []
        for item in sub["items"]["data"]:
            recurring = item["price"]["recurring"]
            start = item["current_period_end"]
            end = add_interval(start, recurring["interval"], recurring["interval_count"])
            item.update(current_period_start=start, current_period_end=end)
            price_obj = self._view(self._objects.get(item["price"]["id"]) or item["price"])
            lines.append(
                self._invoice_line(
                    invoice_id,
                    price_obj,
                    item["quantity"],
                    period=(start, end),
                    subscription_id=sub["id"],
                    subscription_item_id=item["id"],
                )
            )
        if sub["cancel_at_period_end"]:
            sub["cancel_at"] = self._period(sub)[1]
        invoice = objects.invoice(
            object_id=invoice_id,
            now=self._now(),
            customer_obj=customer_obj,
            currency=sub["currency"],
            lines=lines,
            billing_reason="subscription_cycle",
            period_start=old_start,
            period_end=old_end,
            subscription_id=sub["id"],
            subscription_metadata=sub["metadata"],
            automatic_tax=sub["automatic_tax"]["enabled"],
        )
        sub["latest_invoice"] = invoice_id
        self._bill(invoice, customer_obj, paid=paid, description="Subscription update")
        return invoice

"""The customer portal: ``/v1/billing_portal/sessions`` and what the hosted portal shows."""

from __future__ import annotations

from .. import objects
from ..common import as_url, diff
from ..errors import missing
from ..params import (
    STR,
    as_str,
    check,
)
from ..shapes import new_id
from ..store import Store


class Portal(Store):
    """Portal sessions, and the hosted portal's view and buttons."""

    def create_portal_session(self, params: dict) -> dict:
        """POST /v1/billing_portal/sessions"""
        check(params, {"customer": STR, "return_url": STR, "locale": STR})
        customer_id = as_str(params.get("customer"), "customer", required=True)
        self._get("customer", customer_id, param="customer", status=400)
        object_id = new_id("bps", 24)
        obj = objects.portal_session(
            object_id=object_id,
            now=self._now(),
            customer_id=customer_id,
            return_url=as_url(params.get("return_url"), "return_url"),
            url=f"{self._base()}/p/session/{object_id}",
            config=self._portal_configuration,
        )
        obj["locale"] = as_str(params.get("locale"), "locale")
        self._store(obj)
        return self._view(obj)

    def portal_page(self, portal_id: str) -> dict:
        """What the hosted portal shows: the session and the customer's subscriptions."""
        with self._lock:
            portal = self._get("billing_portal.session", portal_id)
            subs = []
            for sub in self._all("subscription"):
                if sub["customer"] != portal["customer"] or sub["status"] == "canceled":
                    continue
                view = self._view(sub)
                names = []
                for item in view["items"]["data"]:
                    product_obj = self._objects.get(item["price"]["product"]) or {}
                    names.append(product_obj.get("name") or item["price"]["nickname"] or "Plan")
                view["_plan_name"] = ", ".join(names)
                subs.append(view)
            customer = self._view(self._objects[portal["customer"]])
            return {"portal": self._view(portal), "subscriptions": subs, "customer": customer}

    def portal_set_cancel_at_period_end(self, portal_id: str, sub_id: str, cancel: bool) -> None:
        """The portal's "Cancel plan at period end" / "Keep my plan" button."""
        with self._transaction():
            portal = self._get("billing_portal.session", portal_id)
            sub = self._get("subscription", sub_id)
            if sub["customer"] != portal["customer"]:
                raise missing("subscription", sub_id)
            self._require_live_subscription(sub)
            old = self._view(sub)
            self._set_cancel_at_period_end(sub, cancel)
            changes = diff(old, self._view(sub))
            if changes:
                self._emit("customer.subscription.updated", sub, changes)

"""The customer portal: ``/v1/billing_portal/sessions`` and what the hosted portal shows."""

from __future__ import annotations

from .. import objects
from ..common import LIST_PARAMS, add_interval, as_url, diff, format_money
from ..errors import EmulatorError, missing
from ..params import (
    METADATA,
    STR,
    STR_LIST,
    as_bool,
    as_list,
    as_metadata,
    as_str,
    check,
)
from ..shapes import new_id
from ..store import Store

_CONFIGURATION_FIELDS = {
    "features": {
        "customer_update": {"enabled": STR, "allowed_updates": STR_LIST},
        "invoice_history": {"enabled": STR},
        "payment_method_update": {"enabled": STR},
        "subscription_cancel": {"enabled": STR, "mode": STR, "proration_behavior": STR},
        "subscription_update": {
            "enabled": STR,
            "default_allowed_updates": STR_LIST,
            "proration_behavior": STR,
            "products": [{"product": STR, "prices": STR_LIST}],
        },
    },
    "business_profile": {"headline": STR, "privacy_policy_url": STR, "terms_of_service_url": STR},
    "default_return_url": STR,
    "metadata": METADATA,
}
PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")


class Portal(Store):
    """Portal sessions, and the hosted portal's view and buttons."""

    def create_portal_configuration(self, params: dict) -> dict:
        """POST /v1/billing_portal/configurations"""
        check(params, _CONFIGURATION_FIELDS)
        raw = params.get("features")
        if not isinstance(raw, dict) or not raw:
            raise EmulatorError(
                "Missing required param: features.", param="features", code="parameter_missing"
            )
        features = {
            "customer_update": {"allowed_updates": [], "enabled": False},
            "invoice_history": {"enabled": False},
            "payment_method_update": {"enabled": False, "payment_method_configuration": None},
            "subscription_cancel": {
                "cancellation_reason": {"enabled": False, "options": []},
                "enabled": False,
                "mode": "at_period_end",
                "proration_behavior": "none",
            },
            "subscription_update": {
                "default_allowed_updates": [],
                "enabled": False,
                "proration_behavior": "none",
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial",
                "billing_cycle_anchor": None,
            },
        }
        for name in ("customer_update", "invoice_history", "payment_method_update"):
            given = raw.get(name) or {}
            if "enabled" in given:
                features[name]["enabled"] = bool(
                    as_bool(given["enabled"], f"features[{name}][enabled]")
                )
        cancel = raw.get("subscription_cancel") or {}
        if "enabled" in cancel:
            features["subscription_cancel"]["enabled"] = bool(
                as_bool(cancel["enabled"], "features[subscription_cancel][enabled]")
            )
        if cancel.get("mode"):
            mode = as_str(cancel["mode"], "features[subscription_cancel][mode]")
            if mode not in ("at_period_end", "immediately"):
                raise EmulatorError(
                    f"Invalid features[subscription_cancel][mode]: {mode}",
                    param="features[subscription_cancel][mode]",
                )
            features["subscription_cancel"]["mode"] = mode
        products = self._allowed_products(raw.get("subscription_update") or {}, features)
        now = self._now()
        config = objects.portal_configuration(
            object_id=new_id("bpc", 24),
            now=now,
            features=features,
            metadata=as_metadata(params.get("metadata")),
        )
        self._store(config)
        # What a customer may switch to; Stripe shows it only when expanded.
        self._portal_products[config["id"]] = products
        return self._view(config)

    def _allowed_products(self, update: dict, features: dict) -> list[dict]:
        """``features[subscription_update]`` checked as Stripe checks it."""
        name = "features[subscription_update]"
        if not update:
            return []
        enabled = bool(as_bool(update.get("enabled"), f"{name}[enabled]"))
        allowed = as_list(update.get("default_allowed_updates"), f"{name}[default_allowed_updates]")
        for index, value in enumerate(allowed):
            if value not in ("price", "quantity", "promotion_code"):
                raise EmulatorError(
                    f"Invalid {name}[default_allowed_updates][{index}]: {value}",
                    param=f"{name}[default_allowed_updates][{index}]",
                )
        behavior = as_str(update.get("proration_behavior"), f"{name}[proration_behavior]") or "none"
        if behavior not in PRORATION_BEHAVIORS:
            raise EmulatorError(
                f"Invalid {name}[proration_behavior]: must be one of "
                f"{', '.join(PRORATION_BEHAVIORS)}",
                param=f"{name}[proration_behavior]",
            )
        products = []
        for index, entry in enumerate(as_list(update.get("products"), f"{name}[products]")):
            param = f"{name}[products][{index}]"
            product_id = as_str(entry.get("product"), f"{param}[product]", required=True)
            self._get("product", product_id, param=f"{param}[product]", status=400)
            prices = as_list(entry.get("prices"), f"{param}[prices]")
            if not prices:
                raise EmulatorError(
                    f"Missing required param: {param}[prices].",
                    param=f"{param}[prices]",
                    code="parameter_missing",
                )
            for price_id in prices:
                price = self._get("price", price_id, param=f"{param}[prices]", status=400)
                if price["product"] != product_id or not price["recurring"]:
                    raise EmulatorError(
                        f"The price {price_id} is not a recurring price of {product_id}.",
                        param=f"{param}[prices]",
                    )
            products.append({"product": product_id, "prices": list(prices)})
        if enabled and "price" in allowed and not products:
            raise EmulatorError(
                f"{name}[products] is required to allow price updates.", param=f"{name}[products]"
            )
        features["subscription_update"].update(
            enabled=enabled, default_allowed_updates=list(allowed), proration_behavior=behavior
        )
        return products

    def retrieve_portal_configuration(self, params: dict, object_id: str) -> dict:
        """GET /v1/billing_portal/configurations/{id}"""
        check(params, {})
        return self._view(self._get("billing_portal.configuration", object_id))

    def list_portal_configurations(self, params: dict) -> dict:
        """GET /v1/billing_portal/configurations"""
        check(params, {"active": STR, "is_default": STR, **LIST_PARAMS})
        active = as_bool(params.get("active"), "active")
        items = [
            c
            for c in self._all("billing_portal.configuration")
            if active is None or c["active"] == active
        ]
        return self._page(items, "/v1/billing_portal/configurations", params)

    def create_portal_session(self, params: dict) -> dict:
        """POST /v1/billing_portal/sessions"""
        check(params, {"customer": STR, "return_url": STR, "locale": STR, "configuration": STR})
        customer_id = as_str(params.get("customer"), "customer", required=True)
        self._get("customer", customer_id, param="customer", status=400)
        configuration = as_str(params.get("configuration"), "configuration")
        if configuration:
            self._get(
                "billing_portal.configuration", configuration, param="configuration", status=400
            )
        object_id = new_id("bps", 24)
        obj = objects.portal_session(
            object_id=object_id,
            now=self._now(),
            customer_id=customer_id,
            return_url=as_url(params.get("return_url"), "return_url"),
            url=f"{self._base()}/p/session/{object_id}",
            config=configuration or self._portal_configuration,
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
                view["_switch_to"] = self._switch_choices(portal, sub)
                subs.append(view)
            customer = self._view(self._objects[portal["customer"]])
            return {"portal": self._view(portal), "subscriptions": subs, "customer": customer}

    def _portal_subscription(self, portal_id: str, sub_id: str) -> tuple[dict, dict]:
        """A portal session and a live subscription of its customer (404 for another's)."""
        portal = self._get("billing_portal.session", portal_id)
        sub = self._get("subscription", sub_id)
        if sub["customer"] != portal["customer"]:
            raise missing("subscription", sub_id)
        self._require_live_subscription(sub)
        return portal, sub

    def portal_set_cancel_at_period_end(self, portal_id: str, sub_id: str, cancel: bool) -> None:
        """The portal's "Cancel plan at period end" / "Keep my plan" button."""
        with self._transaction():
            _, sub = self._portal_subscription(portal_id, sub_id)
            old = self._view(sub)
            self._set_cancel_at_period_end(sub, cancel)
            changes = diff(old, self._view(sub))
            if changes:
                self._emit("customer.subscription.updated", sub, changes)

    def _switch_choices(self, portal: dict, sub: dict) -> list[dict]:
        """The prices this portal lets the subscription move to (none but its own)."""
        config = self._objects.get(portal["configuration"]) or {}
        update = (config.get("features") or {}).get("subscription_update") or {}
        if not update.get("enabled") or "price" not in update.get("default_allowed_updates", []):
            return []
        current = sub["items"]["data"][0]["price"]["id"]
        choices = []
        for entry in self._portal_products.get(portal["configuration"], []):
            product_obj = self._objects.get(entry["product"]) or {}
            for price_id in entry["prices"]:
                price = self._objects.get(price_id)
                if price is None or price_id == current or not price["active"]:
                    continue
                amount = format_money(price["unit_amount"], price["currency"])
                every = price["recurring"]["interval"]
                name = product_obj.get("name", "Plan")
                choices.append({"price": price_id, "label": f"{name}: {amount} a {every}"})
        return choices

    def portal_switch_price(self, portal_id: str, sub_id: str, price_id: str) -> str | None:
        """The portal's "Switch to ..." button: the new price, prorated as the configuration
        says. A new billing interval restarts the period now and invoices at once (as Stripe
        does): the new price less the unused time of the old one. The invoice id, if any."""
        with self._transaction():
            portal, sub = self._portal_subscription(portal_id, sub_id)
            if price_id not in {c["price"] for c in self._switch_choices(portal, sub)}:
                raise EmulatorError("This portal does not offer that plan.", param="price")
            config = self._objects[portal["configuration"]]
            behavior = config["features"]["subscription_update"]["proration_behavior"]
            new_price = self._view(self._objects[price_id])
            item = sub["items"]["data"][0]
            old_price = self._view(self._objects.get(item["price"]["id"]) or item["price"])
            old = self._view(sub)
            now = self._now()
            start, end = item["current_period_start"], item["current_period_end"]
            new_interval = new_price["recurring"]["interval"] != old_price["recurring"]["interval"]
            item["price"] = new_price
            item["plan"] = objects.plan_from_price(new_price)
            invoice_id = None
            if new_interval:
                recurring = new_price["recurring"]
                new_end = add_interval(now, recurring["interval"], recurring["interval_count"])
                item.update(current_period_start=now, current_period_end=new_end)
                sub["billing_cycle_anchor"] = now
                unused = 0
                if behavior != "none" and end > start:
                    unused = round(
                        old_price["unit_amount"] * item["quantity"] * (end - now) / (end - start)
                    )
                invoice_id = self._switch_invoice(
                    sub, item, old_price, new_price, unused, now, new_end
                )
            self._emit("customer.subscription.updated", sub, diff(old, self._view(sub)))
            return invoice_id

    def _switch_invoice(
        self,
        sub: dict,
        item: dict,
        old_price: dict,
        new_price: dict,
        unused: int,
        now: int,
        end: int,
    ) -> str:
        """The invoice of a switch to a new interval: the new period, less the unused time."""
        customer_obj = self._get("customer", sub["customer"])
        invoice_id = new_id("in", 24)
        lines = [
            self._invoice_line(
                invoice_id,
                new_price,
                item["quantity"],
                period=(now, end),
                subscription_id=sub["id"],
                subscription_item_id=item["id"],
            )
        ]
        if unused:
            credit = self._invoice_line(
                invoice_id,
                old_price,
                item["quantity"],
                period=(now, item["current_period_end"]),
                subscription_id=sub["id"],
                subscription_item_id=item["id"],
            )
            credit["amount"] = -min(unused, new_price["unit_amount"] * item["quantity"])
            credit["description"] = "Unused time on the previous plan"
            credit["parent"]["subscription_item_details"]["proration"] = True
            lines.insert(0, credit)
        invoice = objects.invoice(
            object_id=invoice_id,
            now=now,
            customer_obj=customer_obj,
            currency=sub["currency"],
            lines=lines,
            billing_reason="subscription_update",
            period_start=now,
            period_end=now,
            subscription_id=sub["id"],
            subscription_metadata=sub["metadata"],
            automatic_tax=sub["automatic_tax"]["enabled"],
        )
        sub["latest_invoice"] = invoice_id
        if invoice["total"] > 0:
            self._bill(invoice, customer_obj, paid=True, description="Subscription update")
            return invoice_id
        # Nothing to pay: the credit covers the new period. (Stripe would carry a credit
        # larger than the new price to the customer's balance; the emulator drops the rest.)
        self._store(invoice)
        self._emit("invoice.created", invoice)
        invoice.update(status="paid", amount_paid=0, amount_remaining=0, effective_at=now)
        invoice["status_transitions"].update(finalized_at=now, paid_at=now)
        self._emit("invoice.finalized", invoice)
        self._emit("invoice.paid", invoice)
        return invoice_id

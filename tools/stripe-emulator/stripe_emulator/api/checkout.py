"""Checkout Sessions: ``/v1/checkout/sessions``, and what the hosted payment page shows."""

from __future__ import annotations

from typing import Any

from .. import objects
from ..common import LIST_PARAMS, as_url
from ..errors import EmulatorError
from ..params import (
    METADATA,
    STR,
    STR_LIST,
    as_bool,
    as_int,
    as_list,
    as_metadata,
    as_str,
    check,
)
from ..shapes import new_id
from .shipping import SHIPPING_RATE_DATA, ShippingRates, allowed_countries

SESSION_LIFETIME = 24 * 60 * 60
# Checkout's subscription_data[trial_period_days]: at least a day, at most two years.
MAX_TRIAL_DAYS = 730


class Checkout(ShippingRates):
    """Checkout Sessions: made, listed, expired, completed by the hosted page's buttons."""

    _CHECKOUT_FIELDS = {
        "mode": STR,
        "customer": STR,
        "customer_email": STR,
        "customer_creation": STR,
        "line_items": [
            {
                "price": STR,
                "quantity": STR,
                "price_data": {
                    "currency": STR,
                    "unit_amount": STR,
                    "product": STR,
                    "product_data": {"name": STR, "description": STR, "metadata": METADATA},
                },
            }
        ],
        "success_url": STR,
        "cancel_url": STR,
        "client_reference_id": STR,
        "metadata": METADATA,
        "allow_promotion_codes": STR,
        "automatic_tax": {"enabled": STR},
        "subscription_data": {"metadata": METADATA, "description": STR, "trial_period_days": STR},
        "payment_intent_data": {"metadata": METADATA, "description": STR},
        "payment_method_types": STR_LIST,
        "locale": STR,
        "expires_at": STR,
        "shipping_address_collection": {"allowed_countries": STR_LIST},
        "shipping_options": [{"shipping_rate": STR, "shipping_rate_data": SHIPPING_RATE_DATA}],
    }

    def create_checkout_session(self, params: dict) -> dict:
        """POST /v1/checkout/sessions"""
        check(params, self._CHECKOUT_FIELDS)
        now = self._now()
        mode = as_str(params.get("mode"), "mode", required=True)
        if mode not in ("payment", "subscription"):
            raise EmulatorError(
                f"Invalid mode: {mode}. The emulator supports payment and subscription.",
                param="mode",
            )
        success_url = as_url(params.get("success_url"), "success_url", required=True)
        cancel_url = as_url(params.get("cancel_url"), "cancel_url")
        customer_id = as_str(params.get("customer"), "customer")
        customer_email = as_str(params.get("customer_email"), "customer_email")
        if customer_id and customer_email:
            raise EmulatorError(
                "You may only specify one of these parameters: customer, customer_email.",
                param="customer_email",
            )
        if customer_id:
            self._get("customer", customer_id, param="customer", status=400)
        if customer_email:
            self._email(customer_email)
        customer_creation = as_str(params.get("customer_creation"), "customer_creation")
        if customer_creation is not None:
            if customer_creation not in ("always", "if_required"):
                raise EmulatorError(
                    "Invalid customer_creation: must be one of always, if_required",
                    param="customer_creation",
                )
            if mode != "payment":
                raise EmulatorError(
                    "customer_creation can only be used in payment mode.",
                    param="customer_creation",
                )
        lines = self._checkout_lines(params.get("line_items"), mode)
        if mode == "payment" and params.get("subscription_data"):
            raise EmulatorError(
                "You can only pass subscription_data in subscription mode.",
                param="subscription_data",
            )
        if mode == "subscription" and params.get("payment_intent_data"):
            raise EmulatorError(
                "You can not pass payment_intent_data in subscription mode.",
                param="payment_intent_data",
            )
        for index, method in enumerate(as_list(params.get("payment_method_types"), "")):
            if method not in ("card", "us_bank_account", "sepa_debit", "bacs_debit"):
                raise EmulatorError(
                    f"Invalid payment_method_types[{index}]: the emulator knows card and bank "
                    "debits (us_bank_account, sepa_debit, bacs_debit).",
                    param=f"payment_method_types[{index}]",
                )
        expires_at = as_int(params.get("expires_at"), "expires_at")
        if expires_at is None:
            expires_at = now + SESSION_LIFETIME
        elif not now + 30 * 60 <= expires_at <= now + SESSION_LIFETIME:
            raise EmulatorError(
                "expires_at must be between 30 minutes and 24 hours from now.",
                param="expires_at",
            )
        automatic_tax = as_bool(
            (params.get("automatic_tax") or {}).get("enabled"), "automatic_tax[enabled]"
        )
        subscription_data = params.get("subscription_data") or {}
        payment_intent_data = params.get("payment_intent_data") or {}
        trial_days = self._trial_days(subscription_data)
        currency = lines[0]["price"]["currency"]
        countries = allowed_countries(params.get("shipping_address_collection"))
        shipping = self._checked_shipping_options(params.get("shipping_options"), mode, currency)
        session_id = "cs_test_" + new_id("x", 58)[2:]
        session = objects.checkout_session(
            object_id=session_id,
            now=now,
            expires_at=expires_at,
            mode=mode,
            customer_id=customer_id,
            customer_email=customer_email,
            currency=currency,
            # Due today: a recurring price in its free trial costs nothing yet.
            amount=sum(
                line["price"]["unit_amount"] * line["quantity"]
                for line in lines
                if not (trial_days and line["price"]["recurring"])
            ),
            success_url=success_url,
            cancel_url=cancel_url,
            url=f"{self._base()}/c/pay/{session_id}",
            client_reference_id=as_str(
                params.get("client_reference_id"), "client_reference_id", max_length=200
            ),
            metadata=as_metadata(params.get("metadata")),
            allow_promotion_codes=as_bool(
                params.get("allow_promotion_codes"), "allow_promotion_codes"
            ),
            automatic_tax=bool(automatic_tax),
            locale=as_str(params.get("locale"), "locale"),
            allowed_countries=countries,
            # Made last: a refused session must leave no new shipping rates behind.
            shipping_options=self._shipping_options(shipping),
        )
        if customer_creation:
            session["customer_creation"] = customer_creation
        self._store(session)
        self._checkout[session_id] = {
            "customer_creation": customer_creation,
            "lines": [
                {"id": new_id("li", 24), "price": line["price"]["id"], "quantity": line["quantity"]}
                for line in lines
            ],
            "subscription_metadata": as_metadata(
                subscription_data.get("metadata"), "subscription_data[metadata]"
            ),
            "subscription_description": as_str(
                subscription_data.get("description"), "subscription_data[description]"
            ),
            "payment_intent_metadata": as_metadata(
                payment_intent_data.get("metadata"), "payment_intent_data[metadata]"
            ),
            "payment_intent_description": as_str(
                payment_intent_data.get("description"), "payment_intent_data[description]"
            ),
            "trial_period_days": trial_days,
            "method_type": "card",
            "awaiting_payment": False,
        }
        return self._view(session)

    def _trial_days(self, subscription_data: dict) -> int | None:
        """``subscription_data[trial_period_days]``, checked as Stripe checks it (1 to 730)."""
        name = "subscription_data[trial_period_days]"
        days = as_int(subscription_data.get("trial_period_days"), name, minimum=1)
        if days is not None and days > MAX_TRIAL_DAYS:
            raise EmulatorError(
                f"Invalid {name}: must be at most {MAX_TRIAL_DAYS} (a trial lasts two years "
                "at most).",
                param=name,
            )
        return days

    def _checkout_lines(self, raw: Any, mode: str) -> list[dict]:
        items = as_list(raw, "line_items")
        if not items:
            raise EmulatorError(
                "You must provide at least one line item (line_items[0][price] and "
                "line_items[0][quantity]).",
                param="line_items",
                code="parameter_missing",
            )
        lines = []
        for index, item in enumerate(items):
            name = f"line_items[{index}]"
            if item.get("price_data"):
                if item.get("price"):
                    raise EmulatorError(
                        f"You may only specify one of these parameters: {name}[price], "
                        f"{name}[price_data].",
                        param=f"{name}[price_data]",
                    )
                price_obj = self._inline_price(item["price_data"], f"{name}[price_data]")
                quantity = as_int(
                    item.get("quantity"), f"{name}[quantity]", required=True, minimum=1
                )
                lines.append({"price": price_obj, "quantity": quantity})
                continue
            price_id = as_str(item.get("price"), f"{name}[price]", required=True)
            price_obj = self._get("price", price_id, param=f"{name}[price]", status=400)
            if not price_obj["active"]:
                raise EmulatorError(
                    f"The price specified ({price_id}) is inactive. This field only accepts "
                    "active prices.",
                    param=f"{name}[price]",
                )
            product_obj = self._objects.get(price_obj["product"])
            if product_obj is not None and not product_obj["active"]:
                raise EmulatorError(
                    f"The product of price {price_id} is inactive.", param=f"{name}[price]"
                )
            quantity = as_int(item.get("quantity"), f"{name}[quantity]", required=True, minimum=1)
            if quantity > 999_999:
                raise EmulatorError(
                    f"Invalid {name}[quantity]: must be at most 999999", param=f"{name}[quantity]"
                )
            if mode == "payment" and price_obj["recurring"]:
                raise EmulatorError(
                    "You specified `payment` mode but passed a recurring price. Either switch "
                    "to `subscription` mode or use only one-time prices.",
                    param=f"{name}[price]",
                )
            lines.append({"price": price_obj, "quantity": quantity})
        currencies = {line["price"]["currency"] for line in lines}
        if len(currencies) > 1:
            raise EmulatorError(
                "All prices on a Checkout Session must share one currency; got "
                + ", ".join(sorted(currencies))
                + ".",
                param="line_items",
            )
        recurring = [line["price"]["recurring"] for line in lines if line["price"]["recurring"]]
        if mode == "subscription":
            if not recurring:
                raise EmulatorError(
                    "You must provide at least one recurring price in `subscription` mode "
                    "when using prices.",
                    param="line_items",
                )
            periods = {(r["interval"], r["interval_count"]) for r in recurring}
            if len(periods) > 1:
                raise EmulatorError(
                    "All recurring prices on a Checkout Session must share one billing interval.",
                    param="line_items",
                )
        return lines

    def _inline_price(self, data: dict, name: str) -> dict:
        """A one-time price made from ``price_data`` (for this session only, as Stripe makes
        them: inactive, and with an inactive product when ``product_data`` names one)."""
        currency = (as_str(data.get("currency"), f"{name}[currency]", required=True) or "").lower()
        amount = as_int(data.get("unit_amount"), f"{name}[unit_amount]", required=True, minimum=0)
        product_id = as_str(data.get("product"), f"{name}[product]")
        product_data = data.get("product_data") or {}
        if bool(product_id) == bool(product_data):
            raise EmulatorError(
                f"Exactly one of {name}[product] and {name}[product_data] is required.",
                param=f"{name}[product]",
            )
        now = self._now()
        if product_id:
            self._get("product", product_id, param=f"{name}[product]", status=400)
        else:
            product_obj = objects.product(
                object_id=new_id("prod", 14),
                now=now,
                name=as_str(product_data.get("name"), f"{name}[product_data][name]", required=True)
                or "",
                description=as_str(
                    product_data.get("description"), f"{name}[product_data][description]"
                ),
                active=False,
                metadata=as_metadata(product_data.get("metadata")),
            )
            self._store(product_obj)
            product_id = product_obj["id"]
        price_obj = objects.price(
            object_id=new_id("price", 24),
            now=now,
            product_id=product_id,
            currency=currency,
            unit_amount=amount,
            interval=None,
            interval_count=1,
            active=False,
            metadata={},
            nickname=None,
        )
        self._store(price_obj)
        return price_obj

    def retrieve_checkout_session(self, params: dict, object_id: str) -> dict:
        """GET /v1/checkout/sessions/{id}"""
        check(params, {})
        return self._view(self._get("checkout.session", object_id))

    def list_checkout_sessions(self, params: dict) -> dict:
        """GET /v1/checkout/sessions"""
        check(
            params,
            {
                "customer": STR,
                "payment_intent": STR,
                "subscription": STR,
                "status": STR,
                **LIST_PARAMS,
            },
        )
        wanted = {
            key: as_str(params.get(key), key)
            for key in ("customer", "payment_intent", "subscription", "status")
        }
        items = [
            s
            for s in self._all("checkout.session")
            if all(value is None or s[key] == value for key, value in wanted.items())
        ]
        return self._page(items, "/v1/checkout/sessions", params)

    def list_checkout_line_items(self, params: dict, object_id: str) -> dict:
        """GET /v1/checkout/sessions/{id}/line_items"""
        check(params, LIST_PARAMS)
        self._get("checkout.session", object_id)
        return self._session_line_items(object_id, params)

    def _session_line_items(self, session_id: str, params: dict) -> dict:
        items = [self._checkout_item(line) for line in self._checkout[session_id]["lines"]]
        url = f"/v1/checkout/sessions/{session_id}/line_items"
        return self._page(items, url, params, copies=True)

    def _checkout_item(self, line: dict) -> dict:
        price_obj = self._view(self._objects[line["price"]])
        product_obj = self._objects.get(price_obj["product"]) or {}
        return objects.checkout_item(
            object_id=line["id"],
            price_obj=price_obj,
            quantity=line["quantity"],
            description=product_obj.get("name") or price_obj["nickname"] or price_obj["id"],
        )

    def expire_checkout_session(self, params: dict, object_id: str) -> dict:
        """POST /v1/checkout/sessions/{id}/expire"""
        check(params, {})
        return self._expire(self._get("checkout.session", object_id))

    def _expire(self, session: dict) -> dict:
        if session["status"] != "open":
            raise EmulatorError(
                'Only Checkout Sessions with a status in ["open"] can be expired; this one is '
                f"{session['status']}.",
                param="session",
            )
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session)
        return self._view(session)

    def _success_url(self, session: dict) -> str:
        return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])

    def _complete_session(self, session: dict, *, paid: bool) -> None:
        extra = self._checkout[session["id"]]
        wants_customer = (
            session["mode"] == "subscription" or extra.get("customer_creation") == "always"
        )
        if session["customer"] is None and wants_customer:
            customer = objects.customer(
                object_id=new_id("cus", 14),
                now=self._now(),
                email=session["customer_email"],
                name=None,
                description=None,
                phone=None,
                metadata={},
            )
            self._store(customer)
            self._emit("customer.created", customer)
            session["customer"] = customer["id"]
        # Nothing due today (a free trial): nothing to pay later either, whatever the method.
        nothing_due = session["amount_total"] == 0 and bool(extra.get("trial_period_days"))
        if paid or nothing_due:
            self._fulfil(session)
            status = "no_payment_required" if nothing_due else "paid"
        else:
            extra["method_type"] = "us_bank_account"
            extra["awaiting_payment"] = True
            status = "unpaid"
        customer_obj = self._objects.get(session["customer"] or "")
        session.update(
            status="complete",
            payment_status=status,
            customer_details=objects.customer_details(customer_obj, session["customer_email"]),
            url=None,
        )
        self._emit("checkout.session.completed", session)

    def _fulfil(self, session: dict) -> None:
        """Create what a paid session pays for (and emit those objects' events)."""
        extra = self._checkout[session["id"]]
        customer_obj = self._objects.get(session["customer"] or "")
        if session["mode"] == "payment":
            intent, charge = self._payment(
                amount=session["amount_total"],
                currency=session["currency"],
                customer_obj=customer_obj,
                description=extra["payment_intent_description"],
                metadata=extra["payment_intent_metadata"],
                method_type=extra["method_type"],
            )
            session["payment_intent"] = intent["id"]
            self._emit("payment_intent.succeeded", intent)
            self._emit("charge.succeeded", charge)
            return
        assert customer_obj is not None
        sub_id, invoice_id = self._start_subscription(session, customer_obj)
        session["subscription"] = sub_id
        session["invoice"] = invoice_id

    def checkout_page(self, session_id: str) -> dict:
        """What the hosted Checkout page shows: the session, items, shipping rates, customer."""
        with self._lock:
            session = self._get("checkout.session", session_id)
            return {
                "session": self._view(session),
                "items": [
                    self._checkout_item(line) for line in self._checkout[session_id]["lines"]
                ],
                "customer": self._view(self._objects[session["customer"]])
                if session["customer"]
                else None,
                "shipping_rates": self._session_rates(session),
                "trial_period_days": self._checkout[session_id].get("trial_period_days"),
            }

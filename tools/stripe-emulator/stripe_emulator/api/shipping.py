"""Shipping: ``/v1/shipping_rates``, and a Checkout Session's address collection and rates.

A session made with ``shipping_address_collection`` asks for an address on the hosted page;
one made with ``shipping_options`` (payment mode only, up to 5) offers those rates, the first
chosen unless the customer picks another. When it is paid, the address goes in
``collected_information.shipping_details`` and the rate in ``shipping_cost``, and the rate's
amount is added to ``amount_total`` (what the PaymentIntent charges).
"""

from __future__ import annotations

from typing import Any

from .. import objects
from ..common import LIST_PARAMS
from ..countries import COUNTRY_CODE, SHIPPING_COUNTRIES, UNSUPPORTED_COUNTRIES, country_name
from ..errors import EmulatorError
from ..params import METADATA, STR, as_bool, as_int, as_list, as_metadata, as_str, check
from ..shapes import new_id
from ..store import Store
from .catalog import CURRENCY

MAX_SHIPPING_OPTIONS = 5

SHIPPING_RATE_DATA = {
    "type": STR,
    "display_name": STR,
    "fixed_amount": {"amount": STR, "currency": STR},
    "metadata": METADATA,
}

SHIPPING_FIELDS = ("name", "line1", "line2", "city", "state", "postal_code", "country")
REQUIRED_SHIPPING_FIELDS = ("name", "line1", "city", "postal_code", "country")
SHIPPING_LABELS = {
    "name": "full name",
    "line1": "address line 1",
    "line2": "address line 2",
    "city": "city",
    "state": "state or county",
    "postal_code": "postal code",
    "country": "country",
}
# What Emulator.pay uses when a test gives no address: every existing caller keeps working.
DEFAULT_SHIPPING = {
    "name": "Nina Reader",
    "line1": "1 Test Street",
    "line2": "",
    "city": "Springfield",
    "state": "",
    "postal_code": "12345",
}


def allowed_countries(raw: Any) -> list[str] | None:
    """``shipping_address_collection``'s countries, checked as Stripe checks them (or None)."""
    if raw is None or raw == "":
        return None
    name = "shipping_address_collection[allowed_countries]"
    countries = as_list(raw.get("allowed_countries"), name)
    if not countries:
        raise EmulatorError(
            f"Missing required param: {name}.", param=name, code="parameter_missing"
        )
    for index, code in enumerate(countries):
        param = f"{name}[{index}]"
        if not COUNTRY_CODE.match(code):
            raise EmulatorError(
                f"Invalid {param}: {code!r} is not a two-letter country code in capitals "
                "(such as GB or US).",
                param=param,
            )
        if code in UNSUPPORTED_COUNTRIES:
            raise EmulatorError(
                f"Invalid {param}: Checkout cannot ship to {country_name(code)} ({code}).",
                param=param,
            )
        if code not in SHIPPING_COUNTRIES:
            raise EmulatorError(
                f"Invalid {param}: {code} is not a country code Stripe knows.", param=param
            )
    return list(dict.fromkeys(countries))  # once each, in the order given


class ShippingRates(Store):
    """Shipping rates, and what a Checkout Session does with them and with an address."""

    def create_shipping_rate(self, params: dict) -> dict:
        """POST /v1/shipping_rates"""
        check(params, SHIPPING_RATE_DATA)
        return self._view(self._make_rate(self._rate_data(params, "", currency=None)))

    def retrieve_shipping_rate(self, params: dict, object_id: str) -> dict:
        """GET /v1/shipping_rates/{id}"""
        check(params, {})
        return self._view(self._get("shipping_rate", object_id))

    def list_shipping_rates(self, params: dict) -> dict:
        """GET /v1/shipping_rates"""
        check(params, {"active": STR, "currency": STR, **LIST_PARAMS})
        active = as_bool(params.get("active"), "active")
        currency = as_str(params.get("currency"), "currency")
        items = [
            rate
            for rate in self._all("shipping_rate")
            if (active is None or rate["active"] == active)
            and (currency is None or rate["fixed_amount"]["currency"] == currency.lower())
        ]
        return self._page(items, "/v1/shipping_rates", params)

    def _rate_data(self, raw: dict, prefix: str, currency: str | None) -> dict:
        """Checked shipping rate parameters (``prefix``: where they sit in the request)."""

        def name(key: str) -> str:
            return f"{prefix}[{key}]" if prefix else key

        kind = as_str(raw.get("type"), name("type")) or "fixed_amount"
        if kind != "fixed_amount":
            raise EmulatorError(
                f"Invalid {name('type')}: must be fixed_amount (the only type Stripe has).",
                param=name("type"),
            )
        display_name = as_str(raw.get("display_name"), name("display_name"), required=True)
        fixed = raw.get("fixed_amount")
        if not isinstance(fixed, dict) or not fixed:
            raise EmulatorError(
                f"Missing required param: {name('fixed_amount')}.",
                param=name("fixed_amount"),
                code="parameter_missing",
            )
        amount = as_int(
            fixed.get("amount"), f"{name('fixed_amount')}[amount]", required=True, minimum=0
        )
        currency_param = f"{name('fixed_amount')}[currency]"
        rate_currency = as_str(fixed.get("currency"), currency_param, required=True) or ""
        if not CURRENCY.match(rate_currency):
            raise EmulatorError(
                f"Invalid currency: {rate_currency}. It must be a three-letter ISO code, "
                "such as gbp.",
                param=currency_param,
            )
        rate_currency = rate_currency.lower()
        if currency is not None and rate_currency != currency:
            raise EmulatorError(
                f"The shipping rate's currency ({rate_currency}) must match the currency of "
                f"the Checkout Session's line items ({currency}).",
                param=currency_param,
            )
        return {
            "display_name": display_name,
            "amount": amount,
            "currency": rate_currency,
            "metadata": as_metadata(raw.get("metadata"), name("metadata")),
        }

    def _make_rate(self, data: dict) -> dict:
        return self._store(
            objects.shipping_rate(object_id=new_id("shr", 24), now=self._now(), **data)
        )

    def _checked_shipping_options(self, raw: Any, mode: str, currency: str) -> list[str | dict]:
        """``shipping_options`` checked: an existing rate's id, or the data of a new rate, each.

        Nothing is made yet, so a session refused for another reason leaves no rates behind.
        """
        options = as_list(raw, "shipping_options")
        if options and mode != "payment":
            raise EmulatorError(
                "shipping_options can only be used in payment mode.", param="shipping_options"
            )
        if len(options) > MAX_SHIPPING_OPTIONS:
            raise EmulatorError(
                f"Invalid shipping_options: a Checkout Session can offer at most "
                f"{MAX_SHIPPING_OPTIONS} shipping options; got {len(options)}.",
                param="shipping_options",
            )
        checked: list[str | dict] = []
        for index, option in enumerate(options):
            name = f"shipping_options[{index}]"
            option = option if isinstance(option, dict) else {}
            rate_id = as_str(option.get("shipping_rate"), f"{name}[shipping_rate]")
            data = option.get("shipping_rate_data")
            if rate_id and data:
                raise EmulatorError(
                    f"You may only specify one of these parameters: {name}[shipping_rate], "
                    f"{name}[shipping_rate_data].",
                    param=name,
                )
            if rate_id:
                checked.append(self._usable_rate(rate_id, f"{name}[shipping_rate]", currency))
            elif data:
                checked.append(self._rate_data(data, f"{name}[shipping_rate_data]", currency))
            else:
                raise EmulatorError(
                    f"Missing required param: {name}[shipping_rate] or "
                    f"{name}[shipping_rate_data] (one of the two).",
                    param=name,
                    code="parameter_missing",
                )
        return checked

    def _usable_rate(self, rate_id: str, param: str, currency: str) -> str:
        rate = self._get("shipping_rate", rate_id, param=param, status=400)
        if not rate["active"]:
            raise EmulatorError(f"The shipping rate {rate_id} is inactive.", param=param)
        if rate["fixed_amount"]["currency"] != currency:
            raise EmulatorError(
                f"The shipping rate's currency ({rate['fixed_amount']['currency']}) must match "
                f"the currency of the Checkout Session's line items ({currency}).",
                param=param,
            )
        return rate_id

    def _shipping_options(self, checked: list[str | dict]) -> list[dict]:
        """A new session's ``shipping_options``, making the rates given as data."""
        rates = [
            self._objects[item] if isinstance(item, str) else self._make_rate(item)
            for item in checked
        ]
        return [objects.shipping_option(rate) for rate in rates]

    # --- paying ---------------------------------------------------------------------------

    def _shipping_address(self, session: dict, shipping: Any) -> dict | None:
        """The address a payment ships to, checked (``None``: the session collects none).

        With no ``shipping`` given, a test address in the first allowed country.
        """
        collection = session["shipping_address_collection"]
        if collection is None:
            if shipping is not None:
                raise EmulatorError(
                    "This Checkout Session does not collect a shipping address.",
                    param="shipping",
                )
            return None
        allowed = collection["allowed_countries"]
        if shipping is None:
            return {**DEFAULT_SHIPPING, "country": allowed[0]}
        if not isinstance(shipping, dict):
            raise EmulatorError(
                "shipping must be an object of " + ", ".join(SHIPPING_FIELDS) + ".",
                param="shipping",
            )
        values: dict[str, str] = {}
        for key, value in shipping.items():
            if key not in SHIPPING_FIELDS:
                raise EmulatorError(
                    f"Unknown shipping field: {key} (the fields are "
                    + ", ".join(SHIPPING_FIELDS)
                    + ").",
                    param=f"shipping[{key}]",
                )
            if value is not None and not isinstance(value, str):
                raise EmulatorError(
                    f"Invalid shipping[{key}]: expected a string", param=f"shipping[{key}]"
                )
            values[key] = (value or "").strip()
        missing = [key for key in REQUIRED_SHIPPING_FIELDS if not values.get(key)]
        if missing:
            raise EmulatorError(
                "Missing from the shipping address: "
                + ", ".join(SHIPPING_LABELS[key] for key in missing)
                + ".",
                param=f"shipping[{missing[0]}]",
                code="parameter_missing",
            )
        country = values["country"].upper()
        if country not in allowed:
            raise EmulatorError(
                f"This checkout does not ship to {country_name(country)}: choose one of "
                + ", ".join(country_name(code) for code in allowed)
                + ".",
                param="shipping[country]",
            )
        return {key: values.get(key, "") for key in SHIPPING_FIELDS} | {"country": country}

    def _shipping_choice(self, session: dict, shipping_rate: Any) -> dict | None:
        """The shipping option a payment takes: by index or ``shr_`` id; the first by default."""
        options = session["shipping_options"]
        if not options:
            if shipping_rate is not None:
                raise EmulatorError(
                    "This Checkout Session offers no shipping options.", param="shipping_rate"
                )
            return None
        if shipping_rate is None:
            return options[0]
        if isinstance(shipping_rate, int) and not isinstance(shipping_rate, bool):
            if 0 <= shipping_rate < len(options):
                return options[shipping_rate]
        elif isinstance(shipping_rate, str):
            for option in options:
                if option["shipping_rate"] == shipping_rate:
                    return option
        raise EmulatorError(
            f"Choose one of this checkout's {len(options)} shipping options (an index from 0, "
            f"or a shipping rate id), not {shipping_rate!r}.",
            param="shipping_rate",
        )

    def _apply_shipping(self, session: dict, address: dict | None, option: dict | None) -> None:
        """Put the address and the chosen rate on a session being paid, and charge the rate."""
        if address is None and option is None:
            return
        amount = option["shipping_amount"] if option else 0
        if address is not None:
            # Stripe answers null for the optional lines left empty.
            stored = {key: address[key] or None for key in SHIPPING_FIELDS}
            session["collected_information"] = objects.collected_information(stored)
        session["shipping_cost"] = objects.shipping_cost(
            amount, option["shipping_rate"] if option else None
        )
        session["total_details"]["amount_shipping"] = amount
        session["amount_total"] = session["amount_subtotal"] + amount

    def _session_rates(self, session: dict) -> list[dict]:
        """The shipping rates a session offers, in its order, as the API answers them."""
        return [self._view(self._objects[o["shipping_rate"]]) for o in session["shipping_options"]]

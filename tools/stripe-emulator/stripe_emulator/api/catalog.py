"""The catalogue: ``/v1/products`` and ``/v1/prices``."""

from __future__ import annotations

import re

from .. import objects
from ..common import LIST_PARAMS, diff
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
from ..store import Store

INTERVALS = ("day", "week", "month", "year")
CURRENCY = re.compile(r"^[a-zA-Z]{3}$")


class Catalog(Store):
    """Products and their prices (immutable but for ``active``, ``metadata``, ``nickname``)."""

    _PRODUCT_FIELDS = {"name": STR, "description": STR, "active": STR, "metadata": METADATA}

    def create_product(self, params: dict) -> dict:
        """POST /v1/products"""
        check(params, self._PRODUCT_FIELDS)
        active = as_bool(params.get("active"), "active")
        obj = objects.product(
            object_id=new_id("prod", 14),
            now=self._now(),
            name=as_str(params.get("name"), "name", required=True),
            description=as_str(params.get("description"), "description", max_length=40000),
            active=True if active is None else active,
            metadata=as_metadata(params.get("metadata")),
        )
        self._store(obj)
        self._emit("product.created", obj)
        return self._view(obj)

    def retrieve_product(self, params: dict, object_id: str) -> dict:
        """GET /v1/products/{id}"""
        check(params, {})
        return self._view(self._get("product", object_id))

    def update_product(self, params: dict, object_id: str) -> dict:
        """POST /v1/products/{id}"""
        check(params, self._PRODUCT_FIELDS)
        obj = self._get("product", object_id)
        old = self._view(obj)
        if "name" in params:
            obj["name"] = as_str(params["name"], "name", required=True)
        if "description" in params:
            obj["description"] = as_str(params["description"], "description", max_length=40000)
        active = as_bool(params.get("active"), "active")
        if active is not None:
            obj["active"] = active
        obj["metadata"] = as_metadata(params.get("metadata"), current=obj["metadata"])
        changes = diff(old, obj)
        if changes:
            obj["updated"] = self._now()
            self._emit("product.updated", obj, changes)
        return self._view(obj)

    def list_products(self, params: dict) -> dict:
        """GET /v1/products"""
        check(params, {"active": STR, "ids": STR_LIST, **LIST_PARAMS})
        active = as_bool(params.get("active"), "active")
        ids = as_list(params.get("ids"), "ids")
        items = [
            p
            for p in self._all("product")
            if (active is None or p["active"] == active) and (not ids or p["id"] in ids)
        ]
        return self._page(items, "/v1/products", params)

    def create_price(self, params: dict) -> dict:
        """POST /v1/prices"""
        schema = {
            "product": STR,
            "unit_amount": STR,
            "currency": STR,
            "recurring": {"interval": STR, "interval_count": STR},
            "active": STR,
            "metadata": METADATA,
            "nickname": STR,
        }
        check(params, schema)
        product_id = as_str(params.get("product"), "product", required=True)
        self._get("product", product_id, param="product", status=400)
        unit_amount = as_int(params.get("unit_amount"), "unit_amount", required=True, minimum=0)
        currency = as_str(params.get("currency"), "currency", required=True)
        if not CURRENCY.match(currency or ""):
            raise EmulatorError(
                f"Invalid currency: {currency}. It must be a three-letter ISO code, such as gbp.",
                param="currency",
            )
        interval, count = None, 1
        recurring = params.get("recurring")
        if isinstance(recurring, dict) and recurring:
            interval = as_str(recurring.get("interval"), "recurring[interval]", required=True)
            if interval not in INTERVALS:
                raise EmulatorError(
                    f"Invalid recurring[interval]: must be one of {', '.join(INTERVALS)}",
                    param="recurring[interval]",
                )
            count = (
                as_int(recurring.get("interval_count"), "recurring[interval_count]", minimum=1) or 1
            )
        active = as_bool(params.get("active"), "active")
        obj = objects.price(
            object_id=new_id("price", 24),
            now=self._now(),
            product_id=product_id,
            currency=currency.lower(),
            unit_amount=unit_amount,
            interval=interval,
            interval_count=count,
            active=True if active is None else active,
            metadata=as_metadata(params.get("metadata")),
            nickname=as_str(params.get("nickname"), "nickname"),
        )
        self._store(obj)
        self._emit("price.created", obj)
        return self._view(obj)

    def retrieve_price(self, params: dict, object_id: str) -> dict:
        """GET /v1/prices/{id}"""
        check(params, {})
        return self._view(self._get("price", object_id))

    def update_price(self, params: dict, object_id: str) -> dict:
        """POST /v1/prices/{id}: only ``active``, ``metadata`` and ``nickname`` can change."""
        for fixed in ("unit_amount", "currency", "recurring", "product"):
            if fixed in params:
                raise EmulatorError(
                    f"You cannot change the {fixed} of a price: prices are immutable. "
                    "Create a new price (and deactivate this one) instead.",
                    param=fixed,
                )
        check(params, {"active": STR, "metadata": METADATA, "nickname": STR})
        obj = self._get("price", object_id)
        old = self._view(obj)
        active = as_bool(params.get("active"), "active")
        if active is not None:
            obj["active"] = active
        if "nickname" in params:
            obj["nickname"] = as_str(params["nickname"], "nickname")
        obj["metadata"] = as_metadata(params.get("metadata"), current=obj["metadata"])
        changes = diff(old, obj)
        if changes:
            self._emit("price.updated", obj, changes)
        return self._view(obj)

    def list_prices(self, params: dict) -> dict:
        """GET /v1/prices"""
        check(params, {"product": STR, "active": STR, "type": STR, "currency": STR, **LIST_PARAMS})
        product = as_str(params.get("product"), "product")
        active = as_bool(params.get("active"), "active")
        kind = as_str(params.get("type"), "type")
        currency = as_str(params.get("currency"), "currency")
        items = [
            p
            for p in self._all("price")
            if (product is None or p["product"] == product)
            and (active is None or p["active"] == active)
            and (kind is None or p["type"] == kind)
            and (currency is None or p["currency"] == currency.lower())
        ]
        return self._page(items, "/v1/prices", params)

"""Customers: ``/v1/customers``."""

from __future__ import annotations

import re
from typing import Any

from .. import objects
from ..common import LIST_PARAMS, diff
from ..errors import EmulatorError
from ..params import (
    METADATA,
    STR,
    as_metadata,
    as_str,
    check,
)
from ..shapes import new_id
from ..store import Store

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Customers(Store):
    """Create, read, change and list customers."""

    def create_customer(self, params: dict) -> dict:
        """POST /v1/customers"""
        schema = {"email": STR, "name": STR, "description": STR, "phone": STR, "metadata": METADATA}
        check(params, schema)
        obj = objects.customer(
            object_id=new_id("cus", 14),
            now=self._now(),
            email=self._email(params.get("email")),
            name=as_str(params.get("name"), "name", max_length=256),
            description=as_str(params.get("description"), "description"),
            phone=as_str(params.get("phone"), "phone", max_length=20),
            metadata=as_metadata(params.get("metadata")),
        )
        self._store(obj)
        self._emit("customer.created", obj)
        return self._view(obj)

    @staticmethod
    def _email(value: Any) -> str | None:
        email = as_str(value, "email", max_length=512)
        if email is not None and not EMAIL.match(email):
            raise EmulatorError(
                f"Invalid email address: {email}", param="email", code="email_invalid"
            )
        return email

    def retrieve_customer(self, params: dict, object_id: str) -> dict:
        """GET /v1/customers/{id}"""
        check(params, {})
        return self._view(self._get("customer", object_id))

    def update_customer(self, params: dict, object_id: str) -> dict:
        """POST /v1/customers/{id}"""
        schema = {"email": STR, "name": STR, "description": STR, "phone": STR, "metadata": METADATA}
        check(params, schema)
        obj = self._get("customer", object_id)
        old = self._view(obj)
        for key in ("name", "description", "phone"):
            if key in params:
                obj[key] = as_str(params[key], key)
        if "email" in params:
            obj["email"] = self._email(params["email"])
        obj["metadata"] = as_metadata(params.get("metadata"), current=obj["metadata"])
        changes = diff(old, obj)
        if changes:
            self._emit("customer.updated", obj, changes)
        return self._view(obj)

    def list_customers(self, params: dict) -> dict:
        """GET /v1/customers"""
        check(params, {"email": STR, **LIST_PARAMS})
        email = as_str(params.get("email"), "email")
        items = [c for c in self._all("customer") if email is None or c["email"] == email]
        return self._page(items, "/v1/customers", params)

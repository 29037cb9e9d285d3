"""The emulator's state: in-memory Stripe objects behind one lock, and what every resource uses.

Every change runs in a *transaction*: the lock is held while objects change and events are
recorded; once it is released the transaction's events go to the webhook sender (so a
webhook handler may call the emulator back without a deadlock). With the ``sync`` delivery
mode that happens before the HTTP request that caused the events answers.

With a ``state_file`` the state (objects, events, Checkout extras, idempotency keys) is also
written to that JSON file at the end of every changing transaction, still under the lock and
before any webhook is sent, and read back when the emulator starts, so a restarted emulator
still knows the ids an app has stored. Held events and the delivery log are not kept.

The resources (``api/``) and the control API (``control.py``) are mixins on :class:`Store`;
:class:`stripe_emulator.core.Emulator` puts them together, so one resource may call another's
helpers through ``self`` (Checkout bills through the invoices' ``_bill``, for one).
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import objects
from .common import API_VERSION
from .errors import EmulatorError, missing
from .params import as_int, as_list, as_str
from .shapes import new_id
from .state import STATE_FORMAT, read_state, write_state
from .webhooks import WebhookSender

DEFAULT_BASE_URL = "http://127.0.0.1:12111"


@dataclass
class _Tx:
    request_id: str | None
    idempotency_key: str | None
    base_url: str | None
    events: list[str] = field(default_factory=list)


@dataclass
class Saved:
    """An answered POST, kept under its idempotency key to be replayed."""

    fingerprint: str
    status: int
    body: bytes
    request_id: str


@dataclass
class Fault:
    """API requests that fail on purpose: Stripe down, or one endpoint failing."""

    method: str
    path: str
    status: int
    times: int | None  # None: until cleared

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault fails a request of ``method`` to ``path``."""
        return (self.method in ("*", method)) and fnmatch.fnmatchcase(path, self.path)


class Store:
    """The state behind one lock, and what every resource uses: storage, events, answers."""

    def __init__(
        self,
        base_url: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        delivery_mode: str = "sync",
        state_file: str | Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self._lock = threading.RLock()
        self._tx: _Tx | None = None
        self._webhooks = WebhookSender(self._event_for_delivery, mode=delivery_mode)
        if webhook_url:
            self.configure_webhook(webhook_url, webhook_secret)
        self._portal_configuration = new_id("bpc")
        self._state_file = Path(state_file) if state_file is not None else None
        self._clear()
        self._load()

    def _clear(self) -> None:
        self._objects: dict[str, dict] = {}
        self._ids: dict[str, list[str]] = {}
        self._checkout: dict[str, dict] = {}
        # Per portal configuration: the products and prices a customer may switch to.
        self._portal_products: dict[str, list[dict]] = {}
        self._events: list[dict] = []
        self._event_index: dict[str, dict] = {}
        self._idempotency: dict[str, Saved] = {}
        self._faults: list[Fault] = []

    @property
    def state_file(self) -> Path | None:
        """The JSON file the state is kept in (``None``: memory only)."""
        return self._state_file

    def configure_webhook(self, url: str | None, secret: str | None) -> None:
        """Send events to ``url``, signed with ``secret`` (``whsec_...``); ``None`` stops it."""
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"webhook URL must be http(s)://host/..., not {url!r}")
            if not secret:
                raise ValueError("a webhook URL needs a signing secret (whsec_...)")
        self._webhooks.configure(url, secret)

    @contextlib.contextmanager
    def _transaction(
        self,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        base_url: str | None = None,
        *,
        changes: bool = True,
    ) -> Iterator[_Tx]:
        """Hold the lock; at the end of the outermost one save (if ``changes``), release, send.

        The state is saved even when the transaction fails: the file mirrors memory, whatever
        was changed before the error.
        """
        self._lock.acquire()
        outer = self._tx is None
        if outer:
            self._tx = _Tx(request_id, idempotency_key, base_url)
        tx = self._tx
        assert tx is not None
        try:
            yield tx
        finally:
            try:
                if outer and changes:
                    self._save()
            finally:
                if outer:
                    self._tx = None
                self._lock.release()
            if outer and tx.events:
                self._webhooks.dispatch(tx.events)

    # --- the state file -------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "api_version": API_VERSION,
            "portal_configuration": self._portal_configuration,
            "objects": self._objects,
            "ids": self._ids,
            "checkout": self._checkout,
            "portal_products": self._portal_products,
            "events": self._events,
            "idempotency": {
                key: {
                    "fingerprint": saved.fingerprint,
                    "status": saved.status,
                    "body": saved.body.decode("utf-8"),
                    "request_id": saved.request_id,
                }
                for key, saved in self._idempotency.items()
            },
        }

    def _save(self) -> None:
        """Write the state to the state file, if any (called with the lock held)."""
        if self._state_file is not None:
            write_state(self._state_file, self._state())

    def _load(self) -> None:
        """Read the state file, if there is one; an unreadable one is a warning (start empty)."""
        state = read_state(self._state_file) if self._state_file is not None else None
        if state is None:
            return
        with self._lock:
            self._portal_configuration = state["portal_configuration"]
            self._objects = state["objects"]
            self._ids = state["ids"]
            self._checkout = state["checkout"]
            self._portal_products = state.get("portal_products", {})
            self._events = state["events"]
            self._event_index = {event["id"]: event for event in self._events}
            self._idempotency = {
                key: Saved(
                    saved["fingerprint"],
                    saved["status"],
                    saved["body"].encode("utf-8"),
                    saved["request_id"],
                )
                for key, saved in state["idempotency"].items()
            }

    def _base(self) -> str:
        if self.base_url:
            return self.base_url
        if self._tx is not None and self._tx.base_url:
            return self._tx.base_url.rstrip("/")
        return DEFAULT_BASE_URL

    @staticmethod
    def _now() -> int:
        return int(time.time())

    def _store(self, obj: dict) -> dict:
        self._objects[obj["id"]] = obj
        self._ids.setdefault(obj["object"], []).append(obj["id"])
        return obj

    def _get(self, object_type: str, object_id: Any, param: str = "id", status: int = 404) -> dict:
        obj = self._objects.get(object_id) if isinstance(object_id, str) else None
        if obj is None or obj["object"] != object_type:
            raise missing(object_type, str(object_id), param=param, status=status)
        return obj

    def _all(self, object_type: str) -> list[dict]:
        """Objects of a type, newest first (Stripe's list order)."""
        return [self._objects[i] for i in reversed(self._ids.get(object_type, []))]

    def _view(self, obj: dict) -> dict:
        """A deep copy as the API answers it (subscription items show their price as it is now)."""
        view = copy.deepcopy(obj)
        if view.get("object") == "subscription":
            for item in view["items"]["data"]:
                current = self._objects.get(item["price"]["id"])
                if current is not None:
                    item["price"] = copy.deepcopy(current)
                    item["plan"] = objects.plan_from_price(current)
        return view

    def _emit(self, event_type: str, obj: dict, previous: dict | None = None) -> dict:
        tx = self._tx
        assert tx is not None, "events are emitted inside a transaction"
        event = objects.event(
            object_id=new_id("evt"),
            now=self._now(),
            event_type=event_type,
            api_version=API_VERSION,
            data_object=self._view(obj),
            previous_attributes=previous,
            pending_webhooks=1 if self._webhooks.active else 0,
            request_id=tx.request_id,
            idempotency_key=tx.idempotency_key,
        )
        self._events.append(event)
        self._event_index[event["id"]] = event
        tx.events.append(event["id"])
        return event

    def _event_for_delivery(self, event_id: str) -> dict:
        with self._lock:
            event = self._event_index.get(event_id) if isinstance(event_id, str) else None
            if event is None:
                raise missing("event", str(event_id))
            return copy.deepcopy(event)

    def _require_webhook(self) -> None:
        if not self._webhooks.url:
            raise EmulatorError(
                "No webhook URL is configured: call configure_webhook(url, secret)."
            )

    # ==================================================================================
    # HTTP API entry point
    # ==================================================================================

    def handle(
        self,
        *,
        method: str,
        path: str,
        params: dict[str, Any],
        handler: Callable[..., dict],
        path_args: dict[str, str],
        idempotency_key: str | None,
        base_url: str | None,
    ) -> tuple[int, bytes, dict[str, str]]:
        """Run one API request: idempotency, the handler, ``expand``; status, JSON, headers."""
        request_id = new_id("req", 14)
        headers = {"Request-Id": request_id}
        fault = self._take_fault(method, path)
        if fault is not None:
            error = EmulatorError(
                "The Stripe emulator was told to fail this request (a simulated outage).",
                status=fault.status,
                error_type="api_error",
            )
            return fault.status, json.dumps(error.body()).encode("utf-8"), headers
        try:
            with self._transaction(request_id, idempotency_key, base_url, changes=method != "GET"):
                fingerprint = json.dumps([method, path, params], sort_keys=True)
                if idempotency_key and method == "POST":
                    saved = self._idempotency.get(idempotency_key)
                    if saved is not None:
                        if saved.fingerprint != fingerprint:
                            raise EmulatorError(
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with. Try using a key other "
                                f"than '{idempotency_key}' if you meant to execute a different "
                                "request.",
                                error_type="idempotency_error",
                                code="idempotency_key_in_use",
                            )
                        return (
                            saved.status,
                            saved.body,
                            {"Request-Id": saved.request_id, "Idempotent-Replayed": "true"},
                        )
                params = dict(params)
                expand = as_list(params.pop("expand", None), "expand")
                result = handler(params, **path_args)
                self._expand(result, expand)
                body = json.dumps(result).encode("utf-8")
                if idempotency_key and method == "POST":
                    self._idempotency[idempotency_key] = Saved(fingerprint, 200, body, request_id)
                return 200, body, headers
        except EmulatorError as exc:
            return exc.status, json.dumps(exc.body()).encode("utf-8"), headers

    def _take_fault(self, method: str, path: str) -> Fault | None:
        """The fault that fails this request, counted down, or None."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _expand(self, obj: dict, paths: list) -> None:
        for index, path in enumerate(paths):
            if not isinstance(path, str) or not path:
                raise EmulatorError("Invalid expand value", param=f"expand[{index}]")
            if path.count(".") > 3:
                raise EmulatorError(
                    f"You cannot expand more than 4 levels of a property ({path}).",
                    param=f"expand[{index}]",
                )
            self._expand_path(obj, path.split("."), path, index)

    def _expand_path(self, node: Any, parts: list[str], path: str, index: int) -> None:
        if isinstance(node, list):
            for element in node:
                self._expand_path(element, parts, path, index)
            return
        if not isinstance(node, dict):
            return
        key, rest = parts[0], parts[1:]
        cannot = EmulatorError(
            f"This property cannot be expanded ({path}).", param=f"expand[{index}]"
        )
        if node.get("object") == "checkout.session" and key == "line_items":
            node[key] = self._session_line_items(node["id"], {})
        elif key not in node or key in ("id", "object"):
            raise cannot
        else:
            value = node[key]
            if isinstance(value, str):
                target = self._objects.get(value)
                if target is None:
                    raise cannot
                node[key] = self._view(target)
            elif value is not None and not isinstance(value, dict | list):
                raise cannot
        if rest:
            self._expand_path(node.get(key), rest, path, index)

    def _page(self, items: list[dict], url: str, params: dict, *, copies: bool = False) -> dict:
        """One page of a list, newest first; ``copies``: the items are answers already."""
        limit = as_int(params.get("limit"), "limit", minimum=1)
        limit = 10 if limit is None else limit
        if limit > 100:
            raise EmulatorError("Invalid limit: must be at most 100", param="limit")
        after = as_str(params.get("starting_after"), "starting_after")
        before = as_str(params.get("ending_before"), "ending_before")
        ids = [item["id"] for item in items]
        if after is not None:
            if after not in ids:
                raise missing("object", after, param="starting_after", status=400)
            items = items[ids.index(after) + 1 :]
            page = items[:limit]
        elif before is not None:
            if before not in ids:
                raise missing("object", before, param="ending_before", status=400)
            items = items[: ids.index(before)]
            page = items[-limit:]
        else:
            page = items[:limit]
        views = page if copies else [self._view(item) for item in page]
        return objects.list_object(views, url, has_more=len(items) > len(page))

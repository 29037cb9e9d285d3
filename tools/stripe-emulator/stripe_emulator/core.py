"""The emulator: in-memory Stripe state behind one lock, the API operations, the control API.

Every change runs in a *transaction*: the lock is held while objects change and events are
recorded; once it is released the transaction's events go to the webhook sender (so a
webhook handler may call the emulator back without a deadlock). With the ``sync`` delivery
mode that happens before the HTTP request that caused the events answers.

With a ``state_file`` the state (objects, events, Checkout extras, idempotency keys) is also
written to that JSON file at the end of every changing transaction, still under the lock and
before any webhook is sent, and read back when the emulator starts, so a restarted emulator
still knows the ids an app has stored. Held events and the delivery log are not kept.
"""

from __future__ import annotations

import calendar
import contextlib
import copy
import datetime as dt
import fnmatch
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import objects
from .errors import EmulatorError, missing
from .params import (
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
from .shapes import new_id
from .webhooks import MODES, WebhookSender

API_VERSION = "2026-10-28.endive"
DEFAULT_BASE_URL = "http://127.0.0.1:12111"
SESSION_LIFETIME = 24 * 60 * 60
INTERVALS = ("day", "week", "month", "year")
PAY_ACTIONS = ("pay", "decline", "delayed")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
LIST_PARAMS = {"limit": STR, "starting_after": STR, "ending_before": STR}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[a-zA-Z]{3}$")
STATE_FORMAT = 1


@dataclass
class _Tx:
    request_id: str | None
    idempotency_key: str | None
    base_url: str | None
    events: list[str] = field(default_factory=list)


@dataclass
class _Saved:
    fingerprint: str
    status: int
    body: bytes
    request_id: str


@dataclass
class _Fault:
    """API requests that fail on purpose: Stripe down, or one endpoint failing."""

    method: str
    path: str
    status: int
    times: int | None  # None: until cleared

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and fnmatch.fnmatchcase(path, self.path)


def add_interval(timestamp: int, interval: str, count: int = 1) -> int:
    """``timestamp`` moved on by ``count`` days/weeks/months/years (UTC, month ends clamped)."""
    when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    if interval == "day":
        return int((when + dt.timedelta(days=count)).timestamp())
    if interval == "week":
        return int((when + dt.timedelta(weeks=count)).timestamp())
    months = count * (12 if interval == "year" else 1)
    year, month0 = divmod(when.month - 1 + months, 12)
    year += when.year
    day = min(when.day, calendar.monthrange(year, month0 + 1)[1])
    return int(when.replace(year=year, month=month0 + 1, day=day).timestamp())


def _url(value: Any, name: str, *, required: bool = False) -> str | None:
    text = as_str(value, name, required=required, max_length=5000)
    if text is None:
        return None
    parts = urlsplit(text.replace("{CHECKOUT_SESSION_ID}", "x"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EmulatorError(f"Not a valid URL: {name}", param=name, code="url_invalid")
    return text


def _diff(old: dict, new: dict) -> dict:
    """Stripe's ``previous_attributes``: the old value of each top-level key that changed."""
    return {key: old[key] for key in old if old[key] != new.get(key)}


class Emulator:
    """Stripe's API, hosted pages and webhooks, in memory, for tests and local development."""

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
        self._events: list[dict] = []
        self._event_index: dict[str, dict] = {}
        self._idempotency: dict[str, _Saved] = {}
        self._faults: list[_Fault] = []

    @property
    def state_file(self) -> Path | None:
        """The JSON file the state is kept in (``None``: memory only)."""
        return self._state_file

    # ==================================================================================
    # Control API (for tests; mirrored under /_emulator/ over HTTP)
    # ==================================================================================

    def configure_webhook(self, url: str | None, secret: str | None) -> None:
        """Send events to ``url``, signed with ``secret`` (``whsec_...``); ``None`` stops it."""
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"webhook URL must be http(s)://host/..., not {url!r}")
            if not secret:
                raise ValueError("a webhook URL needs a signing secret (whsec_...)")
        self._webhooks.configure(url, secret)

    @property
    def webhook_url(self) -> str | None:
        """Where events are delivered (``None``: nowhere)."""
        return self._webhooks.url

    @property
    def delivery_mode(self) -> str:
        """``"sync"``, ``"async"`` or ``"hold"``."""
        return self._webhooks.mode

    @delivery_mode.setter
    def delivery_mode(self, mode: str) -> None:
        self.set_delivery_mode(mode)

    def set_delivery_mode(self, mode: str) -> None:
        """Switch delivery mode at runtime; events already held stay held."""
        if mode not in MODES:
            raise ValueError(f"delivery mode must be one of {', '.join(MODES)}, not {mode!r}")
        self._webhooks.mode = mode

    def events(self, type: str | None = None) -> list[dict]:
        """Every event so far, oldest first; ``type`` filters (``"invoice.*"`` matches a prefix)."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._events if _type_matches(e["type"], type)]

    def event(self, event_id: str) -> dict:
        """One event by id."""
        return self._event_for_delivery(event_id)

    def held(self) -> list[dict]:
        """The events held (delivery mode ``hold``) and not yet delivered, oldest first."""
        return [self._event_for_delivery(event_id) for event_id in self._webhooks.held()]

    def deliveries(self) -> list[dict]:
        """Every delivery attempt: event_id, type, url, signature, status, error, at."""
        return self._webhooks.attempts()

    def deliver(
        self,
        event_ids: list[str] | None = None,
        order: str | None = None,
        times: int = 1,
        signature: str = "valid",
    ) -> list[tuple[str, int | None]]:
        """Deliver events (default: all held) now; ``[(event_id, HTTP status or None)]``.

        ``order``: ``None``/``"given"``, ``"reverse"`` or ``"shuffle"``; ``times``: sends of
        each; ``signature``: ``"valid"``, ``"forged"`` (wrong secret), ``"stale"`` (signed
        10 minutes ago) or ``"missing"`` (no ``Stripe-Signature`` header).
        """
        self._require_webhook()
        return self._webhooks.deliver(event_ids, order=order, times=times, signature=signature)

    def deliver_concurrently(self, event_id: str, copies: int = 20) -> list[int | None]:
        """Send one event ``copies`` times at once over separate connections; the statuses."""
        self._require_webhook()
        return self._webhooks.deliver_concurrently(event_id, copies)

    def wait_for_deliveries(self, timeout: float = 5.0) -> bool:
        """Wait until the ``async`` worker has delivered (or given up on) everything queued."""
        return self._webhooks.wait(timeout)

    def pay(self, session_id: str, action: str = "pay") -> str | None:
        """Press a hosted Checkout page button; the URL it redirects to (``None``: declined).

        ``"pay"``: the card succeeds; ``"decline"``: nothing happens (the page says the card
        was declined); ``"delayed"``: complete but unpaid until :meth:`settle_async`.
        """
        if action not in PAY_ACTIONS:
            raise EmulatorError(f"action must be one of {', '.join(PAY_ACTIONS)}", param="action")
        with self._transaction():
            session = self._get("checkout.session", session_id)
            if session["status"] != "open":
                raise EmulatorError(
                    f"This Checkout Session is {session['status']}, not open: it cannot be paid.",
                    code="checkout_session_not_open",
                )
            if action == "decline":
                return None
            self._complete_session(session, paid=action == "pay")
            return self._success_url(session)

    def settle_async(self, session_id: str, succeeded: bool = True) -> None:
        """Settle a ``delayed`` payment: ``checkout.session.async_payment_succeeded``/``_failed``.

        On success the payment objects (and the subscription) are made as :meth:`pay` makes them.
        """
        with self._transaction():
            session = self._get("checkout.session", session_id)
            extra = self._checkout[session["id"]]
            if not extra["awaiting_payment"]:
                raise EmulatorError(
                    "This Checkout Session has no delayed payment waiting to settle.",
                    param="session",
                )
            extra["awaiting_payment"] = False
            if succeeded:
                self._fulfil(session)
                session["payment_status"] = "paid"
                self._emit("checkout.session.async_payment_succeeded", session)
            else:
                self._emit("checkout.session.async_payment_failed", session)

    def renew(self, subscription_id: str) -> str | None:
        """Move a subscription to its next period with a paid invoice; the invoice id.

        A subscription set to cancel at period end ends instead (``None``).
        """
        with self._transaction():
            sub = self._get("subscription", subscription_id)
            self._require_live_subscription(sub)
            if sub["cancel_at_period_end"]:
                end = self._period(sub)[1]
                sub.update(status="canceled", ended_at=end, canceled_at=sub["canceled_at"] or end)
                self._emit("customer.subscription.deleted", sub)
                return None
            old = self._view(sub)
            invoice = self._cycle_invoice(sub, paid=True)
            sub["status"] = "active"
            self._emit("customer.subscription.updated", sub, _diff(old, self._view(sub)))
            return invoice["id"]

    def fail_payment(self, subscription_id: str) -> str:
        """Bill the next period with a card that fails: an open invoice, ``past_due``; its id."""
        with self._transaction():
            sub = self._get("subscription", subscription_id)
            self._require_live_subscription(sub)
            old = self._view(sub)
            invoice = self._cycle_invoice(sub, paid=False)
            sub["status"] = "past_due"
            self._emit("customer.subscription.updated", sub, _diff(old, self._view(sub)))
            return invoice["id"]

    def expire(self, session_id: str) -> dict:
        """Expire an open Checkout Session (as ``POST .../expire``); the session."""
        with self._transaction():
            return self._expire(self._get("checkout.session", session_id))

    def expire_due(self, now: int | None = None) -> list[str]:
        """Expire every open session whose ``expires_at`` has passed at ``now``; their ids.

        Stripe does this on its own when a session's time is up (``checkout.session.expired``
        follows); the emulator does it when asked, so a test can say how late it is.
        """
        at = self._now() if now is None else int(now)
        with self._transaction():
            due = [
                session
                for session in self._all("checkout.session")
                if session["status"] == "open" and session["expires_at"] <= at
            ]
            for session in reversed(due):  # oldest first, as the events would come
                self._expire(session)
            return [session["id"] for session in reversed(due)]

    def fail_requests(
        self, path: str = "/v1/*", method: str = "*", status: int = 500, times: int | None = None
    ) -> None:
        """Answer matching API requests with a Stripe ``api_error``, as when Stripe is down.

        ``path`` is a glob (``/v1/checkout/sessions/*/expire``), ``method`` ``GET``, ``POST``,
        ``DELETE`` or ``*``; ``times``: how many requests fail (``None``: until
        :meth:`clear_faults` or :meth:`reset`). Hosted pages and control calls are not affected.
        """
        if method not in ("*", "GET", "POST", "DELETE"):
            raise ValueError(f"method must be GET, POST, DELETE or *, not {method!r}")
        if not 500 <= int(status) <= 599:
            raise ValueError(f"a fault answers a 5xx status, not {status!r}")
        if times is not None and int(times) < 1:
            raise ValueError("times must be at least 1, or None for until cleared")
        with self._lock:
            self._faults.append(
                _Fault(method, path, int(status), None if times is None else int(times))
            )

    def clear_faults(self) -> None:
        """Stop failing requests on purpose."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget every object, event, held event, delivery and idempotency key (and save that)."""
        self._webhooks.wait(timeout=5)
        with self._lock:
            self._clear()
            self._webhooks.clear()
            self._save()

    def close(self) -> None:
        """Stop the background delivery thread (``async`` mode), if any."""
        self._webhooks.close()

    def get(self, object_id: str) -> dict:
        """Any object the emulator holds, by id, as the API would answer it."""
        with self._lock:
            obj = self._objects.get(object_id)
            if obj is None:
                raise missing("object", object_id)
            return self._view(obj)

    # ==================================================================================
    # Transactions, storage, events
    # ==================================================================================

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
        """Write the state to the state file atomically (a temporary file, then a rename).

        Called with the lock held. A file that cannot be written is a warning, not an error:
        the emulator goes on in memory and tries again on the next change.
        """
        path = self._state_file
        if path is None:
            return
        text = json.dumps(self._state(), separators=(",", ":"))
        temp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
            temp = None
        except OSError as exc:
            _warn(f"could not save the state to {path} ({exc}); it is kept in memory only")
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)

    def _load(self) -> None:
        """Read the state file, if there is one; an unreadable one is a warning (start empty)."""
        path = self._state_file
        if path is None or not path.exists():
            return
        try:
            state = _parse_state(path.read_text("utf-8"))
        except (OSError, ValueError, TypeError) as exc:
            _warn(
                f"could not load the state file {path} ({exc}); starting empty, and the file "
                "will be overwritten on the next change"
            )
            return
        with self._lock:
            self._portal_configuration = state["portal_configuration"]
            self._objects = state["objects"]
            self._ids = state["ids"]
            self._checkout = state["checkout"]
            self._events = state["events"]
            self._event_index = {event["id"]: event for event in self._events}
            self._idempotency = {
                key: _Saved(
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
                    self._idempotency[idempotency_key] = _Saved(fingerprint, 200, body, request_id)
                return 200, body, headers
        except EmulatorError as exc:
            return exc.status, json.dumps(exc.body()).encode("utf-8"), headers

    def _take_fault(self, method: str, path: str) -> _Fault | None:
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

    # ==================================================================================
    # Customers
    # ==================================================================================

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
        if email is not None and not _EMAIL.match(email):
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
        changes = _diff(old, obj)
        if changes:
            self._emit("customer.updated", obj, changes)
        return self._view(obj)

    def list_customers(self, params: dict) -> dict:
        """GET /v1/customers"""
        check(params, {"email": STR, **LIST_PARAMS})
        email = as_str(params.get("email"), "email")
        items = [c for c in self._all("customer") if email is None or c["email"] == email]
        return self._page(items, "/v1/customers", params)

    # ==================================================================================
    # Products and prices
    # ==================================================================================

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
        changes = _diff(old, obj)
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
        if not _CURRENCY.match(currency or ""):
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
        changes = _diff(old, obj)
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

    # ==================================================================================
    # Checkout Sessions
    # ==================================================================================

    _CHECKOUT_FIELDS = {
        "mode": STR,
        "customer": STR,
        "customer_email": STR,
        "line_items": [{"price": STR, "quantity": STR}],
        "success_url": STR,
        "cancel_url": STR,
        "client_reference_id": STR,
        "metadata": METADATA,
        "allow_promotion_codes": STR,
        "automatic_tax": {"enabled": STR},
        "subscription_data": {"metadata": METADATA, "description": STR},
        "payment_intent_data": {"metadata": METADATA, "description": STR},
        "payment_method_types": STR_LIST,
        "locale": STR,
        "expires_at": STR,
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
        success_url = _url(params.get("success_url"), "success_url", required=True)
        cancel_url = _url(params.get("cancel_url"), "cancel_url")
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
        session_id = "cs_test_" + new_id("x", 58)[2:]
        session = objects.checkout_session(
            object_id=session_id,
            now=now,
            expires_at=expires_at,
            mode=mode,
            customer_id=customer_id,
            customer_email=customer_email,
            currency=lines[0]["price"]["currency"],
            amount=sum(line["price"]["unit_amount"] * line["quantity"] for line in lines),
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
        )
        self._store(session)
        self._checkout[session_id] = {
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
            "method_type": "card",
            "awaiting_payment": False,
        }
        return self._view(session)

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
        if session["customer"] is None and session["mode"] == "subscription":
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
        if paid:
            self._fulfil(session)
        else:
            extra["method_type"] = "us_bank_account"
            extra["awaiting_payment"] = True
        customer_obj = self._objects.get(session["customer"] or "")
        session.update(
            status="complete",
            payment_status="paid" if paid else "unpaid",
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
        now = self._now()
        lines = [
            {**line, "price_obj": self._view(self._objects[line["price"]])}
            for line in extra["lines"]
        ]
        recurring = [line for line in lines if line["price_obj"]["recurring"]]
        first = recurring[0]["price_obj"]["recurring"]
        end = add_interval(now, first["interval"], first["interval_count"])
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
        session["subscription"] = sub_id
        session["invoice"] = invoice_id

    def _invoice_line(
        self,
        invoice_id: str,
        price_obj: dict,
        quantity: int,
        *,
        period: tuple[int, int],
        subscription_id: str,
        subscription_item_id: str | None,
    ) -> dict:
        product_obj = self._objects.get(price_obj["product"]) or {}
        name = product_obj.get("name") or price_obj["nickname"] or price_obj["id"]
        recurring = price_obj["recurring"]
        if recurring:
            amount = _money(price_obj["unit_amount"], price_obj["currency"])
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

    def _payment(
        self,
        *,
        amount: int,
        currency: str,
        customer_obj: dict | None,
        description: str | None,
        metadata: dict,
        method_type: str,
    ) -> tuple[dict, dict]:
        now = self._now()
        intent_id, charge_id, method = new_id("pi", 24), new_id("ch", 24), new_id("pm", 24)
        intent = objects.payment_intent(
            object_id=intent_id,
            now=now,
            amount=amount,
            currency=currency,
            customer_id=(customer_obj or {}).get("id"),
            description=description,
            metadata=dict(metadata),
            status="succeeded",
            charge_id=charge_id,
            payment_method=method,
            method_type=method_type,
            receipt_email=(customer_obj or {}).get("email"),
        )
        charge = objects.charge(
            object_id=charge_id,
            now=now,
            now_year=dt.datetime.now(dt.UTC).year,
            amount=amount,
            currency=currency,
            customer_obj=customer_obj,
            description=description,
            payment_intent_id=intent_id,
            payment_method=method,
            method_type=method_type,
            metadata=dict(metadata),
        )
        self._store(intent)
        self._store(charge)
        return intent, charge

    def _failed_payment(self, invoice: dict, customer_obj: dict, description: str) -> dict:
        intent = objects.payment_intent(
            object_id=new_id("pi", 24),
            now=self._now(),
            amount=invoice["total"],
            currency=invoice["currency"],
            customer_id=customer_obj["id"],
            description=description,
            metadata={},
            status="requires_payment_method",
            charge_id=None,
            payment_method=new_id("pm", 24),
            method_type="card",
            receipt_email=customer_obj["email"],
            declined=True,
        )
        return self._store(intent)

    # ==================================================================================
    # Billing portal
    # ==================================================================================

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
            return_url=_url(params.get("return_url"), "return_url"),
            url=f"{self._base()}/p/session/{object_id}",
            config=self._portal_configuration,
        )
        obj["locale"] = as_str(params.get("locale"), "locale")
        self._store(obj)
        return self._view(obj)

    # ==================================================================================
    # Subscriptions
    # ==================================================================================

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
        changes = _diff(old, self._view(sub))
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

    # ==================================================================================
    # Invoices, invoice payments, PaymentIntents, charges, refunds, events
    # ==================================================================================

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

    def retrieve_payment_intent(self, params: dict, object_id: str) -> dict:
        """GET /v1/payment_intents/{id}"""
        check(params, {"client_secret": STR})
        return self._view(self._get("payment_intent", object_id))

    def list_payment_intents(self, params: dict) -> dict:
        """GET /v1/payment_intents"""
        check(params, {"customer": STR, **LIST_PARAMS})
        customer = as_str(params.get("customer"), "customer")
        items = [
            p for p in self._all("payment_intent") if customer is None or p["customer"] == customer
        ]
        return self._page(items, "/v1/payment_intents", params)

    def retrieve_charge(self, params: dict, object_id: str) -> dict:
        """GET /v1/charges/{id}"""
        check(params, {})
        return self._view(self._get("charge", object_id))

    def list_charges(self, params: dict) -> dict:
        """GET /v1/charges"""
        check(params, {"customer": STR, "payment_intent": STR, **LIST_PARAMS})
        customer = as_str(params.get("customer"), "customer")
        intent = as_str(params.get("payment_intent"), "payment_intent")
        items = [
            c
            for c in self._all("charge")
            if (customer is None or c["customer"] == customer)
            and (intent is None or c["payment_intent"] == intent)
        ]
        return self._page(items, "/v1/charges", params)

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
                f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded "
                f"amount on charge ({_money(left, charge['currency'])})",
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
        self._emit("charge.refunded", charge, _diff(old, charge))
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

    def retrieve_event(self, params: dict, object_id: str) -> dict:
        """GET /v1/events/{id}"""
        check(params, {})
        event = self._event_index.get(object_id)
        if event is None:
            raise missing("event", object_id)
        return copy.deepcopy(event)

    def list_events(self, params: dict) -> dict:
        """GET /v1/events (newest first; ``type`` may end in ``*``; ``types[]``)."""
        check(params, {"type": STR, "types": STR_LIST, **LIST_PARAMS})
        kind = as_str(params.get("type"), "type")
        kinds = as_list(params.get("types"), "types")
        items = [
            copy.deepcopy(e)
            for e in reversed(self._events)
            if _type_matches(e["type"], kind) and (not kinds or e["type"] in kinds)
        ]
        return self._page(items, "/v1/events", params, copies=True)

    # ==================================================================================
    # Hosted pages
    # ==================================================================================

    def checkout_page(self, session_id: str) -> dict:
        """What the hosted Checkout page shows: the session, its line items, the customer."""
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
            }

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
            changes = _diff(old, self._view(sub))
            if changes:
                self._emit("customer.subscription.updated", sub, changes)


def _warn(message: str) -> None:
    print(f"stripe_emulator: warning: {message}", file=sys.stderr, flush=True)


def _parse_state(text: str) -> dict[str, Any]:
    """A state file's JSON, checked enough that the emulator can run on it (else ValueError)."""
    state = json.loads(text)

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"not an emulator state file: {what}")

    def mapping(value: Any, what: str) -> dict:
        need(isinstance(value, dict), f"{what} is not an object")
        return value

    mapping(state, "the top level")
    need(state.get("format") == STATE_FORMAT, f"format is not {STATE_FORMAT}")
    if state.get("api_version") != API_VERSION:
        raise ValueError(
            f"it holds objects of API version {state.get('api_version')!r}, not {API_VERSION}"
        )
    need(isinstance(state.get("portal_configuration"), str), "portal_configuration")
    objects_ = mapping(state.get("objects"), "objects")
    for object_id, obj in objects_.items():
        mapping(obj, f"objects.{object_id}")
        need(obj.get("id") == object_id and isinstance(obj.get("object"), str), object_id)
    for object_type, ids in mapping(state.get("ids"), "ids").items():
        need(isinstance(ids, list), f"ids.{object_type} is not a list")
        need(
            all(objects_.get(i, {}).get("object") == object_type for i in ids),
            f"ids.{object_type} names objects it does not hold",
        )
    for session_id, extra in mapping(state.get("checkout"), "checkout").items():
        need(
            isinstance(objects_.get(session_id), dict) and isinstance(extra, dict),
            f"checkout.{session_id}",
        )
    events = state.get("events")
    need(isinstance(events, list), "events is not a list")
    need(
        all(isinstance(e, dict) and isinstance(e.get("id"), str) for e in events),
        "an event without an id",
    )
    for key, saved in mapping(state.get("idempotency"), "idempotency").items():
        mapping(saved, f"idempotency.{key}")
        need(
            isinstance(saved.get("fingerprint"), str)
            and isinstance(saved.get("status"), int)
            and isinstance(saved.get("body"), str)
            and isinstance(saved.get("request_id"), str),
            f"idempotency.{key}",
        )
    return state


def _type_matches(event_type: str, wanted: str | None) -> bool:
    if wanted is None:
        return True
    if wanted.endswith("*"):
        return event_type.startswith(wanted[:-1])
    return event_type == wanted


ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
                "vnd", "vuv", "xaf", "xof", "xpf"}  # fmt: skip
SYMBOLS = {"gbp": "£", "usd": "$", "eur": "€", "jpy": "¥"}


def _money(amount: int, currency: str) -> str:
    """``1250, "gbp"`` -> ``"£12.50"``; ``"12.50 CHF"`` for currencies without a symbol here."""
    number = f"{amount:,}" if currency in ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"


format_money = _money

"""Webhook delivery: Stripe's signature, three delivery modes, a log of every attempt.

A delivery is an HTTP POST of the event's compact JSON with ``Content-Type:
application/json`` and ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
keyed with the whole ``whsec_...`` secret, which ``stripe.Webhook.construct_event`` accepts.

Modes: ``sync`` delivers an operation's events in order before the request that caused
them answers; ``async`` hands them to a background thread that delivers them in order and
tries a failed delivery (an error or a non-2xx answer) up to three times; ``hold`` keeps
them until :meth:`WebhookSender.deliver` is called.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import queue
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

MODES = ("sync", "async", "hold")
SIGNATURES = ("valid", "forged", "stale", "missing")
ORDERS = (None, "given", "reverse", "shuffle")
TIMEOUT_SECONDS = 10
ASYNC_TRIES = 3
ASYNC_BACKOFF_SECONDS = 0.05
STALE_SECONDS = 600


def payload_bytes(event: dict) -> bytes:
    """The body of a delivery: the event as compact JSON."""
    return json.dumps(event, separators=(",", ":")).encode("utf-8")


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">`` keyed with the whole secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        """Follow no redirect: the 3xx is the answer recorded."""
        return None


# No proxies (a webhook goes to a local app) and no redirects (a 3xx is an answer to record).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class WebhookSender:
    """Signs and sends events; keeps the held queue and the log of attempts."""

    def __init__(
        self,
        load_event: Callable[[str], dict],
        url: str | None = None,
        secret: str | None = None,
        mode: str = "sync",
    ) -> None:
        self._load_event = load_event
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.url = url
        self.secret = secret
        self._mode = "sync"
        self.mode = mode
        self._held: list[str] = []
        self._attempts: list[dict[str, Any]] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._unfinished = 0
        self._worker: threading.Thread | None = None

    # --- configuration ---------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``sync``, ``async`` or ``hold``."""
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"delivery mode must be one of {', '.join(MODES)}, not {mode!r}")
        self._mode = mode

    def configure(self, url: str | None, secret: str | None) -> None:
        """Where events go and the ``whsec_`` secret they are signed with."""
        self.url = url
        self.secret = secret

    @property
    def active(self) -> bool:
        """Whether events are delivered (or held) at all: a URL is set, or events are held."""
        return bool(self.url) or self._mode == "hold"

    # --- queues ------------------------------------------------------------------------

    def dispatch(self, event_ids: list[str]) -> None:
        """Hand new events over by the current mode (the caller holds no emulator lock)."""
        if self._mode == "hold":
            with self._lock:
                self._held.extend(event_ids)
        elif not self.url:
            return
        elif self._mode == "sync":
            for event_id in event_ids:
                self.send(event_id)
        else:
            self._start_worker()
            with self._lock:
                self._unfinished += len(event_ids)
            for event_id in event_ids:
                self._queue.put(event_id)

    def held(self) -> list[str]:
        """Ids of the events being held, oldest first."""
        with self._lock:
            return list(self._held)

    def attempts(self) -> list[dict[str, Any]]:
        """Every delivery attempt so far, oldest first."""
        with self._lock:
            return [dict(attempt) for attempt in self._attempts]

    def clear(self) -> None:
        """Forget held events and the log (the worker finishes what it has)."""
        with self._lock:
            self._held.clear()
            self._attempts.clear()

    def wait(self, timeout: float = 5.0) -> bool:
        """Wait until the async worker has nothing left to do; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._unfinished:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self) -> None:
        """Stop the async worker thread, if one runs."""
        worker = self._worker
        if worker is not None and worker.is_alive():
            self._queue.put(None)
            worker.join(timeout=TIMEOUT_SECONDS * ASYNC_TRIES + 1)
        self._worker = None

    def _start_worker(self) -> None:
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(
                target=self._work, name="stripe-emulator-webhooks", daemon=True
            )
            self._worker.start()

    def _work(self) -> None:
        while True:
            event_id = self._queue.get()
            if event_id is None:
                return
            try:
                for attempt in range(ASYNC_TRIES):
                    status = self.send(event_id)
                    if status is not None and 200 <= status < 300:
                        break
                    if attempt < ASYNC_TRIES - 1:
                        time.sleep(ASYNC_BACKOFF_SECONDS * 2**attempt)
            finally:
                with self._idle:
                    self._unfinished -= 1
                    self._idle.notify_all()

    # --- delivery ------------------------------------------------------------------------

    def deliver(
        self,
        event_ids: list[str] | None = None,
        order: str | None = None,
        times: int = 1,
        signature: str = "valid",
    ) -> list[tuple[str, int | None]]:
        """Send the given events (default: all held) ``times`` times each, in ``order``.

        ``order``: ``None``/``"given"`` (as given, or oldest first), ``"reverse"`` or
        ``"shuffle"``. A held event leaves the queue once a validly signed delivery of it
        gets a 2xx answer.
        """
        if signature not in SIGNATURES:
            raise ValueError(f"signature must be one of {', '.join(SIGNATURES)}")
        if order not in ORDERS:
            raise ValueError("order must be None, 'given', 'reverse' or 'shuffle'")
        if times < 1:
            raise ValueError("times must be at least 1")
        ids = self.held() if event_ids is None else list(event_ids)
        for event_id in ids:
            self._load_event(event_id)  # raises for an unknown id before anything is sent
        if order == "reverse":
            ids.reverse()
        elif order == "shuffle":
            random.shuffle(ids)
        results = []
        for event_id in ids:
            for _ in range(times):
                status = self.send(event_id, signature)
                results.append((event_id, status))
                if signature == "valid" and status is not None and 200 <= status < 300:
                    with self._lock:
                        if event_id in self._held:
                            self._held.remove(event_id)
        return results

    def deliver_concurrently(self, event_id: str, copies: int = 20) -> list[int | None]:
        """Send one event ``copies`` times at once, each over its own connection."""
        self._load_event(event_id)
        barrier = threading.Barrier(copies)
        statuses: list[int | None] = [None] * copies

        def send(index: int) -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=TIMEOUT_SECONDS)
            statuses[index] = self.send(event_id)

        threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=TIMEOUT_SECONDS + 5)
        return statuses

    def send(self, event_id: str, signature: str = "valid") -> int | None:
        """One signed POST of an event; its HTTP status (``None`` when it did not get one)."""
        url, secret = self.url, self.secret
        if not url:
            raise ValueError("no webhook URL is configured")
        event = self._load_event(event_id)
        body = payload_bytes(event)
        headers = {"Content-Type": "application/json", "User-Agent": "Stripe/1.0 (emulator)"}
        now = int(time.time())
        if signature != "missing":
            if signature == "forged":
                key = "whsec_forged_" + hashlib.sha256(str(secret).encode()).hexdigest()[:24]
                headers["Stripe-Signature"] = signature_header(body, key, now)
            elif signature == "stale":
                headers["Stripe-Signature"] = signature_header(
                    body, secret or "", now - STALE_SECONDS
                )
            else:
                headers["Stripe-Signature"] = signature_header(body, secret or "", now)
        # The URL is checked to be http(s) when it is configured (Emulator.configure_webhook).
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        status: int | None = None
        error: str | None = None
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
                status = response.status
                response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except Exception as exc:  # any failure is recorded, not raised
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._attempts.append(
                {
                    "event_id": event_id,
                    "type": event.get("type"),
                    "url": url,
                    "signature": signature,
                    "status": status,
                    "error": error,
                    "at": time.time(),
                }
            )
        return status

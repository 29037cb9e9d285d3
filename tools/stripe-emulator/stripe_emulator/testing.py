"""Serve the emulator on 127.0.0.1 in a background thread, for tests.

with EmulatorServer() as server:
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": server.url})
    server.configure_webhook("http://127.0.0.1:5000/stripe/webhook", "whsec_test")
    server.emulator.pay(session_id)
"""

from __future__ import annotations

import contextvars
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .core import Emulator

TEST_API_KEY = "sk_test_emulator"


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without a log line per request (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing for a request that was answered."""


class EmulatorServer:
    """The emulator on a free port of 127.0.0.1, in a thread; a context manager."""

    def __init__(
        self,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        delivery_mode: str = "sync",
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: str | Path | None = None,
    ) -> None:
        self.emulator = Emulator(
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            delivery_mode=delivery_mode,
            state_file=state_file,
        )
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> EmulatorServer:
        """Bind, and serve in a daemon thread that does not share the caller's context."""
        if self._server is not None:
            return self
        self._server = make_server(
            self._host,
            self._port,
            create_app(self.emulator),
            threaded=True,
            request_handler=QuietRequestHandler,
        )
        self.url = f"http://{self._host}:{self._server.server_port}"
        self.emulator.base_url = self.url
        # A fresh context: the server must not inherit a Flask app context of the caller.
        context = contextvars.Context()
        self._thread = threading.Thread(
            target=context.run,
            # stop() waits for the loop to look at its flag: every 10 ms, not every 0.5 s.
            args=(self._server.serve_forever, 0.01),
            name="stripe-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and stop the background webhook thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.emulator.close()
        self._server = None
        self._thread = None

    def configure_webhook(self, url: str | None, secret: str | None) -> None:
        """Deliver events to ``url`` signed with ``secret`` (``None`` stops delivery)."""
        self.emulator.configure_webhook(url, secret)

    def client(self, api_key: str = TEST_API_KEY, **options: Any) -> Any:
        """A ``stripe.StripeClient`` that talks to this server (no network retries)."""
        import stripe  # the app's dependency, not the emulator's

        options.setdefault("max_network_retries", 0)
        return stripe.StripeClient(api_key, base_addresses={"api": self.url}, **options)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

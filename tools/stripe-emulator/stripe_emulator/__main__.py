"""``python -m stripe_emulator``: serve the emulator on a loopback address.

    python -m stripe_emulator --host 127.0.0.1 --port 12111 \\
        --webhook-url http://127.0.0.1:5000/stripe/webhook --webhook-secret whsec_... \\
        --state-file instance/stripe_emulator.json
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .core import Emulator
from .testing import QuietRequestHandler
from .webhooks import MODES


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, refuse a non-loopback host, serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m stripe_emulator",
        description="A Stripe-compatible emulator for tests and development (test mode only).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=12111, help="port (default 12111)")
    parser.add_argument("--webhook-url", default=os.environ.get("STRIPE_EMULATOR_WEBHOOK_URL"))
    parser.add_argument(
        "--webhook-secret", default=os.environ.get("STRIPE_EMULATOR_WEBHOOK_SECRET")
    )
    parser.add_argument("--delivery-mode", choices=MODES, default="sync")
    parser.add_argument("--log-requests", action="store_true", help="log each request to stderr")
    parser.add_argument(
        "--state-file",
        metavar="PATH",
        help="keep the state in this JSON file, so a restart keeps it (default: memory only)",
    )
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"refusing to listen on {args.host}: the emulator binds only to loopback")
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret (whsec_...)")
    emulator = Emulator(
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        delivery_mode=args.delivery_mode,
        state_file=args.state_file,
    )
    handler = WSGIRequestHandler if args.log_requests else QuietRequestHandler
    server = make_server(
        args.host, args.port, create_app(emulator), threaded=True, request_handler=handler
    )
    host = f"[{args.host}]" if ":" in args.host else args.host
    emulator.base_url = f"http://{host}:{server.server_port}"
    hook = f", webhooks to {args.webhook_url}" if args.webhook_url else ""
    hook += f", state in {args.state_file}" if args.state_file else ""
    print(
        f"Stripe emulator listening on {emulator.base_url}{hook} "
        "(test mode: it never takes real payments)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

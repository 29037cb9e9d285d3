"""The emulator's Flask app: Stripe's ``/v1`` API, the hosted pages, and ``/_emulator`` control.

``/_emulator/...`` endpoints mirror the Python control API for a separate process (the app
under test started in the background, say). Their POSTs take JSON and refuse anything else,
so a web page cannot drive them with a plain cross-site form.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, redirect, request
from werkzeug.exceptions import HTTPException

from . import pages
from .api.shipping import REQUIRED_SHIPPING_FIELDS, SHIPPING_FIELDS
from .common import API_VERSION
from .core import Emulator
from .errors import EmulatorError
from .params import parse_pairs

# (method, rule, Emulator method). Path arguments arrive as ``object_id``.
ROUTES = [
    ("POST", "/v1/customers", "create_customer"),
    ("GET", "/v1/customers", "list_customers"),
    ("GET", "/v1/customers/<object_id>", "retrieve_customer"),
    ("POST", "/v1/customers/<object_id>", "update_customer"),
    ("POST", "/v1/products", "create_product"),
    ("GET", "/v1/products", "list_products"),
    ("GET", "/v1/products/<object_id>", "retrieve_product"),
    ("POST", "/v1/products/<object_id>", "update_product"),
    ("POST", "/v1/prices", "create_price"),
    ("GET", "/v1/prices", "list_prices"),
    ("GET", "/v1/prices/<object_id>", "retrieve_price"),
    ("POST", "/v1/prices/<object_id>", "update_price"),
    ("POST", "/v1/checkout/sessions", "create_checkout_session"),
    ("GET", "/v1/checkout/sessions", "list_checkout_sessions"),
    ("GET", "/v1/checkout/sessions/<object_id>", "retrieve_checkout_session"),
    ("GET", "/v1/checkout/sessions/<object_id>/line_items", "list_checkout_line_items"),
    ("POST", "/v1/checkout/sessions/<object_id>/expire", "expire_checkout_session"),
    ("POST", "/v1/shipping_rates", "create_shipping_rate"),
    ("GET", "/v1/shipping_rates", "list_shipping_rates"),
    ("GET", "/v1/shipping_rates/<object_id>", "retrieve_shipping_rate"),
    ("POST", "/v1/billing_portal/sessions", "create_portal_session"),
    ("POST", "/v1/billing_portal/configurations", "create_portal_configuration"),
    ("GET", "/v1/billing_portal/configurations", "list_portal_configurations"),
    ("GET", "/v1/billing_portal/configurations/<object_id>", "retrieve_portal_configuration"),
    ("GET", "/v1/subscriptions", "list_subscriptions"),
    ("GET", "/v1/subscriptions/<object_id>", "retrieve_subscription"),
    ("POST", "/v1/subscriptions/<object_id>", "update_subscription"),
    ("DELETE", "/v1/subscriptions/<object_id>", "cancel_subscription"),
    ("GET", "/v1/invoices", "list_invoices"),
    ("GET", "/v1/invoices/<object_id>", "retrieve_invoice"),
    ("GET", "/v1/invoices/<object_id>/lines", "list_invoice_lines"),
    ("GET", "/v1/invoice_payments", "list_invoice_payments"),
    ("GET", "/v1/invoice_payments/<object_id>", "retrieve_invoice_payment"),
    ("GET", "/v1/payment_intents", "list_payment_intents"),
    ("GET", "/v1/payment_intents/<object_id>", "retrieve_payment_intent"),
    ("GET", "/v1/charges", "list_charges"),
    ("GET", "/v1/charges/<object_id>", "retrieve_charge"),
    ("POST", "/v1/refunds", "create_refund"),
    ("GET", "/v1/refunds", "list_refunds"),
    ("GET", "/v1/refunds/<object_id>", "retrieve_refund"),
    ("GET", "/v1/events", "list_events"),
    ("GET", "/v1/events/<object_id>", "retrieve_event"),
]

HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        headers={"Stripe-Version": API_VERSION, **(headers or {})},
        mimetype="application/json",
    )


def _mask(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 4) + key[-4:] if len(key) > 12 else "****"


def auth_error(header: str | None) -> EmulatorError | None:
    """Why an ``Authorization`` header is refused (``None``: it is a test secret key)."""
    if not header:
        return EmulatorError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "sk_test_...').",
            status=401,
        )
    scheme, _, value = header.strip().partition(" ")
    key = value.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(key).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    elif scheme.lower() != "bearer":
        key = ""
    if "_live_" in key:
        return EmulatorError(
            "This is the Stripe emulator: it never runs with a live key, and it never takes "
            "real payments. Use a test key (sk_test_...).",
            status=401,
            code="live_key_refused",
        )
    if not key.startswith(("sk_test_", "rk_test_")):
        return EmulatorError(f"Invalid API Key provided: {_mask(key)}", status=401)
    return None


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, headers=HTML_HEADERS, mimetype="text/html")


def create_app(emulator: Emulator) -> Flask:
    """A Flask app serving ``emulator`` (API, hosted pages, ``/_emulator`` control)."""
    app = Flask(__name__)
    app.extensions["stripe_emulator"] = emulator

    def api_view(method_name: str):
        def view(**path_args: str) -> Response:
            refused = auth_error(request.headers.get("Authorization"))
            if refused is not None:
                return _json(refused.status, refused.body())
            if request.method == "POST":
                if request.mimetype not in ("", "application/x-www-form-urlencoded"):
                    error = EmulatorError(
                        "Invalid request: the v1 API takes application/x-www-form-urlencoded "
                        f"bodies, not {request.mimetype}."
                    )
                    return _json(error.status, error.body())
                text = request.get_data(as_text=True)
            else:
                text = request.query_string.decode("utf-8")
            try:
                params = parse_pairs(parse_qsl(text, keep_blank_values=True))
            except EmulatorError as exc:
                return _json(exc.status, exc.body())
            status, body, headers = emulator.handle(
                method=request.method,
                path=request.path,
                params=params,
                handler=getattr(emulator, method_name),
                path_args=path_args,
                idempotency_key=request.headers.get("Idempotency-Key"),
                base_url=request.host_url,
            )
            return Response(
                body,
                status=status,
                headers={"Stripe-Version": API_VERSION, **headers},
                mimetype="application/json",
            )

        view.__name__ = method_name
        return view

    for method, rule, method_name in ROUTES:
        app.add_url_rule(
            rule, endpoint=f"{method} {rule}", view_func=api_view(method_name), methods=[method]
        )

    def unrecognized() -> Response:
        error = EmulatorError(
            f"Unrecognized request URL ({request.method}: {request.path}). The Stripe emulator "
            "does not implement this endpoint.",
            status=404,
        )
        return _json(404, error.body())

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return error.get_response()
        app.logger.exception("Stripe emulator error on %s %s", request.method, request.path)
        body = EmulatorError(
            f"The Stripe emulator failed on this request ({type(error).__name__}: {error}). "
            "That is a bug in the emulator, not in your request.",
            status=500,
            error_type="api_error",
        ).body()
        if request.path.startswith(("/v1/", "/_emulator/")):
            return _json(500, body, {"Stripe-Should-Retry": "false"})
        return _html(pages.message("Something went wrong", body["error"]["message"]), 500)

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_found(_error) -> Response:
        if request.path.startswith(("/v1/", "/_emulator/")):
            return unrecognized()
        return _html(pages.message("Page not found", "There is no page at this address."), 404)

    # --- hosted Checkout -------------------------------------------------------------------

    @app.get("/c/pay/<session_id>")
    def checkout_page(session_id: str) -> Response:
        try:
            data = emulator.checkout_page(session_id)
        except EmulatorError:
            return _html(
                pages.message("Checkout not found", "There is no checkout session here."), 404
            )
        return _html(pages.checkout(data))

    @app.post("/c/pay/<session_id>")
    def checkout_action(session_id: str) -> Response:
        action = request.form.get("action", "")
        form = {key: value for key, value in request.form.items() if key != "action"}
        try:
            data = emulator.checkout_page(session_id)
            session = data["session"]
            if action not in ("pay", "decline", "delayed"):
                return _html(pages.checkout(data, "Choose one of the buttons below.", form), 400)
            if session["status"] != "open":
                return _html(pages.checkout(data))
            shipping = None
            if session["shipping_address_collection"]:
                shipping = {key: form.get(f"shipping_{key}", "") for key in SHIPPING_FIELDS}
            rate = (form.get("shipping_rate") or None) if session["shipping_options"] else None
            email = form.get("email") if not session["customer"] else None
            try:
                target = emulator.pay(
                    session_id, action, shipping=shipping, shipping_rate=rate, email=email
                )
            except EmulatorError as exc:
                if exc.param == "email":
                    return _html(pages.checkout(data, exc.message, form, ["email"]), 400)
                if not (exc.param or "").startswith("shipping"):
                    raise
                # The buyer's mistake: the page again, as it was filled in, saying what is wrong.
                invalid = [
                    key
                    for key in (REQUIRED_SHIPPING_FIELDS if shipping is not None else ())
                    if not form.get(f"shipping_{key}", "").strip()
                ]
                if exc.param == "shipping[country]":
                    invalid.append("country")
                return _html(pages.checkout(data, exc.message, form, invalid), 400)
        except EmulatorError:
            return _html(
                pages.message("Checkout not found", "There is no checkout session here."), 404
            )
        if target is None:
            return _html(pages.checkout(data, "Your card was declined.", form))
        return redirect(target, code=303)

    # --- hosted customer portal --------------------------------------------------------------

    @app.get("/p/session/<portal_id>")
    def portal_page(portal_id: str) -> Response:
        try:
            data = emulator.portal_page(portal_id)
        except EmulatorError:
            return _html(pages.message("Portal not found", "There is no portal session here."), 404)
        return _html(pages.portal(data))

    @app.post("/p/session/<portal_id>/subscriptions/<sub_id>")
    def portal_action(portal_id: str, sub_id: str) -> Response:
        action = request.form.get("action", "")
        if action not in ("cancel", "keep"):
            return _html(pages.message("Not understood", "Choose a button on the portal."), 400)
        try:
            emulator.portal_set_cancel_at_period_end(portal_id, sub_id, action == "cancel")
        except EmulatorError:
            return _html(
                pages.message("Subscription not found", "There is no such subscription."), 404
            )
        return redirect(f"/p/session/{portal_id}", code=303)

    @app.post("/p/session/<portal_id>/subscriptions/<sub_id>/price")
    def portal_switch(portal_id: str, sub_id: str) -> Response:
        try:
            emulator.portal_switch_price(portal_id, sub_id, request.form.get("price", ""))
        except EmulatorError as error:
            return _html(pages.message("Not switched", str(error)), 400)
        return redirect(f"/p/session/{portal_id}", code=303)

    # --- /_emulator control ----------------------------------------------------------------

    def control(func):
        def view(*args: Any, **kwargs: Any) -> Response:
            body: dict[str, Any] = {}
            if request.method == "POST":
                if request.mimetype != "application/json":
                    return _json(
                        415,
                        EmulatorError("POST JSON (Content-Type: application/json).").body(),
                    )
                body = request.get_json(silent=True) or {}
                if not isinstance(body, dict):
                    return _json(400, EmulatorError("The JSON body must be an object.").body())
            try:
                return _json(200, func(body, *args, **kwargs))
            except EmulatorError as exc:
                return _json(exc.status, exc.body())
            except (ValueError, TypeError, KeyError) as exc:
                return _json(400, EmulatorError(str(exc)).body())

        view.__name__ = "control_" + func.__name__
        return view

    def add(rule: str, method: str, func) -> None:
        endpoint = f"{method} {rule}"
        app.add_url_rule(rule, endpoint=endpoint, view_func=control(func), methods=[method])

    add("/_emulator/", "GET", lambda body: _status(emulator))
    add("/_emulator/events", "GET", lambda body: emulator.events(request.args.get("type")))
    add("/_emulator/events/<event_id>", "GET", lambda body, event_id: emulator.event(event_id))
    add("/_emulator/held", "GET", lambda body: emulator.held())
    add("/_emulator/deliveries", "GET", lambda body: emulator.deliveries())
    add("/_emulator/objects/<object_id>", "GET", lambda body, object_id: emulator.get(object_id))
    add(
        "/_emulator/deliver",
        "POST",
        lambda body: {
            "results": emulator.deliver(
                body.get("event_ids"),
                order=body.get("order"),
                times=int(body.get("times", 1)),
                signature=body.get("signature", "valid"),
            )
        },
    )
    add(
        "/_emulator/deliver_concurrently",
        "POST",
        lambda body: {
            "statuses": emulator.deliver_concurrently(
                body["event_id"], copies=int(body.get("copies", 20))
            )
        },
    )
    add(
        "/_emulator/pay",
        "POST",
        lambda body: {
            "redirect_url": emulator.pay(
                body["session_id"],
                body.get("action", "pay"),
                shipping=body.get("shipping"),
                shipping_rate=body.get("shipping_rate"),
                email=body.get("email"),
            )
        },
    )
    add(
        "/_emulator/settle_async",
        "POST",
        lambda body: (
            emulator.settle_async(body["session_id"], succeeded=bool(body.get("succeeded", True)))
            or {"ok": True}
        ),
    )
    add(
        "/_emulator/trial_will_end",
        "POST",
        lambda body: emulator.trial_will_end(body["subscription_id"]) or {"ok": True},
    )
    add(
        "/_emulator/renew",
        "POST",
        lambda body: {"invoice": emulator.renew(body["subscription_id"])},
    )
    add(
        "/_emulator/fail_payment",
        "POST",
        lambda body: {"invoice": emulator.fail_payment(body["subscription_id"])},
    )
    add(
        "/_emulator/end_trial",
        "POST",
        lambda body: {
            "invoice": emulator.end_trial(body["subscription_id"], body.get("outcome", "paid"))
        },
    )
    add("/_emulator/expire", "POST", lambda body: emulator.expire(body["session_id"]))
    add(
        "/_emulator/expire_due",
        "POST",
        lambda body: {"expired": emulator.expire_due(body.get("now"))},
    )
    add(
        "/_emulator/fail_requests",
        "POST",
        lambda body: (
            emulator.fail_requests(
                path=body.get("path", "/v1/*"),
                method=body.get("method", "*"),
                status=int(body.get("status", 500)),
                times=body.get("times"),
            )
            or {"ok": True}
        ),
    )
    add("/_emulator/clear_faults", "POST", lambda body: emulator.clear_faults() or {"ok": True})
    add("/_emulator/reset", "POST", lambda body: emulator.reset() or {"ok": True})
    add(
        "/_emulator/webhook",
        "POST",
        lambda body: (
            emulator.configure_webhook(body.get("url"), body.get("secret")) or _status(emulator)
        ),
    )
    add(
        "/_emulator/delivery_mode",
        "POST",
        lambda body: emulator.set_delivery_mode(body["mode"]) or _status(emulator),
    )
    add(
        "/_emulator/wait_for_deliveries",
        "POST",
        lambda body: {"idle": emulator.wait_for_deliveries(float(body.get("timeout", 5.0)))},
    )
    return app


def _status(emulator: Emulator) -> dict[str, Any]:
    return {
        "api_version": API_VERSION,
        "base_url": emulator.base_url,
        "webhook_url": emulator.webhook_url,
        "delivery_mode": emulator.delivery_mode,
        "events": len(emulator.events()),
        "held": len(emulator.held()),
        "livemode": False,
    }

"""Hypothesis fuzzing: forms, URL parts and the Stripe webhook never answer 500.

Bounded: a few dozen examples per target, so the file runs in about a minute.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote, urlencode

import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stripe_emulator.webhooks import signature_header
from tests.security.corpus import FORMS, QUERY_PARAMS
from tests.support import WEBHOOK_SECRET, csrf_token

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text as browsers and scripts send it: any character, numbers that overflow, markup.
TEXT = st.one_of(
    st.text(max_size=300),
    st.integers().map(str),
    st.sampled_from(["\x00", "9223372036854775808", "-1", "1e9999", "<script>", "%00", "//x"]),
)
# Forms whose handling is cheap and open to a reader or an admin without a password hash.
FUZZED_FORMS = [
    "admin.tags_list",
    "admin.article_new",
    "admin.product_new",
    "admin.newsletter_new",
    "admin.order_refund",
    "articles.add_comment",
    "readers.preferences",
    "cart.cart_add",
    "cart.cart_update",
]
HANDLED_TYPES = [
    "checkout.session.completed",
    "checkout.session.expired",
    "checkout.session.async_payment_failed",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
    "charge.refunded",
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture
def app_config(app_config):
    """No rate limits, so that every example reaches its view."""
    app_config["RATELIMIT_ENABLED"] = False
    app_config["JOBS_IN_BACKGROUND"] = False
    return app_config


@pytest.fixture
def logged_in(app, world):
    """(client, token) for the reader and the admin."""
    found = {}
    for role in ("reader", "admin"):
        client = app.test_client()
        world.login(client, role)
        found[role] = (client, csrf_token(client, "/account/password"))
    return found


def _url(app, world, endpoint: str) -> str:
    rule = next(iter(app.url_map.iter_rules(endpoint=endpoint)))
    values = {a: world.ids.get(f"{a}:{endpoint}", world.ids.get(a)) for a in rule.arguments}
    with app.test_request_context():
        return url_for(endpoint, **values)


@FUZZ
@given(data=st.data())
def test_forms_never_answer_500(app, world, logged_in, data):
    """Any text in any field of the fuzzed forms is answered without a server error."""
    endpoint = data.draw(st.sampled_from(FUZZED_FORMS), label="endpoint")
    role, fields = FORMS[endpoint]
    client, token = logged_in["admin" if role == "admin" else "reader"]
    if role == "anonymous":
        client = app.test_client()
        token = csrf_token(client, "/login")
    values = {k: v.format(**world.ids) for k, v in fields.items()}
    for field in data.draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, unique=True)):
        values[field] = data.draw(TEXT, label=field)
    response = client.post(_url(app, world, endpoint), data={**values, "csrf_token": token})
    assert response.status_code < 500, (endpoint, values)


@FUZZ
@given(data=st.data())
def test_url_and_query_parameters_never_answer_500(app, world, logged_in, data):
    """Any text in a slug, token, id or query parameter is answered without a server error."""
    endpoint = data.draw(st.sampled_from(sorted(QUERY_PARAMS)), label="endpoint")
    client, _ = logged_in["admin" if endpoint.startswith("admin.") else "reader"]
    params = {p: data.draw(TEXT, label=p) for p in QUERY_PARAMS[endpoint]}
    url = f"{_url(app, world, endpoint)}?{urlencode(params)}"
    assert client.get(url).status_code < 500, url
    segment = quote(data.draw(TEXT, label="segment"), safe="")
    for path in (f"/articles/{segment}", f"/tags/{segment}/feed.xml", f"/unsubscribe/{segment}"):
        if segment:
            assert client.get(path).status_code < 500, path
    admin, _ = logged_in["admin"]
    if segment:
        assert admin.get(f"/admin/outbox/{segment}").status_code < 500, segment


def _event(draw_type: str, obj) -> dict:
    return {
        "id": f"evt_fuzz_{time.monotonic_ns()}",
        "object": "event",
        "type": draw_type,
        "created": int(time.time()),
        "data": {"object": obj},
    }


@FUZZ
@given(
    body=st.one_of(
        JSON.map(lambda v: json.dumps(v).encode()),
        st.builds(_event, st.sampled_from(HANDLED_TYPES), JSON).map(
            lambda event: json.dumps(event).encode()
        ),
        st.binary(max_size=200),
    )
)
def test_signed_webhook_bodies_never_answer_500(app, client, world, body):
    """A correctly signed body of any shape is accepted or refused, never a server error."""
    headers = {"Stripe-Signature": signature_header(body, WEBHOOK_SECRET)}
    response = client.post(
        "/webhooks/stripe", data=body, headers=headers, content_type="application/json"
    )
    assert response.status_code in (200, 400), (response.status_code, body[:200])


@FUZZ
@given(
    body=st.binary(max_size=300),
    # Any header value a client can send (no line breaks: HTTP itself forbids them).
    signature=st.one_of(
        st.none(), st.text(st.characters(blacklist_characters="\r\n"), max_size=120)
    ),
)
def test_unsigned_or_garbled_webhooks_are_refused(app, client, body, signature):
    """A body with no signature, or a garbled one, is answered 400 and stores nothing."""
    headers = {} if signature is None else {"Stripe-Signature": signature}
    response = client.post(
        "/webhooks/stripe", data=body, headers=headers, content_type="application/json"
    )
    assert response.status_code == 400, (signature, body[:100])

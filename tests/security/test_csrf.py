"""CSRF: every state-changing rule refuses a request without this session's token.

Some endpoints are exempt, on purpose, and answer for themselves instead: the Stripe,
Mailgun, SES and SendGrid webhooks (their signatures), Postmark's (the basic credentials
in its URL) and the two RFC 8058 one-click links, the digest's unsubscribe and a reply
mail's "stop emails about this conversation" (their signed tokens). The list below is
compared with what Flask-WTF actually exempts, so a new ``@csrf.exempt`` fails here until
someone writes down why.
"""

from __future__ import annotations

import pytest
from flask import url_for

from shop.extensions import csrf
from tests.conftest import IsolatedClient
from tests.factories import PASSWORD
from tests.security.conftest import World, changed_tables, snapshot
from tests.support import csrf_token

EXEMPT = {
    "billing.stripe_webhook",
    "bounces.mailgun_webhook",
    "bounces.ses_webhook",
    "bounces.postmark_webhook",
    "bounces.sendgrid_webhook",
    "readers.unsubscribe",
    "articles.thread_unsubscribe",
}
# Pages for logged-out visitors are tried logged out; every other one as the admin.
ANONYMOUS_FORMS = {
    "accounts.login",
    "accounts.register",
    "accounts.forgot_password",
    "accounts.reset_password",
    "accounts.request_sign_in_link",
}
# What the form would carry if a page on another site made the browser send it.
FORM_DATA: dict[str, dict[str, object]] = {
    "accounts.login": {"email": "editor@example.org", "password": PASSWORD},
    "accounts.register": {"email": "forged@example.org", "password": PASSWORD},
    "accounts.forgot_password": {"email": "reader@example.org"},
    "accounts.reset_password": {"password": "a brand new passphrase"},
    "accounts.change_email": {"email": "attacker@example.net", "password": PASSWORD},
    "accounts.change_password": {"current_password": PASSWORD, "new_password": "pwned pwned"},
    "admin.article_new": {"title": "Forged", "body_markdown": "x", "action": "publish"},
    # "Publish and email": a forged press must neither publish nor mail the story.
    "admin.article_edit": {"title": "Forged", "action": "publish_email", "email_audience": "all"},
    "admin.body_picture": {"alt": "Forged"},
    "admin.newsletter_new": {"subject": "Forged", "body_markdown": "x", "audience": "all"},
    "admin.newsletter_edit": {"subject": "Forged", "body_markdown": "x", "audience": "all"},
    "admin.newsletter_schedule": {"send_at": "2030-01-01T07:00"},
    "admin.order_refund": {"payment_id": "{payment_id}", "action": "full"},
    "admin.product_new": {"name": "Forged", "amount": "1", "kind": "item"},
    "admin.product_edit": {"name": "Forged", "amount": "1", "kind": "item"},
    "admin.shipping_ship": {"tracking_number": "FORGED1"},
    "billing.gift_new": {
        "product_id": "{plan_id}",
        "recipient_name": "Forged",
        "recipient_email": "forged@example.org",
    },
    "admin.shipping_rate_add": {"name": "Forged", "amount": "0"},
    "admin.shipping_rate_toggle": {"active": "0"},
    "admin.tags_list": {"name": "Forged"},
    "admin.members_import": {"format": "plain"},
    "accounts.change_name": {"display_name": "Forged"},
    "accounts.request_sign_in_link": {"sign_in_email": "reader@example.org"},
    "readers.subscribe": {"email": "forged@example.org"},
    "admin.tag_edit": {"name": "Forged"},
    "articles.add_comment": {"body": "Forged comment."},
    "articles.comment_edit": {"body": "Forged edit."},
    "readers.preferences": {"frequency": "daily", "stories": "all"},
    "cart.cart_add": {"product_id": "{plan_id}", "quantity": "1"},
    "cart.cart_update": {"product_id": "{plan_id}", "quantity": "0"},
    "cart.cart_remove": {"product_id": "{plan_id}"},
    "billing.plan_checkout": {"next": "/articles/{slug}"},
}


@pytest.fixture
def app_config(app_config):
    """CSRF protection on, as in production."""
    app_config["WTF_CSRF_ENABLED"] = True
    return app_config


@pytest.fixture(autouse=True)
def _clients_from_elsewhere(monkeypatch):
    """Every client here is a page on another site: it says nothing of coming from ours."""
    monkeypatch.setattr(IsolatedClient, "from_this_site", False)


def protected_rules(app) -> list[tuple[str, str]]:
    """(method, endpoint) for every rule and method Flask-WTF is meant to check."""
    methods = app.config["WTF_CSRF_METHODS"]
    found = {
        (method, rule.endpoint)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) & methods
        if rule.endpoint not in EXEMPT
    }
    return sorted(found)


def exempt_endpoints(app) -> set[str]:
    """The endpoints whose views Flask-WTF skips, read from the extension itself."""
    return {
        endpoint
        for endpoint, view in app.view_functions.items()
        if f"{view.__module__}.{view.__name__}" in csrf._exempt_views
    }


def test_the_exempt_list_is_the_apps(app):
    """The app exempts exactly the listed endpoints: no blueprint, no stale or extra view."""
    assert exempt_endpoints(app) == EXEMPT
    locations = {
        f"{view.__module__}.{view.__name__}"
        for endpoint, view in app.view_functions.items()
        if endpoint in EXEMPT
    }
    assert set(csrf._exempt_views) == locations
    assert not csrf._exempt_blueprints


def test_the_walk_sees_the_forms(app):
    """The walk is not empty: logins, carts and the back office's buttons are in it."""
    endpoints = {endpoint for _, endpoint in protected_rules(app)}
    assert {"accounts.login", "cart.cart_add", "admin.article_delete"} <= endpoints
    assert len(endpoints) >= 40


def _url(app, endpoint: str, world: World) -> str:
    rule = next(iter(app.url_map.iter_rules(endpoint=endpoint)))
    values = {a: world.ids.get(f"{a}:{endpoint}", world.ids.get(a)) for a in rule.arguments}
    with app.test_request_context():
        return url_for(endpoint, **values)


@pytest.mark.parametrize("token", ["missing", "another session's"])
def test_state_changing_requests_need_this_sessions_token(app, world, mailbox, token):
    """Each POST without a good token answers 400 and changes no row and sends no mail."""
    admin_client, visitor = app.test_client(), app.test_client()
    world.login(admin_client, "admin")
    stranger = app.test_client()
    foreign = csrf_token(stranger, "/login")
    wrong = []
    for method, endpoint in protected_rules(app):
        sender = visitor if endpoint in ANONYMOUS_FORMS else admin_client
        data = {k: str(v).format(**world.ids) for k, v in FORM_DATA.get(endpoint, {}).items()}
        if token != "missing":
            data["csrf_token"] = foreign
        url = _url(app, endpoint, world)
        before = snapshot()
        response = sender.open(url, method=method, data=data)
        changed = changed_tables(before, snapshot())
        if response.status_code != 400 or changed:
            wrong.append(f"{method} {url}: {response.status_code}, changed {changed or 'nothing'}")
    assert not wrong, "accepted without a good CSRF token:\n" + "\n".join(wrong)
    assert mailbox.messages == []


def test_the_exempt_endpoints_check_their_own_proof(app, client, world, mailbox):
    """Without a signature or with a forged token, the exempt endpoints refuse and keep all."""
    before = snapshot()
    webhook = client.post(
        "/webhooks/stripe",
        data=b'{"id": "evt_1", "type": "checkout.session.completed"}',
        headers={"Stripe-Signature": "t=1,v1=0000"},
        content_type="application/json",
    )
    assert webhook.status_code == 400
    forged = world.ids["token:readers.unsubscribe"][:-4] + "AAAA"
    one_click = client.post(f"/unsubscribe/{forged}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 400
    thread = world.ids["token:articles.thread_unsubscribe"][:-4] + "AAAA"
    leave = client.post(f"/replies/unsubscribe/{thread}", data={"List-Unsubscribe": "One-Click"})
    assert leave.status_code == 400
    assert changed_tables(before, snapshot()) == []
    assert mailbox.messages == []


# What a browser says when a page elsewhere sends the form: Fetch Metadata, or only an Origin
# (older browsers), or neither (a very old browser, or a privacy tool that strips them).
CROSS_SITE = {
    "cross-site": {"Sec-Fetch-Site": "cross-site"},
    "same-site": {"Sec-Fetch-Site": "same-site", "Origin": "http://evil.localhost"},
    "foreign origin": {"Origin": "https://evil.example"},
    "null origin": {"Origin": "null"},
    "no header": {},
}


@pytest.mark.parametrize("says", sorted(CROSS_SITE))
def test_a_cross_site_post_without_a_session_is_refused_by_every_form(app, world, mailbox, says):
    """A visitor with no session is held to the same-origin rule: each form refuses."""
    wrong = []
    for method, endpoint in protected_rules(app):
        visitor = app.test_client()
        data = {k: str(v).format(**world.ids) for k, v in FORM_DATA.get(endpoint, {}).items()}
        url = _url(app, endpoint, world)
        before = snapshot()
        response = visitor.open(url, method=method, data=data, headers=CROSS_SITE[says])
        changed = changed_tables(before, snapshot())
        if response.status_code != 400 or changed:
            wrong.append(f"{method} {url}: {response.status_code}, changed {changed or 'nothing'}")
    assert not wrong, f"accepted from another site ({says}):\n" + "\n".join(wrong)
    assert mailbox.messages == []


def test_a_session_with_a_token_needs_it_even_from_this_site(app, world):
    """Same-origin headers never stand in for the token of a session that holds one."""
    admin_client = app.test_client()
    world.login(admin_client, "admin")
    before = snapshot()
    response = admin_client.post(
        _url(app, "admin.tags_list", world),
        data=FORM_DATA["admin.tags_list"],
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    )
    assert response.status_code == 400
    assert changed_tables(before, snapshot()) == []

"""Who may do what: every rule in ``app.url_map`` x method x role, against one table.

The table below is the statement of the rules. A route added later without an entry
fails ``test_every_route_has_an_entry`` with its name, so nobody ships a page whose
audience was never decided. Methods a rule does not accept answer 405 to everyone
and need no entry. The back office's anonymous and reader cases are also covered by
tests/admin/test_authorization.py; here they sit beside every other role and the
admin's own outcome, so one table answers "who may" for the whole site.

Outcomes: a status code, or "<3xx> <path>" for a redirect (``{name}`` is filled from
the world's ids). A refused request (403, 405, a redirect to the login page, or a
reader reaching for another reader's checkout) must leave every table as it was.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import url_for
from werkzeug.exceptions import HTTPException

from shop.background import join_background
from tests.security.conftest import ROLES, World, changed_tables, snapshot
from tests.support import csrf_token

ANON, UNCONFIRMED, READER, PAYING, OTHER, ADMIN = ROLES
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
PROBED_METHODS = ("GET", "POST")
LOGIN = "302 /login"
HOME = "302 /"

Outcomes = dict[str, object]


def everyone(outcome: object) -> Outcomes:
    """The same outcome for every role."""
    return dict.fromkeys(ROLES, outcome)


def members(outcome: object) -> Outcomes:
    """Anonymous visitors log in; every account gets ``outcome``."""
    return {**everyone(outcome), ANON: LOGIN}


def admins(outcome: object) -> Outcomes:
    """Anonymous visitors log in, readers of every kind get 403, admins ``outcome``."""
    return {**everyone(403), ANON: LOGIN, ADMIN: outcome}


def visitors(anonymous: object, logged_in: object) -> Outcomes:
    """One outcome for anonymous visitors, another for every account."""
    return {**everyone(logged_in), ANON: anonymous}


MATRIX: dict[tuple[str, str], Outcomes] = {
    # accounts
    ("GET", "accounts.account"): members(200),
    ("GET", "accounts.change_email"): members(200),
    ("GET", "accounts.change_name"): members(200),
    ("POST", "accounts.change_name"): members("302 /account"),
    # A mailed sign-in link: asked for by visitors; the walked token names no link, so
    # everyone is told it is not valid (the journey itself is in test_sign_in_links.py).
    ("POST", "accounts.request_sign_in_link"): visitors(200, HOME),
    ("GET", "accounts.sign_in_link"): everyone(410),
    ("POST", "accounts.sign_in_link"): everyone(410),
    ("POST", "accounts.change_email"): members(200),
    ("GET", "accounts.change_password"): members(200),
    ("POST", "accounts.change_password"): members(200),
    # The mailed links are bearer tokens: whoever opens them acts for their owner.
    # Opening the confirmation link confirms the address; only the browser that registered
    # is logged in by it, so a visitor who did not is asked to log in.
    ("GET", "accounts.confirm"): visitors("302 /login", "302 /account"),
    ("GET", "accounts.confirm_email_change"): visitors(HOME, "302 /account"),
    ("GET", "accounts.forgot_password"): everyone(200),
    ("POST", "accounts.forgot_password"): everyone(200),
    ("GET", "accounts.login"): visitors(200, HOME),
    ("POST", "accounts.login"): visitors(200, HOME),
    ("POST", "accounts.logout"): everyone(HOME),
    ("GET", "accounts.register"): visitors(200, HOME),
    ("GET", "accounts.check_inbox"): everyone(200),
    ("POST", "accounts.register"): visitors(200, HOME),
    ("POST", "accounts.resend_confirmation"): members("302 /account"),
    ("GET", "accounts.reset_password"): everyone(200),
    ("POST", "accounts.reset_password"): everyone(200),
    # the back office
    ("GET", "admin.dashboard"): admins(200),
    ("GET", "admin.articles_list"): admins(200),
    ("GET", "admin.article_new"): admins(200),
    ("POST", "admin.article_new"): admins(200),  # an empty form is shown again
    ("GET", "admin.article_edit"): admins(200),
    ("POST", "admin.article_edit"): admins("302 /admin/articles/{article_id}"),
    ("GET", "admin.article_preview"): admins(200),
    ("POST", "admin.article_unpublish"): admins("302 /admin/articles/{article_id}"),
    ("POST", "admin.article_delete"): admins("302 /admin/articles"),
    ("POST", "admin.body_picture"): admins(400),  # no file sent: the form says so
    ("GET", "admin.audit_log"): admins(200),
    ("GET", "admin.comments_list"): admins(200),
    ("POST", "admin.comment_hide"): admins("302 /admin/comments"),
    ("POST", "admin.comment_show"): admins("302 /admin/comments"),
    ("POST", "admin.comment_delete"): admins("302 /admin/comments"),
    # The walked comment is not held: each says so and changes nothing.
    ("POST", "admin.comment_approve"): admins("302 /admin/comments"),
    ("POST", "admin.comment_reject"): admins("302 /admin/comments"),
    ("GET", "admin.newsletters_list"): admins(200),
    ("GET", "admin.newsletter_new"): admins(200),
    ("POST", "admin.newsletter_new"): admins(200),
    ("GET", "admin.newsletter_edit"): admins(200),
    ("POST", "admin.newsletter_edit"): admins("302 /admin/newsletters/{newsletter_id}"),
    ("GET", "admin.newsletter_preview"): admins(200),
    ("GET", "admin.newsletter_progress"): admins(200),
    ("POST", "admin.newsletter_test"): admins("302 /admin/newsletters/{newsletter_id}"),
    ("POST", "admin.newsletter_schedule"): admins("302 /admin/newsletters/{newsletter_id}"),
    ("POST", "admin.newsletter_unschedule"): admins("302 /admin/newsletters/{newsletter_id}"),
    # Queued, not sent in the request: 303 to the progress page at once.
    ("POST", "admin.newsletter_send"): admins("303 /admin/newsletters/{newsletter_id}/progress"),
    # Walked after "send": a newsletter that went out is not deleted, and says so.
    ("POST", "admin.newsletter_delete"): admins("302 /admin/newsletters/{newsletter_id}/progress"),
    ("GET", "admin.orders_list"): admins(200),
    ("GET", "admin.orders_export"): admins(200),
    ("GET", "admin.order_detail"): admins(200),
    ("POST", "admin.order_refund"): admins("302 /admin/orders/{order_id}"),
    ("GET", "admin.outbox_list"): admins(200),
    ("GET", "admin.outbox_show"): admins(200),
    ("GET", "admin.outbox_html"): admins(200),
    ("GET", "admin.products_list"): admins(200),
    ("GET", "admin.product_new"): admins(200),
    ("POST", "admin.product_new"): admins(200),
    ("GET", "admin.product_edit"): admins(200),
    ("POST", "admin.product_edit"): admins(200),
    ("GET", "admin.runs_list"): admins(200),
    ("GET", "admin.run_detail"): admins(200),
    ("POST", "admin.run_retry"): admins("302 /admin/runs/{run_id}"),
    ("GET", "admin.gifts_list"): admins(200),
    # The walked gift is sent: a new link goes, or (the relay being the test sink) it does.
    ("POST", "admin.gift_resend"): admins("302 /admin/gifts"),
    ("GET", "admin.shipping_queue"): admins(200),
    ("POST", "admin.shipping_ship"): admins("302 /admin/shipping"),
    ("POST", "admin.shipping_rate_add"): admins("302 /admin/shipping"),
    ("POST", "admin.shipping_rate_toggle"): admins("302 /admin/shipping"),
    ("GET", "admin.subscribers_list"): admins(200),
    # members import: the walked form has no file, so the form says to choose one
    ("GET", "admin.members_import"): admins(200),
    ("POST", "admin.members_import"): admins(200),
    ("GET", "admin.members_import_job"): admins(200),
    ("POST", "admin.members_import_run"): admins("303 /admin/subscribers/import/{import_id}"),
    ("GET", "admin.members_export_csv"): admins(200),
    ("GET", "admin.members_export_json"): admins(200),
    ("GET", "admin.subscribers_export"): admins(200),
    ("GET", "admin.subscriber_detail"): admins(200),
    ("POST", "admin.subscriber_suppress"): admins("302 /admin/subscribers/{user_id}"),
    ("POST", "admin.subscriber_unsuppress"): admins("302 /admin/subscribers/{user_id}"),
    ("POST", "admin.subscriber_confirmation"): admins("302 /admin/subscribers/{user_id}"),
    ("GET", "admin.tags_list"): admins(200),
    ("POST", "admin.tags_list"): admins(200),
    ("GET", "admin.tag_edit"): admins(200),
    ("POST", "admin.tag_edit"): admins("302 /admin/tags"),
    ("POST", "admin.tag_delete"): admins("302 /admin/tags"),
    # gifts: the form for members; the walked redeem token names no gift
    ("GET", "billing.gift_new"): members(200),
    ("POST", "billing.gift_new"): members(400),
    ("GET", "billing.gift_redeem"): everyone(410),
    ("POST", "billing.gift_redeem"): everyone(410),
    # email-only subscribe (the walked confirmation token names no link), following a topic
    ("GET", "readers.subscribe"): everyone(200),
    # The walk posts no address: the form says what is missing.
    ("POST", "readers.subscribe"): everyone(400),
    ("GET", "readers.confirm_subscription"): everyone(410),
    ("POST", "readers.confirm_subscription"): everyone(410),
    # The walked readers' digests are off or have every topic: they are sent to choose.
    ("POST", "readers.follow_topic"): {
        **members("302 /account/preferences"),
        UNCONFIRMED: "302 /tags/{tag_slug}",
    },
    # articles
    ("GET", "articles.index"): everyone(200),
    ("GET", "articles.article"): everyone(200),
    # Unconfirmed readers are sent back to the form with a message; others see it again.
    ("POST", "articles.add_comment"): {
        **members(200),
        UNCONFIRMED: "302 /articles/{slug}",
    },
    # Only the author changes a comment: the walk posts no text, so the form comes back.
    ("POST", "articles.comment_edit"): {**members(403), READER: 200},
    ("POST", "articles.comment_delete"): {**members(403), READER: "302 /articles/{slug}"},
    # A reply mail's link is a bearer token, as the digest's unsubscribe link is.
    ("GET", "articles.thread_unsubscribe"): everyone(200),
    ("POST", "articles.thread_unsubscribe"): everyone(200),
    ("GET", "articles.tag"): everyone(200),
    ("GET", "articles.search_page"): everyone(200),
    ("GET", "articles.feed"): everyone(200),
    ("GET", "articles.tag_feed"): everyone(200),
    ("GET", "articles.sitemap"): everyone(200),
    ("GET", "articles.robots"): everyone(200),
    ("GET", "articles.favicon"): everyone("301 /static/img/favicon.svg"),
    ("GET", "static"): everyone(200),
    ("GET", "health.healthz"): everyone(200),
    ("GET", "media.media_file"): everyone(200),
    # billing
    # Visitors check out as guests too; every cart of the walk is empty.
    ("POST", "billing.checkout"): everyone("302 /cart"),
    # A plan's own button (visitors pay as guests): the world's product is a one-off item,
    # refused back to the story that asked (``next``), nothing changed.
    ("POST", "billing.plan_checkout"): everyone("302 /articles/a-paid-story"),
    # Only the reader's own checkout shows (a guest's, in the browser that paid); anyone
    # else's session id is not found.
    ("GET", "billing.success"): {**everyone(404), READER: 200},
    # Coming back from Checkout shows a page and changes nothing (any site can link
    # here); ending the checkout is the page's button, a POST with a token. A guest's
    # browser ends only its own.
    ("GET", "billing.cancel"): everyone(200),
    ("POST", "billing.cancel_confirm"): everyone("303 /cart"),
    ("POST", "billing.billing_portal"): members("302 /account"),
    ("POST", "billing.stripe_webhook"): everyone(400),  # unsigned
    # Off until each provider's setting is made (MAILGUN_WEBHOOK_SIGNING_KEY,
    # SES_SNS_TOPIC_ARN, POSTMARK_WEBHOOK_USERNAME/PASSWORD, SENDGRID_WEBHOOK_PUBLIC_KEY);
    # tests/bounces: signed, forged, replayed, wrong credentials.
    ("POST", "bounces.mailgun_webhook"): everyone(404),
    ("POST", "bounces.ses_webhook"): everyone(404),
    ("POST", "bounces.postmark_webhook"): everyone(404),
    ("POST", "bounces.sendgrid_webhook"): everyone(404),
    # newsletter
    ("GET", "readers.preferences"): members(200),
    # Nothing is saved before the address is confirmed.
    ("POST", "readers.preferences"): {**members(200), UNCONFIRMED: 403},
    ("GET", "readers.preview"): members(404),  # nothing new since the last digest
    ("POST", "readers.resubscribe"): members("302 /account/preferences"),
    ("GET", "readers.unsubscribe"): everyone(200),
    ("POST", "readers.unsubscribe"): everyone(200),
    # The open pixel answers its image to any token (counting nothing for a forged one);
    # a tracked link with a token nobody was mailed leads nowhere.
    ("GET", "tracking.pixel"): everyone(200),
    ("GET", "tracking.click"): everyone(404),
    ("GET", "newsletters.archive"): everyone(200),
    ("GET", "newsletters.archive_issue"): everyone(200),
    # catalogue and cart
    ("GET", "catalogue.catalogue"): everyone(200),
    ("GET", "cart.cart"): everyone(200),
    ("POST", "cart.cart_add"): everyone("303 /cart"),
    ("POST", "cart.cart_update"): everyone("303 /cart"),
    ("POST", "cart.cart_remove"): everyone("303 /cart"),
}

# Requests that consume a token, send mail to everyone, delete, or log out: walked
# last, in this order, so that every other request still finds its record.
RUN_LAST = [
    ("POST", "readers.unsubscribe"),
    ("POST", "articles.thread_unsubscribe"),
    # Refused to all but the author, so walked before the send that runs in a thread.
    ("POST", "articles.comment_delete"),
    ("POST", "admin.newsletter_send"),
    ("POST", "admin.newsletter_delete"),
    ("POST", "admin.comment_delete"),
    ("POST", "admin.article_delete"),
    ("POST", "admin.tag_delete"),
    ("GET", "accounts.confirm_email_change"),
    # It logs the link's owner in: only logging out may come after it.
    ("GET", "accounts.confirm"),
    ("POST", "accounts.logout"),
]

# Pages about the owner's checkout: for anyone else they must change nothing.
OWNER_ONLY = {"billing.success", "billing.cancel", "billing.cancel_confirm"}
# What a stranger must never change, across the whole walk.
OWNER_TABLES = ("orders", "order_lines", "comments", "subscriptions", "payments", "carts")


def walk(app) -> list[tuple[str, str]]:
    """(method, endpoint) for every method of every rule, plus the methods it refuses."""
    found = set()
    for rule in app.url_map.iter_rules():
        for method in set(PROBED_METHODS) | ((rule.methods or set()) - SKIPPED_METHODS):
            found.add((method, rule.endpoint))
    last = [key for key in RUN_LAST if key in found]
    return sorted(found - set(last), key=lambda k: (k[0] != "GET", k[1])) + last


def allowed(app, method: str, endpoint: str) -> bool:
    """Whether the endpoint's rule accepts the method."""
    return any(
        method in (rule.methods or set()) for rule in app.url_map.iter_rules(endpoint=endpoint)
    )


def routed_elsewhere(app, method: str, url: str, endpoint: str) -> bool:
    """Whether this method on this URL belongs to another rule (GET /confirm/resend)."""
    try:
        found, _ = app.url_map.bind("localhost").match(urlsplit(url).path, method=method)
    except HTTPException:
        return False
    return found != endpoint


def url_of(app, endpoint: str, world: World) -> str:
    """The endpoint's URL with a real record for every parameter."""
    rule = next(iter(app.url_map.iter_rules(endpoint=endpoint)))
    values = {}
    for arg in rule.arguments:
        value = world.ids.get(f"{arg}:{endpoint}", world.ids.get(arg))
        assert value is not None, f"{rule.rule}: add a real record for {arg!r} to the world"
        values[arg] = value
    with app.test_request_context():
        return url_for(endpoint, **values, **world.query.get(endpoint, {}))


def outcome_of(response) -> object:
    """A response as the table writes it: the status, or "<3xx> <path>"."""
    if 300 <= response.status_code < 400:
        return f"{response.status_code} {urlsplit(response.headers['Location']).path}"
    return response.status_code


def expected(method: str, endpoint: str, role: str, world: World, app) -> object:
    """The table's outcome for this request (405 for a method the rule refuses)."""
    if not allowed(app, method, endpoint):
        return 405
    if (method, endpoint) not in MATRIX:
        return "no entry in MATRIX"  # named by test_every_route_has_an_entry too
    value = MATRIX[(method, endpoint)][role]
    return value.format(**world.ids) if isinstance(value, str) else value


def refused(outcome: object, endpoint: str, role: str) -> bool:
    """Whether the request was turned away, so that it must have changed nothing."""
    if endpoint == "accounts.confirm":
        # The link confirms the address for anyone who holds it, then asks for a login.
        return False
    if outcome in (403, 405, LOGIN):
        return True
    return endpoint in OWNER_ONLY and role not in ("reader",)


def test_every_route_has_an_entry(app):
    """Each method of each rule has a row for every role, and no row names a lost route."""
    routes = {
        (method, rule.endpoint): rule.rule
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - SKIPPED_METHODS
    }
    missing = sorted(f"{m} {routes[(m, e)]} ({e})" for m, e in routes if (m, e) not in MATRIX)
    assert not missing, "routes with no entry in the access MATRIX: " + ", ".join(missing)
    stale = sorted(f"{m} {e}" for m, e in MATRIX if (m, e) not in routes)
    assert not stale, "MATRIX entries for routes that no longer exist: " + ", ".join(stale)
    incomplete = sorted(f"{m} {e}" for (m, e), row in MATRIX.items() if set(row) != set(ROLES))
    assert not incomplete, "MATRIX rows without an outcome for every role: " + ", ".join(incomplete)


# Send now sends from a thread of the process: real commits.
@pytest.mark.real_commits
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(app, client, world, role):
    """Every request of the walk answers as the table says for this role."""
    world.login(client, role)
    token = csrf_token(client, "/login" if role == ANON else "/account/password")
    owner_before = {name: rows for name, rows in snapshot().items() if name in OWNER_TABLES}
    wrong, leaked = [], []
    # The tables as the last refused request left them: nothing has run since, so they
    # are also as the next request finds them, and one snapshot serves as both.
    latest = None
    for method, endpoint in walk(app):
        url = url_of(app, endpoint, world)
        if routed_elsewhere(app, method, url, endpoint):
            continue  # that request is the other rule's, walked under its own entry
        want = expected(method, endpoint, role, world, app)
        before = None
        if refused(want, endpoint, role):
            before = latest if latest is not None else snapshot()
        data = {"csrf_token": token, **world.form.get(endpoint, {})} if method != "GET" else None
        response = client.open(url, method=method, data=data)
        # A job the request started (a newsletter's send, a members import) ends before
        # the next request, whose refusal must find the tables still.
        assert join_background(app, timeout=60), f"{method} {url}: its job did not end"
        latest = None
        got = outcome_of(response)
        if got != want:
            wrong.append(f"{method} {url}: expected {want}, got {got}")
        if before is not None:
            latest = snapshot()
            changed = changed_tables(before, latest)
            if changed:
                leaked.append(f"{method} {url} ({got}) changed {', '.join(changed)}")
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)
    assert not leaked, f"refused requests as {role} changed data:\n" + "\n".join(leaked)
    if role not in (READER, ADMIN):
        after = snapshot()
        touched = [name for name in OWNER_TABLES if owner_before.get(name) != after.get(name)]
        assert not touched, f"as {role}, the owner's records changed in: {touched}"

"""The hostile inputs, and what every form of the site posts when filled in properly."""

from __future__ import annotations

from tests.factories import PASSWORD

# (name, value): the name appears in every failure message.
PAYLOADS: list[tuple[str, str]] = [
    ("script", '<script>alert("xss")</script>'),
    ("attribute", '"><img src=x onerror=alert(1)>'),
    ("js-url", "javascript:alert(1)//"),
    ("sql-quote", "' OR '1'='1' --"),
    ("sql-stacked", "1; DROP TABLE users; --"),
    ("sql-like", "%_\\"),
    ("nul", "a\x00b"),
    ("only-nul", "\x00"),
    ("controls", "\x01\x08\x0b\x1b[31m\x7f"),
    ("crlf", "x\r\nSet-Cookie: evil=1"),
    ("long", "A" * 10_000),
    ("huge-int", "9223372036854775808"),
    ("huge-int-64", "18446744073709551616"),
    ("minus-one", "-1"),
    ("huge-negative", "-9223372036854775809"),
    ("exponent", "1e9999"),
    ("arabic-digit", "\u0663"),
    ("non-ascii", "Zoë Ångström 日本語 😀"),
    ("idn-email", "idn@bücher.example"),
    ("non-ascii-local", "ünï@example.com"),
    ("fullwidth", "ｒｅａｄｅｒ＠ｅｘａｍｐｌｅ．ｏｒｇ"),
    ("combining", "reade\u0301r@example.org"),
    ("bidi-zero-width", "\u202eadm\u200bin"),
    ("percent", "%00%2e%2e%2f%3Cscript%3E"),
    ("traversal", "../../../etc/passwd"),
    ("slashes", "////evil.example/x"),
    ("empty", ""),
    ("spaces", "   "),
]

# The values most likely to be stopped by a neighbouring field's check before they reach
# the code they aim at: each goes into every field on its own. The others go into all the
# fields of a form at once (one request each), which keeps the walk within a minute.
ONE_FIELD_AT_A_TIME = {"script", "nul", "long", "huge-int", "non-ascii-local", "slashes"}

# In a URL or a query string a value is text until a view parses it: these cover each
# kind of parsing (ids, pages, slugs, tokens, filters) without repeating near-twins.
URL_PAYLOADS = {
    "script",
    "sql-quote",
    "nul",
    "controls",
    "long",
    "huge-int",
    "minus-one",
    "exponent",
    "arabic-digit",
    "non-ascii",
    "bidi-zero-width",
    "percent",
    "traversal",
    "slashes",
}

# Raw path segments put into URLs as they are (no further percent-encoding).
RAW_SEGMENTS: list[str] = ["%00", "%2F%2Fevil.example", "..%2F..%2F", "%C0%AE", "%FF", "%E2%80%AE"]

# endpoint -> (who posts it, a valid filling of every field it reads). Values in braces
# come from the world's ids. Each hostile value goes into one field at a time, the rest
# staying valid, so that it travels as far into the code as a real attacker's would.
FORMS: dict[str, tuple[str, dict[str, str]]] = {
    "accounts.login": (
        "anonymous",
        {"email": "reader@example.org", "password": PASSWORD, "remember": "y", "next": "/"},
    ),
    "accounts.register": (
        "anonymous",
        {
            "email": "fresh@example.org",
            "password": PASSWORD,
            "digest": "y",
            "digest_frequency": "weekly",
            "display_name": "Fresh Reader",
            "next": "/",
        },
    ),
    "accounts.forgot_password": ("anonymous", {"email": "other@example.org"}),
    "accounts.reset_password": ("anonymous", {"password": "a fresh long passphrase"}),
    "accounts.change_email": ("reader", {"email": "elsewhere@example.org", "password": PASSWORD}),
    "accounts.change_password": (
        "reader",
        {"current_password": PASSWORD, "new_password": PASSWORD},
    ),
    "admin.article_new": (
        "admin",
        {
            "title": "Fresh story",
            "summary": "Summary",
            "image": "",
            "image_alt": "A picture",
            "remove_image": "",
            "pending_image_id": "",
            "body_markdown": "Body",
            "access": "public",
            "tag_ids": "{tag_id}",
            "comments_from": "members",
            "publish_at": "2030-01-01T07:00",
            "email_audience": "all",
            "action": "save",
        },
    ),
    "admin.article_edit": (
        "admin",
        {
            "title": "Walked article",
            "summary": "Summary",
            "image": "",
            "image_alt": "A picture",
            "remove_image": "",
            "pending_image_id": "",
            "body_markdown": "Body",
            "access": "public",
            "tag_ids": "{tag_id}",
            "comments_from": "paying",
            "publish_at": "",
            "email_audience": "tags",
            "action": "save",
        },
    ),
    "admin.body_picture": ("admin", {"picture": "", "alt": "A picture"}),
    "admin.tags_list": ("admin", {"name": "Fresh tag", "description": "About it"}),
    "admin.tag_edit": ("admin", {"name": "Walked", "description": "About it"}),
    "admin.comment_hide": ("admin", {"next": "/admin/comments"}),
    "admin.comment_show": ("admin", {"next": "/admin/comments"}),
    "admin.comment_delete": ("admin", {"next": "/admin/comments"}),
    "admin.newsletter_new": (
        "admin",
        {
            "subject": "Fresh issue",
            "body_markdown": "Hello",
            "audience": "tags",
            "tag_ids": "{tag_id}",
            "action": "save",
        },
    ),
    "admin.newsletter_edit": (
        "admin",
        {
            "subject": "Walked newsletter",
            "body_markdown": "Hello",
            "audience": "tags",
            "tag_ids": "{tag_id}",
            "action": "save",
        },
    ),
    "admin.newsletter_schedule": ("admin", {"send_at": "2030-01-01T07:00"}),
    "admin.order_refund": (
        "admin",
        {"payment_id": "{payment_id}", "amount": "1.00", "attempt": "a1", "action": "partial"},
    ),
    "admin.product_new": (
        "admin",
        {
            "name": "Fresh product",
            "description": "A thing",
            "kind": "item",
            "active": "y",
            "needs_shipping": "y",
            "stock": "5",
            "amount": "12.50",
            "interval": "",
            "trial_days": "",
            "image": "",
            "image_alt": "A picture",
            "remove_image": "",
            "pending_image_id": "",
        },
    ),
    "admin.product_edit": (
        "admin",
        {
            "name": "Walked product",
            "description": "A thing",
            "kind": "item",
            "active": "y",
            "needs_shipping": "y",
            "stock": "5",
            "amount": "5",
            "interval": "",
            "trial_days": "",
            "image": "",
            "image_alt": "A picture",
            "remove_image": "",
            "pending_image_id": "",
        },
    ),
    "admin.shipping_ship": ("admin", {"tracking_number": "RM 4821 7730 GB", "show": "to-ship"}),
    "admin.shipping_rate_add": ("admin", {"name": "Standard post", "amount": "3.50"}),
    # The file itself is fuzzed in tests/members (CSV is the hostile input there).
    "admin.members_import": ("admin", {"file": "", "format": "auto", "status": ""}),
    "admin.shipping_rate_toggle": ("admin", {"active": "0"}),
    "billing.cancel_confirm": ("reader", {"order": "{pending_order_id}"}),
    "accounts.change_name": ("reader", {"display_name": "Nina Reader"}),
    "accounts.request_sign_in_link": (
        "anonymous",
        {"sign_in_email": "reader@example.org", "next": "/"},
    ),
    "accounts.sign_in_link": ("anonymous", {}),
    "readers.subscribe": (
        "anonymous",
        {"email": "new.subscriber@example.org", "topic": "{tag_slug}"},
    ),
    "readers.confirm_subscription": ("anonymous", {}),
    "billing.gift_new": (
        "reader",
        {
            "product_id": "{plan_id}",
            "giver_name": "Nina Reader",
            "recipient_name": "Grace Hopper",
            "recipient_email": "grace@example.org",
            "message": "Happy birthday",
            "send_on": "2030-01-01",
        },
    ),
    "billing.gift_redeem": ("anonymous", {}),
    "admin.gift_resend": ("admin", {}),
    "readers.follow_topic": ("reader", {}),
    "articles.add_comment": (
        "reader",
        {
            "body": "A fair point.",
            "website": "",
            "display_name": "Nina Reader",
            "parent_id": "{own_comment_id}",
        },
    ),
    "articles.comment_edit": ("reader", {"body": "A fairer point."}),
    "articles.thread_unsubscribe": ("anonymous", {"List-Unsubscribe": "One-Click"}),
    "readers.preferences": (
        "reader",
        {
            "frequency": "weekly",
            "weekday": "2",
            "stories": "topics",
            "tag_ids": "{tag}",
            "paused_until": "",
        },
    ),
    "readers.unsubscribe": ("anonymous", {"List-Unsubscribe": "One-Click"}),
    "cart.cart_add": ("anonymous", {"product_id": "{plan_id}", "quantity": "1", "next": "/cart"}),
    "cart.cart_update": (
        "anonymous",
        {"product_id": "{plan_id}", "quantity": "2", "next": "/cart"},
    ),
    "cart.cart_remove": ("anonymous", {"product_id": "{plan_id}", "next": "/cart"}),
    # The URL names the world's one-off product, which the rule refuses (no checkout).
    "billing.plan_checkout": ("reader", {"next": "/articles/{slug}"}),
}

# POST endpoints that read no field but the CSRF token: only their URL can be hostile.
BUTTONS = {
    "accounts.logout",
    "articles.comment_delete",
    "accounts.resend_confirmation",
    "admin.article_delete",
    "admin.article_unpublish",
    "admin.members_import_run",
    "admin.comment_approve",
    "admin.comment_reject",
    "admin.newsletter_delete",
    "admin.newsletter_send",
    "admin.newsletter_test",
    "admin.newsletter_unschedule",
    "admin.run_retry",
    "admin.subscriber_confirmation",
    "admin.subscriber_suppress",
    "admin.subscriber_unsuppress",
    "admin.tag_delete",
    "billing.billing_portal",
    "billing.checkout",
    "readers.resubscribe",
}
# Not a form at all: a signed JSON body, fuzzed in test_fuzz.py.
NOT_FORMS = {
    "billing.stripe_webhook",
    "bounces.mailgun_webhook",
    "bounces.ses_webhook",
    "bounces.postmark_webhook",
    "bounces.sendgrid_webhook",
}

# Query parameters the views read (request.args), per endpoint.
QUERY_PARAMS: dict[str, list[str]] = {
    "articles.index": ["page"],
    "articles.tag": ["page"],
    "articles.search_page": ["q", "page"],
    "articles.sitemap": ["part"],
    "newsletters.archive": ["page"],
    "accounts.login": ["next"],
    "accounts.register": ["next"],
    "billing.success": ["session_id"],
    "billing.cancel": ["order"],
    "admin.articles_list": ["page", "status"],
    "admin.comments_list": ["page", "q", "state"],
    "admin.newsletters_list": ["page"],
    "admin.orders_list": ["page", "q", "status", "attention"],
    "admin.orders_export": ["q", "status", "attention"],
    "admin.outbox_list": ["page"],
    "admin.gifts_list": ["page", "status"],
    "billing.gift_new": ["plan"],
    "readers.preferences": ["topic"],
    "readers.subscribe": ["topic"],
    # A mailed unsubscribe link's tracking token: a bad one counts nothing, never a 500.
    "readers.unsubscribe": ["m"],
    "admin.shipping_queue": ["page", "show"],
    "admin.audit_log": ["page", "q", "action"],
    "admin.runs_list": ["page", "kind", "state", "q"],
    "admin.run_detail": ["page", "status", "q"],
    "admin.subscribers_list": ["page", "q", "frequency", "status", "paying"],
    "admin.subscribers_export": ["q", "frequency", "status", "paying"],
    "admin.members_import_job": ["page"],
}

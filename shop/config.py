"""Settings, read from the environment (and an optional ``.env`` file) in one place."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from babel import Locale
from dotenv import load_dotenv

TRUE_WORDS = {"1", "true", "yes", "on"}
# Where the development server listens when neither PORT nor FLASK_RUN_PORT says.
DEFAULT_PORT = 5000
# Where posted items go unless SHIPPING_COUNTRIES says otherwise.
DEFAULT_SHIPPING_COUNTRIES = "US,CA,GB,IE,AU,NZ"
# The masthead's line under the name, until PUBLICATION_DESCRIPTION says what this one is.
DEFAULT_DESCRIPTION = "Independent reporting, tagged by topic, with digests you choose."
# Codes Stripe Checkout does not take in shipping_address_collection.allowed_countries.
STRIPE_UNSHIPPABLE = frozenset(
    ["AS", "CX", "CC", "CU", "HM", "IR", "KP", "MH", "FM", "NF", "MP", "PW", "SY", "UM", "VI"]
)


class ConfigError(RuntimeError):
    """Raised when the settings cannot run the app safely."""


def _bool(value: str | None, default: bool = False) -> bool:
    """Read an environment flag such as ``true`` or ``0``."""
    if value is None or value == "":
        return default
    return value.strip().lower() in TRUE_WORDS


def _int(name: str, value: str | None, default: int) -> int:
    """Read an integer setting, failing loudly on a typo rather than guessing."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from exc


def served_url(environ: dict[str, str]) -> str:
    """The development server's own address: the default SITE_URL, so links follow PORT.

    ``scripts/serve`` and ``flask run`` listen on 127.0.0.1 at ``PORT`` (or Flask's
    ``FLASK_RUN_PORT``), 5000 when neither is set. A public site sets SITE_URL instead.
    """
    name = "PORT" if environ.get("PORT") else "FLASK_RUN_PORT"
    port = _int(name, environ.get(name), DEFAULT_PORT)
    if not 0 < port < 65536:
        raise ConfigError(f"{name} must be a port number from 1 to 65535, got {port}")
    return f"http://127.0.0.1:{port}"


def shipping_countries(value: str | None) -> tuple[str, ...]:
    """Read SHIPPING_COUNTRIES: ISO 3166 two-letter codes, comma-separated, that Stripe takes."""
    known = Locale.parse("en").territories
    codes: list[str] = []
    for part in (value or DEFAULT_SHIPPING_COUNTRIES).split(","):
        code = part.strip().upper()
        if not code:
            continue
        if len(code) != 2 or not code.isalpha() or code not in known:
            raise ConfigError(
                f"SHIPPING_COUNTRIES: {part.strip()!r} is not a two-letter country code "
                "such as GB or US (the United Kingdom is GB)."
            )
        if code in STRIPE_UNSHIPPABLE:
            raise ConfigError(
                f"SHIPPING_COUNTRIES: Stripe Checkout cannot collect addresses in {code}."
            )
        if code not in codes:
            codes.append(code)
    if not codes:
        raise ConfigError("SHIPPING_COUNTRIES names no country: leave it unset or list some.")
    return tuple(codes)


def normalise_database_url(url: str) -> str:
    """Point PostgreSQL URLs at psycopg 3, the driver we ship."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def dev_secret_key(instance_path: str) -> str:
    """Return the development secret key, generating it once into ``instance/``."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def media_settings(instance_path: str, environ: dict[str, str]) -> dict[str, Any]:
    """Where pictures are stored and how large an upload may be (shop/media)."""
    env = environ.get
    kind = (env("MEDIA_STORAGE") or "local").strip().lower()
    if kind not in ("local", "s3"):
        raise ConfigError(f"MEDIA_STORAGE must be local or s3, got {kind!r}")
    bucket = env("MEDIA_S3_BUCKET") or ""
    if kind == "s3" and not bucket:
        raise ConfigError("MEDIA_STORAGE=s3 needs MEDIA_S3_BUCKET, the bucket to store in.")
    max_bytes = _int("MEDIA_MAX_BYTES", env("MEDIA_MAX_BYTES"), 10 * 1024 * 1024)
    max_pixels = _int("MEDIA_MAX_PIXELS", env("MEDIA_MAX_PIXELS"), 40_000_000)
    if max_bytes < 1 or max_pixels < 1:
        raise ConfigError("MEDIA_MAX_BYTES and MEDIA_MAX_PIXELS must be above 0.")
    return {
        "MEDIA_STORAGE": kind,
        "MEDIA_DIR": env("MEDIA_DIR") or str(Path(instance_path) / "media"),
        # The largest upload accepted, and the most pixels one may decode to.
        "MEDIA_MAX_BYTES": max_bytes,
        "MEDIA_MAX_PIXELS": max_pixels,
        "MEDIA_S3_BUCKET": bucket,
        "MEDIA_S3_ENDPOINT_URL": env("MEDIA_S3_ENDPOINT_URL") or "",
        "MEDIA_S3_REGION": env("MEDIA_S3_REGION") or "",
        "MEDIA_S3_ACCESS_KEY_ID": env("MEDIA_S3_ACCESS_KEY_ID") or "",
        "MEDIA_S3_SECRET_ACCESS_KEY": env("MEDIA_S3_SECRET_ACCESS_KEY") or "",
        # Where browsers fetch the bucket's files (a CDN or the bucket's own address).
        "MEDIA_PUBLIC_URL": (env("MEDIA_PUBLIC_URL") or "").rstrip("/"),
    }


def load_settings(instance_path: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment."""
    if environ is None:
        # .env never overrides a variable that is really set.
        load_dotenv(override=False)
        environ = dict(os.environ)
    env = environ.get
    database_url = env("DATABASE_URL") or "sqlite:///" + str(Path(instance_path) / "broadsheet.db")
    mail_server = env("MAIL_SERVER") or ""
    site_url = (env("SITE_URL") or served_url(environ)).rstrip("/")
    # Over https, cookies must never travel in the clear.
    secure_cookies = site_url.startswith("https://")
    max_body = _int("MAX_CONTENT_LENGTH", env("MAX_CONTENT_LENGTH"), 1024 * 1024)
    media = media_settings(instance_path, environ)
    return {
        "SECRET_KEY": env("SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SITE_URL": site_url,
        "PUBLICATION_NAME": env("PUBLICATION_NAME") or "Broadsheet",
        "PUBLICATION_DESCRIPTION": env("PUBLICATION_DESCRIPTION") or DEFAULT_DESCRIPTION,
        "MAIL_SERVER": mail_server,
        "MAIL_PORT": _int("MAIL_PORT", env("MAIL_PORT"), 25),
        "MAIL_USE_TLS": _bool(env("MAIL_USE_TLS")),
        "MAIL_USE_SSL": _bool(env("MAIL_USE_SSL")),
        "MAIL_USERNAME": env("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": env("MAIL_DEFAULT_SENDER") or "Broadsheet <news@localhost>",
        # With no relay configured, mail is written to the local outbox instead.
        "MAIL_OUTBOX_DIR": env("MAIL_OUTBOX_DIR") or str(Path(instance_path) / "outbox"),
        "MAIL_COMMIT_EVERY": _int("MAIL_COMMIT_EVERY", env("MAIL_COMMIT_EVERY"), 50),
        # SMTP connections one worker sends over at once, each with a sender thread.
        "MAIL_CONNECTIONS": _int("MAIL_CONNECTIONS", env("MAIL_CONNECTIONS"), 1),
        "MAIL_BATCH_SIZE": _int("MAIL_BATCH_SIZE", env("MAIL_BATCH_SIZE"), 500),
        "MAIL_LEASE_SECONDS": _int("MAIL_LEASE_SECONDS", env("MAIL_LEASE_SECONDS"), 300),
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", env("MAIL_MAX_ATTEMPTS"), 5),
        "MAIL_RETRY_SECONDS": _int("MAIL_RETRY_SECONDS", env("MAIL_RETRY_SECONDS"), 60),
        "MAIL_BOUNCE_LIMIT": _int("MAIL_BOUNCE_LIMIT", env("MAIL_BOUNCE_LIMIT"), 3),
        # Seconds an SMTP connect, command or reply may take before the relay is given up.
        "MAIL_TIMEOUT": _int("MAIL_TIMEOUT", env("MAIL_TIMEOUT"), 30),
        # DKIM: the signing domain (d=), the selector (s=) and the key, as a PEM file or
        # the PEM itself; no key, no signature (shop/mail/dkim.py, docs/deploy.md).
        "DKIM_DOMAIN": env("DKIM_DOMAIN") or "",
        "DKIM_SELECTOR": env("DKIM_SELECTOR") or "",
        "DKIM_PRIVATE_KEY_FILE": env("DKIM_PRIVATE_KEY_FILE") or "",
        "DKIM_PRIVATE_KEY": env("DKIM_PRIVATE_KEY") or "",
        # Opens (a 1x1 image) and clicks (signed redirect links) per delivery; off, a
        # message carries no pixel, no rewritten link and no tracking id at all.
        "MAIL_TRACKING": _bool(env("MAIL_TRACKING"), True),
        # Compress pages, CSS, JS, feeds and JSON in the app (brotli or gzip); off when a
        # proxy in front compresses instead (shop/assets.py).
        "COMPRESS": _bool(env("COMPRESS"), True),
        # Bodies smaller than this many bytes are sent as they are: compressing them gains
        # less than the encoding costs.
        "COMPRESS_MIN_SIZE": _int("COMPRESS_MIN_SIZE", env("COMPRESS_MIN_SIZE"), 500),
        # Mailgun's webhook signing key: with it, POST /webhooks/mail/mailgun takes its
        # bounce and complaint reports; without it that URL is a 404.
        "MAILGUN_WEBHOOK_SIGNING_KEY": env("MAILGUN_WEBHOOK_SIGNING_KEY") or "",
        # The other providers' webhooks, each a 404 until set (docs/deploy.md): the SNS
        # topic(s) SES publishes to (comma-separated ARNs), the basic credentials put in
        # Postmark's webhook URL, SendGrid's signed-webhook verification key.
        "SES_SNS_TOPIC_ARN": env("SES_SNS_TOPIC_ARN") or "",
        "POSTMARK_WEBHOOK_USERNAME": env("POSTMARK_WEBHOOK_USERNAME") or "",
        "POSTMARK_WEBHOOK_PASSWORD": env("POSTMARK_WEBHOOK_PASSWORD") or "",
        "SENDGRID_WEBHOOK_PUBLIC_KEY": env("SENDGRID_WEBHOOK_PUBLIC_KEY") or "",
        "STRIPE_SECRET_KEY": env("STRIPE_SECRET_KEY") or "",
        "STRIPE_PUBLISHABLE_KEY": env("STRIPE_PUBLISHABLE_KEY") or "",
        "STRIPE_WEBHOOK_SECRET": env("STRIPE_WEBHOOK_SECRET") or "",
        "STRIPE_API_BASE": env("STRIPE_API_BASE") or "",
        "STRIPE_AUTOMATIC_TAX": _bool(env("STRIPE_AUTOMATIC_TAX")),
        # Checkout Sessions that hold stock end after this (30-60; Stripe's minimum is 30).
        "CHECKOUT_HOLD_MINUTES": _int("CHECKOUT_HOLD_MINUTES", env("CHECKOUT_HOLD_MINUTES"), 30),
        # Limited-stock units one reader may hold in cart and open checkouts at once.
        "MAX_UNITS_PER_ACCOUNT": _int("MAX_UNITS_PER_ACCOUNT", env("MAX_UNITS_PER_ACCOUNT"), 10),
        "CURRENCY": (env("CURRENCY") or "usd").lower(),
        # Where posted items may be sent: Checkout offers only these countries.
        "SHIPPING_COUNTRIES": shipping_countries(env("SHIPPING_COUNTRIES")),
        "PAYWALL_GRACE_DAYS": _int("PAYWALL_GRACE_DAYS", env("PAYWALL_GRACE_DAYS"), 7),
        "PUBLICATION_TIMEZONE": env("PUBLICATION_TIMEZONE") or "UTC",
        "DIGEST_HOUR": _int("DIGEST_HOUR", env("DIGEST_HOUR"), 7),
        # Stories listed per digest (the newest); the rest are linked. 0 lists them all.
        "DIGEST_MAX_ARTICLES": _int("DIGEST_MAX_ARTICLES", env("DIGEST_MAX_ARTICLES"), 20),
        "PUBLICATION_ADDRESS": env("PUBLICATION_ADDRESS") or "",
        # Empty: jobs run in-process. Set (redis://...): they go to Celery workers.
        "CELERY_BROKER_URL": env("CELERY_BROKER_URL") or "",
        # Without a broker, Send now runs in a thread of the web process; false: in the request.
        "JOBS_IN_BACKGROUND": _bool(env("JOBS_IN_BACKGROUND"), True),
        # 0: one hour, or two mail leases if longer (shop/tasks.py, docs/deploy.md).
        "CELERY_VISIBILITY_TIMEOUT": _int(
            "CELERY_VISIBILITY_TIMEOUT", env("CELERY_VISIBILITY_TIMEOUT"), 0
        ),
        "RATELIMIT_STORAGE_URI": env("RATELIMIT_STORAGE_URI") or "memory://",
        # Redis down must not turn a login into a 500: count in memory until it is back.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Seconds each /healthz dependency check (database, Redis, broker) may take.
        "HEALTH_CHECK_TIMEOUT": _int("HEALTH_CHECK_TIMEOUT", env("HEALTH_CHECK_TIMEOUT"), 2),
        # Seconds to wait for a PostgreSQL connection before the page answers 503.
        "DATABASE_CONNECT_TIMEOUT": _int(
            "DATABASE_CONNECT_TIMEOUT", env("DATABASE_CONNECT_TIMEOUT"), 5
        ),
        "LOGIN_RATE_LIMIT_IP": env("LOGIN_RATE_LIMIT_IP") or "20 per minute",
        "LOGIN_RATE_LIMIT_ACCOUNT": env("LOGIN_RATE_LIMIT_ACCOUNT") or "5 per minute",
        # Mailed links per address (past it, no more mail, same answer) and per account.
        "RESET_RATE_LIMIT_ADDRESS": env("RESET_RATE_LIMIT_ADDRESS") or "3 per hour",
        "REGISTER_RATE_LIMIT_ADDRESS": env("REGISTER_RATE_LIMIT_ADDRESS") or "3 per hour",
        "SIGN_IN_RATE_LIMIT_ADDRESS": env("SIGN_IN_RATE_LIMIT_ADDRESS") or "5 per hour",
        # Minutes a mailed sign-in link works; it works once.
        "SIGN_IN_LINK_MINUTES": _int("SIGN_IN_LINK_MINUTES", env("SIGN_IN_LINK_MINUTES"), 15),
        "EMAIL_CHANGE_RATE_LIMIT": env("EMAIL_CHANGE_RATE_LIMIT") or "5 per hour",
        "COMMENT_RATE_LIMIT": env("COMMENT_RATE_LIMIT") or "5 per minute",
        # Minutes a reader may edit or delete their own comment after posting it.
        "COMMENT_EDIT_MINUTES": _int("COMMENT_EDIT_MINUTES", env("COMMENT_EDIT_MINUTES"), 15),
        # A commenter with no approved comment yet waits for a moderator (off by default).
        "COMMENTS_HOLD_NEW_COMMENTERS": _bool(env("COMMENTS_HOLD_NEW_COMMENTERS")),
        "PROXY_HOPS": _int("PROXY_HOPS", env("PROXY_HOPS"), 0),
        # Werkzeug's method for new password hashes; the test suite sets a cheap one.
        "PASSWORD_HASH_METHOD": env("PASSWORD_HASH_METHOD") or "scrypt",
        # Bodies past this many bytes are refused (413) before they are read; forms and
        # Stripe's webhooks are far smaller. Werkzeug's form limits follow it.
        "MAX_CONTENT_LENGTH": max_body,
        "MAX_FORM_MEMORY_SIZE": max_body,
        "MAX_FORM_PARTS": _int("MAX_FORM_PARTS", env("MAX_FORM_PARTS"), 1000),
        # The back office's members import takes a larger upload (only that route), and
        # writes this many rows per transaction.
        "MEMBER_IMPORT_MAX_BYTES": _int(
            "MEMBER_IMPORT_MAX_BYTES", env("MEMBER_IMPORT_MAX_BYTES"), 20 * 1024 * 1024
        ),
        "MEMBER_IMPORT_CHUNK": _int("MEMBER_IMPORT_CHUNK", env("MEMBER_IMPORT_CHUNK"), 500),
        # Empty: derived from SECRET_KEY (shop/install.py). Keys sent to Stripe and
        # Message-IDs carry it, so two installs never share one.
        "INSTALL_ID": env("INSTALL_ID") or "",
        "ARTICLES_PER_PAGE": _int("ARTICLES_PER_PAGE", env("ARTICLES_PER_PAGE"), 10),
        # sitemaps.org: at most 50,000 URLs in one sitemap; past that, an index of parts.
        "SITEMAP_MAX_URLS": _int("SITEMAP_MAX_URLS", env("SITEMAP_MAX_URLS"), 50_000),
        # A form left open for hours must still submit: tie CSRF to the session.
        "WTF_CSRF_TIME_LIMIT": None,
        # The edge decides: a token for a request with a session, the browser's word that
        # it is same-origin for one without (shop/edge.py, docs/security.md).
        "WTF_CSRF_CHECK_DEFAULT": False,
        # Rendered public pages (whole for visitors, bodies with holes for readers) and
        # readers' cards: off, memory (this process) or redis.
        "PAGE_CACHE": env("PAGE_CACHE") or "memory",
        "PAGE_CACHE_TTL": _int("PAGE_CACHE_TTL", env("PAGE_CACHE_TTL"), 60),
        "PAGE_CACHE_REDIS_URL": env("PAGE_CACHE_REDIS_URL") or "",
        "PAGE_CACHE_ENTRIES": _int("PAGE_CACHE_ENTRIES", env("PAGE_CACHE_ENTRIES"), 2000),
        "CONFIRM_TOKEN_MAX_AGE": _int(
            "CONFIRM_TOKEN_MAX_AGE", env("CONFIRM_TOKEN_MAX_AGE"), 7 * 24 * 3600
        ),
        "RESET_TOKEN_MAX_AGE": _int("RESET_TOKEN_MAX_AGE", env("RESET_TOKEN_MAX_AGE"), 3600),
        **media,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
    }

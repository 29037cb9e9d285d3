"""Broadsheet: the application factory."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from shop.background import init_celery
from shop.caching import init_app as init_page_cache
from shop.config import ConfigError, dev_secret_key, load_settings
from shop.extensions import csrf, db, init_sqlite, limiter, login_manager, migrate
from shop.forms import MAX_ROW_ID
from shop.mail import init_app as init_mail

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: config -> extensions -> blueprints -> error handlers -> cli."""
    app = Flask(
        __name__,
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
        instance_path=os.environ.get("BROADSHEET_INSTANCE") or os.path.join(ROOT, "instance"),
    )
    configure(app, config)
    # First of the response hooks, so it runs last: compression sees the final headers.
    register_assets(app)
    # Before the extensions, so its checks run ahead of every other request hook.
    register_edge(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_template_helpers(app)
    register_security_headers(app)
    register_cli(app)
    return app


def configure(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Load settings from the environment, then the caller's overrides."""
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(load_settings(app.instance_path))
    app.config.update(overrides or {})
    if not app.config.get("SECRET_KEY"):
        if not (app.debug or app.testing):
            raise ConfigError(
                "SECRET_KEY is not set. In production Broadsheet refuses to start without "
                "one, because sessions, login cookies and emailed links are signed with it. "
                'Set it to a long random value, e.g. python3 -c "import secrets; '
                'print(secrets.token_hex(32))", or run with --debug for development.'
            )
        app.config["SECRET_KEY"] = dev_secret_key(app.instance_path)
    if app.config.get("STRIPE_API_BASE") and app.config.get("STRIPE_SECRET_KEY", "").startswith(
        "sk_live_"
    ):
        raise ConfigError(
            "STRIPE_API_BASE points at a Stripe emulator, but STRIPE_SECRET_KEY is a live key. "
            "The emulator never runs with a live key: unset one of them."
        )
    hops = app.config["PROXY_HOPS"]
    if hops > 0:
        # Trust exactly as many X-Forwarded-* hops as there are proxies we run. Flask's
        # documented way to add middleware replaces wsgi_app, which its types declare as a
        # method only, so mypy refuses the assignment.
        proxied = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
        app.wsgi_app = proxied  # type: ignore[method-assign]
    if not app.debug and not app.testing:
        app.logger.setLevel(logging.INFO)
    configure_timeouts(app)


def configure_timeouts(app: Flask) -> None:
    """Short connect timeouts, so a dead database or Redis is a quick 503, not a hang."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgresql"):
        # A copy: the settings dict may be shared by several apps (tests build many).
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        connect_args = dict(options.get("connect_args") or {})
        connect_args.setdefault("connect_timeout", app.config["DATABASE_CONNECT_TIMEOUT"])
        options["connect_args"] = connect_args
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        timeout = app.config["HEALTH_CHECK_TIMEOUT"]
        storage = dict(app.config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        storage.setdefault("socket_connect_timeout", timeout)
        storage.setdefault("socket_timeout", timeout)
        app.config["RATELIMIT_STORAGE_OPTIONS"] = storage


def register_assets(app: Flask) -> None:
    """Fingerprinted static files with long lifetimes; compressed responses."""
    from shop import assets

    assets.register_assets(app)


def register_edge(app: Flask) -> None:
    """Size and control-character checks on requests; HSTS and friends on responses."""
    from shop import edge, pagecache

    edge.register_edge(app)
    # After the edge's checks: a cached page is served only to a request that passed them.
    pagecache.register(app)


def register_extensions(app: Flask) -> None:
    """Bind the unbound extensions to this app."""
    db.init_app(app)
    init_sqlite(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"), render_as_batch=True)
    csrf.init_app(app)
    init_page_cache(app)
    init_mail(app)
    limiter.init_app(app)
    # The limiter outlives apps (one per test, or per worker): its storage was just
    # rebuilt, so forget an earlier app's "storage is down, count in memory" state.
    limiter._storage_dead = False
    # Builds the Celery app only; nothing connects to a broker until a job is sent.
    init_celery(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Log in to continue."
    login_manager.login_message_category = "info"

    from shop.accounts.models import User

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        """Find a login session's user, unless it was logged out or the password changed."""
        from shop.accounts.sessions import load_session_user

        return load_session_user(session_id)


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a whole number a database id column can hold."""

    # Larger numbers would make the database raise (a 500); as no row has them, 404.
    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)


# The modules whose import adds routes to a blueprint (each package's __init__ adds none).
# The back office is one blueprint; each of these modules adds its pages to it.
ADMIN_PAGES = (
    "shop.admin.audit_log",
    "shop.admin.dashboard",
    "shop.admin.gifts",
    "shop.admin.members",
    "shop.admin.newsletters",
    "shop.admin.orders",
    "shop.admin.outbox",
    "shop.admin.products",
    "shop.admin.runs",
    "shop.admin.shipping",
    "shop.admin.subscribers",
    "shop.admin.views",
)


def register_blueprints(app: Flask) -> None:
    """Mount each feature."""
    app.url_map.converters["int"] = RowIdConverter
    # Importing a views module adds its routes to its blueprint. All are imported before
    # any blueprint is registered: billing's views add the account page to accounts'.
    # The scheduler registers the tick job on the background seam.
    from shop import health, scheduler  # noqa: F401
    from shop.accounts import views as accounts
    from shop.admin.blueprint import bp as admin_bp
    from shop.articles import views as articles
    from shop.billing import views as billing
    from shop.billing.catalogue import push_if_configured
    from shop.bounces import views as bounces
    from shop.cart import views as cart
    from shop.catalogue import views as catalogue

    # Digests, newsletters and stories register their content with the sending engine.
    from shop.digests import content as _digest_content  # noqa: F401
    from shop.media import views as media
    from shop.newsletters import message as _newsletter_content  # noqa: F401
    from shop.newsletters import views as newsletters
    from shop.readers import reply_mail as _reply_mail  # noqa: F401  (registers its job)
    from shop.readers import views as readers
    from shop.sending import views as tracking
    from shop.stories import message as _story_content  # noqa: F401

    for module in ADMIN_PAGES:
        importlib.import_module(module)
    for feature in (
        health,
        media,
        accounts,
        articles,
        catalogue,
        cart,
        billing,
        readers,
        newsletters,
        bounces,
        tracking,
    ):
        app.register_blueprint(feature.bp)
    app.register_blueprint(admin_bp)
    # The admin's product pages push saves to Stripe through this hook.
    app.extensions["catalogue_push"] = push_if_configured


ERROR_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    413: "Request too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
# How long a client should wait before trying again while the database is away.
RETRY_AFTER_SECONDS = 30


def database_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean "the database cannot be reached", not "a bug"."""
    errors: list[type[Exception]] = [OperationalError, DisconnectionError, PoolTimeoutError]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg ships with the app
        return tuple(errors)
    return (*errors, psycopg.OperationalError)


def register_error_handlers(app: Flask) -> None:
    """Errors render in the site's look (JSON for /healthz clients)."""
    from shop.media.uploads import is_upload_view

    def render_error(code: int, message: str | None = None):
        title = ERROR_TITLES.get(code, "Error")
        return render_template("errors/error.html", code=code, title=title, message=message), code

    def too_large_message() -> str:
        if is_upload_view(app.view_functions.get(request.endpoint or "")):
            most = app.config["MEDIA_MAX_BYTES"] / (1024 * 1024)
            return (
                f"That picture is too large: pictures may be up to {most:g} MB. Nothing was "
                "saved; go back, choose a smaller picture and send the form again."
            )
        limit = app.config.get("MAX_CONTENT_LENGTH") or 0
        size = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
        return f"That request was larger than this site accepts ({size}). Nothing was saved."

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_error(
            400,
            "This form expired or did not come from this site. Go back, reload the page "
            "and send it again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        message = error.description if error.code in (400, 404, 429) else None
        if error.code == 404 and message and message.startswith("The requested URL"):
            message = None
        if error.code == 413:
            message = too_large_message()
        return render_error(error.code, message)

    def database_unavailable(error: Exception):
        # The page cannot be built without the database; say so, and when to come back.
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001  (the connection is already gone)
            db.session.remove()
        app.logger.error("Database unavailable on %s %s: %s", request.method, request.path, error)
        if "_login_user" not in g:
            # The header would look the reader up in the database that just failed.
            g._login_user = login_manager.anonymous_user()
        body, code = render_error(503)
        return body, code, {"Retry-After": str(RETRY_AFTER_SECONDS)}

    for error_class in database_errors():
        app.register_error_handler(error_class, database_unavailable)

    @app.errorhandler(Exception)
    def server_error(error: Exception):
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return render_error(500)


def register_template_helpers(app: Flask) -> None:
    """Globals and filters the templates share."""
    from shop import edge
    from shop.articles.rendering import render_comment
    from shop.clock import format_day, format_moment

    edge.use_page_csrf_token(app)

    app.jinja_env.filters["comment_html"] = render_comment

    @app.context_processor
    def site_globals() -> dict[str, Any]:
        """The publication's name and address, for every template."""
        return {
            "publication": app.config["PUBLICATION_NAME"],
            "publication_description": app.config["PUBLICATION_DESCRIPTION"],
            "site_url": app.config["SITE_URL"],
        }

    # One way to write a date on every page and in every email.
    app.jinja_env.filters["date"] = format_day
    app.jinja_env.filters["datetime"] = format_moment


# Forms may lead on to Stripe's hosted pages: Checkout and the customer portal.
STRIPE_FORM_TARGETS = ("https://checkout.stripe.com", "https://billing.stripe.com")


def content_security_policy(app: Flask) -> str:
    """The CSP header: our own scripts and styles only; forms go here or to Stripe."""
    form_targets = ["'self'", *STRIPE_FORM_TARGETS]
    emulator = app.config.get("STRIPE_API_BASE")
    if emulator:
        parts = urlsplit(emulator)
        form_targets.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'self'",
            # Authors may embed images from elsewhere in Markdown; nothing else loads from away.
            "img-src 'self' https: data:",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action " + " ".join(form_targets),
            "frame-ancestors 'none'",
        ]
    )


def register_security_headers(app: Flask) -> None:
    """Send headers that keep injected script and framing from doing harm."""
    policy = content_security_policy(app)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response


def register_cli(app: Flask) -> None:
    """Add the flask commands."""
    from shop.cli import register

    register(app)

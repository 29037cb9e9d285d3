"""The edge of the app: what every request is checked for, and headers every response gets.

One place, before any view, blueprint hook or extension reads the request:

- a body larger than ``MAX_CONTENT_LENGTH`` is refused with 413 before it is read;
- control characters (a NUL byte above all) in the path, the query string or a form
  are refused (404 in the address, 400 in a form), since PostgreSQL cannot store NUL
  and no reader means to send one.

Cross-site forms: a request whose session holds a CSRF token is checked by Flask-WTF
(the token of that session, as before). A request with no such session (an anonymous
reader, who is given no session, so that public pages can be cached) is accepted only
when the browser says it comes from a page of this site: ``Sec-Fetch-Site:
same-origin`` (or ``none``, typed by the reader), or, from a browser that does not send
that, an ``Origin`` equal to this site's. Neither header, or ``Origin: null``: refused.
This is Go 1.25's CrossOriginProtection, stricter on a missing header
(docs/security.md). Public pages' forms carry an empty token for such readers; the
account pages (``PRIVATE_PREFIXES``) still start a session and carry a real one.

And after every view: HSTS on an https site, ``Cache-Control: private, no-store`` on
pages that show one reader's data, and a ``Permissions-Policy`` that denies the
browser features the site never uses. ``Vary: Cookie`` is sent only when the request
had a session or the response starts one.
"""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from flask_wtf.csrf import CSRFError, generate_csrf
from werkzeug.wrappers import Response

from shop import caching
from shop.cart.cookie import CART_COOKIE
from shop.cart.views import holds_items
from shop.extensions import csrf
from shop.forms import BODY_LIMIT_EXTRA, BODY_LIMIT_SETTING, session_has_forms_token

# C0 and C1 control characters, DEL included. Paths and query strings take none of them.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Form fields may hold text typed in a textarea: tab, line feed and carriage return.
FORM_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
BODILESS_METHODS = {"GET", "HEAD", "OPTIONS"}
FORM_MIMETYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}

# Pages that are one reader's (or the back office's) and must never sit in a shared
# cache or in the browser's history cache: accounts, the cart, checkout, the back office.
PRIVATE_PREFIXES = (
    "/account",
    "/admin",
    "/cart",
    "/checkout",
    "/confirm",
    "/login",
    "/logout",
    "/register",
    "/reset",
    "/unsubscribe",
)
PRIVATE_CACHE = "private, no-store"
HSTS = "max-age=31536000; includeSubDomains"
# Checkout and the billing portal are Stripe's hosted pages (a redirect away), so no page
# here needs the Payment Request API; nor a camera, a microphone or the reader's location.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "interest-cohort",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "usb",
    )
)

PATH_MESSAGE = "There is no such page."
# The query string is part of the address, and the back office's lists already answer
# a bad filter with a 404 that says why: the same here. A form is a bad request: 400.
QUERY_MESSAGE = (
    "There is no such page: the address holds control characters (such as a NUL byte), "
    "which no page here accepts. Check the link and try again."
)
FORM_MESSAGE = (
    "The form held control characters (such as a NUL byte), which this site does not "
    "accept. Remove them and send the form again."
)


def has_control(text: str, pattern: re.Pattern[str] = CONTROL) -> bool:
    """Whether ``text`` holds a character the pattern refuses."""
    return pattern.search(text) is not None


def body_limit() -> int | None:
    """This request's body limit: MAX_CONTENT_LENGTH, or for an admin the larger one the
    view asks for (a visitor's upload to it is held to the small limit: nobody but an
    admin gets the server to read a large body)."""
    view = current_app.view_functions.get(request.endpoint or "")
    setting = getattr(view, BODY_LIMIT_SETTING, None)
    if setting and getattr(current_user, "is_admin", False):
        # Werkzeug's form parser reads the same limit, so the upload is parsed whole.
        extra = getattr(view, BODY_LIMIT_EXTRA, 0)
        request.max_content_length = int(current_app.config[setting]) + extra
    return request.max_content_length


def check_size() -> None:
    """413 for a body past the limit: a declared one before a byte is read."""
    limit = body_limit()
    if limit is None:
        return
    length = request.content_length
    if length is not None:
        if length > limit:
            abort(413)
        return
    environ = request.environ
    if "wsgi.input_terminated" in environ and request.method not in BODILESS_METHODS:
        buffer_unsized_body(environ, limit)


def buffer_unsized_body(environ: dict, limit: int) -> None:
    """Read a body sent without a length (chunked) up to the limit; 413 past it.

    Werkzeug would stop reading such a body at the limit and hand the truncated part on
    as if it were whole (a form cut in half, a webhook that fails its signature), so it
    is read here, at most ``limit + 1`` bytes, and given on with its real length.
    """
    source = environ["wsgi.input"]
    data = bytearray()
    while len(data) <= limit:
        chunk = source.read(min(64 * 1024, limit + 1 - len(data)))
        if not chunk:
            break
        data.extend(chunk)
    if len(data) > limit:
        abort(413)
    environ["wsgi.input"] = io.BytesIO(bytes(data))
    environ["CONTENT_LENGTH"] = str(len(data))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    # Read before the change, and cached: let the form parser see the real length.
    request.__dict__.pop("content_length", None)


def check_controls() -> None:
    """404 for a control character in the address (path or query); 400 in a form."""
    if has_control(request.path):
        abort(404, description=PATH_MESSAGE)
    for key, value in request.args.items(multi=True):
        if has_control(key) or has_control(value):
            abort(404, description=QUERY_MESSAGE)
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in FORM_MIMETYPES:
        for key, value in request.form.items(multi=True):
            if has_control(key) or has_control(value, FORM_CONTROL):
                abort(400, description=FORM_MESSAGE)


# Sec-Fetch-Site values of a request this site's own pages (or the reader, typing) made.
SAME_ORIGIN_SITES = {"same-origin", "none"}
CROSS_SITE_MESSAGE = "The form did not come from this site."


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, as browsers write ``Origin``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_same_origin() -> bool:
    """Whether the browser says this request was sent by a page of this site."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site.strip().lower() in SAME_ORIGIN_SITES
    origin = request.headers.get("Origin")
    if not origin or origin.strip().lower() == "null":
        # No browser of the last five years posts a form without one of the two headers.
        return False
    ours = {origin_of(request.host_url), origin_of(current_app.config["SITE_URL"])}
    return origin.strip().lower() in ours


def has_csrf_session() -> bool:
    """Whether this request's session holds a CSRF token (so its forms carry one)."""
    return current_app.config["WTF_CSRF_FIELD_NAME"] in session


def check_cross_site() -> None:
    """The CSRF rule: this session's token when it has one, else a same-origin browser."""
    config = current_app.config
    if not config["WTF_CSRF_ENABLED"] or request.method not in config["WTF_CSRF_METHODS"]:
        return
    if has_csrf_session():
        csrf.protect(apply_exemptions=True)
        return
    if not request.endpoint or csrf._is_exempt():
        return
    if not is_same_origin():
        raise CSRFError(CROSS_SITE_MESSAGE)
    # FlaskForm skips its own token check when the request is marked valid.
    g.csrf_valid = True


def page_csrf_token() -> str:
    """The templates' ``csrf_token()``: a token only for a login, or a session that has one.

    An anonymous reader on a public page gets none (an empty field), so that the page
    starts no session and is the same for every such reader; the account pages, which
    are never cached, start one as before.
    """
    if caching.holes_on():
        # A shared body (shop/pagecache/personal.py): each reader's token is filled in.
        return caching.hole_marker(caching.CSRF_HOLE)
    # A session that holds only a flash is not a reason to start a token (and keep a
    # session for good): such a reader's forms are checked by origin, as before the flash.
    if session_has_forms_token() or is_private(request.path):
        return generate_csrf()
    return ""


def use_page_csrf_token(app: Flask) -> None:
    """Give templates ``page_csrf_token`` as ``csrf_token`` (after Flask-WTF gave its own)."""
    app.jinja_env.globals["csrf_token"] = page_csrf_token
    # Context processors run in order, the later winning: this one comes after Flask-WTF's.
    app.context_processor(lambda: {"csrf_token": page_csrf_token})


# What a session may hold that keeps nothing of the reader's (no login, flash or token).
IDLE_SESSION_KEYS = {"_fresh", caching.READER_REVISION}


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with ``Vary: Cookie`` only where a session is in play.

    Flask adds it whenever a view so much as looked at the session. A request that sent
    no session cookie and got none varies on nothing a cache could key on: the public
    pages it may see are ``no-cache`` (shop/pagecache.py), so a cache asks again, with
    the reader's cookies, before it serves one to anybody.
    """

    def save_session(self, app, session, response) -> None:
        """Save as Flask does; then drop ``Vary: Cookie`` when no session came or goes."""
        sent = self.get_cookie_name(app) in request.cookies
        if session and set(session) <= IDLE_SESSION_KEYS:
            # Flask-Login marks any session it finds without a login "not fresh"; once the
            # flash it was made for is read, nothing is left to keep: the cookie goes.
            session.clear()
        super().save_session(app, session, response)
        if not sent and not session:
            # Rebuilt by hand: Werkzeug's HeaderSet.discard("Cookie") leaves the header as it was.
            kept = [value for value in response.vary if value.lower() != "cookie"]
            if kept:
                response.headers["Vary"] = ", ".join(kept)
            else:
                response.headers.pop("Vary", None)


def is_private(path: str) -> bool:
    """Whether a path is one reader's page (accounts, cart, checkout, back office)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PRIVATE_PREFIXES)


def shows_reader_data() -> bool:
    """Whether this response may show one reader's data: a session (a login, a flash), a
    remembered login, or a cart with items in the header."""
    if request.endpoint == "static":
        return False
    if is_private(request.path):
        return True
    return bool(session) or carries_reader_cookies()


def carries_reader_cookies() -> bool:
    """Whether the request brings a remembered login, or a cart cookie with items in it."""
    remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    if request.cookies.get(remember):
        return True
    # The cookie of a cart emptied since (paid, or its lines removed) shows nobody's data.
    return bool(request.cookies.get(CART_COOKIE)) and holds_items()


def register_edge(app: Flask) -> None:
    """Install the request checks (first of all hooks) and the response headers."""
    hsts = app.config["SITE_URL"].startswith("https://")

    # Registered before the extensions' hooks (CSRF reads the form), so these run first.
    app.before_request(check_size)
    app.before_request(check_controls)
    app.before_request(check_cross_site)
    app.session_interface = SessionInterface()

    @app.after_request
    def edge_headers(response: Response) -> Response:
        """HSTS, Permissions-Policy and, on private pages, no caching."""
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if shows_reader_data() and "no-store" not in response.headers.get("Cache-Control", ""):
            response.headers["Cache-Control"] = PRIVATE_CACHE
        return response

"""HTTP caching of the public pages: validators, 304s, honest Cache-Control, the page cache.

A public page (``PUBLIC_ENDPOINTS``: the home page, articles, tags, the shop, feeds, the
sitemap, the newsletter archive) asked for by an *anonymous* request (one that carries
no session, no remembered login, and no cart cookie or only that of an empty cart) is
the same for every such reader:

- it is sent with a strong ``ETag`` (a hash of the body), ``Last-Modified`` (the view's
  own, or when it was rendered) and ``Cache-Control: public, no-cache``: any cache may
  keep it, but must ask again each time, with the reader's own cookies. That is why no
  ``Vary: Cookie`` is needed (shop/edge.py): a reader who has logged in since, or has a
  cart, is answered afresh, ``private, no-store``, never the anonymous copy. A short
  ``max-age`` would let a proxy hand the anonymous copy to that reader, so there is none;
- ``If-None-Match`` / ``If-Modified-Since`` that still match get ``304 Not Modified``;
- the rendered page is kept (shop/caching.py) under its full URL in the current
  generation, and the next anonymous request for it is answered from there without a
  query (``X-Page-Cache: hit``).

A request with a session, a login or a cart (``personal``) is served the same kept page
bodies by the kind of reader it is, with its own header, notices and CSRF tokens filled
in (``shop/pagecache/personal.py``), ``private, no-store``, never with validators. A
POST never reads or fills the cache.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, current_app, g, request, session
from werkzeug.wrappers import Response

from shop import caching, edge
from shop.pagecache import personal

PUBLIC_ENDPOINTS = frozenset(
    {
        "articles.index",
        "articles.article",
        "articles.tag",
        "articles.feed",
        "articles.tag_feed",
        "articles.sitemap",
        "articles.robots",
        "catalogue.catalogue",
        "newsletters.archive",
        "newsletters.archive_issue",
    }
)
# One reader's own pages, kept for that reader alone under their card (its key changes
# with anything in their cart, login or access, and with the catalogue).
OWN_ENDPOINTS = frozenset({"cart.cart"})
PUBLIC_CACHE = "public, no-cache"
CACHE_STATUS = "X-Page-Cache"
# Headers a public view may set that a cached copy must send again.
KEPT_HEADERS = ("X-Robots-Tag", "Link", "Content-Language")


def is_anonymous_request() -> bool:
    """Whether the request carries no session, no remembered login and no cart with items."""
    if request.cookies.get(current_app.config["SESSION_COOKIE_NAME"]):
        return False
    # An emptied cart's cookie stays: such a reader's header is everyone's.
    return not edge.carries_reader_cookies()


def is_public_page() -> bool:
    """Whether this request is a GET (or HEAD) of a page that is the same for all readers."""
    return request.method in ("GET", "HEAD") and request.endpoint in PUBLIC_ENDPOINTS


def _kept_page(
    response: Response, body: bytes, etag: str = "", made_at: float = 0.0
) -> caching.CachedPage:
    """What is kept of a response: this body, its type and the headers a copy sends again."""
    headers = response.headers
    return caching.CachedPage(
        body=body,
        content_type=response.content_type or "text/html; charset=utf-8",
        etag=etag,
        made_at=made_at,
        headers=tuple((name, headers[name]) for name in KEPT_HEADERS if name in headers),
    )


def _kept_response(page: caching.CachedPage, body: bytes) -> Response:
    """A response with a kept page's type and headers, and this body."""
    response = Response(body, content_type=page.content_type)
    for name, value in page.headers:
        response.headers[name] = value
    response.headers[CACHE_STATUS] = "hit"
    return response


def serve_personal() -> Response | None:
    """Answer a reader with a session, a login or a cart from the kept body of their kind.

    On a miss the view renders the body with holes, and ``finish_personal`` keeps it.
    """
    if not caching.enabled():
        return None
    remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    if personal.USER_KEY not in session and request.cookies.get(remember):
        # Flask-Login is about to log this reader in from the cookie: let the view run.
        return None
    card = personal.reader_card()
    if card is None:
        return None
    if request.endpoint in OWN_ENDPOINTS:
        g._personal_key = f"{personal.card_key()}:own:{caching.digest(request.url)}"
    else:
        key = caching.page_key(request.url)
        if not key:
            return None
        g._personal_key = f"{key}:{card.variant}"
    g._cart_summary = card.cart
    setattr(g, caching.HOLES_FLAG, True)
    page = caching.lookup(g._personal_key)
    if page is None:
        return None
    g._personal_key = ""
    return _kept_response(page, personal.fill(page.body, card))


def finish_personal(response: Response) -> Response:
    """Keep the body a personal request rendered with holes, then fill them for this reader."""
    key = g.pop("_personal_key", "")
    if not caching.holes_on():
        return response
    card = personal.reader_card()
    if response.is_streamed or response.direct_passthrough or card is None:
        return response
    if response.content_encoding:
        # Compression runs after this hook (shop/assets.py); a body already encoded has
        # no holes this could read.
        return response
    body = response.get_data()
    # A view that showed what the variant does not say (mark_personal), or made a real
    # CSRF token while the body rendered (a form's hidden_tag()), made a page to share
    # with nobody.
    shared = not g.get(caching.PERSONAL_FLAG) and (
        current_app.config["WTF_CSRF_FIELD_NAME"] not in g
    )
    if key and response.status_code == 200 and shared:
        caching.store(key, _kept_page(response, body))
        response.headers[CACHE_STATUS] = "miss"
    response.set_data(personal.fill(body, card))
    return response


def serve_cached() -> Response | None:
    """Answer a request for a public page from the cache, when it holds it."""
    if request.method in ("GET", "HEAD") and request.endpoint in OWN_ENDPOINTS:
        return None if is_anonymous_request() else serve_personal()
    if not is_public_page():
        return None
    if not is_anonymous_request():
        return serve_personal()
    key = caching.page_key(request.url)
    g._page_cache_key = key
    page = caching.lookup(key)
    if page is None:
        return None
    g._page_cache_hit = True
    response = _kept_response(page, page.body)
    response.set_etag(page.etag)
    response.last_modified = datetime.fromtimestamp(page.made_at, UTC)
    return response


def finish_public_page(response: Response) -> Response:
    """Validators, Cache-Control and a 304 for an anonymous public page; keep it if new."""
    if "_personal_key" in g:
        return finish_personal(response)
    if not is_public_page() or response.status_code != 200 or not is_anonymous_request():
        return response
    if session or "Set-Cookie" in response.headers:
        # The view started a session (a flash): this page is one reader's after all.
        return response
    if not g.pop("_page_cache_hit", False):
        if response.is_streamed or response.direct_passthrough:
            return response
        response.add_etag()
        # A view that knows when its content changed says so; else, when it was rendered
        # (whole seconds, as HTTP dates are, so If-Modified-Since compares equal).
        if response.last_modified is None:
            response.last_modified = datetime.now(UTC).replace(microsecond=0)
        made_at = response.last_modified
        etag, _ = response.get_etag()
        caching.store(
            g.get("_page_cache_key", ""),
            _kept_page(response, response.get_data(), etag or "", made_at.timestamp()),
        )
        response.headers[CACHE_STATUS] = "miss" if caching.enabled() else "off"
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response.make_conditional(request)


def register(app: Flask) -> None:
    """Serve cached pages before any view, and finish public pages after every view."""
    app.before_request(serve_cached)
    app.after_request(finish_public_page)
    app.jinja_env.globals["page_hole"] = caching.hole

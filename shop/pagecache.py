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

Every other request (a session, a login, a cart, any POST) never reads or fills the
cache, and its page keeps the edge's ``private, no-store`` where it shows a reader's data.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, current_app, g, request, session
from werkzeug.wrappers import Response

from shop import caching
from shop.cart.cookie import CART_COOKIE
from shop.cart.views import holds_items

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
PUBLIC_CACHE = "public, no-cache"
CACHE_STATUS = "X-Page-Cache"
# Headers a public view may set that a cached copy must send again.
KEPT_HEADERS = ("X-Robots-Tag", "Link", "Content-Language")


def is_anonymous_request() -> bool:
    """Whether the request carries no session, no remembered login and no cart with items."""
    config = current_app.config
    names = (config["SESSION_COOKIE_NAME"], config.get("REMEMBER_COOKIE_NAME", "remember_token"))
    if any(request.cookies.get(name) for name in names):
        return False
    # An emptied cart's cookie stays: such a reader's header is everyone's.
    return not request.cookies.get(CART_COOKIE) or not holds_items()


def is_public_page() -> bool:
    """Whether this request is a GET (or HEAD) of a page that is the same for all readers."""
    return request.method in ("GET", "HEAD") and request.endpoint in PUBLIC_ENDPOINTS


def serve_cached() -> Response | None:
    """Answer an anonymous request for a public page from the cache, when it holds it."""
    if not (is_public_page() and is_anonymous_request()):
        return None
    key = caching.page_key(request.url)
    g._page_cache_key = key
    page = caching.lookup(key)
    if page is None:
        return None
    g._page_cache_hit = True
    response = Response(page.body, content_type=page.content_type)
    for name, value in page.headers:
        response.headers[name] = value
    response.set_etag(page.etag)
    response.last_modified = datetime.fromtimestamp(page.made_at, UTC)
    response.headers[CACHE_STATUS] = "hit"
    return response


def finish_public_page(response: Response) -> Response:
    """Validators, Cache-Control and a 304 for an anonymous public page; keep it if new."""
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
            caching.CachedPage(
                body=response.get_data(),
                content_type=response.content_type or "text/html; charset=utf-8",
                etag=etag or "",
                made_at=made_at.timestamp(),
                headers=tuple(
                    (name, response.headers[name])
                    for name in KEPT_HEADERS
                    if name in response.headers
                ),
            ),
        )
        response.headers[CACHE_STATUS] = "miss" if caching.enabled() else "off"
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response.make_conditional(request)


def register(app: Flask) -> None:
    """Serve cached pages before any view, and finish public pages after every view."""
    app.before_request(serve_cached)
    app.after_request(finish_public_page)

"""Each page loads the sheets that style it: a base sheet everywhere, a room's sheet
(article, store, back office) only where it is used, and no class on a page styled only
in a sheet that page does not load (a rule lost in the split would show as an unstyled
box). The walk covers the public pages with real content and every back-office GET page.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from shop.catalogue.models import KIND_PLAN
from tests.admin.test_authorization import _url, admin_rules
from tests.admin.test_authorization import real_ids as real_ids  # noqa: PLC0414  (fixture)
from tests.factories import ArticleFactory, CommentFactory, TagFactory, make_product
from tests.support import csrf_token

CSS = Path(__file__).resolve().parents[2] / "static" / "css"
COMMENT = re.compile(r"/\*.*?\*/", re.S)
CLASS_SELECTOR = re.compile(r"\.(-?[A-Za-z_][\w-]*)")


class PageParts(HTMLParser):
    """The classes a page's elements carry and the stylesheets it links."""

    def __init__(self) -> None:
        super().__init__()
        self.classes: set[str] = set()
        self.sheets: list[str] = []

    def handle_starttag(self, tag, attrs):
        """Collect class names and stylesheet links."""
        attributes = dict(attrs)
        self.classes.update((attributes.get("class") or "").split())
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.sheets.append(attributes["href"])


def styled_classes(css: str) -> set[str]:
    """Every class a sheet's selectors name (declarations hold no class names)."""
    selectors = re.findall(r"([^{}]+)\{", COMMENT.sub("", css))
    return {name for selector in selectors for name in CLASS_SELECTOR.findall(selector)}


# Back-office URLs that show a page as a reader will see it.
READERS_PAGE_PREVIEWS = {"admin.article_preview"}
ALL_STYLED = {sheet.name: styled_classes(sheet.read_text()) for sheet in CSS.glob("*.css")}


def check_page(client, url: str) -> list[str]:
    """The page's sheets, after checking each loads and together they style its classes."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    parts = PageParts()
    parts.feed(response.get_data(as_text=True))
    assert parts.sheets, f"{url} links no stylesheet"
    loaded: set[str] = set()
    names = []
    for href in parts.sheets:
        sheet = client.get(href)
        assert sheet.status_code == 200, href
        assert sheet.mimetype == "text/css", href
        loaded |= styled_classes(sheet.get_data(as_text=True))
        names.append(re.sub(r"\.[0-9a-f]{12}\.css$", ".css", href.rsplit("/", 1)[-1]))
    styled_anywhere = set().union(*ALL_STYLED.values())
    lost = sorted((parts.classes & styled_anywhere) - loaded)
    assert not lost, f"{url} uses classes styled only in a sheet it does not load: {lost}"
    return names


@pytest.fixture
def content(app):
    """A home page, a paid story with comments and the paywall's plans, a shop."""
    river = TagFactory(name="Rivers")
    free = ArticleFactory(title="The river rose", tags=[river])
    ArticleFactory(title="The river paid", access="paid", tags=[river])
    comment = CommentFactory(article=free)
    CommentFactory(article=free, parent_id=comment.id)
    make_product("Supporter, monthly", 800, kind=KIND_PLAN, interval="month")
    make_product("Printed annual", 3000, stock=2)
    return river


def test_public_pages_load_the_sheets_that_style_them(client, content):
    expected = {
        "/": ["site.css"],
        "/articles/the-river-rose": ["site.css", "article.css"],
        "/articles/the-river-paid": ["site.css", "article.css"],
        "/tags/rivers": ["site.css"],
        "/search?q=river": ["site.css"],
        "/newsletters": ["site.css"],
        "/shop": ["site.css", "store.css"],
        "/login": ["site.css"],
        "/register": ["site.css"],
        "/subscribe": ["site.css"],
    }
    for url, sheets in expected.items():
        assert check_page(client, url) == sheets, url
    # The cart with a line in it: its table is styled by the store's sheet.
    product = make_product("Tote bag", 1500)
    token = csrf_token(client, "/shop")
    client.post("/cart/add", data={"product_id": product.id, "quantity": 1, "csrf_token": token})
    assert check_page(client, "/cart") == ["site.css", "store.css"]


def test_a_readers_pages_load_the_base_sheet(client, auth, reader, content):
    auth.login(reader.email)
    for url in ("/account", "/account/preferences", "/articles/the-river-rose"):
        assert check_page(client, url)[0] == "site.css", url


def test_every_back_office_page_loads_the_back_office_sheet(app, client, auth, admin, real_ids):
    auth.login(admin.email)
    site_policy = client.get("/").headers["Content-Security-Policy"]
    checked = 0
    for method, endpoint, _ in admin_rules(app):
        if method != "GET":
            continue
        url = _url(app, endpoint, real_ids)
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue  # exports, previews in a frame, redirects: no page of the back office
        if response.headers["Content-Security-Policy"] != site_policy:
            continue  # a message's preview: the email's own inline styles, in a frame
        # An article's preview is the reader's page, with the article's sheet.
        room = "article.css" if endpoint in READERS_PAGE_PREVIEWS else "admin.css"
        assert check_page(client, url) == ["site.css", room], url
        checked += 1
    assert checked >= 20


def test_the_base_sheet_is_small():
    # Most of a page's CSS used to be rules for other pages: the base sheet stays the
    # rules every page shares, the rooms' rules go to their own sheets.
    base = (CSS / "site.css").stat().st_size
    whole = sum(sheet.stat().st_size for sheet in CSS.glob("*.css"))
    assert base < 0.6 * whole, (base, whole)

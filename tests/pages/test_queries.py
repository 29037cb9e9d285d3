"""The queries behind each public page: no lazy loads from templates, no N+1, the indexes.

Each page sends a fixed number of statements whatever the data (5 or 60 articles, 0 or 20
comments and replies, 1 or 5 cart lines); none loads a relationship lazily while its
template renders; the home, tag and feed queries read their order from an index.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from shop.articles import services
from shop.articles.models import Article, Comment
from shop.cart import services as cart_services
from shop.cart import widget as cart_widget
from shop.cart.models import Cart, CartItem
from shop.clock import utcnow
from shop.extensions import db
from tests.factories import (
    ArticleFactory,
    CommentFactory,
    PriceFactory,
    TagFactory,
    UserFactory,
    make_product,
)

# The test's own transaction control, not the page's work.
_OWN = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)", re.I)


@contextmanager
def statements() -> Iterator[list[tuple[str, Any]]]:
    """Every statement (and its parameters) sent to the database inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not _OWN.match(statement):
            seen.append((statement, parameters))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


class LazyLoadError(AssertionError):
    """A relationship was loaded lazily (with SQL) while a page was being made."""


class LazyLoadGuard:
    """While on, any lazy load that needs SQL fails: ``lazy="raise_on_sql"`` everywhere.

    A lazy load is an ORM execution with ``lazy_loaded_from`` set; selectin and joined
    loads are not. The loads are also recorded, so that a page that catches the error
    (the cart widget shows an empty cart on a database error) still fails the test.
    """

    def __init__(self) -> None:
        self.on = False
        self.loads: list[str] = []

    def __call__(self, state: ORMExecuteState) -> None:
        if not (self.on and state.is_select):
            return
        source = state.lazy_loaded_from
        if source is not None:
            self.loads.append(f"{source.class_.__name__}: {state.statement}")
            raise LazyLoadError(f"lazy load from {source.class_.__name__}")

    @contextmanager
    def refusing(self) -> Iterator[list[str]]:
        """Refuse lazy loads inside the block (a request); setting up data may use them."""
        self.on = True
        try:
            yield self.loads
        finally:
            self.on = False


@pytest.fixture
def no_lazy_loads():
    """A LazyLoadGuard listening to every session; ``with no_lazy_loads.refusing():``."""
    guard = LazyLoadGuard()
    event.listen(Session, "do_orm_execute", guard)
    try:
        yield guard
    finally:
        event.remove(Session, "do_orm_execute", guard)


def _articles(n: int, tag) -> list[Article]:
    # Different authors and tags on each, so a missed eager load would show as growth.
    made = []
    for i in range(n):
        extra = TagFactory()
        made.append(
            ArticleFactory(
                tags=[tag, extra] if i % 2 == 0 else [extra],
                published_at=utcnow() - timedelta(hours=2 + i),
            )
        )
    return made


def _conversation(article: Article, threads: int, replies_each: int) -> None:
    """Top comments, each with replies, every one by another reader."""
    for _ in range(threads):
        top = CommentFactory(article=article, author=UserFactory())
        for _ in range(replies_each):
            CommentFactory(article=article, author=UserFactory(), parent_id=top.id)


def _cart_lines(reader, n: int) -> None:
    cart = db.session.scalar(db.select(Cart).where(Cart.user_id == reader.id))
    if cart is None:
        cart = Cart(user_id=reader.id)
        db.session.add(cart)
        db.session.flush()
    have = len(cart.items)
    for i in range(have, n):
        product = make_product(f"Poster {reader.id}-{i}", 500 + i)
        db.session.add(CartItem(cart_id=cart.id, product_id=product.id, quantity=1 + i % 2))
    db.session.commit()


PAGES = {
    "home": "/",
    "article (no comments)": "/articles/{quiet}",
    "article (threads and replies)": "/articles/{talked}",
    "tag": "/tags/{tag}",
    "feed": "/feed.xml",
    "tag feed": "/tags/{tag}/feed.xml",
    "shop": "/shop",
    "cart": "/cart",
    "account": "/account",
    "search": "/search?q=story",
    "sitemap": "/sitemap.xml",
}


def _counts(client, names: dict[str, str]) -> dict[str, int]:
    counts = {}
    for page, path in PAGES.items():
        with statements() as seen:
            response = client.get(path.format(**names))
        assert response.status_code == 200, (page, response.status_code)
        counts[page] = len(seen)
    return counts


def _world(reader):
    tag = TagFactory(name="Economy")
    made = _articles(5, tag)
    quiet, talked = made[0], made[1]
    _cart_lines(reader, 1)
    return tag, quiet, talked


def test_no_page_sends_more_statements_for_more_data(client, auth, reader):
    tag, quiet, talked = _world(reader)
    names = {"tag": tag.slug, "quiet": quiet.slug, "talked": talked.slug}
    auth.login(reader.email)
    small = _counts(client, names)

    _articles(55, tag)
    _conversation(talked, threads=10, replies_each=1)  # 20 comments, half of them replies
    _cart_lines(reader, 5)
    large = _counts(client, names)

    assert large == small
    # The threaded article costs what the quiet one does: comments and their authors
    # come with the article, not one query per comment.
    assert small["article (threads and replies)"] == small["article (no comments)"]


def test_a_visitors_pages_do_not_grow_either(client):
    tag = TagFactory(name="Economy")
    made = _articles(5, tag)
    names = {"tag": tag.slug, "quiet": made[0].slug, "talked": made[1].slug}
    anonymous = {k: v for k, v in PAGES.items() if k != "account"}

    def counts():
        out = {}
        for page, path in anonymous.items():
            with statements() as seen:
                assert client.get(path.format(**names)).status_code == 200, page
            out[page] = len(seen)
        return out

    small = counts()
    _articles(55, tag)
    _conversation(made[1], threads=10, replies_each=1)
    assert counts() == small


def test_public_pages_load_nothing_lazily(client, auth, reader, no_lazy_loads):
    tag, quiet, talked = _world(reader)
    _conversation(talked, threads=3, replies_each=2)
    # A placeholder of a deleted comment with a reply, and the reader's own held comment.
    gone = CommentFactory(article=talked, author=UserFactory(), deleted_at=utcnow(), body="")
    CommentFactory(article=talked, author=UserFactory(), parent_id=gone.id)
    CommentFactory(article=talked, author=reader, held=True)
    names = {"tag": tag.slug, "quiet": quiet.slug, "talked": talked.slug}
    email = reader.email

    for who in ("visitor", "reader"):
        if who == "reader":
            assert auth.login(email).status_code == 302
        for page, path in PAGES.items():
            if page == "account" and who == "visitor":
                continue
            with no_lazy_loads.refusing() as loads:
                response = client.get(path.format(**names))
            assert response.status_code == 200, (who, page)
            assert loads == [], (who, page, loads)
    page = client.get(f"/articles/{talked.slug}").get_data(as_text=True)
    assert page.count('class="comment') >= 8  # the threads were really shown


def test_the_lazy_load_check_catches_a_lazy_load(app, no_lazy_loads):
    comment_id = CommentFactory().id
    db.session.expunge_all()
    loaded = db.session.scalar(db.select(Comment).where(Comment.id == comment_id))
    with no_lazy_loads.refusing() as loads, pytest.raises(LazyLoadError):
        loaded.article.title  # noqa: B018 - the attribute access is the lazy load
    assert len(loads) == 1


# --- the cart widget --------------------------------------------------------------------


def test_the_cart_widget_is_one_statement_for_a_reader(app, reader):
    _cart_lines(reader, 3)
    # A line whose product gained a newer price, and one in another currency.
    cart = db.session.scalar(db.select(Cart).where(Cart.user_id == reader.id))
    first = cart.items[0].product
    PriceFactory(product=first, amount=777)
    euro = make_product("Euro mug", 900, currency="eur")
    db.session.add(CartItem(cart_id=cart.id, product_id=euro.id, quantity=2))
    db.session.commit()
    db.session.refresh(reader)

    with statements() as seen:
        summary = cart_widget.widget_summary(reader, None)
    assert len(seen) == 1
    db.session.expire_all()
    full = cart_services.cart_summary(cart_services.find_cart(reader, None))
    assert (summary.count, summary.subtotal) == (full.count, full.subtotal)
    assert summary.count == 1 + 2 + 1 + 2


def test_the_cart_widget_sends_nothing_without_a_cart(app):
    with statements() as seen:
        summary = cart_widget.widget_summary(None, None)
    assert seen == [] and summary.is_empty


def test_the_cart_page_reads_the_cart_once(client, auth, reader):
    _cart_lines(reader, 2)
    auth.login(reader.email)
    with statements() as seen:
        response = client.get("/cart")
    assert response.status_code == 200
    assert "Cart: 3 items" in response.get_data(as_text=True)
    reads = [s for s, _ in seen if re.search(r"\bFROM carts\b", s)]
    assert len(reads) == 1, reads


# --- the indexes ------------------------------------------------------------------------


def _plans(sent: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Each article query sent, with its plan (the database's own EXPLAIN)."""
    out = []
    # The test's own connection: its rows are not committed.
    conn = db.session.connection()
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql("ANALYZE articles")
        conn.exec_driver_sql("ANALYZE article_tags")
        # A test table is small enough to read whole: make that the last resort, so the
        # plan shows what the indexes can do.
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    try:
        for statement, parameters in sent:
            if not re.search(r"\bFROM articles\b", statement):
                continue
            explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = conn.exec_driver_sql(explain + statement, parameters)
            out.append((statement, "\n".join(str(r[-1]) for r in rows)))
    finally:
        if postgres:
            conn.exec_driver_sql("RESET enable_seqscan")
    return out


def test_home_tag_and_feed_read_their_order_from_the_index(app):
    tag = TagFactory()
    _articles(120, tag)
    ArticleFactory(published_at=None, status="draft")
    with statements() as sent:
        services.latest_articles(2, 10)
        services.tag_articles(tag, 2, 10)
        services.recent_live()
        services.recent_live(tag=tag)
    plans = _plans(sent)
    assert len(plans) == 6  # two counts, two pages, two feeds
    sqlite = db.engine.dialect.name == "sqlite"
    for statement, plan in plans:
        counting = "count(" in statement
        if sqlite:
            assert "TEMP B-TREE" not in plan, (statement, plan)
            assert not re.search(r"\bSCAN articles\b", plan), (statement, plan)
            if counting:
                # The count reads the index alone, never the articles' rows.
                assert "COVERING INDEX ix_articles_live_order" in plan, plan
        else:
            assert not re.search(r"^\s*(->\s*)?Sort\b", plan, re.M), (statement, plan)
            assert "Seq Scan on articles" not in plan, (statement, plan)
        if not counting:
            # The newest first, straight from the index: no sort of every live article.
            assert "ix_articles_live_order" in plan, (statement, plan)


def test_pages_keep_their_numbers_and_404_past_the_end(client, app):
    tag = TagFactory()
    _articles(25, tag)
    per_page = app.config["ARTICLES_PER_PAGE"]
    last = -(-25 // per_page)
    assert client.get(f"/?page={last}").status_code == 200
    assert client.get(f"/?page={last + 1}").status_code == 404
    tagged = -(-13 // per_page)
    assert client.get(f"/tags/{tag.slug}?page={tagged}").status_code == 200
    assert client.get(f"/tags/{tag.slug}?page={tagged + 1}").status_code == 404


# --- the sitemap ------------------------------------------------------------------------

_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def test_lists_and_feeds_read_no_bodies(client):
    tag = TagFactory()
    for _ in range(3):
        ArticleFactory(body_markdown="x " * 5000, tags=[tag])
    for path in ("/", f"/tags/{tag.slug}", "/feed.xml", f"/tags/{tag.slug}/feed.xml"):
        with statements() as seen:
            assert client.get(path).status_code == 200
        for statement, _ in seen:
            assert not re.search(r"body_(html|markdown|text)", statement), (path, statement)


def test_the_sitemap_reads_no_bodies(client):
    for _ in range(3):
        ArticleFactory(body_markdown="x " * 5000)
    with statements() as seen:
        response = client.get("/sitemap.xml")
    assert response.status_code == 200
    for statement, _ in seen:
        assert not re.search(r"body_(html|markdown|text)", statement), statement


def test_a_large_sitemap_becomes_an_index_of_parts(client, app, monkeypatch):
    made = [ArticleFactory(published_at=utcnow() - timedelta(hours=h + 1)) for h in range(5)]
    TagFactory(name="Science")
    monkeypatch.setitem(app.config, "SITEMAP_MAX_URLS", 3)  # home + 5 articles + 1 tag = 7

    index = ET.fromstring(client.get("/sitemap.xml").data)  # noqa: S314 - our own page
    assert index.tag == f"{_NS}sitemapindex"
    parts = [loc.text for loc in index.iter(f"{_NS}loc")]
    assert parts == [f"http://localhost/sitemap.xml?part={n}" for n in (1, 2, 3)]

    seen: list[str] = []
    for address in parts:
        body = client.get(address.removeprefix("http://localhost")).data
        part = ET.fromstring(body)  # noqa: S314 - our own page
        assert part.tag == f"{_NS}urlset"
        urls = [loc.text for loc in part.iter(f"{_NS}loc")]
        assert len(urls) <= 3
        seen += urls
    assert len(seen) == len(set(seen)) == 7
    assert {f"http://localhost/articles/{a.slug}" for a in made} <= set(seen)
    assert "http://localhost/tags/science" in seen


@pytest.mark.parametrize("part", ["0", "4", "x", "²", "-1"])
def test_a_sitemap_part_that_is_not_there_is_a_404(client, app, monkeypatch, part):
    for _ in range(5):
        ArticleFactory()
    monkeypatch.setitem(app.config, "SITEMAP_MAX_URLS", 3)
    assert client.get(f"/sitemap.xml?part={part}").status_code == 404


def test_a_small_sitemap_stays_one_urlset(client):
    ArticleFactory()
    root = ET.fromstring(client.get("/sitemap.xml").data)  # noqa: S314 - our own page
    assert root.tag == f"{_NS}urlset"

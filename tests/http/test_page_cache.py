"""The rendered-page cache: served again to anonymous readers, emptied by every change a
page shows, and never handed to a reader with a session, a login or a cart (whose pages
are kept bodies with their own parts filled in: tests/http/test_reader_pages.py)."""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from shop import caching, create_app
from shop.articles.comments import add_comment
from shop.articles.models import ArticleStatus
from shop.clock import utcnow
from shop.config import ConfigError
from shop.extensions import db
from shop.scheduler import tick
from tests.factories import ArticleFactory, UserFactory, make_product

CACHE = "X-Page-Cache"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
EMPTY_CART = "Your cart is currently empty!"


def text_of(response) -> str:
    """The page as a reader reads it."""
    return response.get_data(as_text=True)


def test_an_anonymous_reader_is_served_the_kept_page(client):
    ArticleFactory(title="Glaciers retreat")
    first, second = client.get("/"), client.get("/")
    assert (first.headers[CACHE], second.headers[CACHE]) == ("miss", "hit")
    assert text_of(second) == text_of(first)
    assert EMPTY_CART in text_of(second)
    assert second.headers["ETag"] == first.headers["ETag"]
    assert client.get("/", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


def test_publishing_editing_and_the_catalogue_empty_the_cache(client, app):
    story = ArticleFactory(title="Glaciers retreat")
    bag = make_product("Tote bag", 1500)
    assert client.get("/").headers[CACHE] == "miss"
    assert client.get("/shop").headers[CACHE] == "miss"
    ArticleFactory(title="Rivers rise")
    assert "Rivers rise" in text_of(client.get("/"))
    story.title = "Glaciers retreat faster"
    db.session.commit()
    assert "Glaciers retreat faster" in text_of(client.get("/articles/glaciers-retreat"))
    client.get("/shop")
    bag.name = "Canvas tote"
    db.session.commit()
    assert "Canvas tote" in text_of(client.get("/shop"))


def test_a_new_comment_shows_at_once(client, app):
    story = ArticleFactory(title="Glaciers retreat")
    assert "Thoughtful reply" not in text_of(client.get("/articles/glaciers-retreat"))
    add_comment(story, UserFactory(), "Thoughtful reply here.")
    assert "Thoughtful reply" in text_of(client.get("/articles/glaciers-retreat"))


def test_a_scheduled_story_shows_once_the_tick_sees_it_go_live(client, app):
    ArticleFactory(
        title="Embargoed report",
        status=ArticleStatus.SCHEDULED,
        published_at=utcnow() + timedelta(hours=1),
    )
    assert "Embargoed report" not in text_of(client.get("/"))
    # Time passes: no row is written as a story goes live (a raw UPDATE stands for it).
    db.session.execute(
        text("UPDATE articles SET published_at = :when"), {"when": utcnow() - timedelta(seconds=30)}
    )
    db.session.commit()
    assert client.get("/").headers[CACHE] == "hit"
    tick()
    assert "Embargoed report" in text_of(client.get("/"))


def test_a_logged_in_readers_page_never_reaches_a_visitor(app, auth, client, reader):
    ArticleFactory(title="Glaciers retreat")
    stranger = app.test_client()
    stranger.get("/")
    auth.login(reader.email)
    # A reader's pages are kept bodies of their own kind (tests/http/test_reader_pages.py).
    assert [client.get("/").headers[CACHE] for _ in range(2)] == ["miss", "hit"]
    assert "Log out" in text_of(client.get("/"))
    other = stranger.get("/")
    assert other.headers[CACHE] == "hit"
    assert "Log out" not in text_of(other)
    assert reader.email not in text_of(other)


def test_a_cart_and_its_flash_stay_with_their_reader(app, client):
    bag = make_product("Tote bag", 1500)
    ArticleFactory(title="Glaciers retreat")
    stranger = app.test_client()
    assert stranger.get("/").headers[CACHE] == "miss"
    client.post(
        "/cart/add",
        data={"product_id": str(bag.id), "quantity": "1", "next": "/"},
        headers=SAME_ORIGIN,
    )
    mine = client.get("/")
    assert "Added to your cart." in text_of(mine)
    assert "Cart: 1 item" in text_of(mine)
    assert mine.headers["Cache-Control"] == "private, no-store"
    other = stranger.get("/")
    assert other.headers[CACHE] == "hit"
    assert "Added to your cart." not in text_of(other)
    assert EMPTY_CART in text_of(other)


def test_the_tables_that_empty_the_cache_exist(app):
    assert set(db.metadata.tables) >= caching.PAGE_TABLES


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"PAGE_CACHE": "sometimes"}, "PAGE_CACHE must be one of off, memory, redis"),
        ({"PAGE_CACHE": "redis"}, "PAGE_CACHE=redis needs PAGE_CACHE_REDIS_URL"),
        ({"PAGE_CACHE_TTL": 0}, "PAGE_CACHE_TTL must be"),
        ({"PAGE_CACHE_ENTRIES": 0}, "PAGE_CACHE_ENTRIES must be"),
    ],
)
def test_a_bad_page_cache_setting_is_a_clear_error(app_config, settings, says):
    with pytest.raises(ConfigError, match=says):
        create_app({**app_config, **settings})


REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_is_up() -> bool:
    """Whether a Redis answers on 127.0.0.1:6379."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not redis_is_up(), reason="needs Redis on 127.0.0.1:6379")
def test_with_redis_two_workers_share_pages_and_their_generation(app_config):
    prefix = f"broadsheet-test-{uuid.uuid4().hex}:"
    settings = {
        **app_config,
        "PAGE_CACHE": "redis",
        "PAGE_CACHE_REDIS_URL": REDIS_URL,
        "PAGE_CACHE_PREFIX": prefix,
    }
    one, two = create_app(dict(settings)), create_app(dict(settings))
    try:
        assert one.test_client().get("/robots.txt").headers[CACHE] == "miss"
        assert two.test_client().get("/robots.txt").headers[CACHE] == "hit"
        with two.app_context():
            caching.bump()
        assert one.test_client().get("/robots.txt").headers[CACHE] == "miss"
    finally:
        with one.app_context():
            caching.clear()


def test_an_emptied_cart_does_not_keep_its_reader_from_the_kept_page(app, client):
    bag = make_product("Tote bag", 1500)
    client.post("/cart/add", data={"product_id": str(bag.id), "quantity": "1"})
    client.post("/cart/remove", data={"product_id": str(bag.id)})
    # The removal's flash is read on the next page; then the session is empty, and gone.
    assert "Removed" in text_of(client.get("/shop"))
    assert client.get_cookie("cart") is not None
    assert client.get_cookie("session") is None
    first, second = client.get("/shop"), client.get("/shop")
    assert second.headers[CACHE] == "hit", first.headers.get(CACHE)
    assert second.headers["Cache-Control"] == "public, no-cache"
    assert EMPTY_CART in text_of(second)

"""Anonymous readers get no cookie; public pages carry validators, 304s and honest caching."""

from __future__ import annotations

import pytest

from tests.factories import ArticleFactory, TagFactory, make_product

PUBLIC = "public, no-cache"
NO_STORE = "private, no-store"


@pytest.fixture
def pages(app):
    """A tagged article and a product: every public page has something on it."""
    tag = TagFactory(name="Climate")
    ArticleFactory(title="Glaciers retreat", tags=[tag])
    make_product("Tote bag", 1500)
    return ["/", "/articles/glaciers-retreat", "/tags/climate", "/shop", "/feed.xml"]


def test_an_anonymous_reader_gets_no_cookie_and_no_vary_cookie(client, pages):
    for path in [*pages, "/tags/climate/feed.xml", "/sitemap.xml"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers, path
        assert "Cookie" not in response.headers.get("Vary", ""), path
    assert client.get_cookie("session") is None


def test_public_pages_carry_validators_and_an_honest_cache_control(client, pages):
    for path in pages:
        response = client.get(path)
        assert response.headers["Cache-Control"] == PUBLIC, path
        assert response.headers.get("ETag"), path
        assert response.headers.get("Last-Modified"), path


def test_a_matching_etag_or_date_gets_304_and_a_changed_page_does_not(client, pages):
    for path in pages:
        first = client.get(path)
        again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304, path
        assert again.get_data() == b"", path
        since = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
        assert since.status_code == 304, path
    stale = client.get("/", headers={"If-None-Match": '"not-this-page"'})
    assert stale.status_code == 200


def test_publishing_changes_the_home_pages_etag(client, pages):
    before = client.get("/")
    ArticleFactory(title="Rivers rise")
    after = client.get("/", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert "Rivers rise" in after.get_data(as_text=True)


def test_a_logged_in_reader_gets_private_pages_without_validators(client, auth, reader, pages):
    auth.login(reader.email)
    for path in pages[:4]:
        response = client.get(path)
        assert response.headers["Cache-Control"] == NO_STORE, path
        assert "ETag" not in response.headers, path


def test_search_and_account_pages_are_never_cached_publicly(client, pages):
    assert "public" not in client.get("/search?q=glaciers").headers.get("Cache-Control", "")
    for path in ("/login", "/register", "/cart"):
        assert client.get(path).headers["Cache-Control"] == NO_STORE, path


def test_a_compressed_page_is_revalidated_by_its_own_etag(client, pages):
    gzip = {"Accept-Encoding": "gzip"}
    first = client.get("/", headers=gzip)
    assert first.headers.get("Content-Encoding") == "gzip"
    again = client.get("/", headers={**gzip, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == PUBLIC

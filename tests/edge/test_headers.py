"""HSTS on an https site, no caching of one reader's pages, and a Permissions-Policy."""

from __future__ import annotations

import pytest

from shop import create_app
from tests.factories import ArticleFactory

NO_STORE = "private, no-store"


def test_an_https_site_sends_hsts(app_config):
    app_config["SITE_URL"] = "https://news.example"
    client = create_app(app_config).test_client()
    for path in ("/", "/login", "/no-such-page"):
        response = client.get(path)
        assert (
            response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        ), path


def test_a_plain_http_site_sends_no_hsts(client):
    # HSTS over http is ignored by browsers, and would lock out a site not yet on https.
    assert "Strict-Transport-Security" not in client.get("/").headers


@pytest.mark.parametrize("path", ["/login", "/register", "/reset", "/cart"])
def test_login_register_reset_and_cart_pages_are_not_cached(client, path):
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.headers["Cache-Control"] == NO_STORE, path


def test_a_reset_link_is_not_cached_even_when_it_fails(client):
    response = client.get("/reset/not-a-token")
    assert response.headers["Cache-Control"] == NO_STORE


def test_account_checkout_and_admin_pages_are_not_cached(client, auth, admin):
    auth.login(admin.email)
    for path in (
        "/account",
        "/account/preferences",
        "/account/password",
        "/checkout/success?session_id=cs_none",
        "/admin/",
        "/admin/orders",
        "/admin/subscribers.csv",
    ):
        response = client.get(path)
        assert response.headers.get("Cache-Control") == NO_STORE, (path, response.status_code)


def test_public_pages_seen_logged_in_are_not_cached_either(client, auth, reader):
    # The header names the reader and shows their cart; paid stories show their access.
    ArticleFactory(title="Glaciers retreat")
    auth.login(reader.email)
    for path in ("/", "/articles/glaciers-retreat", "/shop"):
        assert client.get(path).headers.get("Cache-Control") == NO_STORE, path


def test_public_pages_for_anonymous_visitors_stay_cacheable(client):
    ArticleFactory(title="Glaciers retreat")
    for path in ("/", "/articles/glaciers-retreat", "/static/css/site.css"):
        assert "no-store" not in client.get(path).headers.get("Cache-Control", ""), path


def test_the_permissions_policy_denies_what_the_site_never_uses(client):
    policy = client.get("/").headers["Permissions-Policy"]
    features = {part.strip() for part in policy.split(",")}
    for feature in ("camera", "microphone", "geolocation", "payment", "interest-cohort", "usb"):
        assert f"{feature}=()" in features, feature
    # Every page, error pages too.
    assert "Permissions-Policy" in client.get("/no-such-page").headers

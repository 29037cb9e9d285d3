"""A real browser sends the public pages' forms with no session, and the site takes them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import make_product


@pytest.fixture
def app_config(app_config):
    """CSRF protection and the page cache on, as in production."""
    app_config["WTF_CSRF_ENABLED"] = True
    app_config["PAGE_CACHE"] = "memory"
    return app_config


def test_a_visitor_with_no_session_adds_to_the_cart_and_subscribes(checked_page, live_server):
    site, page = checked_page, checked_page.page
    make_product("Tote bag", 1800)
    site.goto("/shop")
    assert page.context.cookies() == []
    site.submit("Add to cart", within=page.get_by_role("listitem").filter(has_text="Tote bag"))
    expect(page.get_by_role("link", name="Cart: 1 item")).to_be_visible()

    fresh = page.context.browser.new_context()
    try:
        other = fresh.new_page()
        other.goto(live_server + "/")
        assert fresh.cookies() == []
        expect(other.get_by_text("Your cart is currently empty!")).to_be_visible()
        other.get_by_label("Email address").fill("new.reader@example.org")
        other.get_by_role("button", name="Subscribe", exact=True).click()
        expect(other.get_by_text("new.reader@example.org")).to_be_visible()
    finally:
        fresh.close()

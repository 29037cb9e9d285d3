"""Two readers in two browsers, the page cache on as in production: each reads kept
pages with their own header, cart and forms, comments, edits and logs out from them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CheckedPage
from tests.factories import ArticleFactory, TagFactory, UserFactory, make_product

PASSWORD = "correct horse battery"


@pytest.fixture
def app_config(app_config):
    """CSRF protection and the page cache on, as in production."""
    app_config["WTF_CSRF_ENABLED"] = True
    app_config["PAGE_CACHE"] = "memory"
    return app_config


def log_in(site, email: str) -> None:
    """Log in through the form."""
    site.goto("/login")
    site.page.get_by_label("Email", exact=True).fill(email)
    site.page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    expect(site.page.get_by_role("status")).to_contain_text("You are logged in")


@pytest.fixture
def second_page(request, checked_page, live_server):
    """Another browser (a context of its own: its own cookies), audited the same way."""
    context = checked_page.page.context.browser.new_context()
    other = CheckedPage(context.new_page(), live_server)
    yield other
    try:
        other.final_check(request)
    finally:
        context.close()


def test_two_readers_share_kept_pages_and_keep_their_own_parts(checked_page, second_page):
    ArticleFactory(title="Rivers rise across the north", tags=[TagFactory(name="Climate")])
    make_product("Tote bag", 1800)
    UserFactory(email="ada@example.org")
    UserFactory(email="bo@example.org")
    ada, bo = checked_page, second_page
    log_in(ada, "ada@example.org")
    log_in(bo, "bo@example.org")

    # Bo reads first and the pages are kept; Ada is served them, with her own parts.
    for site in (bo, ada):
        site.goto("/articles/rivers-rise-across-the-north")
        expect(
            site.page.get_by_role("banner").get_by_role("button", name="Log out")
        ).to_be_visible()
        expect(site.page.get_by_text("Your cart is currently empty!")).to_be_visible()

    # Ada puts something in her cart from the shop: only her header says so.
    ada.goto("/shop")
    ada.submit("Add to cart", within=ada.page.get_by_role("listitem").filter(has_text="Tote bag"))
    expect(ada.page.get_by_role("link", name="Cart: 1 item")).to_be_visible()
    bo.goto("/shop")
    expect(bo.page.get_by_text("Your cart is currently empty!")).to_be_visible()
    ada.goto("/cart")
    expect(ada.page.get_by_role("row").filter(has_text="Tote bag")).to_be_visible()
    ada.goto("/cart")  # kept for her now
    expect(ada.page.get_by_role("row").filter(has_text="Tote bag")).to_be_visible()

    # Ada comments from the kept article page: her form carries her own token.
    ada.goto("/articles/rivers-rise-across-the-north")
    reply = ada.page.get_by_role("region", name="Leave a Reply")
    reply.get_by_label("Comment", exact=True).fill("The river by our house rose overnight.")
    ada.submit("Post comment", within=reply)
    expect(ada.page.get_by_role("status")).to_contain_text("Your comment is posted")
    expect(ada.page.get_by_text("Edit", exact=True)).to_be_visible()

    # Bo sees the comment, but not Ada's Edit and Delete.
    bo.goto("/articles/rivers-rise-across-the-north")
    expect(bo.page.get_by_text("The river by our house rose overnight.")).to_be_visible()
    expect(bo.page.get_by_text("Edit", exact=True)).to_have_count(0)
    expect(bo.page.get_by_role("button", name="Delete")).to_have_count(0)

    # Bo logs out from a kept page; Ada stays logged in.
    bo.goto("/")
    bo.submit("Log out", within=bo.page.get_by_role("banner"))
    expect(bo.page.get_by_role("status")).to_contain_text("You are logged out")
    expect(bo.page.get_by_role("banner").get_by_role("link", name="Log in")).to_be_visible()
    ada.goto("/")
    expect(ada.page.get_by_role("banner").get_by_role("button", name="Log out")).to_be_visible()

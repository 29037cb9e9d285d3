"""The look in a real browser: the home page's masthead, featured story and subscribe box,
the article's reading time and tags, the compact cart link, both colour schemes, and pages
that fit a 390 px phone without scrolling sideways."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from shop.clock import utcnow
from tests.factories import (
    PASSWORD,
    AdminFactory,
    ArticleFactory,
    TagFactory,
    UserFactory,
    make_product,
)

WIDTHS = (1280, 390)
SCHEMES = ("light", "dark")
# The page's background in each scheme, as the browser computes it from the palette.
BACKGROUNDS = {"light": "rgb(253, 252, 249)", "dark": "rgb(22, 21, 19)"}
LONG_BODY = " ".join(["river"] * 920)  # four minutes at 230 words a minute


def _view(page, width: int, scheme: str) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)


def _fits(page, width: int) -> None:
    """Nothing on the page, a table included, is wider than the screen."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url
    wide = page.evaluate(
        """() => [...document.querySelectorAll('.table-wrap')]
            .filter((box) => box.scrollWidth > box.clientWidth).length"""
    )
    assert wide == 0, f"a table scrolls sideways on {page.url}"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_home_and_article_read_well_in_each_scheme_and_width(checked_page, scheme):
    site, page = checked_page, checked_page.page
    climate, korea = TagFactory(name="Climate"), TagFactory(name="North Korea")
    ArticleFactory(
        title="Rivers rise across the north",
        summary="Flood warnings in three provinces.",
        body_markdown=LONG_BODY,
        tags=[climate, korea],
        published_at=utcnow() - timedelta(minutes=10),
    )
    ArticleFactory(title="An older story", published_at=utcnow() - timedelta(days=2))

    for width in WIDTHS:
        # Each page is audited by axe (contrast included) as it loads, in this scheme.
        _view(page, width, scheme)
        site.goto("/")
        body_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert body_background == BACKGROUNDS[scheme]
        masthead = page.locator("header.masthead")
        expect(masthead.get_by_role("heading", level=1)).to_have_text("Broadsheet")
        expect(masthead).to_contain_text("Independent reporting, tagged by topic")
        subscribe = masthead.get_by_role("region", name="Get the stories you choose, by email")
        expect(subscribe.get_by_label("Email address")).to_be_visible()
        featured = page.locator("article.card-featured")
        expect(featured).to_have_count(1)
        expect(featured.get_by_role("heading")).to_have_text("Rivers rise across the north")
        expect(featured.get_by_text("4 min read")).to_be_visible()
        expect(page.locator("article.card:not(.card-featured)")).to_have_count(1)
        banner = page.get_by_role("banner")
        expect(banner.get_by_role("link", name="Your cart is currently empty!")).to_be_visible()
        _fits(page, width)

        site.follow(featured.get_by_role("link", name="Rivers rise across the north"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Rivers rise across the north")
        expect(page.locator(".story .meta")).to_contain_text("4 min read")
        # The tags appear once: the hashtag line, each a link to its tag's page.
        tags = page.get_by_role("list", name="Tags")
        expect(tags).to_have_count(1)
        expect(tags.get_by_role("link")).to_have_text(["#climate", "#north-korea"])
        expect(page.get_by_role("link", name="North Korea")).to_have_count(0)
        expect(page.locator(".tag-list")).to_have_count(0)
        _fits(page, width)


def test_no_page_scrolls_sideways_on_a_phone(checked_page):
    site, page = checked_page, checked_page.page
    tag = TagFactory(name="Climate")
    ArticleFactory(title="Rivers rise across the north", body_markdown=LONG_BODY, tags=[tag])
    make_product("The printed annual with a rather long name", 2500, stock=10)
    make_product("Supporter, yearly", 8000, kind="plan", interval="year")
    reader = UserFactory(email="phone.reader.with.a.long.address@example.org")

    for scheme in SCHEMES:
        _view(page, 390, scheme)
        site.goto("/shop")
        for name in ("The printed annual", "Supporter, yearly"):
            if scheme == "light":
                item = page.get_by_role("listitem").filter(has_text=name)
                site.submit("Add to cart", within=item)
                site.goto("/shop")
        _fits(page, 390)
        # The compact cart link, in words.
        cart_link = page.get_by_role("banner").get_by_role("link", name="Cart: 2 items")
        expect(cart_link).to_contain_text("$105.00")
        site.follow(cart_link)
        expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
        expect(page.get_by_role("button", name="Remove")).to_have_count(2)
        _fits(page, 390)
        for path in ["/", "/articles/rivers-rise-across-the-north", "/tags/climate", "/login"]:
            site.goto(path)
            _fits(page, 390)

    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(reader.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    for scheme in SCHEMES:
        _view(page, 390, scheme)
        site.goto("/account")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        _fits(page, 390)


def test_the_dashboard_charts_stay_on_light_panels_in_the_dark_scheme(checked_page):
    # The charts are inline SVG drawn in the light palette: their panels keep it.
    site, page = checked_page, checked_page.page
    admin = AdminFactory(email="dark.editor@example.org")
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(admin.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    for width in WIDTHS:
        _view(page, width, "dark")
        site.goto("/admin/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
        assert (
            page.evaluate("getComputedStyle(document.body).backgroundColor")
            == (BACKGROUNDS["dark"])
        )
        panels = page.locator("figure.chart, .chart")
        expect(panels.first).to_be_visible()
        backgrounds = set(
            panels.evaluate_all("(all) => all.map((c) => getComputedStyle(c).backgroundColor)")
        )
        assert backgrounds == {"rgb(255, 255, 255)"}
        _fits(page, width)

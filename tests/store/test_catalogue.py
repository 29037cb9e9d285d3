"""The catalogue page, the cart widget on every page, the money filter and the demo shop."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from shop.catalogue import services
from shop.catalogue.models import Price, Product
from shop.extensions import db
from tests.factories import ArticleFactory, ProductFactory, make_product


def _section(html: str, heading: str) -> str:
    """The HTML from a heading to the end of its section."""
    start = html.index(heading)
    return html[start : html.index("</section>", start)]


def _card(html: str, name: str) -> str:
    """The HTML of one product's card."""
    start = html.index(f">{name}</h3>")
    return html[start : html.index("</li>", start)]


def test_the_shop_lists_plans_then_items_with_prices(client):
    make_product("Supporter, yearly", 8000, kind="plan", interval="year")
    make_product("Supporter, monthly", 800, kind="plan", interval="month")
    make_product("Tote bag", 1800, stock=25)
    make_product("Gift a month", 800)
    make_product("The printed annual", 2500, stock=40)
    html = client.get("/shop").get_data(as_text=True)

    assert html.count("<h1>") == 1 and "<h1>Shop</h1>" in html
    plans = _section(html, "Subscriptions</h2>")
    items = _section(html, "One-off purchases</h2>")
    names = re.findall(r'class="product-name"[^>]*>([^<]+)</h3>', html)
    assert names == [
        "Supporter, monthly",
        "Supporter, yearly",
        "Gift a month",
        "The printed annual",
        "Tote bag",
    ]
    assert '$8.00</strong> <span class="per">per month' in plans
    assert '$80.00</strong> <span class="per">per year' in plans
    assert "$18.00" in _card(html, "Tote bag")
    # Stock is only mentioned when low.
    assert "left" not in _card(html, "Tote bag") and "left" not in _card(html, "Gift a month")
    assert 'name="quantity"' not in plans  # a plan is always one
    assert 'name="quantity"' in items


def test_each_product_has_an_add_to_cart_form(client):
    plan = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    tote = make_product("Tote bag", 1800, stock=25)
    html = client.get("/shop").get_data(as_text=True)
    for product in (plan, tote):
        card = _card(html, product.name)
        assert 'action="/cart/add"' in card
        assert f'name="product_id" value="{product.id}"' in card
        assert 'name="csrf_token"' in card
        assert ">Add to cart</button>" in card
    # Every quantity input has its own label.
    assert f'<label for="quantity-{tote.id}">Quantity</label>' in html
    assert f'id="quantity-{tote.id}" name="quantity" value="1" min="1" max="25"' in html


def test_low_stock_and_sold_out(client):
    make_product("Tote bag", 1800, stock=3)
    make_product("Mug", 1200, stock=0)
    html = client.get("/shop").get_data(as_text=True)
    tote, mug = _card(html, "Tote bag"), _card(html, "Mug")
    assert "3 left" in tote and "disabled" not in tote
    assert "Sold out" in mug
    assert re.search(r"<button[^>]*disabled[^>]*>Add to cart</button>", mug)
    assert 'name="quantity"' not in mug


def test_the_shop_leaves_out_what_cannot_be_bought(client):
    make_product("Tote bag", 1800)
    make_product("Old mug", 1200, active=False)
    ProductFactory(name="Unpriced poster")
    make_product("Euro scarf", 2000, currency="eur")
    html = client.get("/shop").get_data(as_text=True)
    assert "Tote bag" in html
    for name in ("Old mug", "Unpriced poster", "Euro scarf"):
        assert name not in html


def test_an_empty_shop_says_so(client):
    html = client.get("/shop").get_data(as_text=True)
    assert "Nothing is on sale just now." in html


def test_the_main_navigation_links_to_the_shop(client):
    html = client.get("/").get_data(as_text=True)
    assert '<a href="/shop">Shop</a>' in html


# --- the cart widget -----------------------------------------------------------------

PAGES = ["/", "/shop", "/cart", "/login", "/register", "/articles/glaciers", "/no-such-page"]


def test_the_widget_says_empty_on_every_page(client):
    ArticleFactory(title="Glaciers")
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        assert "Your cart is currently empty!" in html, path
        assert 'class="cart-widget"' in html, path


def test_the_widget_shows_count_and_subtotal_on_every_page(client, shopper):
    ArticleFactory(title="Glaciers")
    tote = make_product("Tote bag", 1800)
    plan = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    shopper.add(tote.id, 2)
    shopper.add(plan.id)
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        start = html.index('class="cart-widget"')
        widget = html[start : html.index("</a>", start)]
        assert "Your cart is currently empty!" not in widget, path
        assert 'href="/cart">Cart: 3 items · <span class="cart-subtotal">' in widget, path
        assert "$44.00" in widget, path


def test_the_widget_says_one_item(client, shopper):
    gift = make_product("Gift a month", 800)
    shopper.add(gift.id)
    html = client.get("/").get_data(as_text=True)
    assert 'href="/cart">Cart: 1 item · <span class="cart-subtotal">$8.00</span></a>' in html


def test_the_widget_never_creates_a_cart(client, auth, reader):
    from shop.cart.models import Cart

    client.get("/")
    auth.login("reader@example.org")
    client.get("/")
    client.get("/shop")
    assert db.session.scalar(select(func.count()).select_from(Cart)) == 0


def test_the_widget_costs_no_query_without_a_cookie(app, client):
    from sqlalchemy import event

    statements = []

    def count(*args):
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        client.get("/login")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert not any("carts" in sql for sql in statements), statements


# --- money -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1200, "usd", "$12.00"),
        (1200, "eur", "€12.00"),
        (1200, "gbp", "£12.00"),
        (1200, "chf", "CHF\N{NO-BREAK SPACE}12.00"),  # CLDR: the code first, kept on its line
        (5, "usd", "$0.05"),
        (0, "usd", "$0.00"),
        (123456789, "usd", "$1,234,567.89"),
        (1250, "USD", "$12.50"),
        (None, "usd", ""),
    ],
)
def test_the_money_filter(app, amount, currency, text):
    money = app.jinja_env.filters["money"]
    assert money(amount, currency) == text


def test_the_money_filter_defaults_to_the_shops_currency(app):
    app.config["CURRENCY"] = "gbp"
    assert app.jinja_env.from_string("{{ 800|money }}").render() == "£8.00"


# --- the paywall's offer, and the demo shop ------------------------------------------


def test_plans_on_sale_put_monthly_first_then_the_cheapest(app):
    assert services.plans_on_sale() == []
    make_product("Supporter, yearly", 8000, kind="plan", interval="year")
    assert [p.name for p in services.plans_on_sale()] == ["Supporter, yearly"]
    make_product("Patron, monthly", 2000, kind="plan", interval="month")
    make_product("Supporter, monthly", 800, kind="plan", interval="month")
    make_product("Hidden, monthly", 100, kind="plan", interval="month", active=False)
    make_product("Tote bag", 100)
    assert [p.name for p in services.plans_on_sale()] == [
        "Supporter, monthly",
        "Patron, monthly",
        "Supporter, yearly",
    ]


def test_prices_trials_and_yearly_savings_in_words(app):
    monthly = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    yearly = make_product("Supporter, yearly", 8000, kind="plan", interval="year")
    odd = make_product("Odd, yearly", 9550, kind="plan", interval="year")
    dear = make_product("Dear, yearly", 9600, kind="plan", interval="year")
    tote = make_product("Tote bag", 1850)
    assert services.price_words(monthly.price) == "$8 a month"
    assert services.price_words(odd.price) == "$95.50 a year"
    assert services.price_words(tote.price) == "$18.50"

    assert services.trial_words(monthly) is None
    monthly.trial_days = 14
    assert services.trial_words(monthly) == "14 days free, then $8 a month"
    assert services.trial_words(monthly, 1) == "1 day free, then $8 a month"
    assert services.trial_words(tote, 14) is None  # one-off items have no trial

    assert services.yearly_saving(yearly, monthly) == 1600  # 12 x $8 - $80
    assert services.yearly_saving(odd, monthly) == 50
    assert services.yearly_saving(dear, monthly) is None  # saves nothing
    assert services.yearly_saving(monthly, monthly) is None
    assert services.yearly_saving(yearly, None) is None

    app.config["CURRENCY"] = "chf"
    swiss = make_product("Franken, monthly", 800, kind="plan", interval="month", currency="chf")
    assert services.price_words(swiss.price) == "CHF\xa08 a month"
    assert services.yearly_saving(yearly, swiss) is None  # another currency


def test_the_demo_catalogue_loads_once(app, client):
    from shop.demo.catalogue import PRODUCTS, load_catalogue

    assert load_catalogue() == len(PRODUCTS) == 4
    assert load_catalogue() == 0
    products = {p.slug: p for p in db.session.scalars(select(Product))}
    assert set(products) == {
        "supporter-monthly",
        "supporter-yearly",
        "the-printed-annual",
        "tote-bag",
    }
    monthly = products["supporter-monthly"]
    assert monthly.is_plan and monthly.stock is None
    assert (monthly.price.amount, monthly.price.interval, monthly.price.currency) == (
        800,
        "month",
        "usd",
    )
    assert products["supporter-yearly"].price.amount == 8000
    assert products["tote-bag"].stock == 25 and products["the-printed-annual"].stock == 40
    assert db.session.scalar(select(func.count()).select_from(Price)) == 4
    html = client.get("/shop").get_data(as_text=True)
    assert "$8.00" in html and "$80.00" in html and "$25.00" in html


def test_the_demo_sells_gifts_through_the_gift_form_not_a_one_off_item(app, client):
    """An earlier demo's "Gift a month" (a one-off item whose mailed code nothing sent) goes
    off sale; gifts are given through /gifts/new, which delivers them."""
    from shop.demo.catalogue import load_catalogue

    make_product("Gift a month", 800)
    assert "Gift a month" in client.get("/shop").get_data(as_text=True)

    load_catalogue()
    html = client.get("/shop").get_data(as_text=True)
    assert "Gift a month" not in html
    assert 'href="/gifts/new">Give a subscription</a>' in html
    assert "Tote bag" in html

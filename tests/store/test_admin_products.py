"""The back office's product pages: who may use them, saving, prices, errors, the push hook."""

from __future__ import annotations

import html as htmllib
import logging
import re

import pytest
from sqlalchemy import select

from shop.catalogue.models import Price, Product
from shop.extensions import db
from tests.factories import make_product
from tests.support import csrf_token


def _product(slug: str) -> Product | None:
    db.session.expire_all()
    return db.session.scalar(select(Product).where(Product.slug == slug))


def _prices(product: Product) -> list[tuple[int, str | None, bool]]:
    rows = db.session.scalars(
        select(Price).where(Price.product_id == product.id).order_by(Price.id)
    )
    return [(p.amount, p.interval, p.active) for p in rows]


def _form(client, path: str, **fields) -> dict:
    """The form's CSRF token and the given fields; ``active`` only when truthy."""
    data = {"csrf_token": csrf_token(client, path)}
    for key, value in fields.items():
        if value is None or value is False:
            continue
        data[key] = "y" if value is True else str(value)
    return data


ITEM = {
    "name": "Tote bag",
    "description": "Heavy cotton.",
    "kind": "item",
    "active": True,
    "stock": "25",
    "amount": "18.50",
    "interval": "",
}
PLAN = {
    "name": "Supporter, monthly",
    "description": "Every story.",
    "kind": "plan",
    "active": True,
    "stock": "",
    "amount": "8",
    "interval": "month",
}

# What turns ITEM into a plan.
AS_PLAN = {"kind": "plan", "stock": "", "interval": "month"}


@pytest.fixture
def editor(client, auth, admin):
    """An admin, logged in through the real form."""
    auth.login("editor@example.org")
    return admin


# --- who may --------------------------------------------------------------------------


def test_readers_get_403(client, auth, reader):
    product = make_product("Tote bag", 1800)
    auth.login("reader@example.org")
    token = csrf_token(client, "/account/password")
    for path in ("/admin/products", "/admin/products/new", f"/admin/products/{product.id}"):
        assert client.get(path).status_code == 403, path
    for path in ("/admin/products/new", f"/admin/products/{product.id}"):
        data = {**ITEM, "active": "y", "name": "Hacked", "csrf_token": token}
        response = client.post(path, data=data)
        assert response.status_code == 403, path
    assert _product("hacked") is None
    assert _product("tote-bag").name == "Tote bag"


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/admin/products")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_the_back_office_nav_links_to_products(client, editor):
    html = client.get("/admin/products").get_data(as_text=True)
    assert '<a href="/admin/products" aria-current="page">Products</a>' in html
    assert html.count("<h1>") == 1


# --- creating -------------------------------------------------------------------------


def test_admin_creates_an_item(app, client, editor):
    data = _form(client, "/admin/products/new", **ITEM)
    response = client.post("/admin/products/new", data=data)
    product = _product("tote-bag")
    assert product is not None
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/products/{product.id}"
    assert (product.name, product.kind, product.stock, product.active) == (
        "Tote bag",
        "item",
        25,
        True,
    )
    assert product.description == "Heavy cotton."
    assert _prices(product) == [(1850, None, True)]
    assert product.price.currency == "usd"
    page = client.get(f"/admin/products/{product.id}").get_data(as_text=True)
    assert "Saved." in page and 'value="18.50"' in page

    listing = client.get("/admin/products").get_data(as_text=True)
    assert "Tote bag" in listing and "$18.50" in listing and "25" in listing
    assert "Tote bag" in client.get("/shop").get_data(as_text=True)


def test_admin_creates_a_plan_in_the_shops_currency(app, client, editor):
    app.config["CURRENCY"] = "eur"
    client.post("/admin/products/new", data=_form(client, "/admin/products/new", **PLAN))
    product = _product("supporter-monthly")
    assert product.is_plan and product.stock is None
    assert [(p.amount, p.interval, p.currency) for p in product.prices] == [(800, "month", "eur")]
    assert "€8.00" in client.get("/admin/products").get_data(as_text=True)


def test_a_plan_gets_a_free_trial_and_loses_it(client, editor):
    path = "/admin/products/new"
    client.post(path, data=_form(client, path, **{**PLAN, "trial_days": "14"}))
    product = _product("supporter-monthly")
    assert product.trial_days == 14
    edit = f"/admin/products/{product.id}"
    page = client.get(edit).get_data(as_text=True)
    assert 'name="trial_days"' in page and 'value="14"' in page
    client.post(edit, data=_form(client, edit, **{**PLAN, "trial_days": "730"}))
    assert _product("supporter-monthly").trial_days == 730
    client.post(edit, data=_form(client, edit, **{**PLAN, "trial_days": "0"}))
    assert _product("supporter-monthly").trial_days is None  # 0 is no trial
    client.post(edit, data=_form(client, edit, **{**PLAN, "trial_days": "7"}))
    client.post(edit, data=_form(client, edit, **{**PLAN, "trial_days": ""}))
    assert _product("supporter-monthly").trial_days is None


def test_the_trial_rule_in_the_service(app):
    from shop.catalogue.admin import ProductInput, save_product
    from shop.catalogue.services import CatalogueError

    plan = {"name": "Plan", "kind": "plan", "amount": 800, "interval": "month"}
    for days in (0, 731, -3, True, 1.5):
        if days == 0:
            assert save_product(ProductInput(**plan, trial_days=days)).trial_days is None
            continue
        with pytest.raises(CatalogueError) as caught:
            save_product(ProductInput(**{**plan, "name": f"Plan {days}"}, trial_days=days))
        assert caught.value.field == "trial_days"
    with pytest.raises(CatalogueError, match="Only plans have free trials"):
        save_product(ProductInput(name="Tote", amount=100, trial_days=14))


def test_an_inactive_product_is_saved_but_not_shown(client, editor):
    data = _form(client, "/admin/products/new", **{**ITEM, "active": False})
    client.post("/admin/products/new", data=data)
    assert _product("tote-bag").active is False
    assert "Tote bag" not in client.get("/shop").get_data(as_text=True)


def test_a_name_in_use_gets_a_new_slug(client, editor):
    make_product("Tote bag", 1800)
    client.post("/admin/products/new", data=_form(client, "/admin/products/new", **ITEM))
    assert _product("tote-bag-2") is not None


# --- editing and prices ----------------------------------------------------------------


def test_a_new_amount_makes_a_new_price_and_retires_the_old(client, editor):
    product = make_product("Tote bag", 1800, stock=25)
    old_price_id = product.price.id
    path = f"/admin/products/{product.id}"
    html = client.get(path).get_data(as_text=True)
    assert 'value="18.00"' in html and 'value="25"' in html

    client.post(path, data=_form(client, path, **{**ITEM, "amount": "21"}))
    product = _product("tote-bag")
    assert _prices(product) == [(1800, None, False), (2100, None, True)]
    assert product.price.amount == 2100
    # The old row stays, for the orders that used it.
    assert db.session.get(Price, old_price_id).active is False
    assert "$21.00" in client.get("/shop").get_data(as_text=True)
    html = client.get(path).get_data(as_text=True)
    assert "Price history" in html and "retired" in html


def test_an_unchanged_price_adds_no_row(client, editor):
    product = make_product("Tote bag", 1850, stock=25)
    path = f"/admin/products/{product.id}"
    client.post(path, data=_form(client, path, **{**ITEM, "stock": "7", "name": "Tote"}))
    product = _product("tote-bag")  # the slug stays put
    assert product.name == "Tote" and product.stock == 7
    assert _prices(product) == [(1850, None, True)]


def test_a_new_interval_makes_a_new_price(client, editor):
    product = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    path = f"/admin/products/{product.id}"
    client.post(path, data=_form(client, path, **{**PLAN, "interval": "year"}))
    assert _prices(_product("supporter-monthly")) == [(800, "month", False), (800, "year", True)]


def test_the_kind_cannot_change(client, editor):
    product = make_product("Tote bag", 1800)
    path = f"/admin/products/{product.id}"
    response = client.post(path, data=_form(client, path, **{**PLAN, "name": "Tote bag"}))
    assert response.status_code == 200
    html = htmllib.unescape(response.get_data(as_text=True))
    assert "A product cannot change between plan and one-off item" in html
    product = _product("tote-bag")
    assert product.kind == "item" and _prices(product) == [(1800, None, True)]


def test_an_unknown_product_is_404(client, editor):
    assert client.get("/admin/products/999999").status_code == 404


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "Give the product a name."),
        ({"name": "!!!"}, "name", "Use at least one letter or digit in the name."),
        ({"name": "x" * 121}, "name", "Field cannot be longer than 120 characters."),
        ({"amount": ""}, "amount", "Give the product a price (0 for free)."),
        ({"amount": "abc"}, "amount", "Write the price as a number such as 12 or 12.50."),
        ({"amount": "12.345"}, "amount", "Write the price as a number such as 12 or 12.50."),
        ({"amount": "-5"}, "amount", "Write the price as a number such as 12 or 12.50."),
        ({"amount": "1,000"}, "amount", "Write the price as a number such as 12 or 12.50."),
        ({"amount": "1000000.01"}, "amount", "That price is too high: at most $1,000,000.00."),
        ({"stock": "-1"}, "stock", "Stock cannot be negative."),
        ({"stock": "lots"}, "stock", "Enter a whole number"),
        ({"stock": "1000001"}, "stock", "Stock is a whole number from 0 to 1,000,000"),
        ({"interval": "month"}, "interval", "One-off items have no billing interval"),
        ({"interval": "week"}, "interval", "Not a valid choice."),
        ({"kind": "gift"}, "kind", "Not a valid choice."),
        ({"kind": "plan", "stock": "5", "interval": "month"}, "stock", "Plans have no stock"),
        ({"kind": "plan", "stock": ""}, "interval", "Choose how often the plan bills"),
        ({"trial_days": "14"}, "trial_days", "Only plans have free trials"),
        (
            {**AS_PLAN, "trial_days": "731"},
            "trial_days",
            "A free trial is a whole number of days from 1 to 730 (Stripe's limit)",
        ),
        ({**AS_PLAN, "trial_days": "-1"}, "trial_days", "Enter a whole number"),
        ({**AS_PLAN, "trial_days": "two weeks"}, "trial_days", "Enter a whole number"),
        ({**AS_PLAN, "trial_days": "1e3"}, "trial_days", "Enter a whole number"),
    ],
)
def test_errors_are_shown_by_their_field_and_the_input_kept(
    client, editor, changes, field, message
):
    fields = {**ITEM, "description": "Typed with care.", **changes}
    response = client.post(
        "/admin/products/new", data=_form(client, "/admin/products/new", **fields)
    )
    assert response.status_code == 200
    html = htmllib.unescape(response.get_data(as_text=True))
    error = re.search(rf'<p class="error"( id="{field}-error")?>([^<]*)</p>', html)
    assert error is not None, html[html.find("<form") :]
    assert message in error.group(2)
    assert "Typed with care." in html  # what was typed stays
    assert db.session.scalar(select(Product)) is None


def test_a_zero_price_and_unlimited_stock_are_fine(client, editor):
    data = _form(client, "/admin/products/new", **{**ITEM, "amount": "0", "stock": ""})
    client.post("/admin/products/new", data=data)
    product = _product("tote-bag")
    assert product.stock is None and _prices(product) == [(0, None, True)]


def test_the_highest_price_is_accepted(client, editor):
    data = _form(client, "/admin/products/new", **{**ITEM, "amount": "1000000.00"})
    client.post("/admin/products/new", data=data)
    assert _prices(_product("tote-bag")) == [(100_000_000, None, True)]


# --- the catalogue push hook --------------------------------------------------------------


def test_the_push_hook_gets_the_saved_product(app, client, editor, monkeypatch):
    pushed = []
    monkeypatch.setitem(app.extensions, "catalogue_push", lambda p: pushed.append(p.slug))
    client.post("/admin/products/new", data=_form(client, "/admin/products/new", **ITEM))
    product = _product("tote-bag")
    path = f"/admin/products/{product.id}"
    client.post(path, data=_form(client, path, **{**ITEM, "amount": "20"}))
    assert pushed == ["tote-bag", "tote-bag"]


def test_a_failing_push_keeps_the_save_and_says_so(app, client, editor, monkeypatch, caplog):
    def broken(product):
        raise RuntimeError("Stripe is down")

    monkeypatch.setitem(app.extensions, "catalogue_push", broken)
    with caplog.at_level(logging.ERROR):
        response = client.post(
            "/admin/products/new",
            data=_form(client, "/admin/products/new", **ITEM),
            follow_redirects=True,
        )
    assert response.status_code == 200
    html = htmllib.unescape(response.get_data(as_text=True))
    assert (
        "Saved here, but Stripe could not be updated: Stripe is down. "
        "Run `flask --app wsgi stripe sync` later." in html
    )
    assert _product("tote-bag") is not None
    assert "Could not push product" in caplog.text


def test_no_push_hook_is_fine(app, client, editor, monkeypatch):
    monkeypatch.delitem(app.extensions, "catalogue_push", raising=False)
    response = client.post(
        "/admin/products/new",
        data=_form(client, "/admin/products/new", **ITEM),
        follow_redirects=True,
    )
    assert "Saved." in response.get_data(as_text=True)


def test_the_list_says_which_plans_have_a_trial_and_which_items_are_posted(client, editor):
    plan = make_product("Supporter", 800, kind="plan", interval="month")
    plan.trial_days = 14
    make_product("Tote bag", 1800, needs_shipping=True)
    make_product("E-book", 500)
    db.session.commit()
    html = client.get("/admin/products").get_data(as_text=True)
    assert "<td>Plan, 14-day free trial</td>" in html
    assert "<td>Item, posted</td>" in html
    assert "<td>Item</td>" in html

"""flask stripe sync and the admin's save hook push the catalogue to Stripe."""

from __future__ import annotations

from shop.catalogue import admin as catalogue_admin
from shop.catalogue.models import Price, Product
from shop.extensions import db
from tests.factories import make_product


def test_stripe_sync_pushes_products_and_prices(app, runner, emulator_server):
    plan = make_product("Supporter", 800, kind="plan", interval="month")
    item = make_product("Tote bag", 1800, stock=4)
    result = runner.invoke(args=["stripe", "sync"])
    assert result.exit_code == 0, result.output
    assert "Pushed 2 products" in result.output
    db.session.expire_all()
    for product in (plan, item):
        product = db.session.get(Product, product.id)
        remote = emulator_server.emulator.get(product.stripe_product_id)
        assert remote["name"] == product.name
        price = emulator_server.emulator.get(product.price.stripe_price_id)
        assert price["unit_amount"] == product.price.amount
    assert emulator_server.emulator.get(plan.price.stripe_price_id)["recurring"]["interval"] == (
        "month"
    )


def test_a_changed_amount_is_a_new_stripe_price_and_the_old_one_retires(
    app, runner, emulator_server
):
    item = make_product("Tote bag", 1800)
    runner.invoke(args=["stripe", "sync"])
    old = db.session.get(Product, item.id).price.stripe_price_id
    catalogue_admin.save_product(
        catalogue_admin.ProductInput(name="Tote bag", kind="item", amount=2000),
        db.session.get(Product, item.id),
    )
    runner.invoke(args=["stripe", "sync"])
    db.session.expire_all()
    product = db.session.get(Product, item.id)
    assert product.price.amount == 2000 and product.price.stripe_price_id != old
    assert emulator_server.emulator.get(old)["active"] is False
    assert db.session.query(Price).filter_by(product_id=item.id).count() == 2


def test_stripe_sync_without_a_key_says_so(app, runner):
    app.config["STRIPE_SECRET_KEY"] = ""
    result = runner.invoke(args=["stripe", "sync"])
    assert result.exit_code != 0
    assert "STRIPE_SECRET_KEY is not set" in result.output

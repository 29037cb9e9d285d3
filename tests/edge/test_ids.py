"""Ids and numbers from outside are range-checked: a clear error, never a database 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shop.articles.models import Article
from shop.billing.models import Payment
from shop.cart.models import Order
from shop.catalogue.models import Product
from shop.extensions import db
from shop.newsletters.models import Newsletter
from tests.factories import TagFactory, make_product
from tests.newsletter.helpers import preference_of
from tests.support import AuthActions, csrf_token

# Past a 64-bit integer, negative, a float that overflows, and an Arabic-Indic digit
# (int() would read "٣" as 3).
BAD_NUMBERS = ["9223372036854775808", "-1", "1e9999", "\u0663"]
ARABIC_DIGITS = str.maketrans(
    "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("raw", [*BAD_NUMBERS, "", "0", " 7", "+7", "1_000", "\u00b2", True])
def test_the_helper_refuses_what_is_not_a_row_id(raw):
    from shop.forms import parse_row_id, row_id

    assert parse_row_id(raw) is None
    with pytest.raises(ValueError, match="Not a valid id"):
        row_id(raw)


def test_the_helper_takes_ascii_digits_within_a_column():
    from shop.forms import MAX_ROW_ID, parse_row_id, parse_whole_number, row_id

    assert parse_row_id("1") == 1
    assert parse_row_id(str(MAX_ROW_ID)) == MAX_ROW_ID
    assert parse_row_id(str(MAX_ROW_ID + 1)) is None
    assert parse_whole_number("0") == 0
    assert parse_whole_number("-1") is None
    assert parse_whole_number("-1", minimum=-5) == -1
    assert row_id(42) == 42


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_preferences_refuse_a_bad_topic_id_and_keep_what_was_saved(client, auth, reader, bad):
    TagFactory(name="Climate")
    auth.login(reader.email)
    response = auth.post(
        "/account/preferences",
        {"tag_ids": bad, "frequency": "weekly", "weekday": "0", "paused_until": ""},
        token_from="/account/preferences",
    )
    assert response.status_code == 200
    assert "could not be coerced" in response.get_data(as_text=True)
    pref = preference_of(reader.email)
    assert pref.frequency == "off" and pref.tags == []


@pytest.mark.parametrize("bad", ["9223372036854775808", "1e9999", "\u0663"])
def test_preferences_refuse_a_bad_weekday(client, auth, reader, bad):
    auth.login(reader.email)
    response = auth.post(
        "/account/preferences",
        {"stories": "all", "frequency": "weekly", "weekday": bad, "paused_until": ""},
        token_from="/account/preferences",
    )
    assert response.status_code == 200
    assert "could not coerce" in response.get_data(as_text=True)
    assert preference_of(reader.email).frequency == "off"


def test_a_weekday_out_of_range_gets_the_services_message(client, auth, reader):
    auth.login(reader.email)
    response = auth.post(
        "/account/preferences",
        {"stories": "all", "frequency": "weekly", "weekday": "-1", "paused_until": ""},
        token_from="/account/preferences",
    )
    assert "Choose a day of the week" in response.get_data(as_text=True)


@pytest.fixture
def office(app, admin):
    """A client of its own, logged in as the admin."""
    client = app.test_client()
    AuthActions(client).login(admin.email)
    return client


def admin_post(office, path: str, data: dict):
    return office.post(path, data={**data, "csrf_token": csrf_token(office, path)})


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_a_newsletter_refuses_a_bad_tag_id(office, bad):
    TagFactory(name="Climate")
    response = admin_post(
        office,
        "/admin/newsletters/new",
        {"subject": "Hello", "body_markdown": "Text", "audience": "tags", "tag_ids": bad},
    )
    assert response.status_code == 200
    assert "could not be coerced" in response.get_data(as_text=True)
    assert count(Newsletter) == 0


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_an_article_refuses_a_bad_tag_id(office, bad):
    TagFactory(name="Climate")
    response = admin_post(
        office,
        "/admin/articles/new",
        {"title": "A story", "body_markdown": "Text", "access": "public", "tag_ids": bad},
    )
    assert response.status_code == 200
    assert count(Article) == 0


def test_an_article_does_not_read_arabic_digits_as_a_tag_id(office):
    tag = TagFactory(name="Climate")
    response = admin_post(
        office,
        "/admin/articles/new",
        {
            "title": "A story",
            "body_markdown": "Text",
            "access": "public",
            "tag_ids": str(tag.id).translate(ARABIC_DIGITS),
        },
    )
    assert response.status_code == 200
    assert count(Article) == 0


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_a_product_refuses_a_bad_stock(office, bad):
    response = admin_post(
        office,
        "/admin/products/new",
        {"name": "Mug", "kind": "item", "amount": "12", "interval": "", "stock": bad},
    )
    assert response.status_code == 200
    assert "Enter a whole number from 0 to" in response.get_data(as_text=True) or (
        bad == "-1" and "Stock cannot be negative" in response.get_data(as_text=True)
    )
    assert count(Product) == 0


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_a_refund_refuses_a_bad_payment_id(office, reader, bad):
    order = Order(
        user_id=reader.id, status="paid", mode="payment", currency="usd", total=1800, cart_version=1
    )
    db.session.add(order)
    db.session.commit()
    db.session.add(Payment(user_id=reader.id, order_id=order.id, amount=1800, currency="usd"))
    db.session.commit()
    path = f"/admin/orders/{order.id}/refund"
    token = csrf_token(office, f"/admin/orders/{order.id}")
    response = office.post(path, data={"payment_id": bad, "action": "full", "csrf_token": token})
    assert response.status_code == 302
    page = office.get(response.headers["Location"]).get_data(as_text=True)
    assert "Choose a payment of this order to refund." in page


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_coming_back_from_checkout_with_a_bad_order_id_is_not_an_error(client, auth, reader, bad):
    auth.login(reader.email)
    response = client.get("/checkout/cancel", query_string={"order": bad})
    # The cancel page or the cart: the reader is told the cart is intact, not "error".
    assert response.status_code in (200, 302)
    assert "Something went wrong" not in response.get_data(as_text=True)


@pytest.mark.parametrize("bad", [*BAD_NUMBERS, "99999999999999999999"])
def test_odd_page_numbers_are_404s(client, bad):
    assert client.get("/", query_string={"page": bad}).status_code == 404
    assert client.get("/newsletters", query_string={"page": bad}).status_code == 404


def test_a_product_keeps_a_good_stock(office):
    make_product("Existing", 500)
    response = admin_post(
        office,
        "/admin/products/new",
        {"name": "Mug", "kind": "item", "amount": "12", "interval": "", "stock": "25"},
    )
    assert response.status_code == 302
    assert db.session.scalar(select(Product.stock).where(Product.name == "Mug")) == 25

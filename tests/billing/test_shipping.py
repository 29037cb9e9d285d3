"""Posted goods: the address and rate Checkout collects, the order that keeps them, the
receipt, the back office's shipping queue and rates, and the orders CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.audit.models import AuditEntry
from shop.billing.checkout import PLAN_AND_POSTED
from shop.billing.models import Payment
from shop.cart.models import Order, OrderLine
from shop.catalogue.models import Product
from shop.clock import utcnow
from shop.config import ConfigError, load_settings, shipping_countries
from shop.extensions import db
from shop.shipping import services as shipping
from shop.shipping.models import Shipment, ShippingRate
from tests.billing.conftest import order_for, synced
from tests.factories import UserFactory, make_product
from tests.support import AuthActions, csrf_token, text_of

ADDRESS = {
    "name": "Nina Reader",
    "line1": "14 Harbour Row",
    "line2": "Flat 2",
    "city": "Whitby",
    "state": "North Yorkshire",
    "postal_code": "YO21 3PU",
    "country": "GB",
}


@pytest.fixture
def office(app, admin):
    """A client of its own, logged in as the admin."""
    client = app.test_client()
    AuthActions(client).login("editor@example.org")
    return client


def _flashes(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<p class="flash flash-(\w+)">([^<]*)</p>', page)


def _rate(name: str, amount: int, active: bool = True) -> ShippingRate:
    rate = ShippingRate(name=name, amount=amount, currency="usd", active=active)
    db.session.add(rate)
    db.session.commit()
    return rate


def _posted_order(user, *, paid_days_ago: int = 1, status: str = "paid", **address) -> Order:
    """A paid order of one posted item with its shipment, written straight to the database."""
    paid = utcnow() - timedelta(days=paid_days_ago)
    order = Order(
        user_id=user.id,
        status=status,
        mode="payment",
        currency="usd",
        total=2150,
        cart_version=1,
        created_at=paid,
        paid_at=paid,
        lines=[OrderLine(name="Tote bag", unit_amount=1800, quantity=1)],
    )
    db.session.add(order)
    db.session.flush()
    fields = {**ADDRESS, **address}
    db.session.add(Shipment(order_id=order.id, rate_name="Standard post", amount=350, **fields))
    db.session.commit()
    return order


# --- the setting -------------------------------------------------------------------------


def test_shipping_countries_are_read_as_codes_stripe_takes():
    assert shipping_countries(None) == ("US", "CA", "GB", "IE", "AU", "NZ")
    assert shipping_countries(" gb, FR ,gb,") == ("GB", "FR")
    for bad, words in [
        ("UK", "the United Kingdom is GB"),
        ("XX", "not a two-letter country code"),
        ("GBR", "not a two-letter country code"),
        ("AS", "cannot collect addresses in AS"),
        (" , ", "names no country"),
    ]:
        with pytest.raises(ConfigError, match=words):
            shipping_countries(bad)
    with pytest.raises(ConfigError, match="SHIPPING_COUNTRIES"):
        load_settings("/nonexistent", {"SHIPPING_COUNTRIES": "GB,Narnia"})


# --- what checkout asks Stripe for ---------------------------------------------------------


def test_checkout_offers_the_cheapest_five_rates_on_offer_in_the_allowed_countries(app):
    app.config["SHIPPING_COUNTRIES"] = ("GB", "IE")
    assert shipping.checkout_fields() == {
        "shipping_address_collection": {"allowed_countries": ["GB", "IE"]}
    }
    for name, amount in [("Courier", 1500), ("Standard", 350), ("Tracked", 695)]:
        _rate(name, amount)
    _rate("Retired", 100, active=False)
    for n in range(3):
        _rate(f"Extra {n}", 2000 + n)
    fields = shipping.checkout_fields()
    options = [o["shipping_rate_data"] for o in fields["shipping_options"]]
    assert [o["display_name"] for o in options] == [
        "Standard",
        "Tracked",
        "Courier",
        "Extra 0",
        "Extra 1",
    ]
    assert options[0]["fixed_amount"] == {"amount": 350, "currency": "usd"}
    assert options[0]["type"] == "fixed_amount"


# --- the back office: rates -------------------------------------------------------------------


def test_an_admin_adds_a_rate_and_stops_offering_it(office):
    token = csrf_token(office, "/admin/shipping")
    page = office.post(
        "/admin/shipping/rates",
        data={"name": "  Standard   post ", "amount": "$3.50", "csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert ("success", "Added “Standard post” at $3.50.") in _flashes(page)
    rate = db.session.scalar(select(ShippingRate))
    assert (rate.name, rate.amount, rate.currency, rate.active) == (
        "Standard post",
        350,
        "usd",
        True,
    )
    assert "Standard post" in page and "$3.50" in page

    office.post(f"/admin/shipping/rates/{rate.id}", data={"active": "0", "csrf_token": token})
    db.session.refresh(rate)
    assert rate.active is False
    assert shipping.active_rates() == []
    summaries = db.session.scalars(select(AuditEntry.summary)).all()
    assert "Added shipping rate Standard post ($3.50)" in summaries
    assert "Shipping rate Standard post no longer offered" in summaries


@pytest.mark.parametrize(
    ("name", "amount", "words"),
    [
        ("", "3.50", "Name the rate"),
        ("x" * 81, "3.50", "under 80 characters"),
        ("Post", "three", "Write the postage as a number"),
        ("Post", "-1", "Postage is from $0.00"),
        ("Post", "20000", "Postage is from $0.00 to $10,000.00"),
    ],
)
def test_a_bad_rate_is_refused_in_words_and_nothing_is_saved(office, name, amount, words):
    token = csrf_token(office, "/admin/shipping")
    response = office.post(
        "/admin/shipping/rates",
        data={"name": name, "amount": amount, "csrf_token": token},
        follow_redirects=True,
    )
    assert response.status_code == 200
    (flash,) = _flashes(response.get_data(as_text=True))
    assert flash[0] == "error" and words in flash[1]
    assert db.session.scalar(select(func.count()).select_from(ShippingRate)) == 0


def test_an_unknown_rate_or_list_is_a_clear_refusal(office):
    token = csrf_token(office, "/admin/shipping")
    page = office.post(
        "/admin/shipping/rates/999",
        data={"active": "1", "csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert ("error", "There is no such shipping rate.") in _flashes(page)
    response = office.get("/admin/shipping?show=everything")
    assert response.status_code == 404
    assert "“to-ship” or “shipped”" in response.get_data(as_text=True)


# --- the back office: the queue ----------------------------------------------------------


def test_the_queue_lists_the_longest_waiting_first_and_flags_what_needs_a_look(office, reader):
    newer = _posted_order(reader, paid_days_ago=1)
    older = _posted_order(reader, paid_days_ago=5)
    no_address = _posted_order(reader, paid_days_ago=3, line1="", city="", postal_code="")
    elsewhere = _posted_order(reader, paid_days_ago=2, country="FR")
    _posted_order(reader, paid_days_ago=4, status="refunded")

    page = office.get("/admin/shipping").get_data(as_text=True)
    order_ids = [int(i) for i in re.findall(r'<section class="shipment" id="order-(\d+)"', page)]
    assert order_ids == [older.id, no_address.id, elsewhere.id, newer.id]
    assert "To ship (4)" in page
    assert (
        "14 Harbour Row<br>Flat 2<br>Whitby North Yorkshire<br>YO21 3PU<br>United Kingdom" in page
    )
    section = page.split(f'id="order-{no_address.id}"')[1].split("</section>")[0]
    assert "No address collected" in section
    section = page.split(f'id="order-{elsewhere.id}"')[1].split("</section>")[0]
    assert "Not a country you post to" in section and "France" in section


def test_marking_an_order_posted_mails_the_reader_the_tracking_number(office, reader, mailbox):
    order = _posted_order(reader)
    token = csrf_token(office, "/admin/shipping")
    page = office.post(
        f"/admin/shipping/{order.id}/ship",
        data={"tracking_number": "  RM 4821  7730 GB ", "csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert (
        "success",
        f"Order {order.id}: marked as posted, and the reader was emailed.",
    ) in _flashes(page)
    shipment = shipping.shipment_for(order.id)
    assert shipment.shipped_at is not None
    assert shipment.tracking_number == "RM 4821 7730 GB"
    assert "Nothing is waiting to be posted." in page

    message = mailbox.last_to("reader@example.org")
    assert message["Subject"] == f"Your order {order.id} from Broadsheet is on its way"
    body = text_of(message)
    assert "Tracking number (Standard post): RM 4821 7730 GB" in body
    assert "14 Harbour Row" in body and "United Kingdom" in body
    html_part = message.get_body(preferencelist=("html",)).get_content()
    assert "RM 4821 7730 GB" in html_part

    shipped_page = office.get("/admin/shipping?show=shipped").get_data(as_text=True)
    assert f'id="order-{order.id}"' in shipped_page
    assert 'value="RM 4821 7730 GB"' in shipped_page
    assert "Save and email the reader again" in shipped_page

    # A corrected number: saved, the reader told again, the posting date kept.
    posted_at = shipment.shipped_at
    office.post(
        f"/admin/shipping/{order.id}/ship",
        data={"tracking_number": "RM 4821 7731 GB", "csrf_token": token, "show": "shipped"},
    )
    db.session.refresh(shipment)
    assert shipment.tracking_number == "RM 4821 7731 GB" and shipment.shipped_at == posted_at
    assert "RM 4821 7731 GB" in text_of(mailbox.last_to("reader@example.org"))
    assert len(mailbox.to("reader@example.org")) == 2
    summaries = db.session.scalars(select(AuditEntry.summary).order_by(AuditEntry.id)).all()
    assert summaries[-2:] == [
        f"Marked as posted: order {order.id}, tracking RM 4821 7730 GB",
        f"Tracking updated: order {order.id}, tracking RM 4821 7731 GB",
    ]


def test_an_order_can_be_posted_without_a_tracking_number(office, reader, mailbox):
    order = _posted_order(reader)
    token = csrf_token(office, "/admin/shipping")
    office.post(f"/admin/shipping/{order.id}/ship", data={"csrf_token": token})
    shipment = shipping.shipment_for(order.id)
    assert shipment.shipped_at is not None and shipment.tracking_number is None
    body = text_of(mailbox.last_to("reader@example.org"))
    assert "Sent by Standard post." in body and "Tracking number" not in body


@pytest.mark.parametrize(
    ("tracking", "words"),
    [
        ("<script>alert(1)</script>", "letters, digits, spaces"),
        ("x" * 101, "under 100 characters"),
        ("=HYPERLINK(1)", "letters, digits, spaces"),
    ],
)
def test_a_bad_tracking_number_is_refused_and_nothing_is_posted(
    office, reader, mailbox, tracking, words
):
    order = _posted_order(reader)
    token = csrf_token(office, "/admin/shipping")
    page = office.post(
        f"/admin/shipping/{order.id}/ship",
        data={"tracking_number": tracking, "csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    ((kind, text),) = _flashes(page)
    assert kind == "error" and words in text
    assert shipping.shipment_for(order.id).shipped_at is None
    assert mailbox.to("reader@example.org") == []


def test_refunded_unpaid_or_unposted_orders_cannot_be_marked_posted(office, reader, mailbox):
    refunded = _posted_order(reader, status="refunded")
    plain = Order(
        user_id=reader.id, status="paid", mode="payment", currency="usd", total=800, cart_version=1
    )
    db.session.add(plain)
    db.session.commit()
    token = csrf_token(office, "/admin/shipping")
    for order_id, words in [
        (refunded.id, "not paid (or was refunded in full)"),
        (plain.id, "has nothing to post"),
        (999_999, "has nothing to post"),
    ]:
        page = office.post(
            f"/admin/shipping/{order_id}/ship", data={"csrf_token": token}, follow_redirects=True
        ).get_data(as_text=True)
        ((kind, text),) = _flashes(page)
        assert kind == "error" and words in text, (order_id, text)
    assert shipping.shipment_for(refunded.id).shipped_at is None
    assert mailbox.to("reader@example.org") == []


def test_the_order_page_shows_where_it_goes(office, reader):
    order = _posted_order(reader)
    page = office.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert '<h2 id="shipping-heading">Shipping</h2>' in page
    assert "14 Harbour Row" in page and "Standard post: $3.50" in page
    assert "Not yet:" in page


# --- the orders CSV ---------------------------------------------------------------------------


def test_the_orders_csv_carries_the_address_and_amounts_in_units(office, reader):
    order = _posted_order(reader)
    shipping.mark_shipped(order.id, "RM 1 GB")
    text = office.get("/admin/orders.csv").get_data(as_text=True)
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert (row["total"], row["amount_refunded"], row["shipping_amount"]) == (
        "21.50",
        "0.00",
        "3.50",
    )
    assert row["shipping_rate"] == "Standard post"
    assert [row[f"ship_to_{k}"] for k in ADDRESS] == list(ADDRESS.values())
    assert row["tracking_number"] == "RM 1 GB" and row["shipped_at"]


# --- products ------------------------------------------------------------------------------


def test_only_one_off_items_can_be_posted(office):
    token = csrf_token(office, "/admin/products/new")
    base = {"csrf_token": token, "description": "", "active": "y", "needs_shipping": "y"}
    page = office.post(
        "/admin/products/new",
        data={**base, "name": "Supporter", "kind": "plan", "amount": "8", "interval": "month"},
    ).get_data(as_text=True)
    assert "Plans are not posted: only one-off items can be." in page
    office.post(
        "/admin/products/new",
        data={**base, "name": "Tote bag", "kind": "item", "amount": "18", "interval": ""},
    )
    product = db.session.scalar(select(Product))
    assert (product.name, product.needs_shipping) == ("Tote bag", True)
    shop = office.get("/shop").get_data(as_text=True)
    assert "Posted to you: postage is added at checkout." in shop


# --- through Stripe Checkout (the emulator) -----------------------------------------------


@pytest.fixture
def posted(app, emulator):
    """A posted tote bag, a plan, and two rates, in Stripe."""
    _rate("Standard post", 350)
    _rate("Tracked", 695)
    return {
        "tote": synced(make_product("Tote bag", 1800, stock=5, needs_shipping=True)),
        "plan": synced(make_product("Supporter", 800, kind="plan", interval="month")),
    }


def test_a_posted_order_keeps_its_address_and_rate_and_the_receipt_shows_them(
    shopper, posted, emulator, mailbox
):
    shopper.add(posted["tote"], 2)
    session_id = shopper.session_id(shopper.checkout())
    session = emulator.get(session_id)
    assert session["shipping_address_collection"] == {
        "allowed_countries": ["US", "CA", "GB", "IE", "AU", "NZ"]
    }
    assert [o["shipping_amount"] for o in session["shipping_options"]] == [350, 695]

    emulator.pay(session_id, shipping=ADDRESS, shipping_rate=1)
    order = order_for(session_id)
    assert order.status == "paid"
    assert order.total == 2 * 1800 + 695
    shipment = shipping.shipment_for(order.id)
    assert {k: getattr(shipment, k) for k in ADDRESS} == ADDRESS
    assert (shipment.rate_name, shipment.amount, shipment.shipped_at) == ("Tracked", 695, None)
    payment = db.session.scalar(select(Payment))
    assert payment.amount == 2 * 1800 + 695

    body = text_of(mailbox.last_to("reader@example.org")).replace("\r\n", "\n")
    assert "- Postage: Tracked: $6.95" in body and "Total: $42.95" in body
    assert "We will post it to:\nNina Reader\n14 Harbour Row\nFlat 2" in body
    assert "United Kingdom" in body


def test_a_country_not_allowed_is_refused_at_checkout_and_nothing_is_paid(
    shopper, posted, emulator
):
    from stripe_emulator.errors import EmulatorError

    shopper.add(posted["tote"])
    session_id = shopper.session_id(shopper.checkout())
    with pytest.raises(EmulatorError, match="does not ship to France"):
        emulator.pay(session_id, shipping={**ADDRESS, "country": "FR"})
    assert order_for(session_id).status == "pending"
    assert shipping.shipment_for(order_for(session_id).id) is None


def test_a_plan_and_a_posted_item_check_out_separately(client, shopper, posted):
    shopper.add(posted["tote"])
    shopper.add(posted["plan"])
    response = shopper.checkout()
    assert response.status_code == 302 and response.headers["Location"].endswith("/cart")
    page = client.get("/cart").get_data(as_text=True)
    assert PLAN_AND_POSTED.replace("'", "&#39;") in page
    assert "Tote bag" in page and "Supporter" in page
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_an_item_that_is_not_posted_asks_for_no_address(shopper, posted, emulator):
    plain = synced(make_product("Printed annual (PDF)", 900))
    shopper.add(plain)
    session = emulator.get(shopper.session_id(shopper.checkout()))
    assert session["shipping_address_collection"] is None
    assert session["shipping_options"] == []


def test_someone_elses_reader_sees_no_shipping_page(app, reader):
    other = UserFactory(email="nosy@example.org")
    client = app.test_client()
    AuthActions(client).login(other.email)
    assert client.get("/admin/shipping").status_code in (403, 404)

"""The back office's orders: the list, one order, refunds through Stripe, the CSV export."""

from __future__ import annotations

import contextvars
import csv
import io
import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from shop.audit.models import AuditEntry
from shop.billing import gateway, refunds
from shop.billing.models import Payment, Subscription
from shop.cart.models import Order, OrderLine
from shop.clock import utcnow
from shop.extensions import db
from shop.reports import orders as order_service
from tests.billing.conftest import Shopper, order_for, synced
from tests.factories import UserFactory, make_product
from tests.support import CSRF, WEBHOOK_SECRET, AuthActions, csrf_token, use_emulator

ORDER_LINK = re.compile(r">Order (\d+)</a>")


@pytest.fixture
def app_config(app_config, emulator_server):
    """Point the app at the emulator, which starts each test empty."""
    return use_emulator(app_config, emulator_server)


@pytest.fixture
def emulator(emulator_server, live_server):
    """The emulator, delivering signed webhooks to the live app."""
    emulator_server.configure_webhook(live_server + "/webhooks/stripe", WEBHOOK_SECRET)
    yield emulator_server.emulator
    emulator_server.emulator.wait_for_deliveries(timeout=5)
    emulator_server.configure_webhook(None, None)


@pytest.fixture
def office(app, admin):
    """A client of its own, logged in as the admin."""
    client = app.test_client()
    AuthActions(client).login("editor@example.org")
    return client


@pytest.fixture
def shopper(client, auth, reader):
    """The confirmed reader, logged in, shopping through the real routes."""
    auth.login("reader@example.org")
    return Shopper(client, auth)


def _order(
    user, status="paid", age=timedelta(days=1), total=1800, lines=(("Tote bag", 1),), **values
):
    """An order written straight to the database, ``age`` old, with its lines."""
    created = utcnow() - age
    order = Order(
        user_id=user.id,
        status=status,
        mode=values.pop("mode", "payment"),
        currency="usd",
        total=total,
        cart_version=1,
        created_at=created,
        paid_at=created if status in ("paid", "partially_refunded", "refunded") else None,
        lines=[
            OrderLine(name=name, unit_amount=total // quantity, quantity=quantity)
            for name, quantity in lines
        ],
        **values,
    )
    db.session.add(order)
    db.session.commit()
    return order


def _payment(order, amount=None, **values) -> Payment:
    payment = Payment(
        user_id=order.user_id,
        order_id=order.id,
        amount=order.total if amount is None else amount,
        currency=order.currency,
        **values,
    )
    db.session.add(payment)
    db.session.commit()
    return payment


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return [int(i) for i in ORDER_LINK.findall(response.get_data(as_text=True))]


def _flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash flash-(\w+)">([^<]*)</p>', html)


def _audit_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


# --- the list --------------------------------------------------------------------------


@pytest.fixture
def mixed_orders(app):
    """Orders in every state, some needing attention, named by what they show."""
    ann = UserFactory(email="ann@example.org")
    bob = UserFactory(email="bob@example.org")
    o = {}
    o["paid_old"] = _order(ann, "paid", timedelta(days=3))
    _payment(o["paid_old"], stripe_payment_intent_id="pi_paid_old")
    o["stuck"] = _order(ann, "pending", timedelta(hours=2), stripe_checkout_session_id="cs_stuck")
    o["fresh_pending"] = _order(bob, "pending", timedelta(minutes=10))
    o["failed_recent"] = _order(
        bob, "failed", timedelta(days=2), closed_at=utcnow() - timedelta(days=1)
    )
    o["failed_old"] = _order(
        bob, "failed", timedelta(days=40), closed_at=utcnow() - timedelta(days=39)
    )
    o["past_due"] = _order(
        ann, "paid", timedelta(days=20), mode="subscription", stripe_subscription_id="sub_behind"
    )
    sub = Subscription(
        user_id=ann.id,
        stripe_subscription_id="sub_behind",
        stripe_customer_id="cus_ann",
        status="past_due",
    )
    db.session.add(sub)
    db.session.commit()
    _payment(
        o["past_due"],
        subscription_id=sub.id,
        stripe_invoice_id="in_first",
        stripe_payment_intent_id="pi_first_invoice",
    )
    o["no_payment"] = _order(bob, "paid", timedelta(hours=5))
    o["part_refunded"] = _order(ann, "partially_refunded", timedelta(days=4), amount_refunded=500)
    _payment(o["part_refunded"], amount_refunded=500, status="partially_refunded")
    o["abandoned"] = _order(bob, "abandoned", timedelta(minutes=1))
    o["paid_new"] = _order(bob, "paid", timedelta(minutes=5), stripe_payment_intent_id="pi_new_one")
    _payment(o["paid_new"], stripe_payment_intent_id="pi_new_one")
    return {name: order.id for name, order in o.items()}


def test_orders_needing_attention_come_first_then_newest(office, mixed_orders):
    o = mixed_orders
    attention = ["stuck", "no_payment", "failed_recent", "part_refunded", "past_due"]
    rest = ["abandoned", "paid_new", "fresh_pending", "paid_old", "failed_old"]
    assert _ids(office.get("/admin/orders")) == [o[name] for name in attention + rest]

    html = office.get("/admin/orders").get_data(as_text=True)
    for label in order_service.ATTENTION_LABELS.values():
        assert label in html
    assert "5 orders need attention" in html

    assert _ids(office.get("/admin/orders?attention=1")) == [o[name] for name in attention]
    assert _ids(office.get("/admin/orders?attention=0")) == [o[n] for n in attention + rest]


def test_the_list_filters_by_status(office, mixed_orders):
    o = mixed_orders
    paid = office.get("/admin/orders?status=paid")
    assert _ids(paid) == [o["no_payment"], o["past_due"], o["paid_new"], o["paid_old"]]
    assert _ids(office.get("/admin/orders?status=failed&attention=1")) == [o["failed_recent"]]
    assert _ids(office.get("/admin/orders?status=refunded")) == []
    assert "No orders match." in office.get("/admin/orders?status=refunded").get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "bob@",
            ["no_payment", "failed_recent", "abandoned", "paid_new", "fresh_pending", "failed_old"],
        ),
        ("ANN@EXAMPLE", ["stuck", "part_refunded", "past_due", "paid_old"]),
        ("cs_stuck", ["stuck"]),
        ("pi_new_one", ["paid_new"]),
        ("sub_behind", ["past_due"]),
        ("pi_first_invoice", ["past_due"]),  # a subscription's PaymentIntent, on its payment
        ("%", []),  # a LIKE wildcard is searched for, not obeyed
        ("nobody", []),
    ],
)
def test_the_list_searches_emails_ids_and_stripe_ids(office, mixed_orders, query, expected):
    response = office.get("/admin/orders", query_string={"q": query})
    assert _ids(response) == [mixed_orders[name] for name in expected]


def test_the_list_searches_order_numbers(office, mixed_orders):
    number = mixed_orders["paid_old"]
    assert number in _ids(office.get(f"/admin/orders?q={number}"))
    assert number in _ids(office.get("/admin/orders", query_string={"q": f"#{number}"}))


def test_the_list_pages(office, app, monkeypatch):
    monkeypatch.setattr(order_service, "PER_PAGE", 2)
    user = UserFactory()
    made = [_order(user, "paid", timedelta(hours=5 - i)).id for i in range(5)]
    for order_id in made:
        db.session.add(Payment(order_id=order_id, user_id=user.id, amount=1800, currency="usd"))
    db.session.commit()
    newest_first = list(reversed(made))
    assert _ids(office.get("/admin/orders")) == newest_first[:2]
    assert _ids(office.get("/admin/orders?page=3")) == newest_first[4:]
    html = office.get("/admin/orders?page=2&status=paid").get_data(as_text=True)
    assert "Page 2 of 3" in html
    assert 'href="/admin/orders?page=3&amp;status=paid"' in html
    assert office.get("/admin/orders?page=4").status_code == 404


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/admin/orders?status=bogus", "There is no such order status"),
        ("/admin/orders?status=PAID", "There is no such order status"),
        ("/admin/orders?attention=yes", "The attention filter takes 1"),
        ("/admin/orders?page=0", "There is no such page"),
        ("/admin/orders?page=-1", "There is no such page"),
        ("/admin/orders?page=abc", "There is no such page"),
        ("/admin/orders?page=%C2%B2", "There is no such page"),
        ("/admin/orders?page=2", "There is no such page"),
        ("/admin/orders?page=99999999999999999999999", "There is no such page"),
        ("/admin/orders?q=" + "x" * 201, "Search for at most 200 characters"),
        ("/admin/orders.csv?status=bogus", "There is no such order status"),
        ("/admin/orders.csv?attention=2", "The attention filter takes 1"),
        ("/admin/orders/999999", "There is no such order"),
    ],
)
def test_bad_filters_pages_and_ids_are_404_with_a_reason(office, path, message):
    response = office.get(path)
    assert response.status_code == 404
    assert message in response.get_data(as_text=True)


def test_unknown_routes_and_ids_are_404(office):
    assert office.get("/admin/orders/abc").status_code == 404
    assert office.get("/admin/orders/0").status_code == 404
    token = csrf_token(office, "/admin/orders")
    response = office.post("/admin/orders/999999/refund", data={"csrf_token": token})
    assert response.status_code == 404


def test_the_list_does_not_query_per_row(office, app):
    def count_queries(path: str) -> int:
        seen = []

        def record(*args):
            seen.append(args[2])

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert office.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return len(seen)

    users = [UserFactory() for _ in range(3)]
    for user in users:
        _order(user, "paid", lines=(("Tote bag", 1), ("Annual", 2)))
    few = count_queries("/admin/orders")
    for i in range(20):
        order = _order(users[i % 3], "pending", timedelta(hours=i), lines=(("Mug", 3),))
        _payment(order)
    assert count_queries("/admin/orders") == few
    detail_id = order.id
    few_detail = count_queries(f"/admin/orders/{detail_id}")
    for _ in range(5):
        _payment(order, amount=100)
    assert count_queries(f"/admin/orders/{detail_id}") == few_detail


# --- one order -------------------------------------------------------------------------


def test_the_order_page_shows_lines_totals_payments_and_stripe_ids(office, app):
    ann = UserFactory(email="ann@example.org")
    order = _order(
        ann,
        "partially_refunded",
        total=4300,
        lines=(("Tote bag", 1), ("Printed annual", 2)),
        amount_refunded=500,
        stripe_checkout_session_id="cs_test_" + "a" * 50,
        stripe_payment_intent_id="pi_3Abcdefghijklmnop",
    )
    order.lines[0].unit_amount, order.lines[1].unit_amount = 1800, 1250
    db.session.commit()
    _payment(
        order,
        amount_refunded=500,
        status="partially_refunded",
        stripe_payment_intent_id="pi_3Abcdefghijklmnop",
    )
    html = office.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert "ann@example.org" in html
    assert "Tote bag" in html and "Printed annual" in html
    assert "$12.50" in html and "$25.00" in html  # unit price and amount of the second line
    assert "$43.00" in html  # the total
    assert "$5.00" in html  # refunded so far
    assert "cs_test_" + "a" * 50 in html  # the full id, here
    assert "pi_3Abcdefghijklmnop" in html
    assert "Up to $38.00 is left to refund" in html
    assert "Refund in full ($38.00)" in html
    assert "Partly refunded" in html

    listing = office.get("/admin/orders").get_data(as_text=True)
    assert f'title="cs_test_{"a" * 50}"' in listing  # shortened, the full value in its title
    assert "Tote bag × 1; Printed annual × 2" in listing


def test_an_unpaid_order_has_no_refund_form(office, app):
    order = _order(UserFactory(), "pending", timedelta(minutes=5))
    html = office.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert "No payment is recorded" in html
    assert "Refund in full" not in html


# --- refunds through the emulator --------------------------------------------------------


def _bought_tote(shopper, emulator) -> Order:
    """The reader buys an $18.00 tote bag and pays; the webhook marks the order paid."""
    shopper.add(synced(make_product("Tote bag", 1800)))
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id)
    order = order_for(session_id)
    assert order.status == "paid"
    return order


def _refund(office, order_id: int, payment_id: int, **data):
    """Press a refund button on the order's page, like the admin would."""
    page = office.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    token = CSRF.search(page).group(1)
    attempt = re.search(r'name="attempt" value="([^"]+)"', page)
    form = {"csrf_token": token, "payment_id": payment_id, "action": "amount", **data}
    if attempt and "attempt" not in data:
        form["attempt"] = attempt.group(1)
    return office.post(f"/admin/orders/{order_id}/refund", data=form)


def _settled(payment_id: int) -> tuple[str, int, str, int]:
    db.session.expire_all()
    payment = db.session.get(Payment, payment_id)
    order = db.session.get(Order, payment.order_id)
    return payment.status, payment.amount_refunded, order.status, order.amount_refunded


def test_a_partial_then_a_full_refund_are_settled_by_the_webhook(office, shopper, emulator, admin):
    order = _bought_tote(shopper, emulator)
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    audit_before = _audit_count()

    response = _refund(office, order.id, payment.id, amount="5.00")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/orders/{order.id}"
    assert _settled(payment.id) == ("partially_refunded", 500, "partially_refunded", 500)
    html = office.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert ("success", "Refund of $5.00 requested; Stripe will confirm it.") in _flashes(html)
    assert "Up to $13.00 is left to refund" in html
    assert "Refund in full ($13.00)" in html

    entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert _audit_count() == audit_before + 1
    assert entry.summary == f"Refunded $5.00 of order {order.id}"
    assert entry.target == f"order {order.id}"

    response = _refund(office, order.id, payment.id, action="full")
    assert response.status_code == 302
    assert _settled(payment.id) == ("refunded", 1800, "refunded", 1800)
    html = office.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert ("success", "Refund of $13.00 requested; Stripe will confirm it.") in _flashes(html)
    assert "Refund in full" not in html  # nothing left to refund
    assert "$18.00" in html

    refunds = [e for e in emulator.events() if e["type"] == "charge.refunded"]
    assert len(refunds) == 2


def test_the_same_refund_form_sent_twice_refunds_once(office, shopper, emulator):
    order = _bought_tote(shopper, emulator)
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    page = office.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    form = {
        "csrf_token": CSRF.search(page).group(1),
        "attempt": re.search(r'name="attempt" value="([^"]+)"', page).group(1),
        "payment_id": payment.id,
        "amount": "5.00",
        "action": "amount",
    }
    for _ in range(2):
        assert office.post(f"/admin/orders/{order.id}/refund", data=form).status_code == 302
    assert _settled(payment.id)[:2] == ("partially_refunded", 500)
    assert len([e for e in emulator.events() if e["type"] == "charge.refunded"]) == 1


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("50.00", "At most $18.00 is left to refund on this payment."),
        ("18.01", "At most $18.00 is left to refund on this payment."),
        ("0", "The amount to refund must be more than zero."),
        ("-5", "The amount to refund must be more than zero."),
        ("5.001", "Use at most two decimal places"),
        ("five", "Write the amount to refund as a number"),
        ("1e3", "Write the amount to refund as a number"),
        ("", "Write the amount to refund as a number"),
    ],
)
def test_bad_refund_amounts_are_refused_and_change_nothing(
    office, shopper, emulator, amount, message
):
    order = _bought_tote(shopper, emulator)
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    audit_before = _audit_count()
    response = _refund(office, order.id, payment.id, amount=amount)
    assert response.status_code == 302
    flashes = _flashes(office.get(f"/admin/orders/{order.id}").get_data(as_text=True))
    assert [category for category, _ in flashes] == ["error"]
    assert message in flashes[0][1]
    assert _settled(payment.id) == ("paid", 0, "paid", 0)
    assert not [e for e in emulator.events() if e["type"] == "charge.refunded"]
    assert _audit_count() == audit_before  # a refused action is not logged


def test_refunding_an_unpaid_order_or_another_orders_payment_is_refused(office, shopper, emulator):
    paid = _bought_tote(shopper, emulator)
    payment = db.session.scalar(select(Payment).where(Payment.order_id == paid.id))
    unpaid = _order(UserFactory(), "pending", timedelta(minutes=5))

    # Another order's payment, through this order's form.
    response = _refund(office, unpaid.id, payment.id, amount="1.00")
    assert response.status_code == 302
    flashes = _flashes(office.get(f"/admin/orders/{unpaid.id}").get_data(as_text=True))
    assert flashes == [("error", "That payment is not part of this order.")]

    # A payment recorded on an order that is not paid (it should not happen; if it does,
    # the order's state wins).
    odd = _payment(unpaid, stripe_payment_intent_id="pi_odd")
    _refund(office, unpaid.id, odd.id, action="full")
    flashes = _flashes(office.get(f"/admin/orders/{unpaid.id}").get_data(as_text=True))
    assert flashes == [("error", f"Order {unpaid.id} is not paid, so there is nothing to refund.")]
    assert _settled(payment.id) == ("paid", 0, "paid", 0)
    assert not [e for e in emulator.events() if e["type"] == "charge.refunded"]


def test_a_refund_stripe_refuses_shows_its_reason_and_changes_nothing(
    office, shopper, emulator, emulator_server
):
    order = _bought_tote(shopper, emulator)
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    # Refunded in Stripe's dashboard while its webhook is lost: this side still says paid.
    emulator_server.configure_webhook(None, None)
    gateway.refund(payment.stripe_payment_intent_id)
    audit_before = _audit_count()

    response = _refund(office, order.id, payment.id, amount="5.00")
    assert response.status_code == 302
    flashes = _flashes(office.get(f"/admin/orders/{order.id}").get_data(as_text=True))
    assert len(flashes) == 1 and flashes[0][0] == "error"
    assert flashes[0][1].startswith("Stripe refused the refund:")
    assert "already been refunded" in flashes[0][1]
    assert _settled(payment.id) == ("paid", 0, "paid", 0)
    assert _audit_count() == audit_before


def test_a_refund_when_stripe_is_unreachable_is_an_error_not_a_500(office, app, monkeypatch):
    order = _order(UserFactory(), "paid")
    payment = _payment(order, stripe_payment_intent_id="pi_unreachable")
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", "http://127.0.0.1:9")
    response = _refund(office, order.id, payment.id, action="full")
    assert response.status_code == 302
    flashes = _flashes(office.get(f"/admin/orders/{order.id}").get_data(as_text=True))
    assert flashes == [
        (
            "error",
            "Stripe did not answer, so the refund is not confirmed. "
            "Check the payment in Stripe before trying again.",
        )
    ]
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).amount_refunded == 0


def test_refund_rules_in_the_service(app, admin):
    order = _order(UserFactory(), "paid")
    payment = _payment(order, stripe_payment_intent_id="pi_rules")
    for amount in (0, -1, 1801, True):
        with pytest.raises(refunds.BillingError):
            refunds.refund_payment(payment, amount, admin)
    no_intent = _payment(_order(UserFactory(), "paid"))
    with pytest.raises(refunds.BillingError, match="no Stripe PaymentIntent"):
        refunds.refund_payment(no_intent, None, admin)
    payment.status = "refunded"
    with pytest.raises(refunds.BillingError, match="already been refunded"):
        refunds.refund_payment(payment, None, admin)
    assert refunds.parse_refund_amount("£5") == 500
    assert refunds.parse_refund_amount(" 12.5 ") == 1250
    assert refunds.parse_refund_amount("0.01") == 1
    assert refunds.parse_refund_amount("5.000") == 500


# --- who may see and do it -------------------------------------------------------------


@pytest.fixture
def order_ids(app):
    order = _order(UserFactory(email="someone@example.org"), "paid")
    payment = _payment(order, stripe_payment_intent_id="pi_guarded")
    return order.id, payment.id


def _routes(order_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/admin/orders"),
        ("GET", "/admin/orders?status=paid&q=someone"),
        ("GET", "/admin/orders.csv"),
        ("GET", f"/admin/orders/{order_id}"),
        ("POST", f"/admin/orders/{order_id}/refund"),
    ]


def test_anonymous_visitors_are_sent_to_login(client, order_ids):
    order_id, payment_id = order_ids
    token = csrf_token(client, "/login")
    for method, path in _routes(order_id):
        data = {"csrf_token": token, "payment_id": payment_id, "action": "full"}
        response = client.open(path, method=method, data=data if method == "POST" else None)
        assert response.status_code == 302, (method, path)
        assert response.headers["Location"].startswith("/login?next="), (method, path)


def test_readers_get_403_and_refund_nothing(client, auth, reader, order_ids):
    order_id, payment_id = order_ids
    auth.login("reader@example.org")
    token = csrf_token(client, "/account/password")
    for method, path in _routes(order_id):
        data = {"csrf_token": token, "payment_id": payment_id, "action": "full"}
        response = client.open(path, method=method, data=data if method == "POST" else None)
        assert response.status_code == 403, (method, path)
        assert "someone@example.org" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Payment, payment_id).amount_refunded == 0


def test_a_refund_needs_a_csrf_token(office, order_ids):
    order_id, payment_id = order_ids
    response = office.post(
        f"/admin/orders/{order_id}/refund", data={"payment_id": payment_id, "action": "full"}
    )
    assert response.status_code == 400


# --- export ------------------------------------------------------------------------------


def _download(client, path: str):
    """GET a streamed download and read all of it in one fresh context, as a server does.

    The suite's client sends each request from a context of its own; a streamed body
    read later, outside it, could not pop the request context it carries.
    """

    def run():
        response = FlaskClient.open(client, path)
        response.was_streamed = response.is_streamed  # reading it buffers it
        try:
            return response, response.get_data(as_text=True)
        finally:
            response.close()

    return contextvars.Context().run(run)


def _csv(client, path: str) -> list[dict[str, str]]:
    response, text = _download(client, path)
    assert response.status_code == 200, text[:500]
    return list(csv.DictReader(io.StringIO(text)))


def test_the_export_is_a_streamed_csv_safe_to_open(office, app):
    evil = UserFactory(email="=cmd|'/c calc'!A1@example.org")
    order = _order(
        evil,
        "paid",
        total=1800,
        lines=(('=HYPERLINK("http://evil.example")', 1), ("Tote bag", 2)),
        amount_refunded=250,
        stripe_checkout_session_id="cs_export",
        stripe_payment_intent_id="pi_export",
    )
    _payment(order, amount_refunded=250)
    response, text = _download(office, "/admin/orders.csv")
    assert response.was_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="orders-')
    assert response.headers["Cache-Control"] == "private, no-store"

    assert text.splitlines()[0] == ",".join(order_service.EXPORT_HEADER)
    (row,) = _csv(office, "/admin/orders.csv")
    assert row["email"] == "'=cmd|'/c calc'!A1@example.org"
    assert row["lines"] == '\'=HYPERLINK("http://evil.example") × 1; Tote bag × 2'
    assert row["order_id"] == str(order.id)
    # In dollars, as a spreadsheet adds them up, not in cents.
    assert (row["total"], row["currency"], row["amount_refunded"]) == ("18.00", "usd", "2.50")
    assert row["stripe_checkout_session_id"] == "cs_export"
    assert row["stripe_payment_intent_id"] == "pi_export"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["created_at"])
    # Numbers are bare in the file, not quoted text.
    assert f"\r\n{order.id},'=cmd" in text.replace('"', "")
    assert ",18.00,usd,2.50," in text


def test_the_export_follows_the_filters_and_reads_in_batches(office, mixed_orders, monkeypatch):
    monkeypatch.setattr(order_service, "EXPORT_BATCH", 3)
    everything = _csv(office, "/admin/orders.csv")
    listed = _ids(office.get("/admin/orders"))
    assert [int(row["order_id"]) for row in everything] == listed
    assert all(row["lines"] == "Tote bag × 1" for row in everything)

    failed = _csv(office, "/admin/orders.csv?status=failed")
    assert [int(row["order_id"]) for row in failed] == [
        mixed_orders["failed_recent"],
        mixed_orders["failed_old"],
    ]
    attention = _csv(office, "/admin/orders.csv?attention=1&q=bob")
    assert [int(row["order_id"]) for row in attention] == [
        mixed_orders["no_payment"],
        mixed_orders["failed_recent"],
    ]

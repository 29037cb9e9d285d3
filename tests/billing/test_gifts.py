"""Gift subscriptions end to end: bought as a one-off, mailed on their day, redeemed once
for paid access with no card, reminded before the end, revoked by a refund."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shop import scheduler
from shop.accounts.models import User
from shop.billing import gift_mail, gifts, refunds
from shop.billing.access import has_paid_access
from shop.billing.models import Gift, GiftStatus, Payment
from shop.clock import utcnow
from shop.extensions import db
from tests.billing.conftest import order_for, synced
from tests.factories import ArticleFactory, UserFactory, make_product
from tests.support import csrf_token, link_in, path_of, text_of

CSRF_VALUE = re.compile(r'(?<=name="csrf_token" type="hidden" value=")[^"]+')
REDEEM = "/gifts/redeem/"


@pytest.fixture
def plans(app, emulator):
    """A monthly and a yearly plan, in Stripe."""
    return {
        "month": synced(make_product("Supporter, monthly", 800, kind="plan", interval="month")),
        "year": synced(make_product("Supporter, yearly", 8000, kind="plan", interval="year")),
    }


def _give(client, plan, **fields):
    data = {
        "product_id": str(plan.id),
        "giver_name": "Nina Reader",
        "recipient_name": "Grace Hopper",
        "recipient_email": "grace@example.org",
        "message": "Happy birthday! Read the climate desk.",
        "send_on": gifts.local_today().isoformat(),
        "csrf_token": csrf_token(client, "/gifts/new"),
        **fields,
    }
    return client.post("/gifts/new", data=data)


def _session_id(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    return re.search(r"/c/pay/(cs_\w+)", response.headers["Location"]).group(1)


def _gift() -> Gift:
    db.session.expire_all()
    return db.session.scalar(select(Gift))


def _press(client, path):
    token = CSRF_VALUE.search(client.get(path).get_data(as_text=True)).group(0)
    return client.post(path, data={"csrf_token": token})


def test_a_gift_is_paid_once_mailed_on_its_day_and_redeemed_for_a_year(
    app, client, shopper, plans, emulator, mailbox
):
    session_id = _session_id(_give(client, plans["year"]))
    session = emulator.get(session_id)
    assert session["mode"] == "payment" and session["amount_total"] == 8000
    assert _gift().status == GiftStatus.PENDING
    emulator.pay(session_id)

    gift = _gift()
    assert gift.status == GiftStatus.SCHEDULED and gift.months == 12
    order = order_for(session_id)
    assert order.status == "paid"
    assert db.session.scalar(select(Payment.amount).where(Payment.order_id == order.id)) == 8000
    receipt = text_of(mailbox.last_to("reader@example.org"))
    assert "Your gift of a year of Broadsheet goes to Grace Hopper (grace@example.org)" in receipt

    # The tick on its day mails the recipient; a second tick mails nothing more.
    assert scheduler.tick().gifts_sent == 1
    assert scheduler.tick().gifts_sent == 0
    (message,) = mailbox.to("grace@example.org")
    assert message["Subject"] == "Nina Reader gave you a year of Broadsheet"
    body = text_of(message)
    assert "Happy birthday! Read the climate desk." in body and "nothing renews" in body
    path = path_of(link_in(message, REDEEM))

    # Opening the link redeems nothing; the button does, once.
    visitor = app.test_client()
    page = visitor.get(path).get_data(as_text=True)
    assert "gave you a year of Broadsheet" in page and _gift().status == GiftStatus.SENT
    response = _press(visitor, path)
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
    gift = _gift()
    assert gift.status == GiftStatus.REDEEMED
    grace = db.session.scalar(select(User).where(User.email == "grace@example.org"))
    assert grace.display_name == "Grace Hopper" and not grace.has_password and grace.is_confirmed
    assert gift.redeemed_by_id == grace.id
    assert gift.access_until - utcnow() > timedelta(days=364)
    assert has_paid_access(grace)
    account = visitor.get("/account").get_data(as_text=True)
    assert "gift from Nina Reader, until" in account and "Subscribe before it ends" in account

    ArticleFactory(title="Behind the wall", access="paid", body_markdown="The paid paragraph.")
    assert "The paid paragraph." in visitor.get("/articles/behind-the-wall").get_data(as_text=True)

    again = visitor.get(path)
    assert again.status_code == 410 and "already been redeemed" in again.get_data(as_text=True)


def test_a_gift_for_a_later_day_waits_for_it(client, shopper, plans, emulator, mailbox):
    later = gifts.local_today() + timedelta(days=3)
    emulator.pay(_session_id(_give(client, plans["month"], send_on=later.isoformat())))
    assert gift_mail.send_due_gifts(gifts.local_today()) == 0
    assert mailbox.to("grace@example.org") == []
    assert gift_mail.send_due_gifts(later) == 1
    assert _gift().status == GiftStatus.SENT


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"recipient_name": ""}, "Write the recipient's name"),
        ({"recipient_name": "grace@example.org"}, "Write the recipient's name"),
        ({"recipient_email": "not an address"}, "Invalid email address."),
        ({"message": "x" * 501}, "under 500 characters"),
        ({"send_on": "2001-01-01"}, "Choose today or a later day"),
        ({"product_id": "999999"}, "Choose a plan to give."),
        ({"giver_name": ""}, "Write your name as they will see it"),
    ],
)
def test_a_gift_form_with_bad_input_is_refused_in_words(
    client, shopper, plans, emulator, fields, words
):
    response = _give(client, plans["year"], **fields)
    assert response.status_code == 400
    assert words in html.unescape(response.get_data(as_text=True))
    assert db.session.scalar(select(func.count()).select_from(Gift)) == 0


def test_a_gift_a_year_ahead_or_more_is_refused(client, shopper, plans, emulator):
    too_late = gifts.local_today() + timedelta(days=gifts.MAX_DAYS_AHEAD + 1)
    response = _give(client, plans["year"], send_on=too_late.isoformat())
    assert "at most a year from today" in response.get_data(as_text=True)


def test_a_gift_for_a_reader_who_already_pays_is_refused(client, shopper, plans, emulator):
    payer = UserFactory(email="payer@example.org")
    from shop.billing.models import Subscription

    db.session.add(
        Subscription(
            user_id=payer.id,
            stripe_subscription_id="sub_payer",
            stripe_customer_id="cus_payer",
            status="active",
            current_period_end=utcnow() + timedelta(days=20),
        )
    )
    db.session.commit()
    response = _give(client, plans["year"], recipient_email="Payer@Example.org")
    assert response.status_code == 400
    assert "already has a subscription" in response.get_data(as_text=True)


def test_a_refund_before_redeeming_revokes_the_gift(
    app, client, shopper, plans, emulator, mailbox, admin
):
    session_id = _session_id(_give(client, plans["year"]))
    emulator.pay(session_id)
    scheduler.tick()
    path = path_of(link_in(mailbox.last_to("grace@example.org"), REDEEM))
    order = order_for(session_id)
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    # The admin refunds it in full; Stripe's charge.refunded webhook settles it.
    refunds.refund_payment(payment, None, admin, attempt="gift-refund")
    assert _gift().status == GiftStatus.REVOKED
    page = app.test_client().get(path)
    assert page.status_code == 410 and "cancelled by the person who gave it" in page.get_data(
        as_text=True
    )


def test_a_reminder_goes_a_week_before_a_gift_ends_once(
    app, client, shopper, plans, emulator, mailbox
):
    emulator.pay(_session_id(_give(client, plans["month"])))
    scheduler.tick()
    _press(app.test_client(), path_of(link_in(mailbox.last_to("grace@example.org"), REDEEM)))
    db.session.execute(update(Gift).values(access_until=utcnow() + timedelta(days=6)))
    db.session.commit()
    assert gift_mail.send_reminders() == 1
    assert gift_mail.send_reminders() == 0
    message = mailbox.last_to("grace@example.org")
    assert message["Subject"] == "Your gift of Broadsheet ends soon"
    assert "/shop" in text_of(message)


def test_an_unredeemed_gift_expires_after_a_year(app, client, shopper, plans, emulator, mailbox):
    emulator.pay(_session_id(_give(client, plans["month"])))
    scheduler.tick()
    path = path_of(link_in(mailbox.last_to("grace@example.org"), REDEEM))
    db.session.execute(update(Gift).values(sent_at=utcnow() - timedelta(days=366)))
    db.session.commit()
    assert gift_mail.expire_unredeemed() == 1
    assert _gift().status == GiftStatus.EXPIRED
    assert app.test_client().get(path).status_code == 410


def test_the_back_office_lists_gifts_and_sends_one_again(
    app, client, shopper, plans, emulator, mailbox, admin
):
    emulator.pay(_session_id(_give(client, plans["year"])))
    scheduler.tick()
    first = path_of(link_in(mailbox.last_to("grace@example.org"), REDEEM))
    from tests.support import AuthActions

    office = app.test_client()
    AuthActions(office).login("editor@example.org")
    page = office.get("/admin/gifts").get_data(as_text=True)
    assert "Grace Hopper" in page and "Sent, not redeemed yet" in page
    assert office.get("/admin/gifts?status=redeemed").get_data(as_text=True).count("<tr>") == 2
    assert office.get("/admin/gifts?status=nonsense").status_code == 404
    gift = _gift()
    office.post(
        f"/admin/gifts/{gift.id}/resend", data={"csrf_token": csrf_token(office, "/admin/gifts")}
    )
    assert len(mailbox.to("grace@example.org")) == 2
    second = path_of(link_in(mailbox.last_to("grace@example.org"), REDEEM))
    assert second != first
    assert app.test_client().get(first).status_code == 410  # the old link is replaced
    assert app.test_client().get(second).status_code == 200


def test_a_gift_whose_address_refuses_mail_waits_and_is_flagged(
    app, client, shopper, plans, emulator, mailbox, admin, monkeypatch
):
    emulator.pay(_session_id(_give(client, plans["month"])))
    # The relay takes nothing for this address, for good (send_email says False).
    monkeypatch.setattr(gift_mail, "send_email", lambda *args, **kwargs: False)
    assert gift_mail.send_due_gifts(gifts.local_today()) == 0
    assert _gift().status == GiftStatus.SCHEDULED
    db.session.execute(update(Gift).values(send_on=gifts.local_today() - timedelta(days=1)))
    db.session.commit()
    from tests.support import AuthActions

    office = app.test_client()
    AuthActions(office).login("editor@example.org")
    page = office.get("/admin/gifts").get_data(as_text=True)
    assert "Past its day: its mail did not go" in page

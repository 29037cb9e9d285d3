"""The back-office dashboard: each figure at known dates, its charts, and who may see it."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest

from shop.admin import charts
from shop.billing.models import Payment, Subscription, SubscriptionChange
from shop.catalogue.models import KIND_PLAN
from shop.clock import utcnow
from shop.extensions import db
from shop.preferences.models import DigestPreference
from shop.reports import metrics
from shop.sending.models import Delivery, Run
from tests.factories import TagFactory, UserFactory, make_product


@pytest.fixture
def now(app) -> datetime:
    """The dashboard's clock: the real one, as the paywall's grace rule reads it too."""
    return utcnow()


def _reader(now: datetime, days_ago: float, **values):
    return UserFactory(created_at=now - timedelta(days=days_ago), **values)


def _preference(user, frequency: str, follow_all: bool = True, tags=(), **values):
    pref = DigestPreference(
        user=user, frequency=frequency, follow_all=follow_all, tags=list(tags), **values
    )
    db.session.add(pref)
    return pref


def _plan(name: str, amount: int, interval: str, price_id: str, currency: str = "usd"):
    product = make_product(name, amount, kind=KIND_PLAN, interval=interval, currency=currency)
    product.prices[0].stripe_price_id = price_id
    db.session.commit()
    return product


def _subscription(user, key: str, status: str, price_id: str | None, created: datetime, **values):
    sub = Subscription(
        user_id=user.id,
        stripe_subscription_id=f"sub_{key}",
        stripe_customer_id=f"cus_{user.id}",
        stripe_price_id=price_id,
        status=status,
        created_at=created,
        **values,
    )
    db.session.add(sub)
    return sub


def _change(sub, old: str | None, new: str, at: datetime):
    sub.changes.append(SubscriptionChange(old_status=old, status=new, at=at))


def _payment(amount: int, at: datetime, refunded: int = 0, status="paid", currency="usd"):
    db.session.add(
        Payment(
            amount=amount, amount_refunded=refunded, status=status, currency=currency, paid_at=at
        )
    )


@pytest.fixture
def world(app, now):
    """Readers, preferences, subscriptions, payments and deliveries at known dates."""
    climate, science = TagFactory(name="Climate"), TagFactory(name="<b>Tech & Science</b>")
    consent = {"digest_consent_at": now - timedelta(days=90)}
    u1 = _reader(now, 2, **consent)  # instant, follows two tags
    u2 = _reader(now, 10, **consent)  # daily, follows everything
    u3 = _reader(now, 29, **consent)  # weekly, follows one tag
    u4 = _reader(now, 40, **consent)  # unsubscribed three days ago
    u5 = _reader(now, 100, **consent)  # suppressed after bounces
    u6 = _reader(now, 100, confirmed_at=None, **consent)  # never confirmed
    u7 = _reader(now, 100)  # never consented
    u8 = _reader(now, 100, **consent)  # chose "off"
    u9 = _reader(now, 100, **consent)  # unsubscribed long ago
    _reader(now, 30)  # one day too old to be new
    _preference(u1, "instant", follow_all=False, tags=[climate, science])
    _preference(u2, "daily")
    _preference(u3, "weekly", follow_all=False, tags=[climate])
    _preference(u4, "weekly", False, [science], unsubscribed_at=now - timedelta(days=3))
    _preference(u5, "weekly", False, [science], suppressed_at=now - timedelta(days=5))
    _preference(u6, "weekly", follow_all=False, tags=[science])
    _preference(u7, "weekly", follow_all=False, tags=[science])
    _preference(u8, "off", follow_all=False, tags=[science])
    _preference(u9, "daily", unsubscribed_at=now - timedelta(days=40))

    _plan("Monthly", 1000, "month", "price_month")
    _plan("Yearly", 12000, "year", "price_year")  # 1000 a month
    _plan("Weekly", 300, "week", "price_week")  # 300 * 52 / 12 = 1300 a month
    _plan("Euro monthly", 900, "month", "price_eur", currency="eur")  # not our currency

    long_ago = now - timedelta(days=120)
    s1 = _subscription(u1, "1", "active", "price_month", long_ago)
    _change(s1, None, "active", long_ago)
    s1b = _subscription(u1, "1b", "active", "price_month", now - timedelta(days=3))
    _change(s1b, None, "active", now - timedelta(days=3))
    s2 = _subscription(u2, "2", "trialing", "price_year", now - timedelta(days=20))
    _change(s2, None, "trialing", now - timedelta(days=20))
    # Past due but within the paywall's grace: paying now, by access.py's rule.
    s3 = _subscription(
        u3, "3", "past_due", "price_week", long_ago, current_period_end=now - timedelta(days=2)
    )
    _change(s3, None, "active", long_ago)
    _change(s3, "active", "past_due", now - timedelta(days=2))
    # Past due beyond grace: not paying.
    s4 = _subscription(
        u4, "4", "past_due", "price_month", long_ago, current_period_end=now - timedelta(days=30)
    )
    _change(s4, None, "past_due", now - timedelta(days=30))
    # Canceled ten days ago: one cancellation in the window.
    s5 = _subscription(u5, "5", "canceled", "price_month", long_ago)
    _change(s5, None, "active", now - timedelta(days=50))
    _change(s5, "active", "canceled", now - timedelta(days=10))
    # Canceled long ago; a later re-sync that stays canceled is no new cancellation.
    s6 = _subscription(u6, "6", "canceled", "price_month", long_ago)
    _change(s6, None, "active", long_ago)
    _change(s6, "active", "canceled", now - timedelta(days=45))
    _change(s6, "canceled", "canceled", now - timedelta(days=5))
    # Active, but priced in another currency: paying, yet no part of our MRR.
    s7 = _subscription(u7, "7", "active", "price_eur", now - timedelta(days=1))
    _change(s7, None, "active", now - timedelta(days=1))
    # Active with no change log and a price the catalogue does not know: paying, no MRR.
    _subscription(u9, "8", "active", "price_unknown", now - timedelta(days=100))

    _payment(2000, now - timedelta(days=1))
    _payment(5000, now - timedelta(days=10), refunded=1500, status="partially_refunded")
    _payment(1000, now - timedelta(days=5), refunded=1000, status="refunded")
    _payment(7000, now - timedelta(days=45))
    _payment(900, now - timedelta(days=2), currency="eur")
    _payment(4000, now - timedelta(days=400))  # before the revenue chart's year

    recent = Run(kind="digest", period="daily:recent", started_at=now - timedelta(days=2))
    old = Run(kind="digest", period="daily:old", started_at=now - timedelta(days=40))
    db.session.add_all([recent, old])
    db.session.flush()
    two_days_ago = now - timedelta(days=2)
    for user, status, sent_at in [
        (u1, "sent", two_days_ago),
        (u2, "sent", two_days_ago),
        (u3, "failed", None),
        (u4, "bounced", None),
        (u5, "queued", None),
    ]:
        db.session.add(Delivery(run=recent, user_id=user.id, status=status, sent_at=sent_at))
    db.session.add(
        Delivery(run=old, user_id=u1.id, status="sent", sent_at=now - timedelta(days=40))
    )
    db.session.commit()
    return {"climate": climate, "science": science}


def test_headline_figures(world, now):
    h = metrics.headline(now)
    assert h.subscribers_by_frequency == {"instant": 1, "daily": 1, "weekly": 1}
    assert h.subscribers == 3
    assert h.everything_followers == 1
    assert h.paying_subscribers == 5  # u1 (twice), u2, u3 in grace, u7 in euros, u9
    assert h.mrr == 1000 + 1000 + 1000 + 1300
    assert h.revenue == 2000 + 3500 + 0
    assert h.new_accounts == 3
    assert h.cancellations == 1
    assert (h.sent, h.failed, h.bounced) == (2, 1, 1)
    assert h.unsubscribes == 1
    assert h.currency == "usd"


def test_series(world, now):
    growth = metrics.growth(now)
    assert len(growth.points) == 12 and growth.points[-1] == now
    assert growth.accounts[-1] == 10  # every reader; admins are not readers
    assert growth.accounts[0] == 5  # those made more than 77 days ago
    # Active or trialing at the time, by the change log; u9's subscription has no log, so
    # its current status counts from its creation.
    assert growth.paying[-1] == 4  # u1, u2, u7, u9 (u3 is past due)
    assert growth.paying[-2] == 4  # u1, u2, u3, u9: s5 was canceled ten days ago
    assert growth.paying[0] == 4  # u1, u3, u6, u9

    revenue = metrics.revenue_by_month(now)
    assert len(revenue.months) == 12 and revenue.months[-1] == date(now.year, now.month, 1)
    expected: dict[date, int] = {}
    for amount, days in [(2000, 1), (3500, 10), (0, 5), (7000, 45)]:
        paid = now - timedelta(days=days)
        key = date(paid.year, paid.month, 1)
        expected[key] = expected.get(key, 0) + amount
    assert dict(zip(revenue.months, revenue.amounts, strict=True)) == {
        m: expected.get(m, 0) for m in revenue.months
    }

    deliveries = metrics.deliveries_by_day(now)
    assert len(deliveries.days) == 30 and deliveries.days[-1] == now.date()
    day = deliveries.days.index((now - timedelta(days=2)).date())
    assert deliveries.counts["sent"][day] == 2
    assert deliveries.counts["failed"][day] == 1
    assert deliveries.counts["bounced"][day] == 1
    assert sum(sum(c) for c in deliveries.counts.values()) == 4

    tags = metrics.top_tags()
    assert tags.names == ["Climate", "<b>Tech & Science</b>"]
    assert tags.followers == [2, 1]


def _figure(html: str, key: str) -> str:
    match = re.search(rf'<figure class="chart" id="{key}">.*?</figure>', html, re.S)
    assert match, key
    return match.group(0)


def test_the_page_shows_figures_and_charts(client, auth, admin, world, now):
    auth.login("editor@example.org")
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'href="/admin/" aria-current="page">Dashboard</a>' in html
    assert "<dt>Paying subscribers</dt><dd>5</dd>" in html
    assert "<dt>Monthly recurring revenue</dt><dd>$43.00</dd>" in html
    assert "<dt>Revenue, last 30 days</dt><dd>$55.00</dd>" in html
    assert "<dt>Weekly</dt><dd>1</dd>" in html
    assert "<dt>Emails bounced</dt><dd>1</dd>" in html

    titles = {
        "chart-growth": "Reader accounts and paying subscribers",
        "chart-revenue": "Revenue per month",
        "chart-deliveries": "Deliveries per day",
        "chart-tags": "Most followed tags",
    }
    for key, title in titles.items():
        figure = _figure(html, key)
        assert f'role="img" aria-labelledby="{key}-title {key}-desc"' in figure
        assert f'<title id="{key}-title">{title}</title>' in figure
        assert f'<desc id="{key}-desc">' in figure
        assert (
            f'<div class="visually-hidden"><table><caption>{title}: the figures</caption>' in figure
        )

    month = f"{now:%B %Y}"
    this_month = sum(
        a for a, d in [(2000, 1), (3500, 10), (0, 5)] if (now - timedelta(d)).month == now.month
    )
    revenue = _figure(html, "chart-revenue")
    assert f'<th scope="row">{month}</th><td>${this_month / 100:,.2f}</td>' in revenue
    deliveries = _figure(html, "chart-deliveries")
    two_days_ago = now - timedelta(days=2)
    row = f'<th scope="row">{two_days_ago.day} {two_days_ago:%b %Y}</th>'
    assert row + "<td>2</td><td>1</td><td>1</td><td>4</td>" in deliveries
    growth = _figure(html, "chart-growth")
    assert f'<th scope="row">{now.day} {now:%b %Y}</th><td>10</td><td>4</td>' in growth
    tags = _figure(html, "chart-tags")
    assert '<th scope="row">Climate</th><td>2</td>' in tags
    # Tag names are text, never markup, in the SVG and in the table alike.
    assert "<b>Tech" not in html
    assert "&lt;b&gt;Tech &amp; Science&lt;/b&gt;" in tags


def test_an_empty_database_shows_zeros(client, auth, admin):
    auth.login("editor@example.org")
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<dt>Reachable subscribers</dt><dd>0</dd>" in html
    assert "<dt>Monthly recurring revenue</dt><dd>$0.00</dd>" in html
    assert "<dt>Cancellations</dt><dd>0</dd>" in html
    for key in ("chart-growth", "chart-revenue", "chart-deliveries"):
        assert f'<title id="{key}-title">' in html
    assert "No subscriber follows a chosen tag yet." in html


def test_readers_get_403_and_visitors_log_in(client, auth, reader):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    auth.login("reader@example.org")
    assert client.get("/admin/").status_code == 403


def test_axis_tops_are_round_numbers():
    assert charts.nice_ceiling(0) == 4
    assert charts.nice_ceiling(3) == 4
    assert charts.nice_ceiling(7) == 8
    assert charts.nice_ceiling(12345) == 20000
    assert charts.nice_ceiling(12345, unit=100) == 20000
    assert charts.nice_ceiling(5, unit=100) == 400

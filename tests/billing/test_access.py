"""The paywall: public, members-only and paid articles, for each kind of reader."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import select

from shop.billing.access import paid_access_ends
from shop.billing.models import ComplimentaryAccess, Payment, Subscription
from shop.clock import utcnow
from shop.extensions import db
from tests.factories import AdminFactory, ArticleFactory, UserFactory, make_product
from tests.support import AuthActions

BODY = "The part behind the wall."


def _page(client, article) -> str:
    return client.get(f"/articles/{article.slug}").get_data(as_text=True)


def _subscribe(user, status="active", period_end_days=20):
    sub = Subscription(
        user_id=user.id,
        stripe_subscription_id=f"sub_{user.id}_{status}",
        stripe_customer_id=f"cus_{user.id}",
        status=status,
        current_period_end=utcnow() + timedelta(days=period_end_days),
    )
    db.session.add(sub)
    db.session.commit()


def test_members_articles_need_a_confirmed_account(app, client):
    article = ArticleFactory(title="Members piece", access="members", body_markdown=BODY)
    page = _page(client, article)
    assert BODY not in page and "This story is for members" in page
    assert "Create an account" in page

    UserFactory(email="new@example.org", confirmed_at=None)
    AuthActions(client).login("new@example.org")
    page = _page(client, article)
    assert BODY not in page and "Confirm your email address to read it" in page

    AuthActions(client).logout()
    UserFactory(email="member@example.org")
    AuthActions(client).login("member@example.org")
    assert BODY in _page(client, article)


def _plan_forms(page: str) -> dict[str, str]:
    """The paywall's plan buttons: form action -> the ``next`` it posts."""
    forms = re.findall(
        r'<form method="post" action="(/checkout/plan/\d+)">.*?name="next" value="([^"]*)"',
        page,
        re.S,
    )
    return dict(forms)


def test_paid_articles_offer_every_plan_in_one_click(app, client):
    monthly = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    yearly = make_product("Supporter, yearly", 8000, kind="plan", interval="year")
    make_product("Old plan", 500, kind="plan", interval="month", active=False)
    make_product("Tote bag", 1800)
    article = ArticleFactory(
        title="Paid piece", access="paid", summary="The summary.", body_markdown=BODY
    )
    UserFactory(email="free@example.org")
    AuthActions(client).login("free@example.org")
    page = html.unescape(_page(client, article))
    assert BODY not in page
    assert "The summary." in page
    path = f"/articles/{article.slug}"
    # Monthly first, then yearly, each its own checkout, each back to this story.
    assert _plan_forms(page) == {
        f"/checkout/plan/{monthly.id}": path,
        f"/checkout/plan/{yearly.id}": path,
    }
    assert "$8 a month" in page and "$80 a year" in page
    assert "save $16 a year" in page  # 12 x $8 - $80, computed
    assert "Subscribe monthly" in page and "Subscribe yearly" in page
    assert "free" not in page.split('class="paywall"')[1].split("</section>")[0].lower()
    assert "No account needed" not in page


def test_the_paywall_shows_a_trial_and_tells_visitors_they_need_no_account(app, client):
    monthly = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    monthly.trial_days = 14
    db.session.commit()
    article = ArticleFactory(title="Paid piece", access="paid", body_markdown=BODY)
    page = html.unescape(_page(client, article))
    assert "14 days free, then $8 a month" in page
    assert "Start the free trial" in page
    assert "No account needed: each button below goes straight to a secure checkout" in page
    assert _plan_forms(page) == {f"/checkout/plan/{monthly.id}": f"/articles/{article.slug}"}

    # A reader who has had a plan before is offered no second trial.
    lapsed = UserFactory(email="lapsed@example.org")
    _subscribe(lapsed, "canceled", -40)
    AuthActions(client).login(lapsed.email)
    page = html.unescape(_page(client, article))
    assert "14 days free" not in page and "$8 a month" in page
    assert "Subscribe monthly" in page


def test_no_plan_on_sale_leaves_the_paywall_without_buttons(app, client):
    article = ArticleFactory(title="Paid piece", access="paid", body_markdown=BODY)
    page = _page(client, article)
    assert "This story is for subscribers" in page and "/checkout/plan/" not in page


def test_paid_access_by_subscription_status(app, client):
    article = ArticleFactory(title="Paid piece", access="paid", body_markdown=BODY)
    cases = [
        ("active", 20, True),
        ("trialing", 20, True),
        ("past_due", -3, True),  # within the grace period
        ("past_due", -30, False),
        ("canceled", -1, False),
        ("incomplete", 20, False),
        ("unpaid", 20, False),
        ("incomplete_expired", 20, False),
    ]
    for n, (status, days, readable) in enumerate(cases):
        user = UserFactory(email=f"sub{n}@example.org")
        _subscribe(user, status, days)
        reader = app.test_client()
        AuthActions(reader).login(user.email)
        assert (BODY in _page(reader, article)) is readable, (status, days)


def test_a_trial_that_ends_unpaid_gives_no_grace(app, client):
    """Past due after a trial whose first payment failed: never paid, so no grace period."""
    article = ArticleFactory(title="Paid piece", access="paid", body_markdown=BODY)
    trialist = UserFactory(email="trialist@example.org")
    # Stripe has moved the period past the trial: its end is a month ahead.
    _subscribe(trialist, "past_due", 30)
    sub = db.session.scalar(select(Subscription).where(Subscription.user_id == trialist.id))
    sub.trial_end = utcnow() - timedelta(hours=1)
    db.session.commit()
    AuthActions(client).login(trialist.email)
    assert BODY not in _page(client, article)

    # Once paid for (a month after the trial, say), a failed renewal has its grace again.
    db.session.add(Payment(user_id=trialist.id, subscription_id=sub.id, amount=800, currency="usd"))
    db.session.commit()
    assert BODY in _page(client, article)


def test_a_payer_reads_members_stories_before_confirming_the_address(app, client):
    """One rule for both walls: whoever may read subscriber stories may read members' ones."""
    members = ArticleFactory(title="Members piece", access="members", body_markdown=BODY)
    paid = ArticleFactory(title="Paid piece", access="paid", body_markdown=BODY + " Paid.")
    payer = UserFactory(email="payer@example.org", confirmed_at=None)
    _subscribe(payer, "active", 20)
    AuthActions(client).login(payer.email)
    assert BODY + " Paid." in _page(client, paid)
    page = _page(client, members)
    assert BODY in page and "Confirm your email address to read it" not in page

    # Without a paid plan, an unconfirmed reader is still asked to confirm.
    other = app.test_client()
    UserFactory(email="lapsed@example.org", confirmed_at=None)
    AuthActions(other).login("lapsed@example.org")
    page = _page(other, members)
    assert BODY not in page and "Confirm your email address to read it" in page


def test_admins_read_everything(app, client):
    article = ArticleFactory(title="Paid piece", access="paid", body_markdown=BODY)
    AdminFactory(email="boss@example.org")
    AuthActions(client).login("boss@example.org")
    assert BODY in _page(client, article)


def test_feeds_never_carry_gated_bodies(app, client):
    ArticleFactory(title="Paid piece", access="paid", body_markdown=BODY)
    ArticleFactory(title="Members piece", access="members", body_markdown=BODY)
    assert BODY.encode() not in client.get("/feed.xml").data


def test_paid_access_ends_names_the_first_end_the_clock_brings(app):
    grace = timedelta(days=app.config["PAYWALL_GRACE_DAYS"])
    ongoing, comped, overdue = UserFactory(), UserFactory(), UserFactory()
    _subscribe(ongoing)
    assert paid_access_ends(ongoing) is None  # active: a webhook says when it ends
    soon, later = utcnow() + timedelta(days=3), utcnow() + timedelta(days=30)
    db.session.add(ComplimentaryAccess(user_id=comped.id, until=later))
    db.session.add(ComplimentaryAccess(user_id=overdue.id, until=None))
    db.session.commit()
    assert paid_access_ends(comped) == later
    _subscribe(overdue, status="past_due", period_end_days=-grace.days + 3)
    ends = paid_access_ends(overdue)
    assert ends is not None and abs(ends - soon) < timedelta(seconds=5)
    db.session.add(ComplimentaryAccess(user_id=ongoing.id, until=utcnow() - timedelta(days=1)))
    db.session.commit()
    assert paid_access_ends(ongoing) is None  # an end already past is no end to come

"""The paywall: public, members-only and paid articles, for each kind of reader."""

from __future__ import annotations

from datetime import timedelta

from shop.billing.models import Subscription
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


def test_paid_articles_show_the_summary_and_a_one_click_offer(app, client):
    plan = make_product("Supporter, monthly", 800, kind="plan", interval="month")
    article = ArticleFactory(
        title="Paid piece", access="paid", summary="The summary.", body_markdown=BODY
    )
    UserFactory(email="free@example.org")
    AuthActions(client).login("free@example.org")
    page = _page(client, article)
    assert BODY not in page
    assert "The summary." in page
    assert f'name="product_id" value="{plan.id}"' in page
    assert "Subscribe for $8.00 a month" in page

    # One click puts the plan in the cart.
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/cart/add", data={"product_id": plan.id, "next": "/cart", "csrf_token": token}
    )
    assert response.headers["Location"].endswith("/cart")
    assert "Supporter, monthly" in client.get("/cart").get_data(as_text=True)


def test_paid_access_by_subscription_status(app, client):
    article = ArticleFactory(title="Paid piece", access="paid", body_markdown=BODY)
    cases = [
        ("active", 20, True),
        ("trialing", 20, True),
        ("past_due", -3, True),  # within the grace period
        ("past_due", -30, False),
        ("canceled", -1, False),
        ("incomplete", 20, False),
    ]
    for n, (status, days, readable) in enumerate(cases):
        user = UserFactory(email=f"sub{n}@example.org")
        _subscribe(user, status, days)
        reader = app.test_client()
        AuthActions(reader).login(user.email)
        assert (BODY in _page(reader, article)) is readable, (status, days)


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

"""Security fixtures: one small world with a record for every URL parameter, and its roles."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.articles.replies import mute_token
from shop.billing.models import Customer
from shop.cart.models import Order
from shop.clock import utcnow
from shop.extensions import db
from shop.newsletters.models import Newsletter
from shop.preferences.models import DigestPreference
from shop.preferences.tokens import unsubscribe_token
from tests.admin.test_authorization import real_ids  # noqa: F401, F811  (a fixture, reused)
from tests.factories import (
    PASSWORD,
    ArticleFactory,
    CommentFactory,
    TagFactory,
    UserFactory,
    make_paying,
    make_product,
)
from tests.support import (
    AuthActions,
    committed_rows,
    csrf_token,
    link_in,
    path_of,
    use_emulator,
)

ROLES = ("anonymous", "unconfirmed", "reader", "paying", "other", "admin")
# The address each role logs in with; "reader" owns the records, "other" is a stranger to them.
ROLE_EMAILS = {
    "unconfirmed": "new@example.org",
    "reader": "reader@example.org",
    "paying": "paying@example.org",
    "other": "other@example.org",
    "admin": "editor@example.org",
}


@pytest.fixture
def app_config(app_config, emulator_server):
    """The Stripe emulator (emptied for the test) and its webhook secret."""
    return use_emulator(app_config, emulator_server)


@dataclass
class World:
    """The records every URL parameter is filled from, and the owner's own records."""

    ids: dict[str, object]
    query: dict[str, dict[str, str]] = field(default_factory=dict)
    form: dict[str, dict[str, str]] = field(default_factory=dict)

    def login(self, client, role: str) -> None:
        """Log ``client`` in as ``role`` (anonymous stays logged out)."""
        if role == "anonymous":
            return
        response = AuthActions(client).login(ROLE_EMAILS[role])
        assert response.status_code == 302, f"could not log in as {role}"


@functools.cache
def password_hash() -> str:
    """One scrypt hash of the suite's password, shared by the world's accounts (hashing is slow)."""
    user = User()
    user.set_password(PASSWORD)
    return user.password_hash


def account(email: str, **extra) -> User:
    """A confirmed reader with the suite's password."""
    return UserFactory(email=email, password_hash=password_hash(), **extra)


def _mailed_path(mailbox, address: str, contains: str) -> str:
    return path_of(link_in(mailbox.last_to(address), contains))


@pytest.fixture
def world(app, admin, real_ids, mailbox) -> World:  # noqa: F811
    """Every kind of record a route can name, with mailed tokens taken from real mail."""
    reader = account(ROLE_EMAILS["reader"])
    account(ROLE_EMAILS["other"])
    account(ROLE_EMAILS["unconfirmed"], confirmed_at=None)
    paying = account(ROLE_EMAILS["paying"])
    # As tests/billing/test_access.py does: the mirrored rows, without a checkout.
    db.session.add(Customer(user_id=paying.id, stripe_customer_id=f"cus_{paying.id}"))
    make_paying(paying)
    tag = TagFactory(name="Public affairs")
    article = ArticleFactory(title="A public story", tags=[tag])
    ArticleFactory(title="A paid story", access="paid")
    own = CommentFactory(article=article, author=reader, body="The reader's own comment.")
    plan = make_product("Supporter plan", 800, kind="plan", interval="month")
    db.session.add(DigestPreference(user_id=reader.id, frequency="weekly", follow_all=False))
    paid = Order(
        user_id=reader.id,
        status="paid",
        mode="payment",
        currency="usd",
        total=800,
        cart_version=1,
        stripe_checkout_session_id="cs_test_owner_paid",
        paid_at=utcnow(),
    )
    pending = Order(
        user_id=reader.id,
        status="pending",
        mode="payment",
        currency="usd",
        total=800,
        cart_version=2,
        stripe_checkout_session_id="cs_test_owner_pending",
    )
    db.session.add_all([paid, pending])
    issue = db.session.get(Newsletter, real_ids["newsletter_id"])
    sent = Newsletter(
        subject="Last week's issue",
        slug="last-weeks-issue",
        body_markdown="Hello.",
        body_html="<p>Hello.</p>",
        audience="all",
        status="sent",
        sent_at=utcnow() - timedelta(days=2),
        author_id=issue.author_id,
    )
    db.session.add(sent)
    db.session.commit()

    # The mailed links, as their owners receive them.
    setup = app.test_client()
    auth = AuthActions(setup)
    auth.login(ROLE_EMAILS["unconfirmed"])
    setup.post("/confirm/resend", data={"csrf_token": csrf_token(setup, "/account")})
    confirm_path = _mailed_path(mailbox, ROLE_EMAILS["unconfirmed"], "/confirm/")
    auth.logout()
    auth.login(ROLE_EMAILS["reader"])
    setup.post(
        "/account/email",
        data={
            "email": "moved@example.org",
            "password": "correct horse battery",
            "csrf_token": csrf_token(setup, "/account/email"),
        },
    )
    change_path = _mailed_path(mailbox, "moved@example.org", "/account/email/confirm/")
    auth.logout()
    setup.post(
        "/reset",
        data={"email": ROLE_EMAILS["reader"], "csrf_token": csrf_token(setup, "/reset")},
    )
    reset_path = _mailed_path(mailbox, ROLE_EMAILS["reader"], "/reset/")
    mailbox.clear()

    ids = {
        **real_ids,
        "slug": article.slug,
        "filename": "css/site.css",
        # One value per rule: the token routes are told apart by their endpoint below.
        "token:accounts.confirm": confirm_path.rsplit("/", 1)[1],
        "token:accounts.confirm_email_change": change_path.rsplit("/", 1)[1],
        "token:accounts.reset_password": reset_path.rsplit("/", 1)[1],
        "token:readers.unsubscribe": unsubscribe_token(reader.id),
        "token:articles.thread_unsubscribe": mute_token(reader.id, own.id),
        # The reader's own comment, on the public story: theirs to edit, delete, reply to.
        "own_comment_id": own.id,
        "comment_id:articles.comment_edit": own.id,
        "comment_id:articles.comment_delete": own.id,
        "token:accounts.sign_in_link": "a-link-nobody-was-mailed",
        "token:readers.confirm_subscription": "a-link-nobody-was-mailed",
        "token:billing.gift_redeem": "a-link-nobody-was-mailed",
        "token:tracking.pixel": "a-link-nobody-was-mailed",
        "token:tracking.click": "a-link-nobody-was-mailed",
        "key": "0123456789abcdef",
        "slug:readers.follow_topic": tag.slug,
        "tag_slug": tag.slug,
        "slug:articles.tag": tag.slug,
        "slug:articles.tag_feed": tag.slug,
        "slug:newsletters.archive_issue": sent.slug,
        "reader_id": reader.id,
        "pending_order_id": pending.id,
        "plan_id": plan.id,
        "tag": tag.id,
        "public_article_id": article.id,
    }
    query = {
        "billing.success": {"session_id": "cs_test_owner_paid"},
        "billing.cancel": {"order": str(pending.id)},
    }
    form = {
        "billing.cancel_confirm": {"order": str(pending.id)},
        "billing.plan_checkout": {"next": "/articles/a-paid-story"},
    }
    return World(ids=ids, query=query, form=form)


def order_status(order_id: int) -> str:
    """An order's status, fresh from the database."""
    db.session.expire_all()
    return db.session.scalar(select(Order.status).where(Order.id == order_id))


def snapshot() -> dict[str, list[str]]:
    """Every row of every table, as committed: compared before and after a refused request."""
    db.session.expire_all()
    with committed_rows(db) as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in db.metadata.sorted_tables
        }


def changed_tables(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """The names of the tables whose rows differ between two snapshots."""
    return [name for name in before if before[name] != after.get(name)]

"""The back office's subscribers: the list's columns, search and filters, one reader's page,
suppression, resending the confirmation, and the streamed CSV export."""

from __future__ import annotations

import contextvars
import csv
import html
import io
import re
import tracemalloc
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import insert, select

from shop import clock
from shop.accounts.models import User
from shop.admin import exports
from shop.audit.models import AuditEntry
from shop.billing.models import Subscription
from shop.cart.models import Order
from shop.catalogue.models import KIND_PLAN
from shop.clock import utcnow
from shop.digests import selection
from shop.extensions import db
from shop.preferences.models import DigestPreference
from shop.reports import subscribers as service
from shop.sending.models import Delivery, Run
from tests.factories import TagFactory, UserFactory, make_product
from tests.newsletter.digest_helpers import cutoff
from tests.support import csrf_token, link_in, path_of

ROW_LINK = re.compile(r'<a href="/admin/subscribers/(\d+)">([^<]+)</a>')
# These readers never log in: a stand-in hash spares a slow scrypt per reader.
NO_LOGIN = "!no-login"


def subscriber(email: str, frequency: str = "daily", tags=(), **fields) -> User:
    """A confirmed, consenting reader with a digest preference (as the digest tests make)."""
    user = UserFactory(
        email=email,
        password_hash=NO_LOGIN,
        confirmed_at=utcnow() - timedelta(days=30),
        digest_consent_at=utcnow() - timedelta(days=30),
    )
    pref = DigestPreference(
        user_id=user.id,
        frequency=frequency,
        follow_all=not tags,
        covered_until=cutoff() - timedelta(days=2),
        **fields,
    )
    pref.tags = list(tags)
    db.session.add(pref)
    db.session.commit()
    return user


def _plan(name: str, price_id: str):
    product = make_product(name, 900, kind=KIND_PLAN, interval="month")
    product.prices[0].stripe_price_id = price_id
    db.session.commit()
    return product


def _subscription(user, key: str, status: str, created, product=None, price_id=None, **values):
    sub = Subscription(
        user_id=user.id,
        stripe_subscription_id=f"sub_{key}",
        stripe_customer_id=f"cus_{user.id}",
        product_id=product.id if product is not None else None,
        stripe_price_id=price_id,
        status=status,
        created_at=created,
        **values,
    )
    db.session.add(sub)
    return sub


def _delivery(user, run: Run, status: str, sent_at=None, **values) -> Delivery:
    delivery = Delivery(
        run_id=run.id, user_id=user.id, status=status, sent_at=sent_at, article_ids="", **values
    )
    db.session.add(delivery)
    return delivery


def _run(kind: str, period: str, subject: str = "") -> Run:
    run = Run(kind=kind, period=period, subject=subject, cutoff=utcnow() - timedelta(days=1))
    db.session.add(run)
    db.session.flush()
    return run


@pytest.fixture
def world(app, admin):
    """Readers in every state, with known plans, deliveries and preferences."""
    now = utcnow()
    climate, science = TagFactory(name="Climate"), TagFactory(name="Science")
    premium = _plan("Premium", "price_premium")
    basic = _plan("Basic", "price_basic")
    # Weekly on Wednesdays, two tags, paying; an older canceled plan must not show.
    alice = subscriber("alice@example.org", frequency="weekly", tags=[science, climate], weekday=2)
    alice.display_name = "Alice Liddell"
    alice.created_at = now - timedelta(days=5)
    _subscription(alice, "old", "canceled", now - timedelta(days=60), product=basic)
    _subscription(alice, "new", "active", now - timedelta(days=10), product=premium)
    # Daily, suppressed after bounces; a subscription known only by its Stripe price.
    bob = subscriber(
        "bob@example.org", frequency="daily", hard_bounces=3, suppressed_at=now - timedelta(days=1)
    )
    bob.display_name = "Bobby Tables"
    bob.created_at = now - timedelta(days=4)
    _subscription(
        bob,
        "bob",
        "past_due",
        now - timedelta(days=90),
        price_id="price_basic",
        current_period_end=now - timedelta(days=60),
    )
    # Never confirmed, never chose digests: no preference row at all.
    carol = UserFactory(
        email="carol@example.org",
        password_hash=NO_LOGIN,
        confirmed_at=None,
        created_at=now - timedelta(days=3),
    )
    # Instant, then unsubscribed.
    dave = subscriber("dave@example.org", frequency="instant", unsubscribed_at=now)
    dave.created_at = now - timedelta(days=2)
    # Chose "off".
    erin = subscriber("erin@example.org", frequency="off")
    erin.created_at = now - timedelta(days=1)
    db.session.commit()

    digest = _run("digest", "daily:2026-11-24", "Your daily digest")
    news = _run("newsletter", "newsletter:7", "Winter issue")
    later = _run("digest", "daily:2026-11-25", "Your daily digest")
    _delivery(alice, digest, "sent", now - timedelta(days=3), attempts=1)
    _delivery(alice, news, "sent", now - timedelta(days=2), attempts=1)
    _delivery(alice, later, "failed", None, attempts=5, last_reply="451 try again later")
    _delivery(bob, digest, "bounced", None, attempts=1, last_reply="550 no such user")
    db.session.commit()
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "dave": dave,
        "erin": erin,
        "admin": admin,
        "last_sent": now - timedelta(days=2),
    }


def _login(auth, admin):
    auth.login(admin.email)


def _listed(response) -> list[str]:
    """The emails the list page shows, in order."""
    assert response.status_code == 200, response.status_code
    return [html.unescape(email) for _, email in ROW_LINK.findall(response.get_data(as_text=True))]


def _cells(page: str, email: str) -> list[str]:
    """The text of each cell in the list row of one reader."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        if f">{email}</a>" in row:
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]
    raise AssertionError(f"no row for {email}")


# --- the list ------------------------------------------------------------------------


def test_each_column_for_each_kind_of_reader(client, auth, world):
    _login(auth, world["admin"])
    response = client.get("/admin/subscribers")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    last = clock.format_moment(world["last_sent"])
    assert _cells(page, "alice@example.org") == [
        "alice@example.org Alice Liddell",
        "confirmed",
        "Premium",
        "active",
        "Climate, Science",
        "weekly (Wednesday)",
        last,
        "0",
    ]
    assert _cells(page, "bob@example.org") == [
        "bob@example.org Bobby Tables",
        "confirmed",
        "Basic",  # reached through the Stripe price, as the subscription names no product
        "past_due",
        "everything",
        "daily",
        "—",
        "3, suppressed",
    ]
    assert _cells(page, "carol@example.org") == [
        "carol@example.org",
        "unconfirmed",
        "—",
        "—",
        "—",
        "— not subscribed",
        "—",
        "0",
    ]
    assert _cells(page, "dave@example.org")[5] == "instant, unsubscribed"
    assert _cells(page, "erin@example.org")[5] == "off"
    assert _cells(page, "editor@example.org")[1] == "confirmed, admin"
    # Newest accounts first.
    assert _listed(response)[:5] == [
        "editor@example.org",
        "erin@example.org",
        "dave@example.org",
        "carol@example.org",
        "bob@example.org",
    ]


# Counts statements: a rolled-back test's SAVEPOINTs would count too.
@pytest.mark.real_commits
def test_the_service_reads_a_page_in_a_fixed_number_of_queries(app, world):
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        page = service.subscriber_page(service.Filters())
        rows = {r.email: r for r in page.items}
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    # The count, the rows, and the followed tags of the page's readers.
    assert len(statements) == 3
    assert page.total == 6
    alice = rows["alice@example.org"]
    assert alice.tags == ("Climate", "Science")
    assert alice.plan == "Premium" and alice.subscription_status == "active"
    assert alice.last_digest == world["last_sent"]
    assert rows["carol@example.org"].has_preference is False


EVERYONE = {
    "alice@example.org",
    "bob@example.org",
    "carol@example.org",
    "dave@example.org",
    "erin@example.org",
    "editor@example.org",
}
SEARCHES = [
    ("q=ALICE", {"alice@example.org"}),
    ("q=tables", {"bob@example.org"}),  # the display name
    ("q=%25", set()),  # a LIKE wildcard is searched for, not obeyed
    ("q=example.org&frequency=weekly", {"alice@example.org"}),
    ("frequency=daily", {"bob@example.org"}),
    ("frequency=instant", {"dave@example.org"}),
    ("frequency=off", {"erin@example.org"}),
    ("frequency=none", {"carol@example.org", "editor@example.org"}),
    ("status=subscribed", {"alice@example.org"}),
    ("status=unsubscribed", {"dave@example.org"}),
    ("status=suppressed", {"bob@example.org"}),
    ("status=unconfirmed", {"carol@example.org"}),
    ("paying=yes", {"alice@example.org"}),
    (
        "paying=no",
        {
            "bob@example.org",
            "carol@example.org",
            "dave@example.org",
            "erin@example.org",
            "editor@example.org",
        },
    ),
    ("paying=no&frequency=daily", {"bob@example.org"}),
    ("frequency=&status=&paying=&q=", EVERYONE),  # empty filters filter nothing
]

BAD_QUERIES = [
    ("frequency=hourly", "There is no frequency filter “hourly”"),
    ("status=bogus", "There is no status filter “bogus”"),
    ("paying=maybe", "There is no paying filter “maybe”"),
    ("page=0", "There is no such page."),
    ("page=-1", "There is no such page."),
    ("page=abc", "There is no such page."),
    ("page=2", "There is no such page."),
    ("page=99999999999999999999", "There is no such page."),
]


def test_search_and_filters(client, auth, world):
    # One world for every case: building it is the slow part.
    _login(auth, world["admin"])
    for query, expected in SEARCHES:
        listed = set(_listed(client.get(f"/admin/subscribers?{query}")))
        assert listed == expected, query


def test_bad_filters_and_pages_are_404_with_a_reason(client, auth, world):
    _login(auth, world["admin"])
    for query, message in BAD_QUERIES:
        response = client.get(f"/admin/subscribers?{query}")
        assert response.status_code == 404, query
        assert message in html.unescape(response.get_data(as_text=True)), query
        if not query.startswith("page"):
            assert client.get(f"/admin/subscribers.csv?{query}").status_code == 404, query


def test_pagination_keeps_the_filters(client, auth, admin):
    now = utcnow()
    hashed = UserFactory.build().password_hash
    db.session.execute(
        insert(User),
        [
            {
                "email": f"pager{n:03d}@example.org",
                "password_hash": hashed,
                "role": "reader",
                "created_at": now - timedelta(minutes=n),
                "session_version": 1,
            }
            for n in range(service.PER_PAGE + 7)
        ],
    )
    db.session.commit()
    _login(auth, admin)
    first = client.get("/admin/subscribers?q=pager&status=unconfirmed")
    assert len(_listed(first)) == service.PER_PAGE
    assert _listed(first)[0] == "pager000@example.org"
    body = html.unescape(first.get_data(as_text=True))
    next_link = re.search(r'<a rel="next" href="([^"]+)"', body).group(1)
    assert "q=pager" in next_link and "status=unconfirmed" in next_link and "page=2" in next_link
    second = client.get(next_link)
    assert _listed(second) == [f"pager{n:03d}@example.org" for n in range(50, 57)]
    assert "page=3" not in second.get_data(as_text=True)
    # The export link carries the filters too.
    assert 'href="/admin/subscribers.csv?q=pager&amp;status=unconfirmed"' in first.get_data(
        as_text=True
    )


# --- one reader ----------------------------------------------------------------------


def test_the_detail_page_shows_deliveries_and_orders(client, auth, world):
    alice = world["alice"]
    order = Order(
        user_id=alice.id,
        status="paid",
        mode="payment",
        currency="usd",
        total=1250,
        cart_version=1,
        paid_at=utcnow(),
    )
    db.session.add(order)
    db.session.commit()
    _login(auth, world["admin"])
    response = client.get(f"/admin/subscribers/{alice.id}")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "alice@example.org" in page and "Alice Liddell" in page
    # Deliveries: each run's kind, period and subject, status, attempts and last reply.
    assert "daily:2026-11-24" in page and "newsletter:7" in page and "Winter issue" in page
    assert "451 try again later" in page
    assert re.search(r"<td>failed</td>\s*<td>5</td>", page)
    # Orders, with their total as money.
    assert f"#{order.id}" in page and "$12.50" in page
    # Subscriptions, newest first, with their plans.
    assert page.index("Premium") < page.index("Basic")
    assert "weekly (Wednesday)" in page and "Climate, Science" in page
    assert "Suppress this address" in page
    assert "Resend the confirmation link" not in page


def test_the_detail_page_of_a_reader_without_preferences(client, auth, world):
    _login(auth, world["admin"])
    response = client.get(f"/admin/subscribers/{world['carol'].id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Not subscribed" in page and "No orders." in page
    assert "Resend the confirmation link" in page


def test_an_unknown_reader_is_404(client, auth, world):
    _login(auth, world["admin"])
    assert client.get("/admin/subscribers/999999").status_code == 404
    token = csrf_token(client, f"/admin/subscribers/{world['alice'].id}")
    for action in ("suppress", "unsuppress", "confirmation"):
        response = client.post(f"/admin/subscribers/999999/{action}", data={"csrf_token": token})
        assert response.status_code == 404


# --- actions -------------------------------------------------------------------------


def _due_today() -> set[int]:
    day = clock.local_date(utcnow())
    return {pref.user_id for pref, _ in selection.due_preferences("daily", day)}


def _post(client, user, action: str):
    token = csrf_token(client, f"/admin/subscribers/{user.id}")
    return client.post(
        f"/admin/subscribers/{user.id}/{action}", data={"csrf_token": token}, follow_redirects=True
    )


def _audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_suppress_then_unsuppress_changes_what_the_digest_sees(client, auth, admin):
    reader = subscriber("bouncy@example.org", frequency="daily", hard_bounces=2)
    _login(auth, admin)
    assert reader.id in _due_today()

    response = _post(client, reader, "suppress")
    assert "No more digests will go to bouncy@example.org." in response.get_data(as_text=True)
    db.session.expire_all()
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == reader.id))
    assert pref.suppressed_at is not None and pref.hard_bounces == 2
    assert reader.id not in _due_today()
    [entry] = _audit("subscriber_suppress")
    assert entry.summary == "Suppressed bouncy@example.org"
    assert entry.target == f"user {reader.id}"

    # Suppressing again is refused, and the refusal is not logged.
    response = _post(client, reader, "suppress")
    assert "already suppressed" in response.get_data(as_text=True)
    assert len(_audit("subscriber_suppress")) == 1

    response = _post(client, reader, "unsuppress")
    assert "no longer suppressed" in response.get_data(as_text=True)
    db.session.expire_all()
    assert pref.suppressed_at is None and pref.hard_bounces == 0
    assert reader.id in _due_today()
    [entry] = _audit("subscriber_unsuppress")
    assert entry.summary == "Unsuppressed bouncy@example.org"

    # Nothing left to clear: refused, not logged.
    response = _post(client, reader, "unsuppress")
    assert "not suppressed" in response.get_data(as_text=True)
    assert len(_audit("subscriber_unsuppress")) == 1


def test_suppressing_a_reader_without_preferences_makes_their_row(client, auth, admin):
    reader = UserFactory(
        email="fresh@example.org", password_hash=NO_LOGIN, digest_consent_at=utcnow()
    )
    _login(auth, admin)
    _post(client, reader, "suppress")
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == reader.id))
    assert pref is not None and pref.suppressed_at is not None
    assert pref.frequency == "weekly"  # what they consented to, kept for when it is lifted


def test_resending_the_confirmation_mails_a_working_link(client, auth, admin, mailbox, app):
    reader = UserFactory(email="late@example.org", password_hash=NO_LOGIN, confirmed_at=None)
    _login(auth, admin)
    mailbox.clear()
    response = _post(client, reader, "confirmation")
    assert "A new confirmation link is on its way" in response.get_data(as_text=True)
    [entry] = _audit("subscriber_confirmation")
    assert "late@example.org" in entry.summary
    link = link_in(mailbox.last_to("late@example.org"), "/confirm/")

    visitor = app.test_client()
    assert visitor.get(path_of(link)).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, reader.id).confirmed_at is not None

    # Confirmed now: resending is refused, mails nothing and is not logged.
    mailbox.clear()
    response = _post(client, reader, "confirmation")
    assert "already confirmed" in response.get_data(as_text=True)
    assert mailbox.to("late@example.org") == []
    assert len(_audit("subscriber_confirmation")) == 1


def test_actions_need_a_csrf_token(client, auth, admin):
    reader = subscriber("guarded@example.org")
    _login(auth, admin)
    response = client.post(f"/admin/subscribers/{reader.id}/suppress")
    assert response.status_code == 400
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == reader.id))
    assert pref.suppressed_at is None


# --- who may see it ------------------------------------------------------------------


def _routes(user_id: int) -> list[tuple[str, str]]:
    base = f"/admin/subscribers/{user_id}"
    return [
        ("GET", "/admin/subscribers"),
        ("GET", "/admin/subscribers.csv"),
        ("GET", base),
        ("POST", f"{base}/suppress"),
        ("POST", f"{base}/unsuppress"),
        ("POST", f"{base}/confirmation"),
    ]


def test_readers_get_403_and_visitors_log_in(client, auth, reader):
    target = UserFactory(email="target@example.org", password_hash=NO_LOGIN, confirmed_at=None)
    token = {"csrf_token": csrf_token(client, "/login")}
    for method, path in _routes(target.id):
        response = client.open(path, method=method, data=token)
        assert response.status_code == 302, (method, path)
        assert response.headers["Location"].startswith("/login?next="), (method, path)

    auth.login("reader@example.org")
    token = {"csrf_token": csrf_token(client, "/account/password")}
    for method, path in _routes(target.id):
        assert client.open(path, method=method, data=token).status_code == 403, (method, path)
    assert db.session.scalar(select(DigestPreference.id)) is None


# --- the CSV export ------------------------------------------------------------------


def _download(client, path: str, read=lambda r: r.get_data(as_text=True)):
    """GET a streamed download and read it all in one fresh context, as a server does.

    The suite's client sends each request from a context of its own and reads the first
    piece of a streamed body there; the rest must then be read in that same context.
    """

    def run():
        response = FlaskClient.open(client, path)
        try:
            return response, read(response)
        finally:
            response.close()

    return contextvars.Context().run(run)


def _csv(client, path: str) -> list[list[str]]:
    response, body = _download(client, path)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(body)))


def test_the_export_has_a_header_and_every_column(client, auth, world):
    _login(auth, world["admin"])
    response, body = _download(client, "/admin/subscribers.csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="subscribers-')
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == service.EXPORT_HEADER
    by_email = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert len(by_email) == 6
    assert by_email["alice@example.org"] == {
        "email": "alice@example.org",
        "name": "Alice Liddell",
        "confirmed": "yes",
        "plan": "Premium",
        "subscription_status": "active",
        "frequency": "weekly",
        "followed_tags": "Climate, Science",
        "last_digest": world["last_sent"].strftime("%Y-%m-%d %H:%M:%S"),
        "hard_bounces": "0",
        "suppressed": "no",
        "created_at": world["alice"].created_at.strftime("%Y-%m-%d %H:%M:%S"),
    }
    bob = by_email["bob@example.org"]
    assert (bob["plan"], bob["followed_tags"], bob["hard_bounces"], bob["suppressed"]) == (
        "Basic",
        "everything",
        "3",
        "yes",
    )
    carol = by_email["carol@example.org"]
    assert (carol["confirmed"], carol["frequency"], carol["followed_tags"], carol["plan"]) == (
        "no",
        "",
        "",
        "",
    )


def test_the_export_uses_the_lists_filters(client, auth, world):
    _login(auth, world["admin"])
    rows = _csv(client, "/admin/subscribers.csv?status=suppressed")
    assert [row[0] for row in rows[1:]] == ["bob@example.org"]
    rows = _csv(client, "/admin/subscribers.csv?frequency=none&q=CAROL")
    assert [row[0] for row in rows[1:]] == ["carol@example.org"]


def test_the_export_cannot_start_a_formula(client, auth, admin):
    names = ['=HYPERLINK("http://evil.example","click")', "+1", "-2", "@x", "\tx", "\rx"]
    for n, name in enumerate(names):
        subscriber(f"formula{n}@example.org", frequency="daily").display_name = name
    user = db.session.scalar(select(User).where(User.email == "formula0@example.org"))
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == user.id))
    pref.hard_bounces = 4
    db.session.commit()
    _login(auth, admin)
    _, body = _download(client, "/admin/subscribers.csv?q=formula")
    rows = list(csv.reader(io.StringIO(body)))
    assert [row[1] for row in rows[1:]] == ["'" + name for name in names]
    # Numbers stay numbers: unquoted and without an apostrophe.
    assert rows[1][EXPORT_COLUMN["hard_bounces"]] == "4"
    assert re.search(r"^formula0@example\.org,.*,4,no,", body, re.M)


EXPORT_COLUMN = {name: i for i, name in enumerate(service.EXPORT_HEADER)}
# Many more rows than the export reads and sends at a time (both made small here, so
# that the run stays short): if the whole file sat in memory, the peak would be most of it.
STREAM_ROWS = 16_000
STREAM_BATCH = 250
STREAM_FLUSH = 100


def _insert_many_readers(count: int) -> None:
    """``count`` readers with names and daily preferences, inserted in bulk."""
    now = utcnow()
    hashed = UserFactory.build().password_hash
    db.session.execute(
        insert(User),
        [
            {
                "email": f"stream{n:05d}@example.org",
                "display_name": f"Streamed reader number {n:05d}",
                "password_hash": hashed,
                "role": "reader",
                "confirmed_at": now,
                "digest_consent_at": now,
                "created_at": now,
                "session_version": 1,
            }
            for n in range(count)
        ],
    )
    # Read back by pattern: an IN list of every address would pass SQLite's variable limit.
    ids = db.session.scalars(select(User.id).where(User.email.like("stream%"))).all()
    db.session.execute(
        insert(DigestPreference),
        [
            {
                "user_id": i,
                "frequency": "daily",
                "weekday": 0,
                "follow_all": True,
                "covered_until": now,
                "hard_bounces": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in ids
        ],
    )
    db.session.commit()


def test_the_export_streams_its_rows_in_flat_memory(client, auth, admin, monkeypatch):
    monkeypatch.setattr(service, "EXPORT_BATCH", STREAM_BATCH)
    monkeypatch.setattr(exports, "FLUSH_EVERY", STREAM_FLUSH)
    _insert_many_readers(STREAM_ROWS)
    _login(auth, admin)

    def measure(response) -> dict[str, object]:
        """Read the body a chunk at a time, tracing every allocation meanwhile."""
        seen = {"bytes": 0, "lines": 0, "chunks": 0, "tail": b""}
        tracemalloc.start()
        try:
            for chunk in response.response:
                data = chunk.encode() if isinstance(chunk, str) else chunk
                seen["bytes"] += len(data)
                seen["lines"] += data.count(b"\n")
                seen["chunks"] += 1
                if data:
                    seen["tail"] = data[-200:]
            seen["peak"] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return seen

    response, seen = _download(client, "/admin/subscribers.csv?q=stream", measure)
    assert response.status_code == 200
    assert seen["lines"] == STREAM_ROWS + 1  # the header and one line per reader
    assert seen["chunks"] > 10  # sent in pieces, not as one body
    assert f"stream{STREAM_ROWS - 1:05d}@example.org".encode() in seen["tail"]
    # The whole file never sits in memory: the most held at once is a small part of it.
    assert seen["peak"] < seen["bytes"] / 4, seen

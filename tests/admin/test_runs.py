"""Runs and deliveries in the back office: lists, filters, and retrying failed deliveries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop import background, scheduler
from shop.accounts.models import User
from shop.audit.models import AuditEntry
from shop.clock import utcnow
from shop.digests import runs as digest
from shop.digests.models import MailedArticle
from shop.extensions import db
from shop.preferences.models import DigestPreference
from shop.reports import runs as service
from shop.sending.models import Delivery, Run
from tests.factories import UserFactory
from tests.newsletter import test_send_queue
from tests.newsletter.digest_helpers import article, many_subscribers, subscriber
from tests.support import csrf_token

# The SMTP sink holding messages until the test lets them go.
hold_mail = test_send_queue.hold_mail


@pytest.fixture
def replies(app, mailbox, monkeypatch) -> dict[str, str]:
    """The sink answers each address in the returned dict with its reply; others get 250."""
    script: dict[str, str] = {}
    accept = mailbox.handler.handle_DATA

    async def handle_data(server, session, envelope):
        reply = script.get(envelope.rcpt_tos[0])
        if reply:
            return reply
        return await accept(server, session, envelope)

    # The sink reads its hooks per connection, so every new connection sees this one.
    monkeypatch.setitem(vars(mailbox.handler), "handle_DATA", handle_data)
    # Give up on a 4xx after two attempts, retrying at once, so failures come quickly.
    app.config.update(MAIL_RETRY_SECONDS=0, MAIL_MAX_ATTEMPTS=2)
    return script


def _run(kind="digest", period=None, subject="", finished=True, statuses=(), **values) -> Run:
    """A run with one delivery per status given, each to a subscribed reader of its own."""
    now = utcnow()
    run = Run(
        kind=kind,
        period=period or f"{kind}:{now.timestamp()}",
        subject=subject,
        cutoff=now,
        started_at=now,
        finished_at=now if finished else None,
        **values,
    )
    db.session.add(run)
    db.session.flush()
    for status in statuses:
        user = UserFactory.build(digest_consent_at=now)
        db.session.add(user)
        db.session.flush()
        db.session.add(DigestPreference(user_id=user.id, frequency="daily"))
        db.session.add(Delivery(run_id=run.id, user_id=user.id, status=status, article_ids="1"))
    db.session.commit()
    return run


def _login_admin(auth, admin):
    auth.login("editor@example.org")


def _text(response) -> str:
    return response.get_data(as_text=True)


def _run_links(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/admin/runs/(\d+)"', html)]


# --- the list ------------------------------------------------------------------------


def test_the_list_shows_each_run_with_live_counts(client, auth, admin):
    run = _run(
        "newsletter",
        "newsletter:7",
        subject="Spring issue",
        statuses=["sent", "sent", "failed", "bounced", "queued"],
    )
    _login_admin(auth, admin)
    html = _text(client.get("/admin/runs"))
    assert "Spring issue" in html and "newsletter:7" in html
    assert _run_links(html) == [run.id]
    row = html[html.index(f'href="/admin/runs/{run.id}"') :]
    row = row[: row.index("</tr>")]
    cells = re.findall(r'<td class="num">(\d+)</td>', row)
    assert cells == ["5", "2", "1", "1", "1"]  # total, sent, failed, bounced, queued


def test_the_list_filters_by_kind_state_and_search(client, auth, admin):
    daily = _run("digest", "daily:2026-11-25", statuses=["sent"])
    instant = _run("instant", "article:42", finished=False, statuses=["queued"])
    spring = _run("newsletter", "newsletter:1", subject="Spring issue", statuses=["failed"])
    autumn = _run("newsletter", "newsletter:2", subject="Autumn 100% issue", statuses=["sent"])
    _login_admin(auth, admin)

    def ids(query: str) -> set[int]:
        response = client.get("/admin/runs" + query)
        assert response.status_code == 200, query
        return set(_run_links(_text(response)))

    assert ids("") == {daily.id, instant.id, spring.id, autumn.id}
    assert ids("?kind=newsletter") == {spring.id, autumn.id}
    assert ids("?kind=instant") == {instant.id}
    assert ids("?state=unfinished") == {instant.id}
    assert ids("?state=finished") == {daily.id, spring.id, autumn.id}
    assert ids("?state=with-failures") == {spring.id}
    assert ids("?q=spring") == {spring.id}
    assert ids("?q=daily%3A2026") == {daily.id}
    assert ids("?q=100%25") == {autumn.id}  # % is a character, not a wildcard
    assert ids("?q=%25%25") == set()
    assert ids("?kind=newsletter&state=with-failures&q=issue") == {spring.id}
    # The filters stay in the form.
    html = _text(client.get("/admin/runs?kind=newsletter&state=finished&q=Autumn"))
    assert '<option value="newsletter" selected>' in html
    assert '<option value="finished" selected>' in html
    assert 'value="Autumn"' in html


def test_the_list_pages_keep_the_filters(client, auth, admin):
    now = utcnow()
    for n in range(27):
        db.session.add(
            Run(kind="instant", period=f"article:{n}", cutoff=now, created_at=now + timedelta(n))
        )
    db.session.commit()
    _login_admin(auth, admin)
    first = _text(client.get("/admin/runs?kind=instant"))
    assert len(_run_links(first)) == 25
    assert "page=2" in first and "kind=instant" in first
    second = _text(client.get("/admin/runs?kind=instant&page=2"))
    assert len(_run_links(second)) == 2
    assert client.get("/admin/runs?kind=instant&page=3").status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?kind=bogus", "There is no such kind of run."),
        ("?state=failed", "There is no such state of run."),
        ("?page=0", "There is no such page."),
        ("?page=x", "There is no such page."),
        ("?page=-1", "There is no such page."),
        ("?page=2", "There is no such page."),
        ("?q=" + "x" * 201, "at most 200 characters"),
        ("?q=a%00b", "control characters"),
    ],
)
def test_bad_list_filters_are_404_with_a_reason(client, auth, admin, query, message):
    _login_admin(auth, admin)
    response = client.get("/admin/runs" + query)
    assert response.status_code == 404
    assert message in _text(response)


# --- one run -------------------------------------------------------------------------


def test_the_run_page_shows_counts_and_filters_deliveries(client, auth, admin):
    run = _run("digest", "daily:2026-11-25", statuses=["sent", "sent", "failed", "bounced"])
    failed = db.session.scalar(select(Delivery).where(Delivery.status == "failed"))
    failed.last_reply = "451 4.3.0 Try again later"
    failed.attempts = 5
    db.session.commit()
    _login_admin(auth, admin)
    html = _text(client.get(f"/admin/runs/{run.id}"))
    assert "daily:2026-11-25" in html
    assert "Retry 1 failed delivery" in html
    assert html.count("<tr>") == 1 + 4  # the header row and four deliveries
    only_failed = _text(client.get(f"/admin/runs/{run.id}?status=failed"))
    assert only_failed.count("<tr>") == 1 + 1
    assert "451 4.3.0 Try again later" in only_failed
    assert '<option value="failed" selected>' in only_failed
    email = failed.user.email
    searched = _text(client.get(f"/admin/runs/{run.id}?q={email.upper()}"))
    assert searched.count("<tr>") == 2 and email in searched


def test_a_run_without_failures_offers_no_retry(client, auth, admin):
    run = _run("digest", statuses=["sent", "bounced"])
    _login_admin(auth, admin)
    assert "Retry" not in _text(client.get(f"/admin/runs/{run.id}"))


def test_the_deliveries_are_paginated(client, auth, admin):
    emails = many_subscribers(55, prefix="paged")
    run = _run("digest", "daily:2026-11-26")
    users = db.session.scalars(
        select(DigestPreference.user_id).order_by(DigestPreference.user_id)
    ).all()
    db.session.add_all(Delivery(run_id=run.id, user_id=u, status="sent") for u in users)
    db.session.commit()
    _login_admin(auth, admin)
    first = _text(client.get(f"/admin/runs/{run.id}?status=sent"))
    assert emails[0] in first and emails[49] in first and emails[50] not in first
    assert "page=2" in first and "status=sent" in first
    second = _text(client.get(f"/admin/runs/{run.id}?status=sent&page=2"))
    assert emails[50] in second and emails[54] in second and emails[0] not in second
    assert client.get(f"/admin/runs/{run.id}?page=3").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/admin/runs/999999",
        "/admin/runs/99999999999999999999",
        "/admin/runs/abc",
        "/admin/runs/-1",
        "/admin/runs/{id}?status=bogus",
        "/admin/runs/{id}?page=0",
        "/admin/runs/{id}?q=%00",
    ],
)
def test_bad_run_ids_and_filters_are_404(client, auth, admin, path):
    run = _run("digest", statuses=["sent"])
    _login_admin(auth, admin)
    assert client.get(path.format(id=run.id)).status_code == 404


# --- retrying ------------------------------------------------------------------------


# The retry sends from a thread of the process: real commits.
@pytest.mark.real_commits
def test_retry_resends_only_to_those_who_failed(client, auth, admin, mailbox, replies):
    subscriber("got-it@example.org")
    subscriber("busy1@example.org")
    subscriber("busy2@example.org")
    subscriber("gone@example.org")
    left = subscriber("left@example.org")
    article("Glaciers retreat")
    for email in ("busy1@example.org", "busy2@example.org", "left@example.org"):
        replies[email] = "451 4.3.0 Try again later"
    replies["gone@example.org"] = "550 5.1.1 No such user"
    run = digest.run_digest("daily").run
    db.session.expire_all()
    assert (run.sent, run.failed, run.bounced) == (1, 3, 1)
    assert run.finished_at is not None
    assert len(mailbox.to("got-it@example.org")) == 1
    # One of the failed readers has unsubscribed since: the retry must leave them alone.
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == left.id))
    pref.unsubscribed_at = utcnow()
    db.session.commit()

    replies.clear()  # the relay is back
    _login_admin(auth, admin)
    page = _text(client.get(f"/admin/runs/{run.id}"))
    assert "Retry 2 failed deliveries" in page
    assert "1 stay failed" in page
    token = csrf_token(client, f"/admin/runs/{run.id}")
    response = client.post(f"/admin/runs/{run.id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/runs/{run.id}"
    assert "2 failed deliveries queued again" in _text(client.get(response.headers["Location"]))
    assert background.join_background(timeout=30)  # the retry is sent by a thread of the process

    # Each reader who failed got it once; nobody who had it got it again.
    assert len(mailbox.to("busy1@example.org")) == 1
    assert len(mailbox.to("busy2@example.org")) == 1
    assert len(mailbox.to("got-it@example.org")) == 1
    assert mailbox.to("gone@example.org") == []
    assert mailbox.to("left@example.org") == []
    assert len(mailbox.messages) == 3

    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert (run.total, run.sent, run.failed, run.bounced) == (5, 3, 1, 1)
    assert run.finished_at is not None
    resent = db.session.scalars(
        select(Delivery).join(Delivery.user).where(User.email == "busy1@example.org")
    ).one()
    assert (resent.status, resent.attempts) == ("sent", 1)

    entry = db.session.scalar(select(AuditEntry))
    assert entry.action == "run_retry"
    assert entry.summary == f"Retried 2 failed deliveries of run {run.id}"
    assert entry.target == f"run {run.id}"
    assert entry.actor_email == "editor@example.org"


# The retry sends from a thread of the process: real commits.
@pytest.mark.real_commits
def test_retry_answers_before_the_retried_mail_goes_out(
    client, auth, admin, mailbox, replies, hold_mail
):
    subscriber("busy@example.org")
    article("Glaciers retreat")
    replies["busy@example.org"] = "451 4.3.0 Try again later"
    run = digest.run_digest("daily").run
    assert mailbox.to("busy@example.org") == []
    replies.clear()
    hold = hold_mail()
    _login_admin(auth, admin)
    token = csrf_token(client, f"/admin/runs/{run.id}")

    response = client.post(f"/admin/runs/{run.id}/retry", data={"csrf_token": token})

    # Answered while the retried message still waits at the sink: sent in the background.
    assert response.status_code == 302
    assert mailbox.to("busy@example.org") == []
    assert hold.arrived.wait(test_send_queue.HOLD_SECONDS), "the retry never began to send"
    hold.release.set()
    assert background.join_background(timeout=30)
    assert len(mailbox.to("busy@example.org")) == 1
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert (run.sent, run.failed, run.finished_at is not None) == (1, 0, True)


def test_retry_with_the_broker_down_leaves_the_deliveries_to_the_next_tick(
    client, auth, admin, mailbox, replies
):
    subscriber("busy@example.org")
    article("Glaciers retreat")
    replies["busy@example.org"] = "451 4.3.0 Try again later"
    run = digest.run_digest("daily").run
    replies.clear()
    # The broker goes down: nobody listens there any more.
    client.application.config["CELERY_BROKER_URL"] = "redis://127.0.0.1:1/0"
    background.init_celery(client.application)
    _login_admin(auth, admin)
    token = csrf_token(client, f"/admin/runs/{run.id}")

    response = client.post(f"/admin/runs/{run.id}/retry", data={"csrf_token": token})

    assert response.status_code == 302  # not a 500
    page = _text(client.get(response.headers["Location"]))
    assert "1 failed delivery queued again; they go out in the background" in page
    assert mailbox.to("busy@example.org") == []
    client.application.config["CELERY_BROKER_URL"] = ""
    scheduler.tick()
    assert len(mailbox.to("busy@example.org")) == 1


def test_retry_with_nothing_to_retry_is_refused_and_not_logged(client, auth, admin, mailbox):
    clean = _run("digest", statuses=["sent", "bounced"])
    stuck = _run("digest", statuses=["failed"])
    user_id = db.session.scalar(select(Delivery.user_id).where(Delivery.run_id == stuck.id))
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == user_id))
    pref.unsubscribed_at = utcnow()
    db.session.commit()
    _login_admin(auth, admin)
    token = csrf_token(client, f"/admin/runs/{clean.id}")

    response = client.post(f"/admin/runs/{clean.id}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    assert "This run has no failed deliveries" in _text(client.get(f"/admin/runs/{clean.id}"))
    response = client.post(f"/admin/runs/{stuck.id}/retry", data={"csrf_token": token})
    assert "None of the failed deliveries can be retried" in _text(
        client.get(f"/admin/runs/{stuck.id}")
    )
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    assert mailbox.messages == []
    db.session.expire_all()
    assert db.session.scalar(select(Delivery.status).where(Delivery.run_id == stuck.id)) == (
        "failed"
    )


def test_retry_needs_csrf_and_a_real_run(client, auth, admin):
    run = _run("digest", statuses=["failed"])
    _login_admin(auth, admin)
    assert client.post(f"/admin/runs/{run.id}/retry").status_code == 400
    token = csrf_token(client, f"/admin/runs/{run.id}")
    assert client.post("/admin/runs/999999/retry", data={"csrf_token": token}).status_code == 404
    db.session.expire_all()
    assert db.session.scalar(select(Delivery.status)) == "failed"


# The retry sends from a thread of the process: real commits.
@pytest.mark.real_commits
def test_retry_never_mails_an_article_the_reader_got_since(app, mailbox, replies):
    subscriber("busy@example.org")
    story = article("Glaciers retreat")
    replies["busy@example.org"] = "451 4.3.0 Try again later"
    run = digest.run_digest("daily").run
    delivery = db.session.scalar(select(Delivery).where(Delivery.run_id == run.id))
    assert delivery.status == "failed"
    # A later digest or notice brought the reader the article meanwhile.
    db.session.add(MailedArticle(user_id=delivery.user_id, article_id=story.id))
    db.session.commit()
    replies.clear()

    assert service.retry_failed(run.id) == 1
    assert background.join_background(timeout=30)
    assert mailbox.to("busy@example.org") == []
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    assert delivery.status == "sent" and delivery.article_ids == ""
    assert delivery.last_reply.startswith("skipped")


def test_retry_failed_queues_nothing_for_a_run_without_failures(app):
    run = _run("digest", statuses=["sent", "queued"], finished=False)
    assert service.retry_failed(run.id) == 0
    assert service.retry_failed(999999) == 0


# --- who may see them ----------------------------------------------------------------


def _paths(run_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/admin/runs"),
        ("GET", f"/admin/runs/{run_id}"),
        ("POST", f"/admin/runs/{run_id}/retry"),
    ]


def test_visitors_log_in_and_readers_are_refused(client, auth, reader):
    run = _run("digest", statuses=["failed"])
    token = {"csrf_token": csrf_token(client, "/login")}
    for method, path in _paths(run.id):
        response = client.open(path, method=method, data=token)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next="), path
    auth.login("reader@example.org")
    token = {"csrf_token": csrf_token(client, "/account/password")}
    for method, path in _paths(run.id):
        assert client.open(path, method=method, data=token).status_code == 403, path
    db.session.expire_all()
    assert db.session.scalar(select(Delivery.status)) == "failed"

"""Send now queues the newsletter and answers at once; a thread or a worker sends it.

What reached readers is read from the SMTP sink. The sink can hold a message at its
DATA stage until the test lets it go, so a test can see what the editor sees while
the sending is still under way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from shop import background, scheduler
from shop.audit.models import AuditEntry
from shop.extensions import db
from shop.newsletters import message as newsletter_mail
from shop.newsletters import sending as newsletter_sending
from shop.newsletters import services as newsletters
from shop.newsletters.models import Newsletter
from tests.factories import AdminFactory
from tests.newsletter import test_celery
from tests.newsletter.digest_helpers import subscriber
from tests.support import AuthActions, csrf_token, path_of

# Sending threads write while the test reads and presses: real commits, not one connection.
pytestmark = pytest.mark.real_commits

# How long the sink holds a message at most: a request that sends inside itself
# (the bug) gets its answer only after this, with the mail already delivered.
HOLD_SECONDS = 10
READERS = [f"reader{n}@example.org" for n in range(3)]


@dataclass
class Hold:
    """The sink's hold on incoming mail: ``arrived`` once a message waits, then ``release``."""

    arrived: threading.Event
    release: threading.Event


@pytest.fixture
def hold_mail(mailbox, monkeypatch):
    """Call it to make the sink hold every message until the test releases the hold."""
    holds: list[Hold] = []

    def hold() -> Hold:
        current = Hold(threading.Event(), threading.Event())
        accept = mailbox.handler.handle_DATA

        async def held(server, session, envelope):
            current.arrived.set()
            # Waited for off the sink's event loop, which serves every connection.
            released = await asyncio.get_running_loop().run_in_executor(
                None, current.release.wait, HOLD_SECONDS
            )
            if not released:
                current.release.set()  # held long enough: let the rest through at once
            return await accept(server, session, envelope)

        # The sink reads its hooks per connection, so every new connection sees this one.
        monkeypatch.setitem(vars(mailbox.handler), "handle_DATA", held)
        holds.append(current)
        return current

    yield hold
    for current in holds:
        current.release.set()


@pytest.fixture
def editor(app, client, auth, admin):
    """The client, logged in as an admin; no sending thread outlives the test."""
    auth.login(admin.email)
    yield client
    # Before the app's teardown empties the tables under a thread still writing.
    assert background.join_background(app, timeout=60), "a background job was still running"


def _draft(subject: str = "Our year in review") -> Newsletter:
    return newsletters.create_newsletter(
        None, newsletters.NewsletterInput(subject, "Thank you for reading.", "all")
    )


def _press_send(auth, newsletter: Newsletter):
    return auth.post(
        f"/admin/newsletters/{newsletter.id}/send",
        token_from=f"/admin/newsletters/{newsletter.id}/progress",
    )


def _progress(client, newsletter: Newsletter) -> dict:
    response = client.get(
        f"/admin/newsletters/{newsletter.id}/progress", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    return response.json


def _received(mailbox) -> Counter:
    return Counter(m["To"] for m in mailbox.messages)


# Real Celery workers over Redis, as test_celery.py starts them.
redis_db = test_celery.redis_db
broker = test_celery.broker
workers = test_celery.workers
wait_until = test_celery.wait_until

SENT_TO_ALL = {
    "status": "sent",
    "total": len(READERS),
    "sent": len(READERS),
    "failed": 0,
    "bounced": 0,
    "queued": 0,
    "finished": True,
}


def test_send_now_answers_before_any_mail_goes_out(editor, auth, mailbox, hold_mail):
    for email in READERS:
        subscriber(email)
    newsletter = _draft()
    hold = hold_mail()

    response = _press_send(auth, newsletter)

    # The answer came while the first message still waits at the sink.
    assert response.status_code == 303
    assert path_of(response.headers["Location"]) == (f"/admin/newsletters/{newsletter.id}/progress")
    assert mailbox.messages == []
    assert hold.arrived.wait(HOLD_SECONDS), "nothing began to send in the background"
    assert _progress(editor, newsletter) == {
        "status": "sending",
        "total": len(READERS),
        "sent": 0,
        "failed": 0,
        "bounced": 0,
        "queued": len(READERS),
        "finished": False,
    }
    page = editor.get(f"/admin/newsletters/{newsletter.id}/progress").get_data(as_text=True)
    assert '<span data-field="status">sending</span>' in page
    # The archive link waits, hidden, for the page's script to show it when sent.
    assert "<span data-when-finished hidden>" in page

    hold.release.set()
    assert background.join_background(timeout=30)
    assert _received(mailbox) == Counter(READERS)
    # Nobody had to press anything more for the newsletter to be marked sent.
    assert _progress(editor, newsletter) == SENT_TO_ALL
    db.session.expire_all()
    assert db.session.get(Newsletter, newsletter.id).status == "sent"


def test_a_newsletter_whose_process_died_after_taking_it_is_sent_by_the_next_tick(
    editor, auth, mailbox, monkeypatch
):
    for email in READERS:
        subscriber(email)
    newsletter = _draft()
    # The process dies between the request's answer and its thread's first step.
    monkeypatch.setitem(background._jobs, newsletter_sending.SEND_JOB, lambda **_: None)

    assert _press_send(auth, newsletter).status_code == 303
    assert background.join_background(timeout=30)
    assert mailbox.messages == []
    # Honest about it: taken, nobody has begun to send it.
    assert _progress(editor, newsletter) == {
        "status": "queued",
        "total": 0,
        "sent": 0,
        "failed": 0,
        "bounced": 0,
        "queued": 0,
        "finished": False,
    }

    monkeypatch.undo()
    scheduler.tick()  # what cron (scripts/serve) runs every minute
    assert _received(mailbox) == Counter(READERS)
    assert _progress(editor, newsletter) == SENT_TO_ALL
    scheduler.tick()
    assert _received(mailbox) == Counter(READERS), "a second tick sends nothing more"


def test_a_newsletter_left_sending_without_a_run_is_planned_and_sent_by_tick(app, mailbox):
    for email in READERS:
        subscriber(email)
    newsletter = _draft()
    # What a process leaves behind when it dies right after taking the newsletter.
    newsletter.status = "sending"
    db.session.commit()

    scheduler.tick()

    assert _received(mailbox) == Counter(READERS)
    db.session.expire_all()
    sent = db.session.get(Newsletter, newsletter.id)
    assert sent.status == "sent"
    assert (sent.run.total, sent.run.sent) == (len(READERS), len(READERS))


def test_a_send_that_fails_in_its_thread_is_logged_and_finished_by_tick(
    app, editor, auth, mailbox, monkeypatch, caplog
):
    # The dead thread's lease on its batch runs out after a second, not five minutes.
    app.config["MAIL_LEASE_SECONDS"] = 1
    for email in READERS:
        subscriber(email)
    newsletter = _draft()
    render = newsletter_mail.render

    def broken(item, **kwargs):
        raise RuntimeError("the template folder is unreadable")

    monkeypatch.setattr(newsletter_mail, "render", broken)
    caplog.set_level(logging.ERROR)

    assert _press_send(auth, newsletter).status_code == 303
    assert background.join_background(timeout=30)

    # Not lost: the failure is in the log with its traceback, and nothing was sent.
    failures = [r for r in caplog.records if "background job newsletter.send" in r.getMessage()]
    assert len(failures) == 1
    assert "the template folder is unreadable" in str(failures[0].exc_info[1])
    assert mailbox.messages == []
    assert _progress(editor, newsletter)["status"] == "sending"

    monkeypatch.setattr(newsletter_mail, "render", render)
    time.sleep(1.5)  # the lease of the batch the thread had taken runs out
    scheduler.tick()
    assert _received(mailbox) == Counter(READERS)
    assert _progress(editor, newsletter) == SENT_TO_ALL


def test_two_presses_while_it_sends_send_it_once(editor, auth, mailbox, hold_mail):
    for email in READERS:
        subscriber(email)
    newsletter = _draft()
    hold = hold_mail()

    first = _press_send(auth, newsletter)
    second = _press_send(auth, newsletter)

    assert (first.status_code, second.status_code) == (303, 303)
    page = editor.get(path_of(second.headers["Location"])).get_data(as_text=True)
    assert "This newsletter is already being sent." in page
    assert mailbox.messages == []
    hold.release.set()
    assert background.join_background(timeout=30)
    assert _received(mailbox) == Counter(READERS)
    summaries = db.session.scalars(select(AuditEntry.summary)).all()
    assert summaries == ["Sent newsletter “Our year in review”"]


def test_two_editors_pressing_at_the_same_moment_send_it_once(app, editor, auth, mailbox):
    for email in READERS:
        subscriber(email)
    newsletter = _draft()
    AdminFactory(email="second.editor@example.org")
    other = app.test_client()
    AuthActions(other).login("second.editor@example.org")
    form = f"/admin/newsletters/{newsletter.id}"
    tokens = {editor: csrf_token(editor, form), other: csrf_token(other, form)}
    together = threading.Barrier(2)
    answers: dict = {}

    def press(client) -> None:
        together.wait(10)
        answers[client] = client.post(f"{form}/send", data={"csrf_token": tokens[client]})

    pressers = [threading.Thread(target=press, args=(c,)) for c in (editor, other)]
    for presser in pressers:
        presser.start()
    for presser in pressers:
        presser.join(30)

    assert [answers[c].status_code for c in (editor, other)] == [303, 303]
    assert background.join_background(timeout=30)
    assert _received(mailbox) == Counter(READERS)
    assert len(db.session.scalars(select(AuditEntry.summary)).all()) == 1


def test_with_jobs_in_background_off_send_now_sends_before_answering(app, editor, auth, mailbox):
    app.config["JOBS_IN_BACKGROUND"] = False
    for email in READERS:
        subscriber(email)
    newsletter = _draft()

    assert _press_send(auth, newsletter).status_code == 303
    # No thread to wait for: it was all done in the request.
    assert _received(mailbox) == Counter(READERS)
    assert _progress(editor, newsletter) == SENT_TO_ALL


@pytest.fixture
def dead_broker(app_config) -> None:
    """A broker nobody listens on (request it before ``app``)."""
    app_config["CELERY_BROKER_URL"] = "redis://127.0.0.1:1/0"


def test_with_the_broker_down_send_now_says_so_and_changes_nothing(
    dead_broker, app, editor, auth, mailbox
):
    for email in READERS:
        subscriber(email)
    newsletter = _draft()

    response = _press_send(auth, newsletter)

    assert response.status_code == 303
    page = editor.get(path_of(response.headers["Location"])).get_data(as_text=True)
    assert "could not be queued (the job queue is unreachable), so nothing was sent" in page
    db.session.expire_all()
    assert db.session.get(Newsletter, newsletter.id).status == "draft"
    assert db.session.scalars(select(AuditEntry)).all() == []
    # Once jobs can be queued again, the same button sends it.
    app.config["CELERY_BROKER_URL"] = ""
    assert _press_send(auth, newsletter).status_code == 303
    assert background.join_background(timeout=30)
    assert _received(mailbox) == Counter(READERS)


def test_an_unknown_background_job_fails_in_the_caller(app):
    with pytest.raises(LookupError):
        background.enqueue_background("newsletter.no-such-job")


def test_with_a_broker_send_now_goes_to_the_workers(
    broker, app, workers, editor, auth, mailbox, redis_db
):
    for email in READERS:
        subscriber(email)
    newsletter = _draft()

    assert _press_send(auth, newsletter).status_code == 303
    # Queued on the broker, and nothing sent by the web process.
    assert redis_db.llen("celery") == 1
    assert background.join_background(timeout=5)
    assert mailbox.messages == []
    assert _progress(editor, newsletter)["status"] == "queued"

    workers(1)
    # What the progress page does by itself: poll until it says sent.
    wait_until(lambda: _progress(editor, newsletter)["finished"], 60, "never marked sent")
    assert _received(mailbox) == Counter(READERS)
    assert _progress(editor, newsletter) == SENT_TO_ALL

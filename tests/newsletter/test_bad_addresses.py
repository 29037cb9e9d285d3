"""One bad address, or one message that cannot be built, never stops a send or a tick."""

from __future__ import annotations

import smtplib

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from shop import scheduler
from shop.accounts.models import User
from shop.digests import runs as digest
from shop.digests.content import DigestContent
from shop.digests.rendering import DigestRenderer
from shop.extensions import db
from shop.newsletters import sending as newsletter_sending
from shop.newsletters import services as newsletters
from shop.newsletters.models import Newsletter
from shop.sending.engine import send_run
from shop.sending.models import Delivery, Run
from tests.factories import TagFactory
from tests.newsletter.digest_helpers import article, subscriber
from tests.support import Mailbox, SinkHandler, free_port

IDN = "idn@bücher.example"
IDN_A_LABEL = "idn@xn--bcher-kva.example"
UTF8_LOCAL = "jürgen@example.org"
PLAIN = ("first@example.org", "last@example.org")


@pytest.fixture
def admin_client(client, auth, admin):
    """The client, logged in as an admin."""
    auth.login(admin.email)
    return client


@pytest.fixture
def ascii_sink(app_config):
    """A sink that does not offer SMTPUTF8 (the suite's own does); the app sends to it."""
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=False)
    controller.start()
    app_config.update(MAIL_PORT=controller.port)
    yield Mailbox(handler)
    controller.stop()


def _readers() -> None:
    subscriber(PLAIN[0])
    subscriber(IDN)
    subscriber(UTF8_LOCAL)
    subscriber(PLAIN[1])


def _delivery_of(email: str) -> Delivery:
    db.session.expire_all()
    return db.session.scalar(select(Delivery).join(User).where(User.email == email))


def _assert_only_the_utf8_local_part_failed(mailbox, run: Run) -> None:
    for email in PLAIN:
        assert len(mailbox.to(email)) == 1, email
    received = mailbox.to(IDN_A_LABEL)
    assert len(received) == 1
    # Without SMTPUTF8 the header carries the A-label too (RFC 5322).
    assert received[0]["To"] == IDN_A_LABEL
    assert all(UTF8_LOCAL not in rcpts for _, rcpts, _ in mailbox.handler.messages)
    failed = _delivery_of(UTF8_LOCAL)
    assert failed.status == "failed"
    assert "SMTPUTF8" in failed.last_reply and UTF8_LOCAL in failed.last_reply
    for email in (*PLAIN, IDN):
        assert _delivery_of(email).status == "sent", email
    db.session.refresh(run)
    assert run.finished_at is not None
    assert (run.sent, run.failed) == (3, 1)


def test_a_digest_reaches_an_idn_address_and_fails_only_a_non_ascii_local_part(
    ascii_sink, app, admin_client
):
    mailbox = ascii_sink
    _readers()
    article("Glaciers retreat", [TagFactory(name="Climate")])
    result = digest.run_digest("daily")
    assert (result.summary.sent, result.summary.failed) == (3, 1)
    _assert_only_the_utf8_local_part_failed(mailbox, result.run)

    # The reason is on the back office's run page, next to the reader.
    page = admin_client.get(f"/admin/runs/{result.run.id}?status=failed")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert UTF8_LOCAL in html and "SMTPUTF8" in html

    # A later tick finds nothing to resume and mails nobody again.
    mailbox.clear()
    scheduler.tick()
    assert mailbox.messages == []


def test_a_newsletter_reaches_an_idn_address_and_fails_only_a_non_ascii_local_part(
    ascii_sink, app, admin
):
    mailbox = ascii_sink
    _readers()
    newsletter = newsletters.create_newsletter(
        admin, newsletters.NewsletterInput("Our year", "Thank you for reading.")
    )
    run = newsletter_sending.start_sending(newsletter)
    summary = send_run(run.id)
    assert (summary.sent, summary.failed) == (3, 1)
    _assert_only_the_utf8_local_part_failed(mailbox, run)
    newsletter_sending.settle()
    assert db.session.get(Newsletter, newsletter.id).status == "sent"


def test_a_relay_that_offers_smtputf8_gets_the_non_ascii_local_part_too(app, mailbox):
    assert "smtputf8" in _extensions(app)  # the suite's sink offers it
    _readers()
    article("Glaciers retreat", [TagFactory(name="Climate")])
    result = digest.run_digest("daily")
    assert (result.summary.sent, result.summary.failed) == (4, 0)
    received = mailbox.to(UTF8_LOCAL)
    assert len(received) == 1
    assert received[0]["To"] == UTF8_LOCAL  # UTF-8 in the header: RFC 6532
    assert mailbox.to(IDN_A_LABEL)[0]["To"] == IDN_A_LABEL
    assert len(mailbox.to(PLAIN[0])) == 1 and len(mailbox.to(PLAIN[1])) == 1


def _extensions(app) -> dict:
    with smtplib.SMTP(app.config["MAIL_SERVER"], app.config["MAIL_PORT"]) as smtp:
        smtp.ehlo()
        return smtp.esmtp_features


def test_an_error_building_one_message_fails_that_delivery_alone(app, mailbox, monkeypatch):
    for email in ("a@example.org", "broken@example.org", "z@example.org"):
        subscriber(email)
    article("Glaciers retreat", [TagFactory(name="Climate")])
    real_digest = DigestRenderer.digest

    def digest_or_fail(self, plan):
        if plan.email == "broken@example.org":
            raise RuntimeError("the template blew up")
        return real_digest(self, plan)

    monkeypatch.setattr(DigestRenderer, "digest", digest_or_fail)
    result = digest.run_digest("daily")
    assert (result.summary.sent, result.summary.failed) == (2, 1)
    assert len(mailbox.to("a@example.org")) == 1 and len(mailbox.to("z@example.org")) == 1
    assert mailbox.to("broken@example.org") == []
    broken = _delivery_of("broken@example.org")
    assert broken.status == "failed" and "the template blew up" in broken.last_reply
    db.session.refresh(result.run)
    assert result.run.finished_at is not None


def test_tick_goes_on_past_a_run_that_raises_and_exits_1_saying_so(
    app, runner, mailbox, monkeypatch
):
    app.config["DIGEST_HOUR"] = 0
    climate = TagFactory(name="Climate")
    subscriber("daily@example.org")
    subscriber("fast@example.org", "instant", tags=[climate])
    article("Breaking ice", [climate])
    real_init = DigestContent.__init__

    def init_or_fail(self, run, deliveries):
        if run.kind == "digest":
            raise RuntimeError("the digest's articles could not be read")
        real_init(self, run, deliveries)

    monkeypatch.setattr(DigestContent, "__init__", init_or_fail)
    result = runner.invoke(args=["tick"])
    assert result.exit_code == 1, result.output
    assert "daily digest" in result.output
    assert "the digest's articles could not be read" in result.output
    # The instant notice, due in the same tick, went out all the same.
    assert [m["Subject"] for m in mailbox.to("fast@example.org")] == ["New: Breaking ice"]
    assert mailbox.to("daily@example.org") == []

    # Once the fault is gone, the next tick sends the stuck digest, and exits 0.
    monkeypatch.setattr(DigestContent, "__init__", real_init)
    again = runner.invoke(args=["tick"])
    assert again.exit_code == 0, again.output
    assert len(mailbox.to("daily@example.org")) == 1
    assert len(mailbox.to("fast@example.org")) == 1


def test_tick_resumes_the_other_unfinished_runs_when_one_raises(app, runner, mailbox, monkeypatch):
    climate = TagFactory(name="Climate")
    subscriber("a@example.org", "instant", tags=[climate])
    first = article("First", [climate])
    second = article("Second", [climate])
    # Two notices planned and left unsent, as a crashed worker would leave them.
    runs = {}
    for story in (first, second):
        monkeypatch.setattr("shop.digests.runs.dispatch_run", lambda run_id: None)
        digest.run_instant(story)
        runs[story.title] = db.session.scalar(
            select(Run).where(Run.period == f"article:{story.id}")
        )
    monkeypatch.undo()
    real_init = DigestContent.__init__
    stuck_id = runs["First"].id

    def init_or_fail(self, run, deliveries):
        if run.id == stuck_id:
            raise RuntimeError("run one is broken")
        real_init(self, run, deliveries)

    monkeypatch.setattr(DigestContent, "__init__", init_or_fail)
    app.config["DIGEST_HOUR"] = 23  # no digest due: only the resumes
    result = runner.invoke(args=["tick"])
    assert result.exit_code == 1
    assert f"run {stuck_id}" in result.output and "run one is broken" in result.output
    assert [m["Subject"] for m in mailbox.to("a@example.org")] == ["New: Second"]


def test_digest_send_says_why_a_run_stopped(app, runner, mailbox, monkeypatch):
    subscriber("a@example.org")
    article("Glaciers retreat", [TagFactory(name="Climate")])

    def broken(self, run, deliveries):
        raise RuntimeError("the articles could not be read")

    monkeypatch.setattr(DigestContent, "__init__", broken)
    result = runner.invoke(args=["digest", "send", "--frequency", "daily"])
    assert result.exit_code == 1
    assert "Sending stopped: RuntimeError: the articles could not be read" in result.output
    assert "run this command again" in result.output
    monkeypatch.undo()
    # Its batch was handed back at once: running the command again sends it.
    again = runner.invoke(args=["digest", "send", "--frequency", "daily"])
    assert again.exit_code == 0, again.output
    assert len(mailbox.to("a@example.org")) == 1

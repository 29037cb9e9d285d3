"""Digest selection, messages and sending, read back from the SMTP sink."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select

from shop import clock, scheduler
from shop.billing.models import Subscription
from shop.clock import utcnow
from shop.digests import runs as digest
from shop.digests.models import MailedArticle
from shop.extensions import db
from shop.install import install_id, row_stamp
from shop.preferences.models import DigestPreference
from shop.sending.models import Delivery
from tests.factories import TagFactory
from tests.newsletter.digest_helpers import article, cutoff, subscriber
from tests.support import html_of, path_of, text_of


@pytest.fixture
def tags(app):
    """Three tags."""
    return {n: TagFactory(name=n) for n in ("Climate", "North Korea", "Economy")}


def _got(mailbox, email) -> list[str]:
    """The article titles each message to ``email`` carried, per message."""
    return [text_of(m) for m in mailbox.to(email)]


def test_the_correctness_matrix(app, mailbox, tags):
    today = clock.local_date(utcnow())
    other_day = (today.weekday() + 1) % 7
    climate, korea = tags["Climate"], tags["North Korea"]
    readers = {
        "all": subscriber("all@example.org"),
        "climate": subscriber("climate@example.org", tags=[climate]),
        "korea": subscriber("korea@example.org", tags=[korea]),
        "weekly-today": subscriber("wt@example.org", "weekly", weekday=today.weekday()),
        "weekly-other": subscriber("wo@example.org", "weekly", weekday=other_day),
        "instant": subscriber("instant@example.org", "instant"),
        "off": subscriber("off@example.org", "off"),
        "unconfirmed": subscriber("unconfirmed@example.org", confirmed=False),
        "unsubscribed": subscriber("unsub@example.org", unsubscribed_at=utcnow()),
        "suppressed": subscriber("suppressed@example.org", suppressed_at=utcnow()),
        "paused": subscriber("paused@example.org", paused_until=today),
        "pause-over": subscriber("pauseover@example.org", paused_until=today - timedelta(days=1)),
        "nothing-new": subscriber("economy@example.org", tags=[tags["Economy"]]),
    }
    article("Glaciers retreat", [climate])
    article("Shipyard seen from orbit", [korea])
    article("Untagged note", [])
    article("Too old", [climate], hours_before_cutoff=24 * 5)

    result = digest.run_digest("daily")
    assert result.summary.sent == 4
    assert sorted(m["To"] for m in mailbox.messages) == [
        "all@example.org",
        "climate@example.org",
        "korea@example.org",
        "pauseover@example.org",
    ]
    body = _got(mailbox, "all@example.org")[0]
    assert "Glaciers retreat" in body and "Shipyard" in body and "Untagged note" in body
    assert "Too old" not in body
    climate_body = _got(mailbox, "climate@example.org")[0]
    assert "Glaciers retreat" in climate_body and "Shipyard" not in climate_body
    assert "Shipyard" in _got(mailbox, "korea@example.org")[0]
    for name in ("off", "unconfirmed", "unsubscribed", "suppressed", "paused", "nothing-new"):
        assert mailbox.to(readers[name].email) == [], name

    weekly = digest.run_digest("weekly")
    assert weekly.summary.sent == 1
    assert len(mailbox.to("wt@example.org")) == 1
    assert mailbox.to("wo@example.org") == []


def test_running_the_same_period_again_mails_nobody_twice(app, mailbox, tags):
    subscriber("a@example.org")
    subscriber("b@example.org")
    article("One", [tags["Climate"]])
    first = digest.run_digest("daily")
    assert first.summary.sent == 2
    again = digest.run_digest("daily")
    assert again.summary.sent == 0
    assert len(mailbox.messages) == 2
    # A reader who joins later the same day is picked up by the resumed run.
    subscriber("late@example.org")
    assert digest.run_digest("daily").summary.sent == 1
    assert len(mailbox.to("late@example.org")) == 1


def test_an_article_is_never_mailed_twice_to_a_reader(app, mailbox, tags):
    reader = subscriber("a@example.org")
    one = article("One", [tags["Climate"]])
    digest.run_digest("daily")
    # The preference is rewound, as if the reader had missed a digest.
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == reader.id))
    pref.covered_until = cutoff() - timedelta(days=3)
    db.session.commit()
    mailbox.clear()
    digest.run_digest("daily", clock.local_date(utcnow()) + timedelta(days=1))
    assert mailbox.messages == []
    assert db.session.get(MailedArticle, (reader.id, one.id)) is not None


def test_no_new_articles_means_no_email(app, mailbox):
    subscriber("a@example.org")
    result = digest.run_digest("daily")
    assert result.summary.sent == 0 and mailbox.messages == []


def test_paid_articles_are_full_for_payers_and_a_teaser_for_others(app, mailbox, tags):
    payer = subscriber("payer@example.org")
    db.session.add(
        Subscription(
            user_id=payer.id,
            stripe_subscription_id="sub_x",
            stripe_customer_id="cus_x",
            status="active",
            current_period_end=utcnow() + timedelta(days=10),
        )
    )
    db.session.commit()
    subscriber("free@example.org")
    article(
        "Behind the wall",
        [tags["Economy"]],
        access="paid",
        summary="A long summary of the paid story that goes on. " * 5,
    )
    digest.run_digest("daily")
    paid_text = _got(mailbox, "payer@example.org")[0]
    free_text = _got(mailbox, "free@example.org")[0]
    assert "Read it: http://localhost/articles/behind-the-wall" in paid_text
    assert "Subscribe to read it: http://localhost/shop" in free_text
    assert "Read it:" not in free_text
    assert len(free_text) < len(paid_text)


def test_the_message_itself(app, mailbox, tags):
    reader = subscriber("reader.one@example.org")
    reader.display_name = "Nina Reader"
    db.session.commit()
    app.config["PUBLICATION_ADDRESS"] = "1 Press Street, Newtown"
    article("Glaciers retreat", [tags["Climate"]])
    article("Markets calm", [tags["Economy"]])
    digest.run_digest("daily")
    message = mailbox.last_to("reader.one@example.org")
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "2 new stories in Climate, Economy"
    assert message["To"] == "reader.one@example.org"
    assert message["Date"]
    delivery = db.session.scalar(select(Delivery))
    # This install, the run and its creation time, the delivery and its reader.
    stamp = row_stamp(delivery.run.created_at.replace(tzinfo=UTC))
    assert message["Message-ID"] == (
        f"<{install_id()}-run-{delivery.run_id}-{stamp}-delivery{delivery.id}-u{reader.id}"
        "@localhost>"
    )
    assert message["List-Id"] == '"Broadsheet digest" <digest.localhost>'
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(
        r"<(http://localhost/unsubscribe/[^>]+)>", message["List-Unsubscribe"]
    )
    assert unsubscribe
    html, text = html_of(message), text_of(message)
    assert "Hello Nina Reader," in text and "Hello Nina Reader," in html
    assert "1 Press Street, Newtown" in text and "1 Press Street, Newtown" in html
    assert 'style="' in html and "<style>" not in html  # CSS inlined
    for url in re.findall(r'href="([^"]+)"', html):
        assert url.startswith("http://localhost/"), url
    raw = mailbox.handler.messages[-1][2]
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_the_unsubscribe_link_in_the_digest_works_in_one_click(app, client, mailbox, tags):
    reader = subscriber("leaving@example.org")
    article("Glaciers retreat", [tags["Climate"]])
    digest.run_digest("daily")
    url = re.search(r"<([^>]+)>", mailbox.last_to("leaving@example.org")["List-Unsubscribe"])[1]
    response = client.post(path_of(url), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == reader.id))
    db.session.refresh(pref)
    assert pref.unsubscribed_at is not None
    article("Another", [tags["Climate"]], hours_before_cutoff=0.5)
    mailbox.clear()
    digest.run_digest("daily", clock.local_date(utcnow()) + timedelta(days=1))
    assert mailbox.to("leaving@example.org") == []


def test_dry_run_lists_and_sends_nothing(app, runner, mailbox, tags):
    subscriber("a@example.org")
    article("Glaciers retreat", [tags["Climate"]])
    result = runner.invoke(args=["digest", "send", "--frequency", "daily", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "a@example.org: 1 (Glaciers retreat)" in result.output
    assert "Nothing was sent" in result.output
    assert mailbox.messages == []
    assert db.session.scalar(select(Delivery)) is None


def test_digest_send_command_reports_a_summary(app, runner, mailbox, tags):
    subscriber("a@example.org")
    subscriber("b@example.org")
    article("Glaciers retreat", [tags["Climate"]])
    result = runner.invoke(args=["digest", "send", "--frequency", "daily"])
    assert result.exit_code == 0, result.output
    assert re.search(r"sent 2, skipped 0, failed 0, bounced 0", result.output)
    assert "messages/s" in result.output
    bad = runner.invoke(args=["digest", "send", "--frequency", "daily", "--date", "tomorrow"])
    assert bad.exit_code != 0 and "is not a date" in bad.output


def test_tick_sends_due_digests_once(app, runner, mailbox, tags):
    app.config["DIGEST_HOUR"] = 0
    subscriber("a@example.org")
    article("Glaciers retreat", [tags["Climate"]])
    assert runner.invoke(args=["tick"]).exit_code == 0
    assert runner.invoke(args=["tick"]).exit_code == 0
    assert len(mailbox.to("a@example.org")) == 1


def test_instant_notices_go_once_per_reader_and_article(app, mailbox, tags):
    subscriber("fast@example.org", "instant", tags=[tags["Climate"]])
    subscriber("other@example.org", "instant", tags=[tags["Economy"]])
    article("Breaking ice", [tags["Climate"]])
    scheduler.tick()
    scheduler.tick()
    messages = mailbox.to("fast@example.org")
    assert len(messages) == 1
    assert messages[0]["Subject"] == "New: Breaking ice"
    assert mailbox.to("other@example.org") == []


def test_a_reader_who_opted_in_at_registration_gets_digests(app, mailbox, tags):
    from tests.factories import UserFactory

    UserFactory(
        email="new@example.org",
        digest_consent_at=cutoff() - timedelta(days=1),
        digest_frequency="daily",
    )
    UserFactory(email="no-consent@example.org")
    article("Glaciers retreat", [tags["Climate"]])
    article("Before they joined", [tags["Climate"]], hours_before_cutoff=48)
    digest.run_digest("daily")
    body = text_of(mailbox.last_to("new@example.org"))
    assert "Glaciers retreat" in body and "Before they joined" not in body
    assert mailbox.to("no-consent@example.org") == []

"""Commit groups cost a fixed number of statements; digests list at most DIGEST_MAX_ARTICLES."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, func, select, update

from shop import clock
from shop.clock import utcnow
from shop.digests import runs as digest
from shop.digests.models import MailedArticle
from shop.extensions import db
from shop.preferences.mailing import UnsubscribeLinks
from shop.preferences.models import DigestPreference
from shop.preferences.tokens import unsubscribe_url
from shop.sending.models import Run
from tests.factories import TagFactory
from tests.newsletter.digest_helpers import article, many_subscribers, subscriber
from tests.support import html_of, path_of, text_of


def _counting_statements(action: Callable[[], Any]) -> tuple[Any, int]:
    """What ``action`` returned, and how many SQL statements it sent to the database."""
    seen = {"n": 0}

    def count(*_args: Any) -> None:
        seen["n"] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        result = action()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return result, seen["n"]


def _make_weekly_today(emails: list[str]) -> None:
    """Move these readers to a weekly digest due today."""
    from shop.accounts.models import User

    today = clock.local_date(utcnow()).weekday()
    ids = select(User.id).where(User.email.in_(emails)).scalar_subquery()
    db.session.execute(
        update(DigestPreference)
        .where(DigestPreference.user_id.in_(ids))
        .values(frequency="weekly", weekday=today)
    )
    db.session.commit()


def test_statements_per_delivery_do_not_grow_with_the_list(app, mailbox):
    app.config.update(MAIL_BATCH_SIZE=50, MAIL_COMMIT_EVERY=10, DIGEST_MAX_ARTICLES=20)
    tags = [TagFactory(name=f"Topic {n}") for n in range(3)]
    for n in range(6):
        article(f"Story {n}", tags[: 1 + n % 3], hours_before_cutoff=1 + n)
    many_subscribers(50, "small")
    _make_weekly_today(many_subscribers(250, "large"))

    small, small_statements = _counting_statements(lambda: digest.run_digest("daily"))
    large, large_statements = _counting_statements(lambda: digest.run_digest("weekly"))

    assert small.summary.sent == 50 and large.summary.sent == 250
    assert len(mailbox.messages) == 300
    per_small = small_statements / 50
    per_large = large_statements / 250
    assert per_large <= per_small, (small_statements, large_statements)
    # What 200 more readers cost: per commit group of 10, not per delivery or article
    # (recording each delivery on its own took 8 statements per reader here).
    extra = (large_statements - small_statements) / 200
    assert extra < 1, (small_statements, large_statements)
    # And every reader's record is there: each story mailed once, each window moved on.
    assert db.session.scalar(select(func.count()).select_from(MailedArticle)) == 300 * 6
    cutoffs = set(db.session.scalars(select(Run.cutoff)))
    assert set(db.session.scalars(select(DigestPreference.covered_until))) <= cutoffs


def test_a_long_digest_lists_the_newest_stories_and_links_to_the_rest(app, client, mailbox):
    app.config["DIGEST_MAX_ARTICLES"] = 3
    climate, economy = TagFactory(name="Climate"), TagFactory(name="Economy")
    reader = subscriber("long@example.org", tags=[climate])
    subscriber("short@example.org", tags=[economy])
    stories = [
        article(f"Climate story {n}", [climate], hours_before_cutoff=10 - n) for n in range(5)
    ]
    article("Markets calm", [economy])

    digest.run_digest("daily")

    message = mailbox.last_to("long@example.org")
    text, html = text_of(message), html_of(message)
    # The newest three, in the usual order (oldest first).
    assert re.findall(r"Climate story \d", text) == [
        "Climate story 2",
        "Climate story 3",
        "Climate story 4",
    ]
    assert re.findall(r"Climate story \d", html) == re.findall(r"Climate story \d", text)
    assert message["Subject"] == "5 new stories in Climate"
    assert "5 new stories in the topics you follow" in text
    assert re.search(r"\nand 2 more stories on Broadsheet: http://localhost/\r?\n", text)
    link = re.search(r'<a href="([^"]+)"[^>]*>and 2 more stories on Broadsheet</a>', html)
    assert link, html
    assert link[1] == "http://localhost/"
    home = client.get(path_of(link[1]))
    assert home.status_code == 200
    assert "Climate story 0" in home.get_data(as_text=True)

    # A digest within the cap has no such line.
    short = text_of(mailbox.last_to("short@example.org"))
    assert "Markets calm" in short and "more stor" not in short

    # Only the listed stories count as mailed; the digest still covers the period.
    mailed = set(
        db.session.scalars(
            select(MailedArticle.article_id).where(MailedArticle.user_id == reader.id)
        )
    )
    assert mailed == {s.id for s in stories[2:]}
    run = db.session.scalar(select(Run))
    pref = db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == reader.id))
    assert pref.covered_until == run.cutoff


def test_names_are_escaped_in_html_and_kept_in_text(app, mailbox):
    reader = subscriber("amp@example.org")
    reader.display_name = "Ann & <Bob>"
    db.session.commit()
    article("Glaciers retreat", [TagFactory(name="Climate")])
    digest.run_digest("daily")
    message = mailbox.last_to("amp@example.org")
    assert "Hello Ann & <Bob>," in text_of(message)
    assert (
        "Hello Ann &amp; &lt;Bob&gt;,"
        in message.get_body(("html",)).get_payload(decode=True).decode()
    )
    raw = mailbox.handler.messages[-1][2]
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_unsubscribe_links_are_the_ones_tokens_make(app):
    links = UnsubscribeLinks()
    for user_id in (1, 42, 123_456_789):
        assert links.url(user_id) == unsubscribe_url(user_id)


def test_an_assembled_digest_is_the_message_its_texts_make(app):
    from shop.digests.rendering import DigestRenderer
    from shop.digests.selection import Candidate
    from shop.mail.bulk import Rendered, build_bytes
    from shop.sending.content import Plan

    published = utcnow()
    articles = {
        n: Candidate(
            n, f"Story {n} & more", f"story-{n}", "Summary.", access, published, frozenset({n % 3})
        )
        for n, access in enumerate(["public", "paid", "members", "public", "paid"], start=1)
    }
    renderer = DigestRenderer(articles, {0: "Climate", 1: "Ünïcode", 2: "Economy"})
    app.config["DIGEST_MAX_ARTICLES"] = 3
    for paying in (False, True):
        assembled = renderer.digest(Plan(7, "r@example.org", "Ann & Bob", paying, [1, 2, 3, 4, 5]))
        plain = Rendered(assembled.subject, assembled.text, assembled.html)
        fields = {
            "to": "r@example.org",
            "name": "Ann & Bob",
            "msgid": "<m@localhost>",
            "unsubscribe_url": "http://localhost/unsubscribe/t?a=1&b=2",
            "preferences_url": "http://localhost/account/preferences",
            "sender": "news@localhost",
        }
        # Built from the cached pieces, or from the texts alone: the same bytes (but
        # for the Date, should the second change between the two).
        undated = [
            re.sub(rb"\r\nDate: [^\r]+", b"", build_bytes(r, **fields)) for r in (assembled, plain)
        ]
        assert undated[0] == undated[1]
        assert b"Hello Ann &amp; Bob," in undated[0] and b"Hello Ann & Bob," in undated[0]
        assert assembled.article_ids == (3, 4, 5)


def test_a_group_commits_while_the_relay_still_has_messages_of_the_next(app, mailbox, monkeypatch):
    from shop.sending import engine, ledger

    # A group that waited for its last answer before committing, and handed nothing
    # over meanwhile, left the relay idle through every commit.
    app.config.update(MAIL_BATCH_SIZE=50, MAIL_COMMIT_EVERY=10)
    article("Glaciers retreat", [TagFactory(name="Climate")])
    many_subscribers(40, "groups")
    seen: list[tuple[int, int]] = []  # (the group's messages, those with the relay) at commit
    sending: list[engine._Sending] = []
    real_init, real_commit = engine._Sending.__init__, ledger.SentGroup.commit

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        sending.append(self)

    def commit(self):
        seen.append((len(self), sending[0].pipeline.outstanding))
        real_commit(self)

    monkeypatch.setattr(engine._Sending, "__init__", init)
    monkeypatch.setattr(ledger.SentGroup, "commit", commit)
    result = digest.run_digest("daily")

    assert result.summary.sent == 40 and len(mailbox.messages) == 40
    # Never more than MAIL_COMMIT_EVERY handed over and not committed, so a crash still
    # repeats at most one group; yet some commits had messages with the relay.
    assert all(size + outstanding <= 10 for size, outstanding in seen), seen
    assert any(size and outstanding for size, outstanding in seen), seen
    assert sum(size for size, _ in seen) == 40

"""The digest correctness matrix: what each kind of reader finds in their mailbox.

One reader per cell (followed tags x frequency x paying or free x state x already
mailed) shares one database with stories of every access level. Today's daily and
weekly digests run once each, then again for the same period, then the instant notices
go out; all of it twice, through the service and through the command line. Every
reader's mail is read back from the SMTP sink and compared with what the rules say.
"""

from __future__ import annotations

import contextlib
import functools
import html as htmllib
import itertools
import re
import smtplib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from sqlalchemy import delete, insert, select

from shop import clock, create_app
from shop.accounts.models import User
from shop.billing.access import has_paid_access
from shop.billing.models import Subscription
from shop.clock import utcnow
from shop.config import normalise_database_url
from shop.digests import runs as digest
from shop.digests.models import MailedArticle
from shop.extensions import db
from shop.preferences.models import DigestPreference, preference_tags
from shop.preferences.services import PreferenceInput, save_preferences
from tests import factories
from tests.conftest import make_config
from tests.factories import AdminFactory, ArticleFactory, TagFactory
from tests.newsletter.digest_helpers import article, cutoff, subscriber
from tests.newsletter.helpers import preference_of
from tests.support import Mailbox, html_of, text_of

SITE = "http://localhost"
SHOP = f"{SITE}/shop"
ENTRIES = ("service", "command")

# --- the matrix's dimensions ---------------------------------------------------------

FOLLOWS = ("climate", "economy", "sport", "everything")
FREQUENCIES = ("instant", "daily", "weekly-today", "weekly-other", "off")
PAYING = ("payer", "free")
STATES = (
    "normal",
    "paused",  # paused_until next week
    "paused-today",  # paused_until today: "up to and including this day"
    "pause-over",  # paused_until yesterday: not paused any more
    "unsubscribed",
    "suppressed",  # too many hard bounces
    "unconfirmed",
    "no-consent",
)
HISTORY = ("fresh", "mailed")
PAUSED = {"paused", "paused-today"}
NOT_MAILABLE = PAUSED | {"unsubscribed", "suppressed", "unconfirmed", "no-consent"}
# "sport" follows a tag no new story has; "economy" a tag with a story of its own.
FOLLOWED_TAG = {"climate": "Climate", "economy": "Economy", "sport": "Sport"}
# Tags are made in this order, so their ids (which order tags in mail) follow it.
TAG_NAMES = ("Climate", "Economy", "Sport")


@dataclass(frozen=True)
class Cell:
    """One reader of the matrix; the address spells out the cell."""

    follows: str
    frequency: str
    paying: str
    state: str
    history: str

    def __str__(self) -> str:
        return "-".join((self.follows, self.frequency, self.paying, self.state, self.history))

    @property
    def email(self) -> str:
        """The reader's address, which names the cell in every failure message."""
        return f"{self}@example.org"

    @property
    def display_name(self) -> str | None:
        """The name the reader chose, for the fresh half of the matrix; None for the others."""
        return f"Reader {self}" if self.history == "fresh" else None


CELLS = [
    Cell(*values) for values in itertools.product(FOLLOWS, FREQUENCIES, PAYING, STATES, HISTORY)
]


@dataclass(frozen=True)
class Story:
    """An article of the matrix; ``kind`` says whether a digest may carry it at all."""

    title: str
    access: str
    tags: tuple[str, ...]
    kind: str = "new"  # new, old (before every reader's window), embargoed, draft

    @property
    def summary(self) -> str:
        """Longer than a teaser, shorter than a wrapped line, and naming the story."""
        return (
            f"{self.title}: the people, the figures and the documents, checked line by "
            "line over three months, and what they show about how it was decided."
        )


STORIES = (
    Story("Glaciers retreat faster than forecast", "public", ("Climate",)),
    Story("Sea ice briefing for members", "members", ("Climate",)),
    Story("Inside the carbon credit ledger", "paid", ("Climate",)),
    Story("Who profits from the port deal", "paid", ("Economy",)),
    Story("A note from the editor", "public", ()),
    Story("The thaw of last month", "public", ("Climate",), "old"),
    Story("Budget figures under embargo", "paid", ("Climate", "Economy"), "embargoed"),
    Story("Unfinished piece on tides", "public", ("Climate",), "draft"),
)
NEW_STORIES = [s for s in STORIES if s.kind == "new"]
# Already mailed to every "mailed" reader: one story of several for climate followers,
# the only one for economy followers (who must then get no digest at all).
MAILED_BEFORE = {"Glaciers retreat faster than forecast", "Who profits from the port deal"}
RUN_FREQUENCY = {"daily": "daily", "weekly": "weekly-today", "instant": "instant"}


def wants(cell: Cell, story: Story) -> bool:
    """Whether the reader's followed tags take in the story."""
    return cell.follows == "everything" or FOLLOWED_TAG[cell.follows] in story.tags


def expected_stories(cell: Cell) -> list[Story]:
    """The new stories the reader should get, in publication order."""
    return [
        s
        for s in NEW_STORIES
        if wants(cell, s) and not (cell.history == "mailed" and s.title in MAILED_BEFORE)
    ]


def is_due(cell: Cell, step: str) -> bool:
    """Whether the reader is due mail from a step ("daily", "weekly" or "instant")."""
    return cell.state not in NOT_MAILABLE and cell.frequency == RUN_FREQUENCY[step]


# --- building the population -----------------------------------------------------------


_scrypt = factories._hash  # kept before _hash_once replaces it


@functools.cache
def _password_hash() -> str:
    return _scrypt(factories.PASSWORD)


@pytest.fixture(autouse=True)
def _hash_once(monkeypatch):
    """Every factory user shares one password hash.

    Nobody here logs in, and a scrypt hash per reader would take most of the file's time.
    """
    monkeypatch.setattr(factories, "_hash", lambda password: _password_hash())


def _build_matrix(today: date) -> dict[str, str]:
    """Every cell's reader and every story, in bulk; the stories' URLs by title."""
    tags = {name: TagFactory(name=name) for name in TAG_NAMES}
    editor = AdminFactory(email="desk@example.org", password_hash=_password_hash())
    edge = cutoff()
    urls, article_ids = {}, {}
    for n, story in enumerate(STORIES):
        # Oldest first, so the order expected in a digest is the order of STORIES.
        fields = {"status": "published", "published_at": edge - timedelta(hours=len(STORIES) - n)}
        if story.kind == "old":
            fields["published_at"] = edge - timedelta(days=3)
        elif story.kind == "embargoed":
            fields = {"status": "scheduled", "published_at": utcnow() + timedelta(days=1)}
        elif story.kind == "draft":
            fields["status"] = "draft"
        made = ArticleFactory(
            title=story.title,
            summary=story.summary,
            access=story.access,
            author=editor,
            tags=[tags[t] for t in story.tags],
            **fields,
        )
        urls[story.title] = f"{SITE}/articles/{made.slug}"
        article_ids[story.title] = made.id

    now = utcnow()
    month_ago = now - timedelta(days=30)
    db.session.execute(
        insert(User),
        [
            {
                "email": cell.email,
                "password_hash": _password_hash(),
                "role": "reader",
                # Half the readers chose a name; the others are greeted without one.
                "display_name": cell.display_name,
                "confirmed_at": None if cell.state == "unconfirmed" else month_ago,
                "digest_consent_at": None if cell.state == "no-consent" else month_ago,
            }
            for cell in CELLS
        ],
    )
    user_ids = dict(db.session.execute(select(User.email, User.id)).all())
    weekday = {"weekly-today": today.weekday(), "weekly-other": (today.weekday() + 3) % 7}
    paused_until = {
        "paused": today + timedelta(days=7),
        "paused-today": today,
        "pause-over": today - timedelta(days=1),
    }
    db.session.execute(
        insert(DigestPreference),
        [
            {
                "user_id": user_ids[cell.email],
                "frequency": cell.frequency.split("-")[0],
                "weekday": weekday.get(cell.frequency, 0),
                "follow_all": cell.follows == "everything",
                "paused_until": paused_until.get(cell.state),
                "covered_until": edge - timedelta(days=2),
                "unsubscribed_at": now - timedelta(days=1)
                if cell.state == "unsubscribed"
                else None,
                "suppressed_at": now - timedelta(days=1) if cell.state == "suppressed" else None,
                "hard_bounces": 3 if cell.state == "suppressed" else 0,
            }
            for cell in CELLS
        ],
    )
    pref_ids = dict(db.session.execute(select(DigestPreference.user_id, DigestPreference.id)).all())
    db.session.execute(
        insert(preference_tags),
        [
            {
                "preference_id": pref_ids[user_ids[cell.email]],
                # "Everything" readers keep a chosen topic: it must not narrow their digest.
                "tag_id": tags[FOLLOWED_TAG.get(cell.follows, "Sport")].id,
            }
            for cell in CELLS
        ],
    )
    db.session.execute(
        insert(Subscription),
        [
            {
                "user_id": user_ids[cell.email],
                "stripe_subscription_id": f"sub_matrix_{user_ids[cell.email]}",
                "stripe_customer_id": f"cus_matrix_{user_ids[cell.email]}",
                "status": "active",
                "current_period_end": now + timedelta(days=20),
            }
            for cell in CELLS
            if cell.paying == "payer"
        ],
    )
    # What the ledger holds once a digest or notice has reached a reader.
    db.session.execute(
        insert(MailedArticle),
        [
            {"user_id": user_ids[cell.email], "article_id": article_ids[title]}
            for cell in CELLS
            if cell.history == "mailed"
            for title in sorted(MAILED_BEFORE)
        ],
    )
    db.session.commit()
    return urls


# --- running the steps and reading the sink ---------------------------------------------


@dataclass
class Received:
    """One message as the sink got it: envelope recipients and the parsed message."""

    recipients: list[str]
    message: EmailMessage


def _take(box: Mailbox) -> dict[str, list[Received]]:
    """Everything the sink holds, parsed, by envelope recipient; then empty the sink."""
    with box.handler.lock:
        raw = list(box.handler.messages)
    box.clear()
    mail: dict[str, list[Received]] = defaultdict(list)
    for _, recipients, content in raw:
        received = Received(recipients, message_from_bytes(content, policy=default_policy))
        for recipient in recipients:
            mail[recipient].append(received)
    return dict(mail)


@dataclass
class Outcome:
    """What one pass over the matrix left in the mailboxes, per step."""

    urls: dict[str, str]
    mail: dict[str, dict[str, list[Received]]] = field(default_factory=dict)
    reported: dict[str, int] = field(default_factory=dict)


def _service_step(step: str, today: date) -> int:
    """Run one step through the Python API; how many messages it says it sent."""
    if step == "instant":
        # What ``tick`` does for instant readers, without its digest part.
        return sum(digest.run_instant(a).sent for a in digest.due_instant_articles(utcnow()))
    return digest.run_digest(step, today).summary.sent


def _command_step(runner, step: str) -> int:
    """Run one step through the command line; how many messages it says it sent."""
    if step == "instant":
        result = runner.invoke(args=["tick"])
        pattern = r"instant notices sent: (\d+)"
    else:
        result = runner.invoke(args=["digest", "send", "--frequency", step])
        pattern = r"sent (\d+), skipped"
    assert result.exit_code == 0, result.output
    found = re.search(pattern, result.output)
    assert found, result.output
    return int(found[1])


STEPS = (
    ("daily", "daily"),
    ("weekly", "weekly"),
    ("daily-again", "daily"),
    ("weekly-again", "weekly"),
    ("instant", "instant"),
)


def _pass(app, entry: str, box: Mailbox) -> Outcome:
    """Build the matrix, run every step through one entry point, keep the mail."""
    today = clock.local_date(utcnow())
    outcome = Outcome(_build_matrix(today))
    box.clear()
    runner = app.test_cli_runner()
    for name, step in STEPS:
        if entry == "service":
            outcome.reported[name] = _service_step(step, today)
        else:
            outcome.reported[name] = _command_step(runner, step)
        outcome.mail[name] = _take(box)
    return outcome


def _empty_database() -> None:
    db.session.remove()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(delete(table))


@pytest.fixture(scope="module")
def outcomes(_schema, database_url, smtp_sink, instance_dir) -> dict[str, Outcome]:
    """The matrix's mail, once through the service and once through the command line."""
    app = create_app(make_config(normalise_database_url(database_url), smtp_sink, instance_dir))
    box = Mailbox(smtp_sink[1])
    result = {}
    # Every row is gone before any test reads the result, so this module-wide
    # state never meets the per-test databases of the other tests.
    with app.app_context():
        try:
            for entry in ENTRIES:
                result[entry] = _pass(app, entry, box)
                _empty_database()
        finally:
            _empty_database()
            db.engine.dispose()
            box.clear()
    return result


# --- what a reader sees -------------------------------------------------------------------


@dataclass
class Shown:
    """One story as the text part shows it."""

    title: str
    tags: str | None
    body: str
    link: str


def stories_in_text(text: str) -> list[Shown]:
    """The stories of a text part, in order: the blocks between its ``----`` lines."""
    lines = text.splitlines()
    rules = [n for n, line in enumerate(lines) if line == "----"]
    assert len(rules) >= 2, text
    shown = []
    for start, end in itertools.pairwise(rules):
        block = [line for line in lines[start + 1 : end] if line.strip()]
        title, *rest = block
        tags = rest.pop(0) if rest and rest[0].startswith("[") else None
        assert len(rest) == 2, f"unexpected story block: {block}"
        shown.append(Shown(title, tags, rest[0], rest[1]))
    return shown


def stories_in_html(body: str) -> list[str]:
    """The HTML of each story block, in order."""
    return [part.split("</div>")[0] for part in body.split('<div class="story"')[1:]]


def subject_for(stories: list[Story]) -> str:
    """The digest subject a reader should see: the count, then the tags in story order."""
    names: list[str] = []
    for story in stories:
        for name in sorted(story.tags, key=TAG_NAMES.index):
            if name not in names:
                names.append(name)
    noun = "story" if len(stories) == 1 else "stories"
    return f"{len(stories)} new {noun}" + (f" in {', '.join(names)}" if names else "")


def check_message(received: Received, cell: Cell, stories: list[Story], urls, kind: str):
    """One message to the cell's reader carries exactly ``stories``, each as it should."""
    message = received.message
    assert received.recipients == [cell.email]
    assert message["To"] == cell.email
    n = len(stories)
    if kind == "instant":
        assert message["Subject"] == f"New: {stories[0].title}"
        intro = "A new story in the topics you follow:"
    else:
        assert message["Subject"] == subject_for(stories)
        intro = f"{n} new {'story' if n == 1 else 'stories'} in the topics you follow:"
    text = text_of(message)
    # Long HTML lines are wrapped at spaces, which a mail client shows as one space.
    body = " ".join(html_of(message).split())
    # The name the reader chose, or none: never the address's local part.
    greeting = f"Hello {cell.display_name}," if cell.display_name else "Hello,"
    assert greeting in text and intro in text
    assert greeting in body and intro in body
    assert f"Hello {cell}," not in text

    # Nothing the reader should not get appears anywhere, not even as a link.
    flat_text = " ".join(text.split())
    for other in STORIES:
        if other not in stories:
            assert other.title not in flat_text and other.title not in body, other.title
            assert urls[other.title] not in flat_text + body, other.title

    shown = stories_in_text(text)
    blocks = stories_in_html(body)
    assert [s.title for s in shown] == [s.title for s in stories]
    assert len(blocks) == n
    paying = cell.paying == "payer"
    for story, in_text, block in zip(stories, shown, blocks, strict=True):
        url = urls[story.title]
        names = sorted(story.tags, key=TAG_NAMES.index)
        assert in_text.tags == (f"[{', '.join(names)}]" if names else None)
        assert re.search(rf'<a href="{re.escape(url)}"[^>]*>{re.escape(story.title)}</a>', block)
        if paying or story.access != "paid":
            # The whole summary and a direct link to the story.
            assert in_text.body == story.summary
            assert in_text.link == f"Read it: {url}"
            assert story.summary in htmllib.unescape(block)
            assert re.search(rf'href="{re.escape(url)}"[^>]*>Read the story</a>', block)
            assert SHOP not in block
        else:
            # A teaser cut at a word, and a subscribe link instead of the story's.
            teaser = in_text.body
            assert teaser.endswith("...") and len(teaser) <= 140, teaser
            assert story.summary.startswith(teaser[:-3]) and teaser[:-3] != story.summary
            assert in_text.link == f"For subscribers. Subscribe to read it: {SHOP}"
            assert story.summary not in htmllib.unescape(block)
            assert f'href="{SHOP}"' in block and "Subscribe to read it</a>" in block
            assert "Read the story" not in block
            assert f"Read it: {url}" not in text


@contextlib.contextmanager
def where(entry: str, step: str):
    """Prefix an assertion's message with the entry point and step it failed in."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"[{entry}, {step}] {exc}") from exc


# --- the matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS, ids=str)
def test_each_reader_gets_exactly_their_mail(outcomes, cell):
    """A due reader gets one digest, or one notice per story, of just their new stories."""
    for entry, outcome in outcomes.items():
        for step in ("daily", "weekly"):
            got = outcome.mail[step].get(cell.email, [])
            stories = expected_stories(cell) if is_due(cell, step) else []
            with where(entry, step):
                assert len(got) == (1 if stories else 0)
                if stories:
                    check_message(got[0], cell, stories, outcome.urls, "digest")
        if cell.frequency == "instant" and cell.state in PAUSED:
            continue  # test_a_paused_instant_reader_gets_no_notice
        got = outcome.mail["instant"].get(cell.email, [])
        stories = expected_stories(cell) if is_due(cell, "instant") else []
        with where(entry, "instant"):
            by_subject = {f"New: {s.title}": s for s in stories}
            assert sorted(r.message["Subject"] for r in got) == sorted(by_subject)
            for received in got:
                story = by_subject[received.message["Subject"]]
                check_message(received, cell, [story], outcome.urls, "instant")


def test_a_paused_instant_reader_gets_no_notice(outcomes):
    """A reader on instant notices who paused them gets none, the pause's last day included."""
    paused = [c for c in CELLS if c.frequency == "instant" and c.state in PAUSED]
    for entry, outcome in outcomes.items():
        got = {c.email: len(outcome.mail["instant"].get(c.email, [])) for c in paused}
        assert {e: n for e, n in got.items() if n} == {}, entry


def test_the_same_period_again_sends_nothing(outcomes):
    """Running today's daily and weekly digests a second time mails nobody."""
    for entry, outcome in outcomes.items():
        assert outcome.mail["daily-again"] == {} and outcome.mail["weekly-again"] == {}, entry
        assert outcome.reported["daily-again"] == outcome.reported["weekly-again"] == 0, entry


def test_every_message_reported_sent_reached_the_sink(outcomes):
    """The sent counts the service and the command report are the messages the sink holds."""
    for entry, outcome in outcomes.items():
        for step in ("daily", "weekly", "instant"):
            messages = {id(r) for rs in outcome.mail[step].values() for r in rs}
            assert outcome.reported[step] == len(messages), (entry, step)
            # Not vacuous: every step reached somebody.
            assert messages, (entry, step)
        everyone = {c.email for c in CELLS}
        for step, mail in outcome.mail.items():
            assert set(mail) <= everyone, (entry, step)


# --- the same rules on the real paths, a few readers at a time ---------------------------


@pytest.fixture
def tags(app):
    """The matrix's tags."""
    return {name: TagFactory(name=name) for name in TAG_NAMES}


def _send(runner, entry: str, step: str) -> None:
    """One digest or the instant notices, through the service or the command line."""
    if entry == "service":
        _service_step(step, clock.local_date(utcnow()))
    else:
        _command_step(runner, step)


def _titles(message: EmailMessage) -> list[str]:
    return [s.title for s in stories_in_text(text_of(message))]


@pytest.mark.parametrize("entry", ENTRIES)
def test_no_new_stories_means_no_email(app, runner, mailbox, tags, entry):
    """Old, embargoed and draft stories alone send nothing to anyone, on any path."""
    today = clock.local_date(utcnow())
    subscriber("daily@example.org")
    subscriber("weekly@example.org", "weekly", weekday=today.weekday())
    subscriber("instant@example.org", "instant")
    article("The thaw of last month", [tags["Climate"]], hours_before_cutoff=24 * 3)
    ArticleFactory(
        title="Budget figures under embargo",
        tags=[tags["Climate"]],
        status="scheduled",
        published_at=utcnow() + timedelta(days=1),
    )
    article("Unfinished piece on tides", [tags["Climate"]], status="draft")
    for step in ("daily", "weekly", "instant"):
        _send(runner, entry, step)
    assert mailbox.messages == []


@pytest.mark.parametrize("entry", ENTRIES)
def test_each_reader_gets_only_stories_newer_than_their_own_window(
    app, runner, mailbox, tags, entry
):
    """A story from before a reader's last digest (or sign-up) is not new to them."""
    edge = cutoff()
    # The run reads from the earliest window of all, so the later one must be
    # applied reader by reader.
    subscriber("long-gone@example.org")
    subscriber("recent@example.org")
    for email, days in (("long-gone@example.org", 4), ("recent@example.org", 2)):
        preference_of(email).covered_until = edge - timedelta(days=days)
        db.session.commit()  # before preference_of expires the session again
    article("The thaw of last month", [tags["Climate"]], hours_before_cutoff=24 * 3)
    article("Glaciers retreat faster than forecast", [tags["Climate"]])
    _send(runner, entry, "daily")
    assert _titles(mailbox.last_to("long-gone@example.org")) == [
        "The thaw of last month",
        "Glaciers retreat faster than forecast",
    ]
    (recent,) = mailbox.to("recent@example.org")
    assert _titles(recent) == ["Glaciers retreat faster than forecast"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_story_sent_as_an_instant_notice_is_not_in_a_later_digest(
    app, runner, mailbox, tags, entry
):
    """A reader who moves from instant notices to a daily digest is not sent a story twice."""
    reader = subscriber("mover@example.org", "instant", tags=[tags["Climate"]])
    article("Glaciers retreat faster than forecast", [tags["Climate"]], hours_before_cutoff=2)
    _send(runner, entry, "instant")
    assert [m["Subject"] for m in mailbox.to(reader.email)] == [
        "New: Glaciers retreat faster than forecast"
    ]
    # Through the preferences service: the digest window is kept, not restarted, so
    # only the record of what was mailed keeps the first story out.
    save_preferences(reader, PreferenceInput("daily", 0, False, [tags["Climate"].id]))
    article("Sea ice briefing for members", [tags["Climate"]], access="members")
    mailbox.clear()
    _send(runner, entry, "daily")
    got = mailbox.to(reader.email)
    assert len(got) == 1
    assert _titles(got[0]) == ["Sea ice briefing for members"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_story_sent_in_a_digest_is_not_sent_again_as_an_instant_notice(
    app, runner, mailbox, tags, entry
):
    """A reader who moves from the daily digest to instant notices gets no repeat."""
    reader = subscriber("mover@example.org", "daily", tags=[tags["Climate"]])
    article("Glaciers retreat faster than forecast", [tags["Climate"]])
    _send(runner, entry, "daily")
    assert _titles(mailbox.last_to(reader.email)) == ["Glaciers retreat faster than forecast"]
    save_preferences(reader, PreferenceInput("instant", 0, False, [tags["Climate"].id]))
    mailbox.clear()
    _send(runner, entry, "instant")
    assert mailbox.to(reader.email) == []


def test_a_resumed_run_mails_only_whoever_it_had_not_reached(app, mailbox, tags, monkeypatch):
    """A run that dies mid-send, run again, reaches every reader exactly once."""
    # Each message is recorded as it goes, and a dead worker's lease is free at once.
    app.config.update(MAIL_COMMIT_EVERY=1, MAIL_LEASE_SECONDS=0)
    emails = [subscriber(f"r{n}@example.org").email for n in range(6)]
    article("Glaciers retreat faster than forecast", [tags["Climate"]])
    real_sendmail = smtplib.SMTP.sendmail
    calls = {"n": 0}

    def dying_sendmail(self, *args, **kwargs):
        # The worker dies before handing over its fourth message.
        calls["n"] += 1
        if calls["n"] == 4:
            raise SystemExit("the worker died")  # an Exception would fail one delivery only
        return real_sendmail(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "sendmail", dying_sendmail)
    with pytest.raises(SystemExit):
        digest.run_digest("daily")
    db.session.rollback()
    assert len(mailbox.messages) == 3
    monkeypatch.setattr(smtplib.SMTP, "sendmail", real_sendmail)
    digest.run_digest("daily")
    assert sorted(m["To"] for m in mailbox.messages) == sorted(emails)


SUBSCRIPTIONS = [
    # (status, days until the period ends, paid access)
    ("active", 20, True),
    ("trialing", 20, True),
    ("past_due", -3, True),  # within the grace period
    ("past_due", -30, False),
    ("canceled", -1, False),
    ("incomplete", 20, False),
    (None, 0, False),  # never subscribed
]


def test_a_paid_story_is_full_exactly_for_readers_the_paywall_lets_in(app, mailbox, tags):
    """The digest shows a paid story in full to exactly the readers who may read it."""
    readers = []
    for n, (status, days, paying) in enumerate(SUBSCRIPTIONS):
        reader = subscriber(f"sub{n}-{status}@example.org")
        if status:
            db.session.add(
                Subscription(
                    user_id=reader.id,
                    stripe_subscription_id=f"sub_matrix_{n}",
                    stripe_customer_id=f"cus_matrix_{n}",
                    status=status,
                    current_period_end=utcnow() + timedelta(days=days),
                )
            )
        readers.append((reader, paying))
    db.session.commit()
    story = Story("Inside the carbon credit ledger", "paid", ("Climate",))
    made = article(story.title, [tags["Climate"]], access="paid", summary=story.summary)
    digest.run_digest("daily")
    for reader, paying in readers:
        # The same answer as the article page's paywall.
        assert has_paid_access(reader) is paying, reader.email
        (shown,) = stories_in_text(text_of(mailbox.last_to(reader.email)))
        if paying:
            assert shown.body == story.summary, reader.email
            assert shown.link == f"Read it: {SITE}/articles/{made.slug}", reader.email
        else:
            assert story.summary.startswith(shown.body[:-3]), reader.email
            assert shown.body != story.summary, reader.email
            assert shown.link == f"For subscribers. Subscribe to read it: {SHOP}", reader.email

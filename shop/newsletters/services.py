"""Newsletters: compose, choose an audience, test, send or schedule, and archive.

A newsletter is sent as a run of the same ledger as digests (kind ``newsletter``), so
it has the same guarantees: one delivery per reader, leases, commit groups, resume.
Its message is rendered once for the whole run; each reader's copy differs only by
the substituted greeting and links.

Send now never sends inside the web request: the request takes the newsletter (one
conditional UPDATE) and queues the ``newsletter.send`` job, which plans the run and
sends it on a worker or in a thread of the process (shop/background.py). A process that
dies on the way leaves the newsletter "sending", and the next tick finishes the job.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as email_policy
from urllib.parse import urlsplit

from flask import current_app, render_template
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from shop import background, clock
from shop.accounts.models import User
from shop.articles.models import Tag
from shop.articles.rendering import render_markdown
from shop.billing.access import paying_user_ids, paying_users_select
from shop.clock import utcnow
from shop.digests.rendering import NAME, PREFS, UNSUB, Rendered, build_bytes, inline, wrap_lines
from shop.digests.selection import Plan, not_paused, reachable
from shop.errors import RuleError
from shop.extensions import db
from shop.newsletters.models import (
    AUDIENCE_ALL,
    AUDIENCE_FREE,
    AUDIENCE_PAYING,
    AUDIENCE_TAGS,
    AUDIENCES,
    NEWSLETTER_DRAFT,
    NEWSLETTER_SCHEDULED,
    NEWSLETTER_SENDING,
    NEWSLETTER_SENT,
    Newsletter,
)
from shop.pagination import Page, paginate
from shop.preferences.models import DigestPreference, preference_tags
from shop.preferences.services import create_missing_preferences
from shop.preferences.tokens import unsubscribe_url
from shop.sending import ledger
from shop.sending.models import RUN_NEWSLETTER, Run
from shop.text import slugify, unique_slug
from shop.urls import external_url

AUDIENCE_LABELS = {
    AUDIENCE_ALL: "All subscribers",
    AUDIENCE_TAGS: "Followers of chosen tags",
    AUDIENCE_PAYING: "Paying subscribers",
    AUDIENCE_FREE: "Free subscribers",
}
SUBJECT_MAX = 200
# The job that plans and sends a newsletter taken for sending.
SEND_JOB = "newsletter.send"
# What the progress page says of a newsletter taken for sending that nobody has begun
# to send yet (its job waits for a worker or a thread): not a stored status.
PROGRESS_QUEUED = "queued"


class NewsletterError(RuleError):
    """A newsletter rule was broken."""


@dataclass
class NewsletterInput:
    """What the compose form sends, as plain values."""

    subject: str
    body_markdown: str
    audience: str = AUDIENCE_ALL
    tag_ids: list[int] = field(default_factory=list)


def _check(data: NewsletterInput) -> list[Tag]:
    subject = data.subject.strip()
    if not subject:
        raise NewsletterError("Give the newsletter a subject.", "subject")
    if len(subject) > SUBJECT_MAX:
        raise NewsletterError(f"Keep the subject under {SUBJECT_MAX} characters.", "subject")
    if "\n" in subject or "\r" in subject:
        raise NewsletterError("The subject must be one line.", "subject")
    if not data.body_markdown.strip():
        raise NewsletterError("Write the newsletter's text.", "body_markdown")
    if data.audience not in AUDIENCES:
        raise NewsletterError("Choose who receives it.", "audience")
    tags: list[Tag] = []
    if data.tag_ids:
        tags = list(db.session.scalars(select(Tag).where(Tag.id.in_(data.tag_ids))))
        if len(tags) != len(set(data.tag_ids)):
            raise NewsletterError("One of the chosen tags no longer exists.", "tag_ids")
    if data.audience == AUDIENCE_TAGS and not tags:
        raise NewsletterError("Choose at least one tag whose followers receive it.", "tag_ids")
    return tags


def _apply(newsletter: Newsletter, data: NewsletterInput, tags: list[Tag]) -> None:
    newsletter.subject = data.subject.strip()
    newsletter.body_markdown = data.body_markdown
    newsletter.body_html = render_markdown(data.body_markdown)
    newsletter.audience = data.audience
    newsletter.tags = tags if data.audience == AUDIENCE_TAGS else []


def create_newsletter(author: User, data: NewsletterInput) -> Newsletter:
    """Save a new draft."""
    tags = _check(data)
    newsletter = Newsletter(author=author, status=NEWSLETTER_DRAFT)
    _apply(newsletter, data, tags)
    newsletter.slug = unique_slug(Newsletter, slugify(newsletter.subject))
    db.session.add(newsletter)
    db.session.commit()
    return newsletter


def update_newsletter(newsletter: Newsletter, data: NewsletterInput) -> Newsletter:
    """Change a draft or a scheduled newsletter; a sent one stays as it went out."""
    if not newsletter.editable:
        raise NewsletterError("This newsletter has gone out and can no longer change.")
    tags = _check(data)
    _apply(newsletter, data, tags)
    # The archive's address follows the subject until the newsletter goes out.
    newsletter.slug = unique_slug(Newsletter, slugify(newsletter.subject), newsletter.id)
    db.session.commit()
    return newsletter


def delete_newsletter(newsletter: Newsletter) -> None:
    """Delete a newsletter that has not gone out."""
    if not newsletter.editable:
        raise NewsletterError("A newsletter that has gone out stays in the archive.")
    db.session.delete(newsletter)
    db.session.commit()


# --- the audience ----------------------------------------------------------------------


def audience_query(newsletter: Newsletter):
    """SELECT (preference, user) of everyone the newsletter goes to, in a stable order."""
    today = clock.local_date(utcnow())
    query = (
        select(DigestPreference, User)
        .join(User, User.id == DigestPreference.user_id)
        .where(
            *reachable(),
            # A pause means no mail at all until then; digest frequency "off" does not
            # stop newsletters, unsubscribing does.
            not_paused(today),
        )
        .order_by(DigestPreference.id)
    )
    if newsletter.audience == AUDIENCE_TAGS:
        follows = (
            exists()
            .where(
                preference_tags.c.preference_id == DigestPreference.id,
                preference_tags.c.tag_id.in_([t.id for t in newsletter.tags]),
            )
            .correlate(DigestPreference)
        )
        # Readers who follow everything follow these tags too.
        query = query.where(or_(DigestPreference.follow_all.is_(True), follows))
    elif newsletter.audience == AUDIENCE_PAYING:
        query = query.where(User.id.in_(paying_users_select()))
    elif newsletter.audience == AUDIENCE_FREE:
        query = query.where(User.id.not_in(paying_users_select()))
    return query


def audience_size(newsletter: Newsletter) -> int:
    """How many readers the newsletter would go to now."""
    return db.session.scalar(
        select(func.count()).select_from(audience_query(newsletter).order_by(None).subquery())
    )


def audience_plans(newsletter: Newsletter) -> list[Plan]:
    """One plan per reader in the audience (newsletters carry no articles)."""
    paying = paying_user_ids()
    return [
        Plan(user.id, user.email, user.name, user.id in paying, [])
        for _, user in db.session.execute(audience_query(newsletter))
    ]


# --- the message -----------------------------------------------------------------------

_RELATIVE_LINK = re.compile(r'(href|src)="/(?!/)')


def _absolute_links(html: str) -> str:
    """Make the site's own links absolute: in a mail client "/x" leads nowhere."""
    base = current_app.config["SITE_URL"].rstrip("/")
    return _RELATIVE_LINK.sub(lambda m: f'{m.group(1)}="{base}/', html)


def render(newsletter: Newsletter) -> Rendered:
    """The newsletter as mail, once for all its readers, with the per-reader placeholders."""
    context = {
        "subject": newsletter.subject,
        "body_html": _absolute_links(newsletter.body_html),
        "body_text": newsletter.body_markdown,
        "archive_url": external_url("newsletters.archive_issue", slug=newsletter.slug),
        "name": NAME,
        "unsubscribe_url": UNSUB,
        "preferences_url": PREFS,
        "address": current_app.config["PUBLICATION_ADDRESS"],
    }
    html = render_template("email/newsletter.html", **context)
    text = render_template("email/newsletter.txt", **context)
    return Rendered(newsletter.subject, wrap_lines(text), wrap_lines(inline(html)))


class NewsletterContent:
    """The sending loop's content for a newsletter run: one rendering for everyone."""

    def __init__(self, run: Run) -> None:
        newsletter = db.session.scalar(select(Newsletter).where(Newsletter.run_id == run.id))
        self.rendered = render(newsletter) if newsletter is not None else None

    def message(self, delivery, plan: Plan) -> Rendered | None:
        """The same message for every reader; None if the newsletter was deleted."""
        return self.rendered


def message_bytes(newsletter: Newsletter, user: User, msgid: str, *, test: bool = False) -> bytes:
    """One reader's copy, ready for the SMTP server (tests and previews use it too)."""
    rendered = render(newsletter)
    if test:
        rendered.subject = f"[Test] {rendered.subject}"
    return build_bytes(
        rendered,
        to=user.email,
        name=user.name,
        msgid=msgid,
        unsubscribe_url=unsubscribe_url(user.id),
        preferences_url=external_url("readers.preferences"),
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )


def preview_html(newsletter: Newsletter, user: User) -> str:
    """The HTML part of the newsletter as ``user`` would receive it."""
    message = message_from_bytes(
        message_bytes(newsletter, user, "<preview@localhost>"), policy=email_policy
    )
    return message.get_body(preferencelist=("html",)).get_content()


def send_test(newsletter: Newsletter, user: User) -> str:
    """Send one copy to ``user`` (the editor), outside the ledger; return the server's reply."""
    from shop.sending.engine import Transport

    domain = urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"
    msgid = f"<test-{newsletter.id}.{uuid.uuid4().hex[:12]}@{domain}>"
    transport = Transport()
    try:
        return transport.send(user.email, message_bytes(newsletter, user, msgid, test=True))
    except OSError as exc:  # smtplib's errors are OSErrors
        raise NewsletterError(f"The test could not be sent: {exc}") from exc
    finally:
        transport.close()


# --- sending and scheduling ------------------------------------------------------------


def _period(newsletter: Newsletter) -> str:
    return f"newsletter:{newsletter.id}"


def _take(newsletter: Newsletter) -> None:
    """Mark a draft or scheduled newsletter as sending; refuse one that already is."""
    # One conditional UPDATE: of two editors pressing Send at once, one wins.
    taken = db.session.execute(
        update(Newsletter)
        .where(
            Newsletter.id == newsletter.id,
            Newsletter.status.in_((NEWSLETTER_DRAFT, NEWSLETTER_SCHEDULED)),
        )
        .values(status=NEWSLETTER_SENDING)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    db.session.refresh(newsletter)
    if not taken:
        raise NewsletterError("This newsletter is already being sent.")


def _planned_run(newsletter: Newsletter) -> Run:
    """The run of a newsletter being sent, with one delivery per reader; planned once."""
    run = newsletter.run
    if run is not None and (run.total or run.finished_at is not None):
        return run  # planned already: readers who arrived since do not join a sent issue
    create_missing_preferences()
    plans = audience_plans(newsletter)
    period = _period(newsletter)
    run = run or db.session.scalar(
        select(Run).where(Run.kind == RUN_NEWSLETTER, Run.period == period)
    )
    if run is None:
        run = Run(kind=RUN_NEWSLETTER, period=period, cutoff=utcnow(), subject=newsletter.subject)
        db.session.add(run)
        try:
            db.session.flush()
        except IntegrityError:
            # Another process (a tick taking over) created it a moment ago: plan into it.
            db.session.rollback()
            run = db.session.scalar(
                select(Run).where(Run.kind == RUN_NEWSLETTER, Run.period == period)
            )
    newsletter.run_id = run.id
    # The run, its deliveries and the link commit together: no process (a tick
    # resuming unfinished runs) ever sees the run without its readers, and finishes it.
    ledger.add_deliveries(run, plans)
    return run


def start_sending(newsletter: Newsletter) -> Run:
    """Turn a draft or scheduled newsletter into a run with one delivery per reader."""
    _take(newsletter)
    return _planned_run(newsletter)


@background.job(SEND_JOB)
def send_taken(newsletter_id: int) -> int:
    """Job: plan (once) and send a newsletter taken for sending; how many readers it has."""
    from shop.sending.dispatch import dispatch_run

    # Read afresh: a session that loaded the newsletter earlier (a tick in a long-lived
    # process) would otherwise see the status it had then, and skip a stranded send.
    newsletter = db.session.get(Newsletter, newsletter_id, populate_existing=True)
    if newsletter is None or newsletter.status != NEWSLETTER_SENDING:
        return 0  # sent already: a job delivered twice, or a tick that was quicker
    run = _planned_run(newsletter)
    dispatch_run(run.id)
    settle()
    return run.total


def queue_send(newsletter: Newsletter) -> None:
    """Take the newsletter for sending and queue its sending; return at once (Send now)."""
    previous = newsletter.status
    _take(newsletter)
    try:
        background.enqueue_background(SEND_JOB, newsletter_id=newsletter.id)
    except background.QueueUnavailableError as exc:
        current_app.logger.warning("newsletter %s not queued: %s", newsletter.id, exc)
        db.session.rollback()
        # Given back as it was, so that the editor can press again: unless a tick has
        # taken it over meanwhile (it has a run then), and it is going out after all.
        restored = db.session.execute(
            update(Newsletter)
            .where(
                Newsletter.id == newsletter.id,
                Newsletter.status == NEWSLETTER_SENDING,
                Newsletter.run_id.is_(None),
            )
            .values(status=previous)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        db.session.refresh(newsletter)
        if restored:
            raise NewsletterError(
                "The newsletter could not be queued (the job queue is unreachable), so "
                "nothing was sent. Try again in a moment."
            ) from exc


def send_now(newsletter: Newsletter) -> Run:
    """Send a newsletter to its audience in this process, or through the workers (tick)."""
    _take(newsletter)
    send_taken(newsletter.id)
    db.session.refresh(newsletter)
    return newsletter.run


def schedule_at(newsletter: Newsletter, when_local: datetime) -> Newsletter:
    """Schedule a newsletter for a local time on the publication's clock."""
    if not newsletter.editable:
        raise NewsletterError("This newsletter has already gone out.")
    when = when_local.replace(tzinfo=clock.zone()).astimezone(UTC).replace(tzinfo=None)
    if when <= utcnow():
        raise NewsletterError("Choose a time in the future, or send it now.", "send_at")
    newsletter.status = NEWSLETTER_SCHEDULED
    newsletter.scheduled_at = when
    db.session.commit()
    return newsletter


def unschedule(newsletter: Newsletter) -> Newsletter:
    """Take a scheduled newsletter back to draft."""
    if newsletter.status != NEWSLETTER_SCHEDULED:
        raise NewsletterError("This newsletter is not scheduled.")
    newsletter.status = NEWSLETTER_DRAFT
    newsletter.scheduled_at = None
    db.session.commit()
    return newsletter


def send_due(now: datetime | None = None) -> int:
    """Start every scheduled newsletter whose time has come; return how many."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            select(Newsletter).where(
                Newsletter.status == NEWSLETTER_SCHEDULED, Newsletter.scheduled_at <= now
            )
        )
    )
    started = 0
    for newsletter_id in [n.id for n in due]:
        # One newsletter that cannot be sent must not hold back the others due with it.
        try:
            send_now(db.session.get(Newsletter, newsletter_id))
        except NewsletterError:
            continue  # another process took it a moment ago
        except Exception:
            db.session.rollback()
            current_app.logger.exception("newsletter %s could not be started", newsletter_id)
            continue
        started += 1
    # A process that died after taking a newsletter and before planning its run (the
    # thread of a Send now, a worker, a tick) left it sending with no run, or an empty
    # one: it is planned and sent here. Unfinished planned runs are the tick's to resume.
    stranded = db.session.scalars(
        select(Newsletter.id)
        .outerjoin(Run, Run.id == Newsletter.run_id)
        .where(
            Newsletter.status == NEWSLETTER_SENDING,
            or_(Run.id.is_(None), and_(Run.total == 0, Run.finished_at.is_(None))),
        )
    ).all()
    for newsletter_id in stranded:
        try:
            send_taken(newsletter_id)
        except Exception:
            db.session.rollback()
            current_app.logger.exception("newsletter %s could not be planned", newsletter_id)
    settle()
    return started


def settle() -> int:
    """Mark newsletters whose run has finished as sent; return how many."""
    rows = db.session.execute(
        select(Newsletter, Run.finished_at)
        .join(Run, Run.id == Newsletter.run_id)
        .where(Newsletter.status == NEWSLETTER_SENDING, Run.finished_at.is_not(None))
    ).all()
    for newsletter, finished_at in rows:
        newsletter.status = NEWSLETTER_SENT
        newsletter.sent_at = finished_at
    db.session.commit()
    return len(rows)


@dataclass
class Progress:
    """How far a newsletter's sending has got."""

    status: str
    total: int = 0
    sent: int = 0
    failed: int = 0
    bounced: int = 0

    @property
    def queued(self) -> int:
        """Deliveries still to go."""
        return max(0, self.total - self.sent - self.failed - self.bounced)

    @property
    def finished(self) -> bool:
        """Whether nothing is left to send."""
        return self.status == NEWSLETTER_SENT

    def as_dict(self) -> dict:
        """The figures as JSON-ready values."""
        return {
            "status": self.status,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "bounced": self.bounced,
            "queued": self.queued,
            "finished": self.finished,
        }


def progress(newsletter: Newsletter) -> Progress:
    """The newsletter's counts, read from its deliveries now."""
    if newsletter.status == NEWSLETTER_SENDING:
        settle()
        db.session.refresh(newsletter)
    run = newsletter.run
    status = newsletter.status
    if status == NEWSLETTER_SENDING and (run is None or run.started_at is None):
        # Taken, but its job has not begun to send (planning, or waiting for a worker).
        status = PROGRESS_QUEUED
    if run is None:
        return Progress(status)
    ledger.refresh_counts(run)
    result = Progress(status, run.total, run.sent, run.failed, run.bounced)
    db.session.commit()
    return result


# --- the archive -----------------------------------------------------------------------


def archived(page: int, per_page: int = 20) -> Page:
    """Sent newsletters, newest first, a page at a time."""
    query = (
        select(Newsletter)
        .where(Newsletter.status == NEWSLETTER_SENT)
        .order_by(Newsletter.sent_at.desc(), Newsletter.id.desc())
    )
    return paginate(query, page, per_page)


def archived_issue(slug: str) -> Newsletter | None:
    """A sent newsletter by its slug."""
    return db.session.scalar(
        select(Newsletter).where(Newsletter.slug == slug, Newsletter.status == NEWSLETTER_SENT)
    )


def admin_newsletters(page: int, per_page: int = 20) -> Page:
    """Every newsletter for the back office, unsent first, newest first."""
    query = select(Newsletter).order_by(
        (Newsletter.status == NEWSLETTER_SENT).asc(),
        Newsletter.created_at.desc(),
        Newsletter.id.desc(),
    )
    return paginate(query, page, per_page)

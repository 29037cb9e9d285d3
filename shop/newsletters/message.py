"""A newsletter as mail: rendered once for all its readers, and the engine's content.

Its message is rendered once for the whole run; each reader's copy differs only by
the substituted greeting and links (``shop.mail.bulk``). A test copy goes to the
editor outside the ledger, over the same transport.
"""

from __future__ import annotations

import uuid

from flask import current_app, render_template
from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from shop.mail import open_transport
from shop.mail.bulk import NAME, PREFS, UNSUB, Rendered, build_bytes, inline, wrap_lines
from shop.mail.compose import site_domain
from shop.mail.outbox import html_of_bytes
from shop.newsletters.models import Newsletter
from shop.newsletters.services import NewsletterError
from shop.preferences.mailing import ReaderMail
from shop.preferences.tokens import unsubscribe_url
from shop.sending import tracking
from shop.sending.content import SentRecords, register_content
from shop.sending.models import Delivery, Run, RunKind
from shop.urls import absolute_links, external_url


def render(newsletter: Newsletter, *, tracked: bool = False) -> Rendered:
    """The newsletter as mail, once for all its readers, with the per-reader placeholders.

    ``tracked``: its links and open pixel carry the delivery's token (a run's copies only;
    a test copy or a preview has no delivery to count against).
    """
    context = {
        "subject": newsletter.subject,
        "body_html": absolute_links(newsletter.body_html),
        "body_text": newsletter.body_markdown,
        "archive_url": external_url("newsletters.archive_issue", slug=newsletter.slug),
        "name": NAME,
        "unsubscribe_url": UNSUB,
        "preferences_url": PREFS,
        "address": current_app.config["PUBLICATION_ADDRESS"],
    }
    html = render_template("email/newsletter.html", **context)
    text = render_template("email/newsletter.txt", **context)
    html = inline(html)
    links: tuple[str, ...] = ()
    if tracked:
        html, links = tracking.track(html)
    return Rendered(newsletter.subject, wrap_lines(text), wrap_lines(html), links=links)


class NewsletterContent(ReaderMail):
    """The sending loop's content for a newsletter run: one rendering for everyone."""

    def __init__(self, run: Run, deliveries: list[Delivery]) -> None:
        super().__init__()
        newsletter = db.session.scalar(select(Newsletter).where(Newsletter.run_id == run.id))
        tracked = tracking.enabled()
        self.rendered = render(newsletter, tracked=tracked) if newsletter is not None else None

    def message(self, delivery: Delivery, reader: User) -> Rendered | None:
        """The same message for every reader; None if the newsletter was deleted."""
        return self.rendered

    def record_sent(self, sent: SentRecords) -> None:
        """Nothing more than the ledger's own records: a newsletter lists no articles."""


register_content(RunKind.NEWSLETTER, NewsletterContent)


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
    return html_of_bytes(message_bytes(newsletter, user, "<preview@localhost>"))


def send_test(newsletter: Newsletter, user: User) -> str:
    """Send one copy to ``user`` (the editor), outside the ledger; return the server's reply."""
    msgid = f"<test-{newsletter.id}.{uuid.uuid4().hex[:12]}@{site_domain()}>"
    transport = open_transport()
    try:
        return transport.send(user.email, message_bytes(newsletter, user, msgid, test=True))
    except OSError as exc:  # smtplib's errors are OSErrors
        raise NewsletterError(f"The test could not be sent: {exc}") from exc
    finally:
        transport.close()

"""The reply mail's job: a thread's earlier commenters hear of a new reply.

It lives above the preferences room because an address the publication has
suppressed (hard bounces, a spam complaint) gets no reply mail either: mailing it
again would hurt every other reader's delivery. Who belongs to the thread, and the
link that leaves it, are the articles room's (``shop.articles.replies``).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from shop import background
from shop.articles.comments import NOTIFY_JOB
from shop.articles.models import Comment
from shop.articles.replies import mute_token, recipients
from shop.extensions import db
from shop.mail import MailUnavailableError, send_email
from shop.preferences.models import DigestPreference
from shop.urls import external_url

log = logging.getLogger(__name__)


def suppressed_ids(user_ids: list[int]) -> set[int]:
    """Which of these readers' addresses are suppressed."""
    if not user_ids:
        return set()
    found = select(DigestPreference.user_id).where(
        DigestPreference.user_id.in_(user_ids), DigestPreference.suppressed_at.is_not(None)
    )
    return set(db.session.scalars(found))


@background.job(NOTIFY_JOB)
def notify_reply(comment_id: int) -> int:
    """Mail the thread's earlier commenters about one reply; how many were sent."""
    reply = db.session.get(Comment, comment_id)
    if reply is None or reply.parent_id is None:
        return 0
    if reply.hidden or reply.held or reply.deleted_at is not None:
        return 0  # a moderator got there first, or its author took it back
    top = db.session.get(Comment, reply.parent_id)
    if top is None:
        return 0
    article = reply.article
    replier = reply.author.name or "A reader"
    reply_url = external_url("articles.article", slug=article.slug) + f"#comment-{reply.id}"
    people = recipients(reply)
    blocked = suppressed_ids([person.id for person in people])
    sent = 0
    for person in people:
        if person.id in blocked:
            continue
        yours = person.id == top.author_id
        token = mute_token(person.id, top.id)
        unsubscribe = external_url("articles.thread_unsubscribe", token=token)
        where = "your comment" if yours else "a conversation you joined"
        try:
            delivered = send_email(
                person.email,
                f"{replier} replied to {where} on “{article.title}”",
                "reply",
                headers={
                    "List-Unsubscribe": f"<{unsubscribe}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                name=person.name,
                replier=replier,
                where=where,
                article=article,
                reply=reply,
                reply_url=reply_url,
                unsubscribe_url=unsubscribe,
            )
        except MailUnavailableError as exc:
            # One notice of one reply: worth a log line, not a retry that could repeat it.
            log.error("Reply mail for comment %s to user %s: %s", reply.id, person.id, exc)
            continue
        sent += int(delivered)
    return sent

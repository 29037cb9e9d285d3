"""Reply mail: who in a thread hears of a new reply, and one-click leaving a thread.

The mail goes from a background job (``comments.notify_reply``, in
``shop.readers.reply_mail``, which may read the suppression list), never from the
request that posted the reply. Each message carries RFC 8058 one-click headers whose
signed link mutes that one thread for that one reader; digests and other threads are
left alone.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop.accounts.models import User
from shop.articles.models import Comment, ThreadMute
from shop.errors import RuleError
from shop.extensions import db

SALT = "comments.thread-mute"


class ThreadTokenError(RuleError):
    """A thread's unsubscribe link that is tampered with or was not made here."""


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def mute_token(user_id: int, top_id: int) -> str:
    """The token in a reply mail's unsubscribe link: this reader, this thread."""
    return _serializer().dumps({"u": user_id, "c": top_id})


def _read_token(token: str) -> tuple[int, int]:
    try:
        data = _serializer().loads(token)
    except BadSignature as exc:
        raise ThreadTokenError("This unsubscribe link is not valid.") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), int) for k in "uc"):
        raise ThreadTokenError("This unsubscribe link is not valid.")
    return data["u"], data["c"]


def thread_for_token(token: str) -> Comment | None:
    """The thread's top comment a token names (None when it is gone); checks the token."""
    _, top_id = _read_token(token)
    return db.session.get(Comment, top_id)


def mute_thread(token: str) -> Comment | None:
    """Send the token's reader no more mail about its thread; safe to repeat."""
    user_id, top_id = _read_token(token)
    top = db.session.get(Comment, top_id)
    if top is None or db.session.get(User, user_id) is None:
        return top  # a deleted thread or reader: no mail can come from it anyway
    if not is_muted(user_id, top_id):
        db.session.add(ThreadMute(user_id=user_id, comment_id=top_id))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # a mail client's POST and the reader's click at once
    return top


def is_muted(user_id: int, top_id: int) -> bool:
    """Whether this reader left this thread."""
    found = select(ThreadMute.id).where(
        ThreadMute.user_id == user_id, ThreadMute.comment_id == top_id
    )
    return db.session.scalar(found) is not None


def recipients(reply: Comment) -> list[User]:
    """Who hears of a reply: the top comment's author and earlier repliers, once each.

    Not the replier, not anyone who left the thread, not an unconfirmed address, and
    not the author of a comment since hidden, held or deleted.
    """
    top = db.session.get(Comment, reply.parent_id)
    if top is None:
        return []
    earlier = db.session.scalars(
        select(Comment)
        .where(Comment.parent_id == top.id, Comment.id < reply.id)
        .order_by(Comment.id)
    )
    muted = set(
        db.session.scalars(select(ThreadMute.user_id).where(ThreadMute.comment_id == top.id))
    )
    people: dict[int, User] = {}
    for comment in (top, *earlier):
        if comment.hidden or comment.held or comment.deleted_at is not None:
            continue
        author = comment.author
        if author.id == reply.author_id or author.id in muted or not author.is_confirmed:
            continue
        people.setdefault(author.id, author)
    return list(people.values())

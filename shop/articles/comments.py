"""The conversation under an article: who may comment, replies, editing, holding.

Threads are one level deep: a reply to a reply joins the thread of the top comment,
so a conversation never narrows into a column on a phone. Each function owns its
transaction; a reply that readers can see sets off the reply mail (``replies.py``)
through the job seam, after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import exists, select

from shop import background
from shop.accounts.models import User
from shop.accounts.services import AccountError, clean_display_name
from shop.articles.models import (
    COMMENTS_OFF,
    COMMENTS_PAYING,
    Article,
    Comment,
)
from shop.articles.services import COMMENT_MAX, ArticleError
from shop.billing import access
from shop.clock import utcnow
from shop.extensions import db

log = logging.getLogger(__name__)

# The job that mails a thread's earlier commenters; registered by shop.articles.replies.
NOTIFY_JOB = "comments.notify_reply"


class NotYourCommentError(ArticleError):
    """Someone tried to change a comment that is not theirs."""


def comment_refusal(user: User, article: Article) -> str | None:
    """Why this reader may not comment on this article, or None when they may."""
    if article.comments_from == COMMENTS_OFF:
        return "Comments are closed on this article."
    if not getattr(user, "is_authenticated", False):
        return "Log in to comment."
    if user.is_admin:
        return None
    if not user.is_confirmed:
        return "Confirm your email address before commenting."
    if article.comments_from == COMMENTS_PAYING and not access.has_paid_access(user):
        return "Only paying subscribers can comment on this article."
    return None


def _clean_body(body: str | None) -> str:
    body = (body or "").strip()
    if not body:
        raise ArticleError("Write something before posting.", "body")
    if len(body) > COMMENT_MAX:
        raise ArticleError(f"Keep comments under {COMMENT_MAX:,} characters.", "body")
    return body


def _is_shown(comment: Comment) -> bool:
    return not comment.hidden and not comment.held and comment.deleted_at is None


def _thread_top(article: Article, parent_id: int) -> Comment:
    """The top comment a reply to ``parent_id`` belongs under, if one may reply to it."""
    parent = db.session.get(Comment, parent_id)
    if parent is None or parent.article_id != article.id or not _is_shown(parent):
        raise ArticleError("The comment you replied to is no longer there.", "body")
    if parent.parent_id is None:
        return parent
    top = db.session.get(Comment, parent.parent_id)
    if top is None or top.hidden or top.held:
        raise ArticleError("The comment you replied to is no longer there.", "body")
    return top


def _must_wait(author: User) -> bool:
    """Whether this comment waits for a moderator: a new commenter, when the setting asks."""
    if not current_app.config.get("COMMENTS_HOLD_NEW_COMMENTERS") or author.is_admin:
        return False
    approved = exists().where(
        Comment.author_id == author.id, Comment.held.is_(False), Comment.hidden.is_(False)
    )
    return not db.session.scalar(select(approved))


def add_comment(
    article: Article,
    author: User,
    body: str,
    name: str | None = None,
    parent_id: int | None = None,
) -> Comment:
    """Add a comment, or a reply in a thread; a reader without a name may give one with it."""
    refusal = comment_refusal(author, article)
    if refusal is not None:
        raise ArticleError(refusal, "body")
    body = _clean_body(body)
    top = _thread_top(article, parent_id) if parent_id is not None else None
    if not author.display_name and name:
        try:
            author.display_name = clean_display_name(name)
        except AccountError as error:
            raise ArticleError(str(error), "display_name") from None
    held = _must_wait(author)
    comment = Comment(
        article=article, author=author, body=body, parent_id=top.id if top else None, held=held
    )
    db.session.add(comment)
    db.session.commit()
    if top is not None and not comment.held:
        _tell_the_thread(comment)
    return comment


def _tell_the_thread(reply: Comment) -> None:
    """Queue the reply mail; a queue that is down costs the mail, never the comment."""
    try:
        background.enqueue(NOTIFY_JOB, comment_id=reply.id)
    except background.QueueUnavailableError as exc:
        log.error("Reply mail for comment %s was not queued: %s", reply.id, exc)


def edit_window() -> timedelta:
    """How long after posting a reader may still edit or delete a comment."""
    return timedelta(minutes=current_app.config["COMMENT_EDIT_MINUTES"])


def can_change(comment: Comment, user: User) -> bool:
    """Whether ``user`` may still edit or delete this comment (their own, and recent)."""
    return (
        getattr(user, "is_authenticated", False)
        and comment.author_id == user.id
        and comment.deleted_at is None
        and utcnow() - comment.created_at <= edit_window()
    )


def _check_own(comment: Comment, user: User) -> None:
    if comment.author_id != user.id:
        raise NotYourCommentError("You can only change your own comments.", "body")
    if comment.deleted_at is not None:
        raise ArticleError("That comment is deleted.", "body")
    if not can_change(comment, user):
        minutes = current_app.config["COMMENT_EDIT_MINUTES"]
        raise ArticleError(
            f"Comments can be changed for {minutes} minutes after posting; this one no longer.",
            "body",
        )


def edit_comment(comment: Comment, user: User, body: str) -> Comment:
    """Change the text of one's own recent comment."""
    _check_own(comment, user)
    comment.body = _clean_body(body)
    comment.edited_at = utcnow()
    db.session.commit()
    return comment


def delete_own_comment(comment: Comment, user: User) -> None:
    """Delete one's own recent comment; one with replies leaves a placeholder in its place."""
    _check_own(comment, user)
    has_replies = db.session.scalar(select(exists().where(Comment.parent_id == comment.id)))
    if has_replies:
        # The replies still answer something: keep the place, not the words.
        comment.body = ""
        comment.deleted_at = utcnow()
    else:
        parent_id = comment.parent_id
        db.session.delete(comment)
        db.session.flush()
        _drop_empty_placeholder(parent_id)
    db.session.commit()


def _drop_empty_placeholder(top_id: int | None) -> None:
    """A deleted top comment whose last reply went has nothing left to hold its place for."""
    if top_id is None:
        return
    top = db.session.get(Comment, top_id)
    if top is None or top.deleted_at is None:
        return
    if not db.session.scalar(select(exists().where(Comment.parent_id == top.id))):
        db.session.delete(top)


def approve_comment(comment: Comment) -> Comment:
    """Show a held comment to everyone; a reply then mails its thread."""
    if not comment.held:
        raise ArticleError("That comment is not waiting for approval.", "comment")
    comment.held = False
    db.session.commit()
    if comment.parent_id is not None:
        _tell_the_thread(comment)
    return comment


def reject_comment(comment: Comment) -> None:
    """Refuse a held comment: it is deleted, and its author's next one waits too."""
    if not comment.held:
        raise ArticleError("That comment is not waiting for approval.", "comment")
    db.session.delete(comment)
    db.session.commit()


@dataclass
class Thread:
    """A top comment (perhaps a placeholder) and the replies under it, oldest first."""

    comment: Comment
    replies: list[Comment] = field(default_factory=list)


@dataclass
class Conversation:
    """What a reader sees under an article: the threads, how many comments, which are theirs."""

    threads: list[Thread]
    count: int
    changeable: set[int]


def conversation(article: Article, viewer: User | None) -> Conversation:
    """The threads this reader sees: nothing hidden, and held comments only to their author."""
    viewer_id = viewer.id if viewer is not None and viewer.is_authenticated else None

    def visible(c: Comment) -> bool:
        return not c.hidden and (not c.held or c.author_id == viewer_id)

    threads: dict[int, Thread] = {}
    replies: list[Comment] = []
    for c in article.comments:  # oldest first
        if not visible(c):
            continue
        if c.parent_id is None:
            threads[c.id] = Thread(c)
        else:
            replies.append(c)
    for reply in replies:
        if reply.parent_id in threads:
            threads[reply.parent_id].replies.append(reply)
    shown = [t for t in threads.values() if t.comment.deleted_at is None or t.replies]
    everyone = [c for t in shown for c in (t.comment, *t.replies) if c.deleted_at is None]
    changeable = {c.id for c in everyone if viewer is not None and can_change(c, viewer)}
    return Conversation(shown, len(everyone), changeable)


def can_reply_to(article: Article, comment_id: int, viewer: User) -> bool:
    """Whether the page shows this reader a Reply form under that comment."""
    talk = conversation(article, viewer)
    return any(
        c.id == comment_id and c.deleted_at is None and not c.held
        for t in talk.threads
        for c in (t.comment, *t.replies)
    )

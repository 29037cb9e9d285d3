"""Newsletters: compose and edit them, and choose who receives them.

A newsletter is sent as a run of the same ledger as digests (kind ``newsletter``):
``shop.newsletters.message`` is its content for the sending engine, and
``shop.newsletters.sending`` takes it for sending, schedules it and reports progress;
``shop.newsletters.archive`` reads the sent ones back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, exists, func, or_, select

from shop import clock
from shop.accounts.models import User
from shop.articles.models import Tag
from shop.articles.rendering import render_markdown
from shop.billing.access import paying_user_ids, paying_users_select
from shop.clock import utcnow
from shop.errors import RuleError
from shop.extensions import db
from shop.newsletters.models import Audience, Newsletter, NewsletterStatus
from shop.preferences.mailing import not_paused, reachable
from shop.preferences.models import DigestPreference, preference_tags
from shop.sending.content import Plan
from shop.text import slugify, unique_slug

AUDIENCE_LABELS = {
    Audience.ALL: "All subscribers",
    Audience.TAGS: "Followers of chosen tags",
    Audience.PAYING: "Paying subscribers",
    Audience.FREE: "Free subscribers",
}
SUBJECT_MAX = 200


class NewsletterError(RuleError):
    """A newsletter rule was broken."""


@dataclass
class NewsletterInput:
    """What the compose form sends, as plain values."""

    subject: str
    body_markdown: str
    audience: str = Audience.ALL
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
    if data.audience not in tuple(Audience):
        raise NewsletterError("Choose who receives it.", "audience")
    tags: list[Tag] = []
    if data.tag_ids:
        tags = list(db.session.scalars(select(Tag).where(Tag.id.in_(data.tag_ids))))
        if len(tags) != len(set(data.tag_ids)):
            raise NewsletterError("One of the chosen tags no longer exists.", "tag_ids")
    if data.audience == Audience.TAGS and not tags:
        raise NewsletterError("Choose at least one tag whose followers receive it.", "tag_ids")
    return tags


def _apply(newsletter: Newsletter, data: NewsletterInput, tags: list[Tag]) -> None:
    newsletter.subject = data.subject.strip()
    newsletter.body_markdown = data.body_markdown
    newsletter.body_html = render_markdown(data.body_markdown, for_mail=True)
    newsletter.audience = data.audience
    newsletter.tags = tags if data.audience == Audience.TAGS else []


def create_newsletter(author: User, data: NewsletterInput) -> Newsletter:
    """Save a new draft."""
    tags = _check(data)
    newsletter = Newsletter(author=author, status=NewsletterStatus.DRAFT)
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


def audience_query(newsletter: Newsletter) -> Select[DigestPreference, User]:
    """SELECT (preference, user) of everyone the newsletter goes to, in a stable order."""
    return audience_select(newsletter.audience, [t.id for t in newsletter.tags])


def audience_select(audience: str, tag_ids: list[int]) -> Select[DigestPreference, User]:
    """SELECT (preference, user) of everyone an audience holds (a newsletter's, a story's)."""
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
    if audience == Audience.TAGS:
        follows = (
            exists()
            .where(
                preference_tags.c.preference_id == DigestPreference.id,
                preference_tags.c.tag_id.in_(tag_ids),
            )
            .correlate(DigestPreference)
        )
        # Readers who follow everything follow these tags too.
        query = query.where(or_(DigestPreference.follow_all.is_(True), follows))
    elif audience == Audience.PAYING:
        query = query.where(User.id.in_(paying_users_select()))
    elif audience == Audience.FREE:
        query = query.where(User.id.not_in(paying_users_select()))
    return query


def audience_size(newsletter: Newsletter) -> int:
    """How many readers the newsletter would go to now."""
    count = db.session.scalar(
        select(func.count()).select_from(audience_query(newsletter).order_by(None).subquery())
    )
    return int(count or 0)


def audience_plans(newsletter: Newsletter) -> list[Plan]:
    """One plan per reader in the audience (newsletters carry no articles)."""
    paying = paying_user_ids()
    return [
        Plan(user.id, user.email, user.name, user.id in paying, [])
        for _, user in db.session.execute(audience_query(newsletter))
    ]

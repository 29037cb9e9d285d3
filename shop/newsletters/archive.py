"""The newsletters that went out: the public archive and the back office's list."""

from __future__ import annotations

from sqlalchemy import select

from shop.extensions import db
from shop.newsletters.models import Newsletter, NewsletterStatus
from shop.pagination import Page, paginate


def archived(page: int, per_page: int = 20) -> Page:
    """Sent newsletters, newest first, a page at a time."""
    query = (
        select(Newsletter)
        .where(Newsletter.status == NewsletterStatus.SENT)
        .order_by(Newsletter.sent_at.desc(), Newsletter.id.desc())
    )
    return paginate(query, page, per_page)


def archived_issue(slug: str) -> Newsletter | None:
    """A sent newsletter by its slug."""
    return db.session.scalar(
        select(Newsletter).where(
            Newsletter.slug == slug, Newsletter.status == NewsletterStatus.SENT
        )
    )


def admin_newsletters(page: int, per_page: int = 20) -> Page:
    """Every newsletter for the back office, unsent first, newest first."""
    query = select(Newsletter).order_by(
        (Newsletter.status == NewsletterStatus.SENT).asc(),
        Newsletter.created_at.desc(),
        Newsletter.id.desc(),
    )
    return paginate(query, page, per_page)

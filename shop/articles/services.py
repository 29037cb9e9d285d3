"""Article, tag and comment rules; each function owns its transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import defer, joinedload, selectinload

from shop.accounts.models import User
from shop.articles.models import (
    ACCESS_LEVELS,
    COMMENTS_FROM,
    COMMENTS_MEMBERS,
    EMAIL_AUDIENCES,
    EMAIL_TAGS,
    Article,
    ArticleStatus,
    Comment,
    Tag,
    article_tags,
)
from shop.articles.rendering import render_markdown
from shop.clock import utcnow
from shop.errors import RuleError
from shop.extensions import db
from shop.media import services as media
from shop.pagination import Page, paginate
from shop.text import slugify, unique_slug

COMMENT_MAX = 5000
TITLE_MAX = 200
TAG_NAME_MAX = 64


class ArticleError(RuleError):
    """An article, tag or comment rule was broken."""


def _live_query():
    # The cards and feed entries read tags, author and picture: loaded here, never from
    # the template. They show no body, so the bodies (the bulk of each row) stay in the
    # database, and reading one by mistake raises instead of querying per card.
    return (
        select(Article)
        .where(Article.live_clause())
        .options(
            selectinload(Article.tags),
            joinedload(Article.author),
            defer(Article.body_markdown, raiseload=True),
            defer(Article.body_html, raiseload=True),
            defer(Article.body_text, raiseload=True),
        )
        .order_by(Article.published_at.desc(), Article.id.desc())
    )


def _carries(tag: Tag):
    # EXISTS, not a join: the articles are read in ix_articles_live_order's order and each
    # is checked against the article_tags key, so no page sorts the tag's articles.
    return (
        select(article_tags.c.article_id)
        .where(article_tags.c.article_id == Article.id, article_tags.c.tag_id == tag.id)
        .exists()
    )


def _live_count(*where) -> Select:
    # Counted from ix_articles_live_order alone (it holds status and published_at).
    return select(func.count(Article.id)).where(Article.live_clause(), *where)


def latest_articles(page: int = 1, per_page: int = 10) -> Page:
    """The newest articles readers can see, newest first."""
    return paginate(_live_query(), page, per_page, count=_live_count())


def tag_articles(tag: Tag, page: int = 1, per_page: int = 10) -> Page:
    """Live articles carrying a tag, newest first."""
    carries = _carries(tag)
    return paginate(_live_query().where(carries), page, per_page, count=_live_count(carries))


def recent_live(limit: int = 20, tag: Tag | None = None) -> list[Article]:
    """The newest live articles, for feeds."""
    query = _live_query().limit(limit)
    if tag is not None:
        query = query.where(_carries(tag))
    return list(db.session.scalars(query))


def live_addresses() -> list[tuple[str, datetime]]:
    """Every live article's slug and last change, for the sitemap (no bodies read)."""
    rows = db.session.execute(
        select(Article.slug, Article.updated_at)
        .where(Article.live_clause())
        .order_by(Article.published_at.desc(), Article.id.desc())
    )
    return [(slug, updated) for slug, updated in rows]


def get_live_article(slug: str) -> Article | None:
    """The article with this slug, if readers may see it now, with all its page shows.

    Tags, author, and every comment with its author are loaded here, so that the page's
    template never sends a query of its own (one per comment, before).
    """
    return db.session.scalar(
        select(Article)
        .where(Article.slug == slug, Article.live_clause())
        .options(
            selectinload(Article.tags),
            joinedload(Article.author),
            selectinload(Article.comments).joinedload(Comment.author),
        )
    )


def get_tag(slug: str) -> Tag | None:
    """The tag with this slug."""
    return db.session.scalar(select(Tag).where(Tag.slug == slug))


def all_tags() -> list[Tag]:
    """Every tag, by name."""
    return list(db.session.scalars(select(Tag).order_by(Tag.name)))


def tag_slugs() -> list[str]:
    """Every tag's slug, by name (the sitemap)."""
    return list(db.session.scalars(select(Tag.slug).order_by(Tag.name)))


def tags_with_counts() -> list[tuple[Tag, int]]:
    """Every tag with how many live articles carry it."""
    # IN over the live ids rather than a join: both sides are then read from indexes
    # alone (ix_articles_live_order, ix_article_tags_tag_article), never the article
    # rows, whose bodies would be read with them.
    live_ids = select(Article.id).where(Article.live_clause())
    counts = (
        select(article_tags.c.tag_id, func.count().label("n"))
        .where(article_tags.c.article_id.in_(live_ids))
        .group_by(article_tags.c.tag_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Tag, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.tag_id == Tag.id)
        .order_by(Tag.name)
    )
    return [(tag, n) for tag, n in rows]


# --- writing -------------------------------------------------------------------------


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise ArticleError("Give the article a title.", "title")
    if len(title) > TITLE_MAX:
        raise ArticleError(f"Keep the title under {TITLE_MAX} characters.", "title")
    return title


def _tags_by_ids(tag_ids: list[int]) -> list[Tag]:
    if not tag_ids:
        return []
    return list(db.session.scalars(select(Tag).where(Tag.id.in_(tag_ids))))


@dataclass
class ArticleInput:
    """What an author submits for an article."""

    title: str
    summary: str = ""
    body_markdown: str = ""
    access: str = "public"
    tag_ids: list[int] = field(default_factory=list)
    comments_from: str = COMMENTS_MEMBERS
    # The feature picture (already stored) and its alt text; None: no picture.
    image_id: int | None = None
    image_alt: str = ""


def _apply(article: Article, data: ArticleInput) -> None:
    article.title = _clean_title(data.title)
    article.image_alt = media.clean_alt(data.image_id, data.image_alt)
    article.image_id = data.image_id
    if data.access not in ACCESS_LEVELS:
        raise ArticleError("Choose who can read this article.", "access")
    if data.comments_from not in COMMENTS_FROM:
        raise ArticleError("Choose who may comment on this article.", "comments_from")
    article.summary = (data.summary or "").strip()
    article.body_markdown = data.body_markdown or ""
    # Rendered once, on save: pages then serve stored, already-sanitised HTML.
    article.body_html = render_markdown(article.body_markdown)
    article.access = data.access
    article.comments_from = data.comments_from
    article.tags = _tags_by_ids(data.tag_ids)


def create_article(author: User, data: ArticleInput) -> Article:
    """Save a new draft."""
    article = Article(author=author, status=ArticleStatus.DRAFT)
    try:
        # No autoflush: the half-built article must not be flushed by the lookups.
        with db.session.no_autoflush:
            _apply(article, data)
            article.slug = unique_slug(Article, slugify(article.title))
    except ArticleError:
        db.session.rollback()
        raise
    db.session.add(article)
    db.session.commit()
    return article


def update_article(article: Article, data: ArticleInput) -> Article:
    """Save edits; the slug follows the title only until first publication."""
    try:
        with db.session.no_autoflush:
            _apply(article, data)
            if article.published_at is None:
                # Never published, so nobody can have linked to the old slug yet.
                article.slug = unique_slug(Article, slugify(article.title), exclude_id=article.id)
    except ArticleError:
        db.session.rollback()
        raise
    db.session.commit()
    return article


def publish_article(
    article: Article, at: datetime | None = None, email_audience: str | None = None
) -> Article:
    """Publish now, or schedule for a future time (naive UTC); with ``email_audience``,
    mark the story to be emailed to that audience when it goes live (shop/stories).

    A story is emailed once: a second "Publish and email" keeps the first choice, and
    "Publish only" withdraws a mailing that has not been planned yet, never a planned one.
    """
    if email_audience is not None:
        if email_audience not in EMAIL_AUDIENCES:
            raise ArticleError("Choose who gets the story by email.", "email_audience")
        if email_audience == EMAIL_TAGS and not article.tags:
            raise ArticleError(
                "Give the story a tag first, or email it to another audience.", "email_audience"
            )
    now = utcnow()
    if at is not None and at > now:
        article.status = ArticleStatus.SCHEDULED
        article.published_at = at
    else:
        article.status = ArticleStatus.PUBLISHED
        # Re-publishing keeps the first date, so feeds and links stay put.
        if article.published_at is None or article.published_at > now:
            article.published_at = now
    _choose_email(article, email_audience)
    db.session.commit()
    db.session.refresh(article)
    return article


def _choose_email(article: Article, audience: str | None) -> None:
    """Record the mailing chosen (not committed); conditional, as its planning may be under way."""
    if audience is not None:
        # Only when none was chosen: of two presses, or a press and a resend, one counts.
        change = update(Article).where(Article.id == article.id, Article.email_audience.is_(None))
    else:
        change = update(Article).where(Article.id == article.id, Article.email_run_id.is_(None))
    db.session.execute(
        change.values(email_audience=audience).execution_options(synchronize_session=False)
    )


def unpublish_article(article: Article) -> Article:
    """Take an article back to draft; its slug stays reserved, an unplanned mailing withdrawn."""
    article.status = ArticleStatus.DRAFT
    _choose_email(article, None)
    db.session.commit()
    db.session.refresh(article)
    return article


def delete_article(article: Article) -> None:
    """Delete an article and its comments."""
    db.session.delete(article)
    db.session.commit()


def admin_articles(page: int = 1, per_page: int = 25, status: str | None = None) -> Page:
    """All articles for the back office, newest first."""
    query = (
        select(Article)
        .options(selectinload(Article.tags))
        .order_by(Article.created_at.desc(), Article.id.desc())
    )
    if status == ArticleStatus.DRAFT:
        query = query.where(Article.status == ArticleStatus.DRAFT)
    elif status == ArticleStatus.SCHEDULED:
        query = query.where(Article.status == ArticleStatus.SCHEDULED, ~Article.live_clause())
    elif status == ArticleStatus.PUBLISHED:
        query = query.where(Article.live_clause())
    return paginate(query, page, per_page)


# --- tags ----------------------------------------------------------------------------


def save_tag(name: str, description: str = "", tag: Tag | None = None) -> Tag:
    """Create or rename a tag; its slug follows its name."""
    name = (name or "").strip()
    if not name:
        raise ArticleError("Give the tag a name.", "name")
    if len(name) > TAG_NAME_MAX:
        raise ArticleError(f"Keep tag names under {TAG_NAME_MAX} characters.", "name")
    slug = slugify(name)
    if not slug:
        raise ArticleError("Use at least one letter or digit in the name.", "name")
    clash = db.session.scalar(
        select(Tag).where((func.lower(Tag.name) == name.lower()) | (Tag.slug == slug))
    )
    if clash is not None and clash is not tag:
        raise ArticleError(f"The tag “{clash.name}” already exists.", "name")
    if tag is None:
        tag = Tag()
        db.session.add(tag)
    tag.name = name
    tag.slug = slug
    tag.description = (description or "").strip()
    db.session.commit()
    return tag


def delete_tag(tag: Tag) -> None:
    """Delete a tag; its articles stay."""
    db.session.delete(tag)
    db.session.commit()


# --- comments ------------------------------------------------------------------------


def set_comment_hidden(comment: Comment, hidden: bool) -> Comment:
    """Hide a comment from readers, or show it again."""
    comment.hidden = hidden
    db.session.commit()
    return comment


def delete_comment(comment: Comment) -> None:
    """Delete a comment for good."""
    db.session.delete(comment)
    db.session.commit()


COMMENT_STATES = ("visible", "hidden", "held")
COMMENT_SEARCH_MAX = 200


def recent_comments(
    page: int = 1, per_page: int = 50, *, query: str = "", state: str | None = None
) -> Page:
    """Comments for moderation, newest first; by text or author's email, and by state."""
    if state is not None and state not in COMMENT_STATES:
        raise ArticleError("A comment is visible, hidden or held for approval.", "state")
    text = query.strip()
    if len(text) > COMMENT_SEARCH_MAX:
        raise ArticleError(f"A search can be at most {COMMENT_SEARCH_MAX} characters long.", "q")
    statement = (
        select(Comment)
        .options(selectinload(Comment.article), selectinload(Comment.author))
        .order_by(Comment.created_at.desc(), Comment.id.desc())
    )
    if state == "held":
        statement = statement.where(Comment.held.is_(True))
    elif state is not None:
        statement = statement.where(Comment.hidden.is_(state == "hidden"), Comment.held.is_(False))
    if text:
        authors = select(User.id).where(User.email.icontains(text, autoescape=True))
        statement = statement.where(
            Comment.body.icontains(text, autoescape=True) | Comment.author_id.in_(authors)
        )
    return paginate(statement, page, per_page)

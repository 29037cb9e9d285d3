"""Articles, tags and comments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    event,
    false,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from shop.accounts.models import User
from shop.articles import search_schema
from shop.articles.rendering import plain_text
from shop.clock import utcnow
from shop.extensions import Model, db
from shop.media.models import Image
from shop.text import reading_minutes


class ArticleStatus(StrEnum):
    """Where an article is: a draft, scheduled for a time, or published."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"


ACCESS_PUBLIC = "public"
ACCESS_MEMBERS = "members"
ACCESS_PAID = "paid"
ACCESS_LEVELS = (ACCESS_PUBLIC, ACCESS_MEMBERS, ACCESS_PAID)

# Who gets a story by email when it is published (shop/stories): everyone who gets mail,
# the followers of its tags, or the paying readers.
EMAIL_ALL = "all"
EMAIL_TAGS = "tags"
EMAIL_PAYING = "paying"
EMAIL_AUDIENCES = (EMAIL_ALL, EMAIL_TAGS, EMAIL_PAYING)
EMAIL_AUDIENCE_LABELS = {
    EMAIL_ALL: "Everyone who gets our email",
    EMAIL_TAGS: "Followers of this story's tags",
    EMAIL_PAYING: "Paying subscribers",
}
# Who may comment on an article: any confirmed member, paying readers only, or nobody.
COMMENTS_MEMBERS = "members"
COMMENTS_PAYING = "paying"
COMMENTS_OFF = "off"
COMMENTS_FROM = (COMMENTS_MEMBERS, COMMENTS_PAYING, COMMENTS_OFF)

article_tags = Table(
    "article_tags",
    db.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # The primary key leads with the article; a tag's page starts from the tag.
    Index("ix_article_tags_tag_article", "tag_id", "article_id"),
)


class Tag(Model):
    """A topic readers can browse and, later, follow."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True, index=True)
    description: Mapped[str] = mapped_column(Text, default="")

    articles: Mapped[list[Article]] = relationship(secondary=article_tags, back_populates="tags")

    @property
    def hashtag(self) -> str:
        """The tag as a hashtag, ``#north-korea``."""
        return "#" + self.slug

    def __repr__(self) -> str:
        return f"<Tag {self.slug}>"


class Article(Model):
    """A piece of writing; its Markdown body is rendered to safe HTML once, on save."""

    __tablename__ = "articles"
    __table_args__ = (
        # Home, tag pages and feeds read live articles newest first: this index gives that
        # order with no sort, and holds the status, so the live filter and the page count
        # read the index alone.
        Index("ix_articles_live_order", "published_at", "id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(220), unique=True, index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    # Counted when the body is set, so a page or card never counts words again.
    reading_minutes: Mapped[int] = mapped_column(default=1, server_default="1")
    # The body's words, for the search index: set whenever body_html is (see below).
    body_text: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # No index of its own: ix_articles_live_order holds it (an index on status alone made
    # SQLite read the live articles by status, then sort them all).
    status: Mapped[str] = mapped_column(String(16), default=ArticleStatus.DRAFT)
    access: Mapped[str] = mapped_column(String(16), default=ACCESS_PUBLIC)
    comments_from: Mapped[str] = mapped_column(
        String(16), default=COMMENTS_MEMBERS, server_default=COMMENTS_MEMBERS
    )
    published_at: Mapped[datetime | None] = mapped_column()  # ix_articles_live_order leads
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The feature picture (cards, the header, link previews, feeds, mail) and its words.
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL"), index=True
    )
    image_alt: Mapped[str] = mapped_column(String(300), default="")
    # Set by "Publish and email": who gets the story by email. With no run yet the mail is
    # still to go (when the story goes live); the run, once planned, is its only mailing.
    email_audience: Mapped[str | None] = mapped_column(String(16))
    email_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))

    author: Mapped[User] = relationship()
    image: Mapped[Image | None] = relationship(lazy="selectin")
    tags: Mapped[list[Tag]] = relationship(
        secondary=article_tags, back_populates="articles", order_by="Tag.name"
    )
    comments: Mapped[list[Comment]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="Comment.created_at"
    )

    @classmethod
    def live_clause(cls, now: datetime | None = None):
        """SQL condition for articles readers can see now.

        A scheduled article counts as published once its time has come, so it
        appears by itself with no cron job.
        """
        now = now or utcnow()
        return and_(
            or_(cls.status == ArticleStatus.PUBLISHED, cls.status == ArticleStatus.SCHEDULED),
            cls.published_at.is_not(None),
            cls.published_at <= now,
        )

    def is_live(self, now: datetime | None = None) -> bool:
        """Tell whether readers can see this article now."""
        now = now or utcnow()
        return (
            self.status in (ArticleStatus.PUBLISHED, ArticleStatus.SCHEDULED)
            and self.published_at is not None
            and self.published_at <= now
        )

    @property
    def effective_status(self) -> str:
        """The status a person would describe: scheduled becomes published when due."""
        if self.status == ArticleStatus.SCHEDULED and self.is_live():
            return ArticleStatus.PUBLISHED
        return self.status

    @validates("body_markdown")
    def _count_reading_minutes(self, _key: str, body: str | None) -> str | None:
        """Keep the reading time in step with every new body."""
        self.reading_minutes = reading_minutes(body or "")
        return body

    @property
    def email_pending(self) -> bool:
        """Whether the story is to be emailed and its mailing is not planned yet."""
        return self.email_audience is not None and self.email_run_id is None

    def __repr__(self) -> str:
        return f"<Article {self.slug}>"


@event.listens_for(Article.body_html, "set")
def _body_text_follows_html(target: Article, value: str | None, old, initiator) -> None:
    """Keep the indexed words in step with the body, however the body is set."""
    target.body_text = plain_text(value or "")


# The search index's dialect-specific objects, made and dropped with the table.
search_schema.attach(Article.__table__)


class Comment(Model):
    """A reader's comment under an article, or a reply in its thread, stored as plain text.

    Threads are one level deep: a reply's ``parent_id`` is always a top-level comment.
    A deleted comment that has replies stays as a placeholder (``deleted_at``, no body).
    """

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    hidden: Mapped[bool] = mapped_column(default=False)
    # Waiting for a moderator (COMMENTS_HOLD_NEW_COMMENTERS): shown to its author alone.
    held: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column()
    deleted_at: Mapped[datetime | None] = mapped_column()

    article: Mapped[Article] = relationship(back_populates="comments")
    author: Mapped[User] = relationship()

    @property
    def top_id(self) -> int:
        """The id of the thread's top comment (this one, unless it is a reply)."""
        return self.parent_id if self.parent_id is not None else self.id


class ThreadMute(Model):
    """A reader who asked for no more reply mail from one thread."""

    __tablename__ = "thread_mutes"
    __table_args__ = (UniqueConstraint("user_id", "comment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The thread's top comment.
    comment_id: Mapped[int] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

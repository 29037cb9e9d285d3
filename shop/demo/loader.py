"""Demo content loader: idempotent, so running it twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from shop.accounts import admins
from shop.accounts import services as accounts
from shop.accounts.models import ROLE_READER, User
from shop.articles.models import Article, ArticleStatus, Comment, Tag
from shop.articles.rendering import render_markdown
from shop.clock import utcnow
from shop.demo.catalogue import PRODUCTS, load_catalogue
from shop.demo.content import COMMENTS, TAGS, load_articles
from shop.demo.history import load_gifts, load_history, load_posted_orders
from shop.demo.pictures import load_pictures
from shop.extensions import db
from shop.text import slugify

DEMO_READER = "reader@example.com"
DEMO_EDITOR = "Alex Morgan"  # a byline for the demo articles


@dataclass
class DemoResult:
    """What the demo command did."""

    admin_email: str
    admin_password: str | None
    articles_created: int = 0
    tags_created: int = 0
    comments_created: int = 0
    products_created: int = 0
    history_readers: int = 0
    posted_orders: int = 0
    gifts: int = 0
    pictures: int = 0


def load_demo(admin_email: str = "admin@example.com") -> DemoResult:
    """Create the demo admin, tags, articles and comments that are missing."""
    admin = accounts.find_user_by_email(admin_email)
    password = None
    if admin is None:
        # Generated here and printed once: no demo password lives in the code.
        password = admins.generate_password()
        admin, _ = admins.create_admin(admin_email, password)
        admin.display_name = DEMO_EDITOR
    result = DemoResult(admin_email=admin.email, admin_password=password)

    reader = accounts.find_user_by_email(DEMO_READER)
    if reader is None:
        reader = User(email=DEMO_READER, role=ROLE_READER, display_name="Sam Reader")
        reader.set_password(admins.generate_password())
        reader.confirmed_at = utcnow()
        db.session.add(reader)

    tags: dict[str, Tag] = {}
    for name, description in TAGS:
        tag = db.session.scalar(select(Tag).where(Tag.slug == slugify(name)))
        if tag is None:
            tag = Tag(name=name, slug=slugify(name), description=description)
            db.session.add(tag)
            result.tags_created += 1
        tags[name] = tag

    now = utcnow().replace(second=0, microsecond=0)
    articles: dict[str, Article] = {}
    for data in load_articles():
        slug = slugify(data.title)
        article = db.session.scalar(select(Article).where(Article.slug == slug))
        if article is None:
            article = Article(
                title=data.title,
                slug=slug,
                summary=data.summary,
                body_markdown=data.body,
                body_html=render_markdown(data.body),
                author=admin,
                status=ArticleStatus.PUBLISHED,
                access=data.access,
                published_at=now - timedelta(days=data.days_ago, hours=len(slug) % 9),
                tags=[tags[name] for name in data.tags],
            )
            db.session.add(article)
            result.articles_created += 1
        articles[slug] = article

    db.session.flush()
    for slug, body in COMMENTS:
        article = articles[slug]
        exists = db.session.scalar(
            select(Comment.id).where(Comment.article_id == article.id, Comment.body == body)
        )
        if exists is None:
            db.session.add(Comment(article=article, author=reader, body=body))
            result.comments_created += 1
    db.session.commit()
    result.products_created = load_catalogue()
    result.history_readers = load_history(utcnow())
    result.posted_orders = load_posted_orders(utcnow())
    result.gifts = load_gifts(utcnow())
    result.pictures = load_pictures(list(articles), [slugify(spec["name"]) for spec in PRODUCTS])
    return result

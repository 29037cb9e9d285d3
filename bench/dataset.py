"""A benchmark dataset: articles, tags, members, comments, products and orders.

Usage (from the project folder, inside .venv):

    python bench/dataset.py --articles 10000 --database sqlite
    python bench/dataset.py --articles 200 --database postgresql
    python bench/dataset.py --articles 200 --url sqlite:////tmp/bench.db

The schema comes from the migrations (``flask db upgrade``, in a child process), never
from ``create_all``, so the dataset follows every migration added later. The rows then go
in with bulk Core inserts (one statement per table and chunk, not the ORM row by row):

- N articles (200 or 10,000) with the demo's real Markdown bodies, rendered once each by
  the app's own renderer, 1 to 3 of 50 tags each, a tenth for members and a twentieth paid;
- 100,000 confirmed members sharing one password hash (made once with the app's
  ``PASSWORD_HASH_METHOD``), each with digest preferences;
- comments from several members on a third of the articles; the newest public article
  (``Dataset.article_slug``) carries a long thread with replies;
- a dozen one-off products and 5,000 paid orders of them.

``--database sqlite`` writes ``instance/bench-<N>.db`` (replaced); ``postgresql`` makes
a fresh database ``broadsheet_bench_<N>`` next to ``TEST_DATABASE_URL`` (or the local
``test`` database). ``bench/pages.py`` uses ``build()`` directly on a database of its own.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 20261203
# The made-up accounts of a throwaway database share this password.
PASSWORD = "bench reader password 1"  # noqa: S105
READER_EMAIL = "reader@bench.example"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
TAG_COUNT = 50
MEMBERS = 100_000
ORDERS = 5_000
PRODUCTS = 12
CHUNK = 5_000  # rows per INSERT statement: large enough to be quick, small enough for PG
THREAD_COMMENTS = 40  # on the measured article
# Fifty topics, the tags of the dataset (one string, split once, to keep the list short).
_TOPICS = (
    "Climate Economy Culture Science Politics Health Education Technology Transport Housing "
    "Energy Food Farming Oceans Cities Law Media Books Music Film Theatre Sport Travel Work "
    "Money Trade Ukraine Europe Asia Africa Americas Elections Courts Police Water Forests "
    "Wildlife Weather Space Medicine Schools Universities Labour Tax Pensions Retail Shipping "
    "Railways Aviation Data"
)
TAG_NAMES = tuple(_TOPICS.split())


@dataclass
class Dataset:
    """What was made, and the names a page benchmark needs to find its pages."""

    url: str
    articles: int
    members: int
    orders: int
    comments: int
    article_slug: str  # a public article with a long comment thread
    tag_slug: str  # the tag with the most articles
    reader_email: str
    reader_password: str
    product_ids: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def app_environment(database_url: str, instance: str, **extra: str) -> dict[str, str]:
    """The environment of an app process over ``database_url`` (production-like)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLASK_", "CELERY_", "MAIL_", "STRIPE_", "DATABASE_URL"))
    }
    env.update(
        SECRET_KEY="bench-secret-key-" + uuid.uuid4().hex,
        DATABASE_URL=database_url,
        BROADSHEET_INSTANCE=instance,
        RATELIMIT_STORAGE_URI="memory://",
        CELERY_BROKER_URL="",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
    )
    env.update(extra)
    return env


def migrate(database_url: str, instance: str) -> None:
    """Make the schema with the project's migrations, as a deployment does."""
    env = app_environment(database_url, instance)
    done = subprocess.run(  # noqa: S603  (arguments built here)
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"flask db upgrade failed:\n{done.stdout}\n{done.stderr}")


def _chunks(rows: list[dict[str, Any]]):
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _insert(connection, table, rows: list[dict[str, Any]]) -> None:
    """Bulk-insert ``rows`` (executemany), a chunk per statement; all name the same columns."""
    from sqlalchemy import insert

    if rows and any(row.keys() != rows[0].keys() for row in rows):
        raise ValueError(f"{table.name}: every row must name the same columns")

    for chunk in _chunks(rows):
        connection.execute(insert(table), chunk)


def _ids(connection, column, where) -> list[int]:
    from sqlalchemy import select

    return list(connection.scalars(select(column).where(where).order_by(column)))


def _bodies() -> list[tuple[str, str, str, int]]:
    """(summary, Markdown, HTML, reading minutes) of each demo article, rendered once."""
    from shop.articles.rendering import render_markdown
    from shop.demo.content import load_articles
    from shop.text import reading_minutes

    out = []
    for demo in load_articles():
        out.append(
            (demo.summary, demo.body, render_markdown(demo.body), reading_minutes(demo.body))
        )
    return out


COMMENT_LINES = (
    "This matches what I have seen locally, though the numbers seem low to me.",
    "Thank you for following this up. Could you say more about who pays for it?",
    "I disagree with the second half: the council tried this in 2019 and it failed.",
    "Brilliant piece. Sharing it with our residents' association tonight.",
    "Is there a source for the figure in the third paragraph?",
    "My father worked on exactly this for thirty years; it was never simple.",
    "A fair account, but it leaves out the people who were moved on to make room.",
    "Good to read something careful on this for once.",
)


def build(
    database_url: str,
    articles: int = 200,
    members: int = MEMBERS,
    orders: int = ORDERS,
    instance: str | None = None,
) -> Dataset:
    """Migrate ``database_url`` and fill it; the database should be empty."""
    import tempfile

    from sqlalchemy import func, select, update
    from werkzeug.security import generate_password_hash

    from shop import create_app
    from shop.accounts.models import ROLE_READER, User
    from shop.articles.models import Article, Comment, Tag, article_tags
    from shop.cart.models import Order, OrderLine
    from shop.catalogue.models import Price, Product
    from shop.clock import utcnow
    from shop.config import load_settings, normalise_database_url
    from shop.extensions import db
    from shop.preferences.models import DigestPreference

    if articles < 1 or members < 1 or orders < 0:
        raise ValueError("a dataset needs at least one article and one member")
    rng = random.Random(SEED)
    timings: dict[str, float] = {}
    instance = instance or tempfile.mkdtemp(prefix="broadsheet-bench-instance-")
    started = time.perf_counter()
    migrate(database_url, instance)
    timings["migrate"] = time.perf_counter() - started

    # One hash for every member, made the way the app makes them (its configured method).
    method = load_settings(instance, dict(os.environ))["PASSWORD_HASH_METHOD"]
    password_hash = generate_password_hash(PASSWORD, method=method)
    now = utcnow().replace(microsecond=0)
    app = create_app(
        {
            "SECRET_KEY": "bench-dataset",
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
            "RATELIMIT_STORAGE_URI": "memory://",
            "CELERY_BROKER_URL": "",
        }
    )
    with app.app_context(), db.engine.begin() as conn:
        step = time.perf_counter()
        people: list[dict[str, Any]] = [
            {
                "email": f"editor{n}@bench.example",
                "password_hash": password_hash,
                "role": "admin",
                "display_name": f"Editor {n}",
                "confirmed_at": now,
                "digest_consent_at": None,
                "created_at": now - timedelta(days=900),
            }
            for n in range(4)
        ]
        people.append(
            {
                "email": READER_EMAIL,
                "password_hash": password_hash,
                "role": ROLE_READER,
                "display_name": "Bench Reader",
                "confirmed_at": now,
                "digest_consent_at": now,
                "created_at": now - timedelta(days=30),
            }
        )
        people += [
            {
                "email": f"member{n:06d}@bench.example",
                "password_hash": password_hash,
                "role": ROLE_READER,
                # One in five has a display name; the others comment under their address's name.
                "display_name": f"Member {n}" if n % 5 == 0 else None,
                "confirmed_at": now - timedelta(minutes=n % 100_000),
                "digest_consent_at": now,
                "created_at": now - timedelta(minutes=n % 500_000),
            }
            for n in range(members - 1)
        ]
        _insert(conn, User.__table__, people)
        editor_ids = _ids(conn, User.id, User.role == "admin")
        member_ids = _ids(conn, User.id, User.role != "admin")
        _insert(
            conn,
            DigestPreference.__table__,
            [
                {
                    "user_id": uid,
                    "frequency": "daily" if uid % 3 else "weekly",
                    "weekday": uid % 7,
                    "covered_until": now - timedelta(days=1),
                }
                for uid in member_ids
            ],
        )
        timings["members"] = time.perf_counter() - step

        step = time.perf_counter()
        _insert(
            conn,
            Tag.__table__,
            [
                {"name": name, "slug": name.lower(), "description": f"Reporting on {name.lower()}."}
                for name in TAG_NAMES[:TAG_COUNT]
            ],
        )
        tag_ids = _ids(conn, Tag.id, Tag.id.is_not(None))
        bodies = _bodies()
        rows = []
        for n in range(articles):
            summary, markdown, html, minutes = bodies[n % len(bodies)]
            # Every few hours, newest first; a tenth for members, a twentieth paid.
            access = "paid" if n % 20 == 7 else "members" if n % 10 == 3 else "public"
            rows.append(
                {
                    "title": f"Dispatch {n}: {summary.split(',')[0][:120]}",
                    "slug": f"dispatch-{n}",
                    "summary": summary,
                    "body_markdown": markdown,
                    "body_html": html,
                    "body_text": "",  # filled below from one plain-text pass per body
                    "reading_minutes": minutes,
                    "author_id": editor_ids[n % len(editor_ids)],
                    "status": "published",
                    "access": access,
                    "published_at": now - timedelta(hours=1 + 3 * n),
                    "created_at": now - timedelta(hours=2 + 3 * n),
                    "updated_at": now - timedelta(hours=1 + 3 * n),
                }
            )
        from shop.articles.rendering import plain_text

        texts = [plain_text(html) for _, _, html, _ in bodies]
        for n, row in enumerate(rows):
            row["body_text"] = texts[n % len(texts)]
        _insert(conn, Article.__table__, rows)
        article_ids = _ids(conn, Article.id, Article.id.is_not(None))  # dispatch-0 first
        links = []
        for n, aid in enumerate(article_ids):
            # The first tag is on a third of the articles: the tag page has many to list.
            chosen = {tag_ids[0]} if n % 3 == 0 else set()
            chosen.update(rng.sample(tag_ids, rng.randint(1, 3)))
            links += [{"article_id": aid, "tag_id": tid} for tid in sorted(chosen)]
        _insert(conn, article_tags, links)
        timings["articles"] = time.perf_counter() - step

        step = time.perf_counter()
        comments: list[dict[str, Any]] = []
        thread_article = article_ids[0]  # dispatch-0: the newest, public
        for n, aid in enumerate(article_ids):
            count = (
                THREAD_COMMENTS
                if aid == thread_article
                else (rng.randint(2, 12) if n % 3 == 1 else 0)
            )
            published = now - timedelta(hours=1 + 3 * n)
            for c in range(count):
                comments.append(
                    {
                        "article_id": aid,
                        "author_id": rng.choice(member_ids[:2_000]),
                        "body": rng.choice(COMMENT_LINES),
                        "created_at": min(now, published + timedelta(minutes=5 + 7 * c)),
                        "hidden": False,
                        "held": False,
                    }
                )
        _insert(conn, Comment.__table__, comments)
        # Replies, one level deep, to the first few comments of the long thread.
        roots = _ids(conn, Comment.id, Comment.article_id == thread_article)[:6]
        _insert(
            conn,
            Comment.__table__,
            [
                {
                    "article_id": thread_article,
                    "author_id": rng.choice(member_ids[:2_000]),
                    "body": "Replying to this: " + rng.choice(COMMENT_LINES),
                    "parent_id": root,
                    "created_at": now,
                    "hidden": False,
                    "held": False,
                }
                for root in roots
            ],
        )
        comment_count = len(comments) + len(roots)
        timings["comments"] = time.perf_counter() - step

        step = time.perf_counter()
        _insert(
            conn,
            Product.__table__,
            [
                {
                    "name": f"Print edition {n}",
                    "slug": f"print-edition-{n}",
                    "description": "A printed collection of the season's reporting.",
                    "kind": "item",
                    "active": True,
                    "stock": None,
                }
                for n in range(PRODUCTS)
            ],
        )
        product_ids = _ids(conn, Product.id, Product.id.is_not(None))
        _insert(
            conn,
            Price.__table__,
            [
                {"product_id": pid, "amount": 1200 + 100 * n, "currency": "usd", "active": True}
                for n, pid in enumerate(product_ids)
            ],
        )
        price_of = dict(conn.execute(select(Price.product_id, Price.id)).all())
        _insert(
            conn,
            Order.__table__,
            [
                {
                    "user_id": rng.choice(member_ids),
                    "status": "paid",
                    "mode": "payment",
                    "currency": "usd",
                    "total": 0,  # set below from the lines
                    "cart_version": 1,
                    "created_at": now - timedelta(minutes=3 * n),
                    "paid_at": now - timedelta(minutes=3 * n),
                }
                for n in range(orders)
            ],
        )
        order_ids = _ids(conn, Order.id, Order.id.is_not(None))
        lines = []
        for oid in order_ids:
            for pid in rng.sample(product_ids, rng.randint(1, 3)):
                lines.append(
                    {
                        "order_id": oid,
                        "product_id": pid,
                        "price_id": price_of[pid],
                        "name": f"Print edition {product_ids.index(pid)}",
                        "unit_amount": 1200 + 100 * product_ids.index(pid),
                        "quantity": rng.randint(1, 2),
                    }
                )
        _insert(conn, OrderLine.__table__, lines)
        totals = (
            select(func.sum(OrderLine.unit_amount * OrderLine.quantity))
            .where(OrderLine.order_id == Order.id)
            .scalar_subquery()
        )
        conn.execute(update(Order).values(total=totals))
        timings["orders"] = time.perf_counter() - step
    with app.app_context():
        db.engine.dispose()
    timings["total"] = time.perf_counter() - started
    return Dataset(
        url=database_url,
        articles=articles,
        members=members,
        orders=orders,
        comments=comment_count,
        article_slug="dispatch-0",
        tag_slug=TAG_NAMES[0].lower(),
        reader_email=READER_EMAIL,
        reader_password=PASSWORD,
        product_ids=product_ids,
        seconds=timings,
    )


# --- databases of a run's own ----------------------------------------------------------------


def plain_pg(url: str) -> str:
    """A PostgreSQL URL as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_pg_database(base: str, name: str) -> str:
    """(Re)create database ``name`` on ``base``'s server; its URL."""
    import psycopg

    with psycopg.connect(plain_pg(base), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlsplit(plain_pg(base))._replace(path="/" + name).geturl()


def drop_pg_database(base: str, name: str) -> None:
    """Drop database ``name`` (the end of a run)."""
    import psycopg

    with psycopg.connect(plain_pg(base), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    """Make one dataset and say where it is and how long each part took."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=200, help="articles (200)")
    parser.add_argument("--members", type=int, default=MEMBERS, help=f"members ({MEMBERS})")
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"paid orders ({ORDERS})")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="an empty database's URL instead (SQLite or PostgreSQL)")
    args = parser.parse_args(argv)
    if not 1 <= args.articles <= 100_000 or not 1 <= args.members <= 1_000_000:
        parser.error("--articles must be in 1-100000 and --members in 1-1000000")
    if not 0 <= args.orders <= 100_000:
        parser.error("--orders must be in 0-100000")
    if args.url:
        url = args.url
    elif args.database == "sqlite":
        path = ROOT / "instance" / f"bench-{args.articles}.db"
        path.parent.mkdir(exist_ok=True)
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        base = os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG
        url = create_pg_database(base, f"broadsheet_bench_{args.articles}")
    made = build(url, args.articles, args.members, args.orders)
    print(
        f"{url}: {made.articles} articles, {made.members} members,"
        f" {made.comments} comments, {made.orders} orders"
    )
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in made.seconds.items()))
    print(f"reader: {made.reader_email} / {made.reader_password}")
    print(f"article with comments: /articles/{made.article_slug}; tag: /tags/{made.tag_slug}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

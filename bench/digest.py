"""Digest sending benchmark: the real path against the SMTP ceiling and a naive loop.

Usage (from the project folder, inside .venv):

    python bench/digest.py                      # 10,000 subscribers, SQLite and PostgreSQL
    python bench/digest.py --subscribers 100000 --database postgresql

It prints messages per second for (a) the ceiling: smtplib sending pre-serialised
messages of the same size over as many connections as (c) opens; (b) a naive loop that
builds one Flask-Mail Message per reader; (c) the real ``digest send`` path, database
included; then the ratios c/a and c/b, the peak RSS and the SQL statements per 1,000
deliveries. Times are never asserted: the figures are ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import resource
import smtplib
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtpd.controller import Controller  # noqa: E402
from flask_mail import Message  # noqa: E402
from sqlalchemy import event, insert, select  # noqa: E402

from shop import create_app  # noqa: E402
from shop.accounts.models import User  # noqa: E402
from shop.articles.models import Article, Tag, article_tags  # noqa: E402
from shop.extensions import db, mail  # noqa: E402
from shop.newsletter import digest, schedule  # noqa: E402
from shop.newsletter.models import DigestPreference, preference_tags  # noqa: E402
from shop.timeutil import utcnow  # noqa: E402

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class CountingHandler:
    """An SMTP sink that counts messages and keeps none of them."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        """Count and accept."""
        self.count += 1
        return "250 OK"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_database(kind: str) -> tuple[str, callable]:
    """A fresh database URL of the kind, and a function that removes it."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="bench-")
        path = Path(folder) / "bench.db"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    import psycopg

    name = f"broadsheet_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(POSTGRES)._replace(path="/" + name).geturl()

    def drop() -> None:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.replace("postgresql://", "postgresql+psycopg://"), drop


def seed(subscribers: int, articles: int, tags: int, rng: random.Random) -> None:
    """Tags, articles published before the cutoff, and subscribers with random tastes."""
    now = utcnow()
    cutoff = min(schedule.digest_time(schedule.local_date(now)), now)
    db.session.execute(
        insert(Tag),
        [{"name": f"Topic {n}", "slug": f"topic-{n}", "description": ""} for n in range(tags)],
    )
    db.session.execute(
        insert(User),
        [
            {
                "email": "editor@example.org",
                "password_hash": "x",
                "role": "admin",
                "confirmed_at": now,
                "created_at": now,
                "session_version": 1,
            }
        ],
    )
    author = db.session.scalar(select(User.id))
    tag_ids = list(db.session.scalars(select(Tag.id)))
    body = "<p>" + "A paragraph of reporting. " * 20 + "</p>"
    db.session.execute(
        insert(Article),
        [
            {
                "title": f"Story {n}: a headline of a usual length for news",
                "slug": f"story-{n}",
                "summary": "A summary of one or two sentences that tells a reader what happened.",
                "body_markdown": "",
                "body_html": body,
                "author_id": author,
                "status": "published",
                "access": rng.choice(["public", "public", "public", "members", "paid"]),
                "published_at": cutoff - timedelta(minutes=5 + n),
                "created_at": now,
                "updated_at": now,
            }
            for n in range(articles)
        ],
    )
    article_ids = list(db.session.scalars(select(Article.id)))
    db.session.execute(
        insert(article_tags),
        [
            {"article_id": a, "tag_id": t}
            for a in article_ids
            for t in rng.sample(tag_ids, rng.randint(1, 3))
        ],
    )
    for start in range(0, subscribers, 5000):
        chunk = range(start, min(subscribers, start + 5000))
        db.session.execute(
            insert(User),
            [
                {
                    "email": f"reader{n:06d}@example.org",
                    "password_hash": "x",
                    "role": "reader",
                    "confirmed_at": now,
                    "digest_consent_at": now,
                    "created_at": now,
                    "session_version": 1,
                }
                for n in chunk
            ],
        )
    user_ids = list(db.session.scalars(select(User.id).where(User.role == "reader")))
    for start in range(0, len(user_ids), 5000):
        chunk = user_ids[start : start + 5000]
        db.session.execute(
            insert(DigestPreference),
            [
                {
                    "user_id": u,
                    "frequency": "daily",
                    "weekday": 0,
                    "follow_all": rng.random() < 0.2,
                    "covered_until": cutoff - timedelta(days=1),
                    "hard_bounces": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for u in chunk
            ],
        )
    pref_ids = list(db.session.scalars(select(DigestPreference.id)))
    rows = [
        {"preference_id": p, "tag_id": t}
        for p in pref_ids
        for t in rng.sample(tag_ids, rng.randint(1, 4))
    ]
    for start in range(0, len(rows), 10000):
        db.session.execute(insert(preference_tags), rows[start : start + 10000])
    db.session.commit()


def ceiling(port: int, sample: bytes, count: int, connections: int) -> float:
    """(a) smtplib sending one pre-serialised message ``count`` times; messages per second."""
    per_connection = math.ceil(count / max(connections, 1))
    started = time.perf_counter()
    sent = 0
    while sent < count:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for _ in range(min(per_connection, count - sent)):
                smtp.sendmail("news@localhost", ["reader@example.org"], sample)
                sent += 1
    return count / (time.perf_counter() - started)


def naive(app, count: int) -> float:
    """(b) one Flask-Mail Message per reader, rendered and sent over one connection."""
    from flask import render_template

    started = time.perf_counter()
    with mail.connect() as conn:
        for n in range(count):
            html = render_template(
                "email/confirm.html", link=f"http://localhost/x/{n}", publication="Broadsheet"
            )
            text = render_template("email/confirm.txt", link=f"http://localhost/x/{n}")
            msg = Message(
                subject="Your digest",
                recipients=[f"reader{n}@example.org"],
                body=text * 6,
                html=html * 6,
            )
            conn.send(msg)
    return count / (time.perf_counter() - started)


def run_one(kind: str, subscribers: int, articles: int, tags: int, naive_count: int) -> dict:
    """Seed a fresh database of the kind and measure (a), (b) and (c) there."""
    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    url, drop = make_database(kind)
    try:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": url,
                "SITE_URL": "http://localhost",
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": port,
                "MAIL_SUPPRESS_SEND": False,
                "RATELIMIT_ENABLED": False,
            }
        )
        with app.app_context():
            db.create_all()
            seed(subscribers, articles, tags, random.Random(20261125))
            statements = {"n": 0}

            @event.listens_for(db.engine, "before_cursor_execute")
            def count(*_args, **_kwargs):
                statements["n"] += 1

            started = time.perf_counter()
            result = digest.run_digest("daily")
            real_seconds = time.perf_counter() - started
            sent = result.summary.sent
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            batches = math.ceil(sent / app.config["MAIL_BATCH_SIZE"])
            event.remove(db.engine, "before_cursor_execute", count)
            sample = _sample_message(app)
            ceiling_rate = ceiling(port, sample, sent, batches)
            naive_rate = naive(app, naive_count)
            db.session.remove()
            db.engine.dispose()
    finally:
        controller.stop()
        drop()
    real_rate = sent / real_seconds
    return {
        "database": kind,
        "subscribers": subscribers,
        "sent": sent,
        "sample_bytes": len(sample),
        "a_ceiling": ceiling_rate,
        "b_naive": naive_rate,
        "c_real": real_rate,
        "c_over_a": real_rate / ceiling_rate,
        "c_over_b": real_rate / naive_rate,
        "peak_rss_mb": rss_mb,
        "statements_per_1000": statements["n"] * 1000 / max(sent, 1),
    }


def _sample_message(app) -> bytes:
    """A message the real path built, rebuilt for one reader: same size for the ceiling."""
    from shop.newsletter.messages import build_bytes
    from shop.newsletter.models import Delivery
    from shop.newsletter.selection import Plan
    from shop.newsletter.sending import _renderer

    delivery = db.session.scalar(select(Delivery).limit(1))
    renderer = _renderer(delivery.run, [delivery])
    plan = Plan(delivery.user_id, "reader@example.org", "reader", False, delivery.articles)
    return build_bytes(
        renderer.digest(plan),
        to="reader@example.org",
        name="reader",
        msgid="<sample@localhost>",
        unsubscribe_url="http://localhost/unsubscribe/" + "x" * 40,
        preferences_url="http://localhost/account/preferences",
        sender="news@localhost",
    )


def main() -> None:
    """Parse the options, run each database, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--tags", type=int, default=30)
    parser.add_argument("--naive", type=int, default=2_000, help="messages for the naive loop")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    asyncio.set_event_loop(asyncio.new_event_loop())
    for kind in kinds:
        r = run_one(kind, args.subscribers, args.articles, args.tags, args.naive)
        print(
            f"{r['database']}: {r['subscribers']:,} subscribers, {r['sent']:,} digests of "
            f"~{r['sample_bytes']:,} bytes\n"
            f"  (a) ceiling   {r['a_ceiling']:8.0f} msgs/s\n"
            f"  (b) naive     {r['b_naive']:8.0f} msgs/s\n"
            f"  (c) real      {r['c_real']:8.0f} msgs/s\n"
            f"  c/a = {r['c_over_a']:.2f}   c/b = {r['c_over_b']:.2f}   "
            f"peak RSS {r['peak_rss_mb']:.0f} MB   "
            f"{r['statements_per_1000']:.1f} SQL statements per 1,000 deliveries"
        )


if __name__ == "__main__":
    main()

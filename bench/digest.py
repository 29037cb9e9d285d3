"""Digest sending benchmark: the real path against the SMTP ceiling and a naive loop.

Usage (from the project folder, inside .venv):

    python bench/digest.py                      # 10,000 subscribers, SQLite and PostgreSQL
    python bench/digest.py --subscribers 100000 --database postgresql

For each database it seeds a fresh one in a child process, then measures in another
fresh process, with an aiosmtpd sink that counts messages in a process of its own
(as a real relay would be):

(c) the real ``digest send`` path, database included (planning, ledger, rendering,
    sending), with the SQL statements it issues and the process's peak RSS;
(a) the ceiling: smtplib sending one pre-serialised message, a real digest padded to
    the mean size (c) sent, as many times as (c) sent, over as many connections as (c)
    opened, at once (a thread each, as the engine's senders; ``--connections``);
(b) a naive loop that builds one Flask-Mail Message of about that size per reader.

It prints messages per second, the ratios c/a and c/b, the peak RSS and the SQL
statements per 1,000 deliveries. Times are never asserted: the figures are ratios
measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEED = 20261125


# --- the SMTP sink, in a process of its own -----------------------------------------


class CountingHandler:
    """An SMTP sink that counts messages, bytes and connections, and keeps nothing."""

    def __init__(self, counters: dict[str, Any]) -> None:
        self.counters = counters

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        """Count and accept."""
        if not getattr(session, "bench_counted", False):
            session.bench_counted = True
            self.counters["connections"].value += 1
        self.counters["messages"].value += 1
        self.counters["bytes"].value += len(envelope.content)
        return "250 OK"


def _serve_sink(port: int, counters: dict[str, Any], ready, stop) -> None:
    """The sink process: serve on ``port`` until told to stop."""
    from aiosmtpd.controller import Controller

    # The default limit (33 MB) is far above a digest; data_size_limit=None lifts it.
    controller = Controller(
        CountingHandler(counters), hostname="127.0.0.1", port=port, data_size_limit=None
    )
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class Sink:
    """An aiosmtpd sink running in a child process, with counters the parent reads."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.port = free_port()
        self.counters = {
            name: context.Value("q", 0, lock=False) for name in ("messages", "bytes", "connections")
        }
        ready, self._stop = context.Event(), context.Event()
        self._process = context.Process(
            target=_serve_sink, args=(self.port, self.counters, ready, self._stop), daemon=True
        )
        self._process.start()
        if not ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")

    def reading(self) -> dict[str, int]:
        """The counters now."""
        return {name: value.value for name, value in self.counters.items()}

    def stop(self) -> None:
        """Stop the sink process."""
        self._stop.set()
        self._process.join(10)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- databases -------------------------------------------------------------------------


def make_database(kind: str) -> tuple[str, Callable[[], None]]:
    """A fresh database URL of the kind, and a function that removes it."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="bench-")
        path = Path(folder) / "bench.db"

        def remove() -> None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            Path(folder).rmdir()

        return f"sqlite:///{path}", remove
    import psycopg

    name = f"broadsheet_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(POSTGRES)._replace(path="/" + name).geturl()

    def drop() -> None:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.replace("postgresql://", "postgresql+psycopg://"), drop


def make_app(url: str, mail_port: int = 25):
    """The app as ``digest send`` runs it, on ``url`` and the sink."""
    from shop import create_app

    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "SITE_URL": "http://localhost",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": mail_port,
            "MAIL_SUPPRESS_SEND": False,
            "RATELIMIT_ENABLED": False,
            # The embedded default: the run is sent in this process, not by Celery.
            "CELERY_BROKER_URL": "",
            **_dkim_settings(),
            # Opens and clicks, as the app's default has them (``--tracking off`` to compare).
            "MAIL_TRACKING": os.environ.get("BENCH_MAIL_TRACKING", "on") == "on",
            "MAIL_CONNECTIONS": int(os.environ.get("BENCH_MAIL_CONNECTIONS", "1")),
        }
    )


def _dkim_settings() -> dict[str, str]:
    """DKIM signing with the key ``--dkim-key`` named (passed to the child processes)."""
    path = os.environ.get("BENCH_DKIM_KEY_FILE")
    if not path:
        return {}
    return {"DKIM_DOMAIN": "localhost", "DKIM_SELECTOR": "bench", "DKIM_PRIVATE_KEY_FILE": path}


def seed(subscribers: int, articles: int, tags: int, rng: random.Random) -> None:
    """Tags, articles published before the cutoff, and subscribers with random tastes."""
    from sqlalchemy import insert, select

    from shop import clock
    from shop.accounts.models import User
    from shop.articles.models import Article, Tag, article_tags
    from shop.clock import utcnow
    from shop.extensions import db
    from shop.preferences.models import DigestPreference, preference_tags

    now = utcnow()
    cutoff = min(clock.digest_time(clock.local_date(now)), now)
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
    for start in range(0, len(pref_ids), 5000):
        db.session.execute(
            insert(preference_tags),
            [
                {"preference_id": p, "tag_id": t}
                for p in pref_ids[start : start + 5000]
                for t in rng.sample(tag_ids, rng.randint(1, 4))
            ],
        )
    db.session.commit()


# --- the three measurements ------------------------------------------------------------


def server_cpu_seconds() -> float | None:
    """CPU seconds used so far by this machine's PostgreSQL processes (None: no /proc).

    Every postgres process counts, the backends and the writers: they are what a local
    database server takes of the cores the sender and the sink also need.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total, found = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")
            name = fields[0].partition("(")[2]
        except OSError:
            continue  # the process ended meanwhile
        if name != "postgres":
            continue
        found = True
        rest = fields[2].split()
        total += int(rest[11]) + int(rest[12])  # utime, stime (fields 14 and 15)
    return total / ticks if found else None


def real_path(profile: str | None) -> dict[str, Any]:
    """(c) ``digest send``'s code, timed, with its statements counted."""
    from sqlalchemy import event

    from shop.digests import runs as digest
    from shop.extensions import db

    statements = {"n": 0}

    def count(*_args: Any) -> None:
        statements["n"] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    on_postgresql = db.engine.dialect.name == "postgresql"
    server = server_cpu_seconds() if on_postgresql else None
    started, cpu = time.perf_counter(), time.process_time()
    result = digest.run_digest("daily")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = server_cpu_seconds() if on_postgresql else None
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    event.remove(db.engine, "before_cursor_execute", count)
    return {
        "sent": result.summary.sent,
        "seconds": seconds,
        "cpu_seconds": cpu,
        # The local PostgreSQL's CPU through (c); None on SQLite (it is in "cpu_seconds").
        "server_cpu_seconds": None if server is None or after is None else after - server,
        "sending_seconds": result.summary.seconds,
        "statements": statements["n"],
        # ru_maxrss is in KiB on Linux: the process's peak so far, that is through (c).
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def sample_message(size: int) -> bytes:
    """A digest the real path builds, for one reader, padded or cut to ``size`` bytes."""
    from sqlalchemy import select

    from shop.accounts.models import User
    from shop.extensions import db
    from shop.mail.bulk import BOUNDARY, build_bytes
    from shop.sending.content import content_for
    from shop.sending.models import Delivery, Run

    delivery = db.session.scalar(select(Delivery).order_by(Delivery.id).limit(1))
    run = db.session.get(Run, delivery.run_id)
    reader = db.session.get(User, delivery.user_id)
    rendered = content_for(run, [delivery]).message(delivery, reader)
    data = build_bytes(
        rendered,
        to="reader@example.org",
        name="reader",
        msgid="<sample@localhost>",
        unsubscribe_url="http://localhost/unsubscribe/" + "x" * 40,
        preferences_url="http://localhost/account/preferences",
        sender="news@localhost",
    )
    end = f"\r\n--{BOUNDARY}--\r\n".encode()
    body = data[: -len(end)]
    room = size - len(end)
    if len(body) > room:
        body = body[: body.rfind(b"\r\n", 0, room)]
    padding = room - len(body)
    # Whole lines of 78 characters and CRLF, then one shorter line: exactly ``size``.
    lines = [b"\r\n" + b"x" * 78] * (padding // 80)
    rest = padding % 80
    if rest:
        lines.append(b"\r\n" + b"x" * (rest - 2) if rest >= 2 else b" " * rest)
    return body + b"".join(lines) + end


def ceiling(port: int, sample: bytes, count: int, connections: int) -> tuple[float, float]:
    """(a) smtplib sending one message ``count`` times over ``connections`` at once (a
    thread each, as the engine's senders): messages per second, CPU seconds."""
    connections = max(connections, 1)
    shares = [count // connections + (n < count % connections) for n in range(connections)]

    def send(share: int) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for _ in range(share):
                smtp.sendmail("news@localhost", ["reader@example.org"], sample)

    threads = [threading.Thread(target=send, args=(share,)) for share in shares if share]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - started), time.process_time() - cpu


def naive(count: int, size: int) -> float:
    """(b) one Flask-Mail Message per reader, rendered and sent over one connection."""
    from flask import render_template
    from flask_mail import Message

    from shop.mail.transport import mailer

    html = render_template("email/confirm.html", link="http://localhost/x", publication="B")
    text = render_template("email/confirm.txt", link="http://localhost/x")
    # Repeat the bodies until the message is about the size the real path sends.
    repeat = max(1, round(size / (len(html) + len(text))))
    started = time.perf_counter()
    with mailer.connect() as conn:
        for n in range(count):
            html = render_template(
                "email/confirm.html", link=f"http://localhost/x/{n}", publication="Broadsheet"
            )
            text = render_template("email/confirm.txt", link=f"http://localhost/x/{n}")
            msg = Message(
                subject="Your digest",
                recipients=[f"reader{n}@example.org"],
                body=text * repeat,
                html=html * repeat,
            )
            conn.send(msg)
    return count / (time.perf_counter() - started)


def measure(url: str, naive_count: int, profile: str | None) -> dict[str, Any]:
    """(c), then (a) and (b) with (c)'s message size and connections."""
    from shop.extensions import db

    sink = Sink()
    try:
        app = make_app(url, sink.port)
        with app.app_context():
            real = real_path(profile)
            after = sink.reading()
            size = round(after["bytes"] / max(after["messages"], 1))
            sample = sample_message(size)
            ceiling_rate, ceiling_cpu = ceiling(
                sink.port, sample, real["sent"], after["connections"]
            )
            naive_rate = naive(naive_count, size)
            db.session.remove()
            db.engine.dispose()
    finally:
        sink.stop()
    return {
        **real,
        "connections": after["connections"],
        "mean_bytes": size,
        "sample_bytes": len(sample),
        "a_ceiling": ceiling_rate,
        "a_cpu_seconds": ceiling_cpu,
        "b_naive": naive_rate,
    }


# --- phases in child processes, and the report -----------------------------------------


def child(phase: str, args: argparse.Namespace, url: str) -> None:
    """Run one phase in this (fresh) process; ``measure`` prints its figures as JSON."""
    if phase == "seed":
        from shop.extensions import db

        app = make_app(url)
        with app.app_context():
            db.create_all()
            seed(args.subscribers, args.articles, args.tags, random.Random(SEED))
            db.session.remove()
            db.engine.dispose()
        return
    print(json.dumps(measure(url, args.naive, args.profile)))


def run_phase(phase: str, args: argparse.Namespace, url: str) -> str:
    """Run a phase in a fresh Python process; its standard output."""
    command = [
        sys.executable,
        __file__,
        "--phase",
        phase,
        "--url",
        url,
        "--subscribers",
        str(args.subscribers),
        "--articles",
        str(args.articles),
        "--tags",
        str(args.tags),
        "--naive",
        str(args.naive),
    ]
    if args.profile:
        command += ["--profile", args.profile]
    done = subprocess.run(  # noqa: S603  (this script, with arguments it built)
        command, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True
    )
    return done.stdout


def run_one(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """Seed a fresh database of the kind and measure there, each in its own process."""
    url, drop = make_database(kind)
    try:
        started = time.perf_counter()
        run_phase("seed", args, url)
        seeded = time.perf_counter() - started
        figures = json.loads(run_phase("measure", args, url).strip().splitlines()[-1])
    finally:
        drop()
    real_rate = figures["sent"] / figures["seconds"]
    return {
        **figures,
        "database": kind,
        "subscribers": args.subscribers,
        "seed_seconds": seeded,
        "c_real": real_rate,
        "c_over_a": real_rate / figures["a_ceiling"],
        "c_over_b": real_rate / figures["b_naive"],
        "statements_per_1000": figures["statements"] * 1000 / max(figures["sent"], 1),
    }


def report(r: dict[str, Any]) -> str:
    """The figures of one database, for people."""
    planning = r["seconds"] - r["sending_seconds"]
    return (
        f"{r['database']}: {r['subscribers']:,} subscribers, {r['sent']:,} digests of "
        f"{r['mean_bytes']:,} bytes on average, over {r['connections']} connection(s)\n"
        f"  (a) ceiling   {r['a_ceiling']:8.0f} msgs/s  "
        f"({r['a_cpu_seconds'] * 1e6 / r['sent']:.0f} us of CPU a message)\n"
        f"  (b) naive     {r['b_naive']:8.0f} msgs/s\n"
        f"  (c) real      {r['c_real']:8.0f} msgs/s  "
        f"({r['cpu_seconds'] * 1e6 / r['sent']:.0f} us of CPU a message; {r['seconds']:.1f} s: "
        f"planning {planning:.1f} s, sending {r['sending_seconds']:.1f} s)\n"
        + (
            f"  database server: {r['server_cpu_seconds'] * 1e6 / r['sent']:.0f} us of CPU a "
            "message in (c), every postgres process of this machine\n"
            if r.get("server_cpu_seconds") is not None
            else ""
        )
        + f"  c/a = {r['c_over_a']:.2f}   c/b = {r['c_over_b']:.2f}   "
        f"peak RSS {r['peak_rss_mb']:.0f} MB   "
        f"{r['statements_per_1000']:.1f} SQL statements per 1,000 deliveries"
    )


def main() -> None:
    """Parse the options, run each database, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--tags", type=int, default=30)
    parser.add_argument("--naive", type=int, default=2_000, help="messages for the naive loop")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--profile", help="write a cProfile of (c) to this file")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--dkim-key", help="sign every message with this PEM key (DKIM)")
    parser.add_argument(
        "--tracking", choices=["on", "off"], default="on", help="MAIL_TRACKING (default on)"
    )
    parser.add_argument(
        "--connections", type=int, default=1, help="MAIL_CONNECTIONS, and (a)'s connections"
    )
    parser.add_argument("--phase", choices=["seed", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dkim_key:
        # The seeding and measuring children read it from here.
        os.environ["BENCH_DKIM_KEY_FILE"] = os.path.abspath(args.dkim_key)
    if args.phase:
        child(args.phase, args, args.url)
        return
    # The seeding and measuring children read it from here.
    os.environ["BENCH_MAIL_TRACKING"] = args.tracking
    os.environ["BENCH_MAIL_CONNECTIONS"] = str(args.connections)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    for kind in kinds:
        figures = run_one(kind, args)
        print(report(figures), flush=True)
        if args.json:
            print(json.dumps(figures), flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""A bounded load run: simulated readers against gunicorn while a digest goes out.

Usage (from the project folder, inside .venv):

    python bench/load.py                         # 60 s, 50 users, SQLite
    python bench/load.py --seconds 20 --users 10
    python bench/load.py --database-url postgresql://postgres@127.0.0.1:5432/test

Everything listens on 127.0.0.1 and is started here: the app under gunicorn (2 workers),
the project's Stripe emulator, and an SMTP sink that records each message it accepts.
On PostgreSQL a database of the run's own is created next to the URL and dropped at the
end; on SQLite the file lives in a temporary folder.

The users browse (home, articles, tags, feeds), register, log in, comment, fill carts and
check out through the emulator's hosted page (paying, or cancelling now and then), while
``flask digest send`` mails a digest to a few thousand made-up subscribers. At the end it
prints requests, server errors by route, p50/p99 latency per kind, orders created, paid
and fulfilled (lost or duplicated), stock accounted for, and digest deliveries against
the sink (duplicates). It exits 1 on any server error, lost or duplicated order, leaked
stock, missed or duplicated delivery. Latencies are printed, never judged.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from email.parser import BytesHeaderParser
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 20261201
PASSWORD = "load test password 1"  # noqa: S105  (made-up accounts of a throwaway database)
STRIPE_KEY = "sk_test_emulator"
WEBHOOK_SECRET = "whsec_load_test_secret"  # noqa: S105  (the local emulator's)
REQUEST_TIMEOUT = 30  # seconds a request may wait for its answer (gunicorn's own timeout)
GRACE = 10  # seconds past the deadline in which a reader may finish what it began
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
DELIVERY_ID = re.compile(r"run-\d+.*delivery-?\d+|delivery-\d+.*run-\d+")
FLASH_ERROR = re.compile(r'class="flash flash-error">([^<]+)<')
SESSION_IN_URL = re.compile(r"/c/pay/(cs_[A-Za-z0-9_]+)")
# Routes as templates, so that errors group by route rather than by slug or id.
ROUTES = [
    (re.compile(r"^/articles/[^/]+/comments$"), "/articles/<slug>/comments"),
    (re.compile(r"^/articles/[^/]+$"), "/articles/<slug>"),
    (re.compile(r"^/tags/[^/]+/feed\.xml$"), "/tags/<slug>/feed.xml"),
    (re.compile(r"^/tags/[^/]+$"), "/tags/<slug>"),
    (re.compile(r"^/c/pay/.+$"), "(emulator) /c/pay/<session>"),
]
# Limits a crowd from one address would hit at once; the load is about everything else.
GENEROUS_LIMITS = {
    "LOGIN_RATE_LIMIT_IP": "100000 per minute",
    "LOGIN_RATE_LIMIT_ACCOUNT": "100000 per minute",
    "COMMENT_RATE_LIMIT": "100000 per minute",
    "RESET_RATE_LIMIT_ADDRESS": "100000 per hour",
    "REGISTER_RATE_LIMIT_ADDRESS": "100000 per hour",
    "EMAIL_CHANGE_RATE_LIMIT": "100000 per hour",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def route_of(path: str) -> str:
    """The route template a path belongs to."""
    path = urlsplit(path).path
    for pattern, name in ROUTES:
        if pattern.match(path):
            return name
    return path


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the values fall (nearest rank)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


# --- the SMTP sink, in a process of its own -------------------------------------------


def run_sink(port: int, record: str) -> None:
    """Accept every message on ``port`` and append "recipient<TAB>Message-ID<TAB>Subject"."""
    from aiosmtpd.controller import Controller

    out = open(record, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (open until killed)
    lock = threading.Lock()
    parser = BytesHeaderParser()

    class Recorder:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            headers = parser.parsebytes(envelope.content)
            line = "\t".join(
                [
                    ",".join(envelope.rcpt_tos),
                    str(headers.get("Message-ID", "")),
                    str(headers.get("Subject", "")).replace("\t", " ").replace("\n", " "),
                ]
            )
            with lock:
                out.write(line + "\n")
            return "250 OK"

    controller = Controller(Recorder(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    controller.stop()
    out.close()


# --- statistics ---------------------------------------------------------------------------


@dataclass
class Stats:
    """Every request's kind, route, status and time; shared by the user threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    server_errors: Counter = field(default_factory=Counter)
    no_answer: Counter = field(default_factory=Counter)  # refused or reset: the server died
    timed_out: Counter = field(default_factory=Counter)  # queued past REQUEST_TIMEOUT
    notes: Counter = field(default_factory=Counter)
    sessions: dict[str, str] = field(default_factory=dict)  # session id -> what the user did

    def record(
        self, kind: str, path: str, status: int | None, seconds: float, timeout: bool = False
    ) -> None:
        """Count one request (``status`` None: no answer, ``timeout`` says why)."""
        with self.lock:
            self.latencies[kind].append(seconds)
            if status is None:
                (self.timed_out if timeout else self.no_answer)[route_of(path)] += 1
                return
            self.statuses[status // 100 * 100] += 1
            if status >= 500:
                self.server_errors[f"{status} {route_of(path)}"] += 1

    def note(self, what: str) -> None:
        """Count an outcome a user noticed (a sold-out item, a declined form)."""
        with self.lock:
            self.notes[what] += 1


class Reader(threading.Thread):
    """One simulated reader, with a browser's cookies, until the deadline."""

    def __init__(self, number: int, site: str, world: dict, stats: Stats, deadline: float):
        super().__init__(name=f"reader-{number}", daemon=True)
        self.number = number
        self.site = site
        self.world = world
        self.stats = stats
        self.deadline = deadline
        self.rng = random.Random(SEED + number)
        self.http = requests.Session()
        self.email = f"load{number:03d}@example.org"

    # -- one request, timed -----------------------------------------------------------

    def call(self, kind: str, method: str, url: str, http=None, **kwargs):
        """Send one request without following redirects; the response, or None."""
        http = http or self.http
        if time.monotonic() > self.deadline + GRACE:
            return None  # time is up: what was begun stays begun (an open checkout holds stock)
        if url.startswith("/"):
            url = self.site + url
        started = time.monotonic()
        try:
            response = http.request(
                method, url, allow_redirects=False, timeout=REQUEST_TIMEOUT, **kwargs
            )
        except requests.RequestException as exc:
            timeout = isinstance(exc, requests.Timeout)
            self.stats.record(kind, url, None, time.monotonic() - started, timeout)
            return None
        self.stats.record(kind, url, response.status_code, time.monotonic() - started)
        return response

    def token(self, kind: str, path: str, http=None) -> str | None:
        """Fetch a page and the CSRF token of its first form."""
        response = self.call(kind, "GET", path, http)
        if response is None or response.status_code != 200:
            return None
        match = CSRF.search(response.text)
        return match.group(1) if match else None

    # -- what readers do --------------------------------------------------------------

    def run(self) -> None:
        """Log in, then pick things to do until time is up."""
        self.login()
        actions = [self.browse, self.comment, self.shop, self.register]
        while time.monotonic() < self.deadline:
            self.rng.choices(actions, weights=[55, 10, 25, 10])[0]()
            time.sleep(self.rng.uniform(0.05, 0.3))  # a reader reads before clicking on

    def login(self) -> None:
        """Log in with the reader's seeded account."""
        token = self.token("login", "/login")
        response = self.call(
            "login",
            "POST",
            "/login",
            data={"email": self.email, "password": PASSWORD, "csrf_token": token or ""},
        )
        if response is None or response.status_code != 302:
            self.stats.note("login refused")

    def browse(self) -> None:
        """Home, an article, a tag, a feed."""
        slug = self.rng.choice(self.world["articles"])
        tag = self.rng.choice(self.world["tags"])
        self.call("browse", "GET", self.rng.choice(["/", "/?page=2"]))
        self.call("browse", "GET", f"/articles/{slug}")
        self.call("browse", "GET", f"/tags/{tag}")
        self.call("feed", "GET", self.rng.choice(["/feed.xml", f"/tags/{tag}/feed.xml"]))

    def comment(self) -> None:
        """Read an article and leave a comment."""
        slug = self.rng.choice(self.world["articles"])
        token = self.token("comment", f"/articles/{slug}")
        if token is None:
            return  # the page did not come: nothing to comment on
        response = self.call(
            "comment",
            "POST",
            f"/articles/{slug}/comments",
            data={
                "body": f"Comment {uuid.uuid4().hex[:8]} from {self.email}.",
                "csrf_token": token,
            },
        )
        if response is not None and response.status_code != 302:
            self.stats.note(f"comment answered {response.status_code}")

    def register(self) -> None:
        """A new visitor (a browser of its own) creates an account and looks around."""
        visitor = requests.Session()
        token = self.token("register", "/register", visitor)
        email = f"new-{uuid.uuid4().hex[:12]}@example.org"
        response = self.call(
            "register",
            "POST",
            "/register",
            visitor,
            data={"email": email, "password": PASSWORD, "csrf_token": token or ""},
        )
        if response is None or response.status_code != 302:
            self.stats.note("registration refused")
        else:
            self.call("browse", "GET", "/", visitor)
        visitor.close()

    def shop(self) -> None:
        """Fill the cart, check out, and pay on the hosted page (or cancel, now and then)."""
        products = self.rng.sample(self.world["products"], k=self.rng.randint(1, 2))
        for product_id in products:
            token = self.token("cart", "/shop")
            self.call(
                "cart",
                "POST",
                "/cart/add",
                data={"product_id": product_id, "quantity": 1, "csrf_token": token or ""},
            )
        token = self.token("cart", "/cart")
        response = self.call("checkout", "POST", "/checkout", data={"csrf_token": token or ""})
        if response is None:
            return
        location = response.headers.get("Location", "")
        match = SESSION_IN_URL.search(location)
        if response.status_code != 303 or not match:
            # Sold out, or refused: the reader reads why, empties the cart and goes on.
            cart = self.call("cart", "GET", "/cart")
            said = FLASH_ERROR.search(cart.text) if cart is not None else None
            self.stats.note(
                f"checkout refused: {said.group(1)[:70] if said else response.status_code}"
            )
            for product_id in products:
                token = self.token("cart", "/cart")
                self.call(
                    "cart",
                    "POST",
                    "/cart/remove",
                    data={"product_id": product_id, "csrf_token": token or ""},
                )
            return
        session_id = match.group(1)
        page = self.call("stripe page", "GET", location)
        if page is None or page.status_code != 200:
            return
        if self.rng.random() < 0.15:
            cancel = re.search(r'href="([^"]*/checkout/cancel[^"]*)"', page.text)
            with self.stats.lock:
                self.stats.sessions[session_id] = "cancelled"
            if cancel:
                self.call("return", "GET", cancel.group(1).replace("&amp;", "&"))
            return
        paid = self.call("stripe pay", "POST", location, data={"action": "pay"})
        with self.stats.lock:
            self.stats.sessions[session_id] = "paid" if paid is not None else "pay failed"
        if paid is not None and paid.status_code == 303:
            back = self.call("return", "GET", paid.headers["Location"])
            if back is not None and "Thank you" not in back.text:
                self.stats.note("success page without thanks")


# --- setting the site up -------------------------------------------------------------------


def app_settings(database_url: str, site: str, mail_port: int, stripe_url: str, instance: str):
    """The environment of every app process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "CELERY_", "MAIL_"))}
    env.update(
        SECRET_KEY="load-test-secret-key-" + uuid.uuid4().hex,
        DATABASE_URL=database_url,
        SITE_URL=site,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(mail_port),
        MAIL_DEFAULT_SENDER="Broadsheet <news@load.test>",
        STRIPE_SECRET_KEY=STRIPE_KEY,
        STRIPE_API_BASE=stripe_url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        BROADSHEET_INSTANCE=instance,
        RATELIMIT_STORAGE_URI="memory://",
        CELERY_BROKER_URL="",
        **GENEROUS_LIMITS,
    )
    return env


def make_app(env: dict[str, str]):
    """This process's own app over the run's database (for seeding and counting)."""
    from shop import create_app
    from shop.config import normalise_database_url

    return create_app(
        {
            "SECRET_KEY": env["SECRET_KEY"],
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(env["DATABASE_URL"]),
            "SITE_URL": env["SITE_URL"],
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": int(env["MAIL_PORT"]),
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_API_BASE": env["STRIPE_API_BASE"],
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "RATELIMIT_STORAGE_URI": "memory://",
            "CELERY_BROKER_URL": "",
        }
    )


def seed(env: dict[str, str], users: int, subscribers: int) -> dict:
    """Tables, articles, products in Stripe, the readers' accounts and the subscribers."""
    from sqlalchemy import insert, select

    from shop import clock
    from shop.accounts.models import User
    from shop.articles.models import Article, Tag
    from shop.articles.rendering import render_markdown
    from shop.billing.catalogue import push_product
    from shop.catalogue.models import Price, Product
    from shop.clock import utcnow
    from shop.extensions import db
    from shop.preferences.models import DigestPreference

    app = make_app(env)
    with app.app_context():
        db.create_all()
        hashed = User(email="x@example.org")
        hashed.set_password(PASSWORD)
        now = utcnow()
        cutoff = min(clock.digest_time(clock.local_date(now)), now)
        editor = User(email="editor@load.test", role="admin", confirmed_at=now)
        editor.password_hash = hashed.password_hash
        db.session.add(editor)
        tags = [Tag(name=name, slug=name.lower()) for name in ("Climate", "Harbour", "Culture")]
        db.session.add_all(tags)
        articles = []
        for n in range(30):
            body = f"Paragraph one of story {n}.\n\nParagraph **two**."
            article = Article(
                title=f"Load story {n}",
                slug=f"load-story-{n}",
                summary=f"Summary of story {n}.",
                body_markdown=body,
                body_html=render_markdown(body),
                author=editor,
                status="published",
                access="public",
                published_at=cutoff - timedelta(hours=1 + n % 20),
            )
            article.tags = [tags[n % len(tags)]]
            articles.append(article)
        db.session.add_all(articles)
        stock = {"Printed annual": 100_000, "Last few prints": 15, "Tote bag": None}
        products = []
        for name, count in stock.items():
            product = Product(name=name, slug=name.lower().replace(" ", "-"), stock=count)
            product.prices = [Price(amount=1500, currency="usd")]
            products.append(product)
        db.session.add_all(products)
        db.session.commit()
        for product in products:
            push_product(product)
        rows = [
            {
                "email": f"load{n:03d}@example.org",
                "password_hash": hashed.password_hash,
                "confirmed_at": now,
            }
            for n in range(users)
        ]
        rows += [
            {
                "email": f"sub{n:05d}@example.org",
                "password_hash": hashed.password_hash,
                "confirmed_at": now,
                "digest_consent_at": now,
            }
            for n in range(subscribers)
        ]
        db.session.execute(insert(User), rows)
        ids = db.session.scalars(select(User.id).where(User.email.like("sub%@example.org")))
        db.session.execute(
            insert(DigestPreference),
            [
                {"user_id": i, "frequency": "daily", "covered_until": cutoff - timedelta(days=2)}
                for i in ids
            ],
        )
        db.session.commit()
        world = {
            "articles": [a.slug for a in articles],
            "tags": [t.slug for t in tags],
            "products": [p.id for p in products],
            "stock": {p.id: p.stock for p in products},
        }
        db.session.remove()
        db.engine.dispose()
    return world


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    """Wait for a server to answer, or fail if its process ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process ended with status {process.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {seconds} s")


# --- counting what happened --------------------------------------------------------------


def read_sink(record: Path) -> list[tuple[str, str, str]]:
    """(recipient, Message-ID, Subject) of every message the sink accepted."""
    if not record.exists():
        return []
    rows = []
    for line in record.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        rows.append((parts[0], parts[1] if len(parts) > 1 else "", "\t".join(parts[2:])))
    return rows


def check_orders(env: dict[str, str], world: dict, stats: Stats, mail) -> tuple[list, bool]:
    """Orders against Stripe's sessions, payments, receipts and stock; (lines, ok)."""
    from sqlalchemy import func, select

    from shop.billing.models import Payment
    from shop.cart.models import Order, OrderLine
    from shop.catalogue.models import Product
    from shop.extensions import db

    stripe = requests.Session()
    stripe.headers["Authorization"] = f"Bearer {STRIPE_KEY}"
    app = make_app(env)
    lines, ok = [], True
    with app.app_context():
        orders = db.session.scalars(select(Order)).all()
        by_session = {o.stripe_checkout_session_id: o for o in orders}
        status = Counter(o.status for o in orders)
        payments = Counter(db.session.scalars(select(Payment.order_id)).all())
        fulfilled = sum(
            1 for o in orders if o.status == "paid" and payments[o.id] and o.receipt_sent_at
        )
        receipts = Counter(
            m.group(1) for _, _, subject in mail if (m := re.search(r"\(order (\d+)\)", subject))
        )
        lost, doubled, unpaid_at_stripe = [], [], 0
        for session_id in stats.sessions:
            answer = stripe.get(f"{env['STRIPE_API_BASE']}/v1/checkout/sessions/{session_id}")
            paid_at_stripe = answer.ok and answer.json().get("payment_status") == "paid"
            order = by_session.get(session_id)
            if paid_at_stripe and (order is None or order.status != "paid"):
                lost.append(session_id)
            if not paid_at_stripe:
                unpaid_at_stripe += 1
        for order in orders:
            if payments[order.id] > 1 or receipts[str(order.id)] > 1:
                doubled.append(order.id)
        other = len(orders) - status["paid"] - status["abandoned"] - status["pending"]
        lines.append(
            f"orders: created {len(orders)}, paid {status['paid']}, fulfilled {fulfilled} "
            f"(paid, payment recorded, receipt mailed), abandoned {status['abandoned']}, "
            f"pending {status['pending']}, other {other}"
        )
        lines.append(
            f"checkout sessions: {len(stats.sessions)} opened by users, "
            f"{sum(1 for v in stats.sessions.values() if v == 'paid')} paid on the hosted page, "
            f"{unpaid_at_stripe} unpaid at Stripe; lost (paid at Stripe, not paid here): "
            f"{len(lost)}; duplicated (two payments or receipts): {len(doubled)}"
        )
        ok = ok and not lost and not doubled and fulfilled == status["paid"]
        # Stock: what is gone must be what was sold plus what open checkouts hold.
        for product_id, initial in world["stock"].items():
            if initial is None:
                continue
            product = db.session.get(Product, product_id)
            sold = db.session.scalar(
                select(func.coalesce(func.sum(OrderLine.quantity), 0))
                .join(Order, OrderLine.order_id == Order.id)
                .where(OrderLine.product_id == product_id, Order.status == "paid")
            )
            held = db.session.scalar(
                select(func.coalesce(func.sum(OrderLine.reserved), 0))
                .join(Order, OrderLine.order_id == Order.id)
                .where(OrderLine.product_id == product_id, Order.status == "pending")
            )
            leaked = initial - product.stock - sold - held
            lines.append(
                f"stock of {product.name!r}: {initial} -> {product.stock}, sold {sold}, "
                f"held by open checkouts {held}, unaccounted for {leaked}"
            )
            ok = ok and leaked == 0 and product.stock >= 0
        db.session.remove()
        db.engine.dispose()
    return lines, ok


def check_deliveries(env: dict[str, str], mail, subscribers: int) -> tuple[list, bool]:
    """The digest run's ledger against what the sink received; (lines, ok)."""
    from sqlalchemy import select

    from shop.extensions import db
    from shop.sending.models import Delivery, Run

    # A delivery's Message-ID names its run and delivery; account mail's does not.
    digests = [(to, msgid) for to, msgid, _ in mail if DELIVERY_ID.search(msgid)]
    copies = Counter(to for to, _ in digests)
    ids = Counter(msgid for _, msgid in digests)
    repeated = sum(n - 1 for n in copies.values() if n > 1)
    app = make_app(env)
    with app.app_context():
        runs = db.session.scalars(select(Run)).all()
        statuses = Counter(db.session.scalars(select(Delivery.status)).all())
        db.session.remove()
        db.engine.dispose()
    expected = {f"sub{n:05d}@example.org" for n in range(subscribers)}
    missed = len(expected - set(copies))
    lines = [
        f"digest: {len(runs)} run(s), ledger {dict(statuses)}; sink received {len(digests)} "
        f"digests for {len(copies)} readers of {subscribers}; missed {missed}; duplicates "
        f"{repeated} (same Message-ID repeated: {sum(n - 1 for n in ids.values() if n > 1)}). "
        "Nothing crashed, so no commit group may repeat: any duplicate is one too many."
    ]
    ok = repeated == 0 and missed == 0 and statuses.get("sent", 0) == len(copies)
    return lines, ok


# --- the run ---------------------------------------------------------------------------------


def postgres_database(base: str) -> tuple[str, str]:
    """A fresh database next to ``base``; (its URL, its name)."""
    import psycopg

    name = f"broadsheet_load_{uuid.uuid4().hex[:10]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlsplit(plain)._replace(path="/" + name).geturl(), name


def drop_postgres_database(base: str, name: str) -> None:
    """Drop the run's database."""
    import psycopg

    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stop(process: subprocess.Popen | None) -> None:
    """End one process this script started, politely first."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def main(argv: list[str] | None = None) -> int:
    """Set up, load, count, report; 1 if anything was lost, doubled or answered 5xx."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long to load (60)")
    parser.add_argument("--users", type=int, default=50, help="simulated readers (50)")
    parser.add_argument("--subscribers", type=int, default=3000, help="digest readers (3000)")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        run_sink(int(args.sink[0]), args.sink[1])
        return 0
    if not 0 < args.seconds <= 3600 or not 0 < args.users <= 500:
        parser.error("--seconds must be in 1-3600 and --users in 1-500")

    workdir = Path(tempfile.mkdtemp(prefix="broadsheet-load-"))
    pg_name = None
    if args.database_url:
        if not args.database_url.startswith("postgres"):
            parser.error("--database-url takes a PostgreSQL URL; SQLite is the default")
        database_url, pg_name = postgres_database(args.database_url)
        label = "PostgreSQL"
    else:
        database_url = f"sqlite:///{workdir / 'load.db'}"
        label = "SQLite"
    app_port, mail_port, stripe_port = free_port(), free_port(), free_port()
    site, stripe_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{stripe_port}"
    record = workdir / "sink.tsv"
    env = app_settings(database_url, site, mail_port, stripe_url, str(workdir / "instance"))
    processes: dict[str, subprocess.Popen] = {}
    logs = {name: open(workdir / f"{name}.log", "w") for name in ("sink", "stripe", "app")}  # noqa: SIM115
    try:
        processes["sink"] = subprocess.Popen(  # noqa: S603  (arguments built here)
            [sys.executable, __file__, "--sink", str(mail_port), str(record)],
            stdout=logs["sink"],
            stderr=subprocess.STDOUT,
        )
        processes["stripe"] = subprocess.Popen(  # noqa: S603  (arguments built here)
            [
                sys.executable,
                "-m",
                "stripe_emulator",
                "--port",
                str(stripe_port),
                "--webhook-url",
                f"{site}/webhooks/stripe",
                "--webhook-secret",
                WEBHOOK_SECRET,
                # As Stripe does: events go out after the API call has answered. Sent
                # inside the call, two sync workers both waiting on the emulator would
                # each wait for the other to take the webhook.
                "--delivery-mode",
                "async",
            ],
            cwd=ROOT,
            stdout=logs["stripe"],
            stderr=subprocess.STDOUT,
        )
        wait_until_up(stripe_url + "/_emulator/", processes["stripe"])
        print(f"Seeding {label}: {args.users} readers, {args.subscribers} subscribers ...")
        world = seed(env, args.users, args.subscribers)
        processes["app"] = subprocess.Popen(  # noqa: S603  (arguments built here)
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{app_port}",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=logs["app"],
            stderr=subprocess.STDOUT,
        )
        wait_until_up(site + "/healthz", processes["app"])

        print(f"Loading {site} for {args.seconds:.0f} s with {args.users} readers ...")
        stats = Stats()
        started = time.monotonic()
        deadline = started + args.seconds
        readers = [Reader(n, site, world, stats, deadline) for n in range(args.users)]
        for reader in readers:
            reader.start()
        digest_out = open(workdir / "digest.log", "w")  # noqa: SIM115
        processes["digest"] = subprocess.Popen(  # noqa: S603  (arguments built here)
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "wsgi",
                "digest",
                "send",
                "--frequency",
                "daily",
            ],
            cwd=ROOT,
            env=env,
            stdout=digest_out,
            stderr=subprocess.STDOUT,
        )
        # Readers stop at the deadline (plus GRACE); a request in flight ends within its timeout.
        last = deadline + GRACE + REQUEST_TIMEOUT + 5
        for reader in readers:
            reader.join(timeout=max(0.0, last - time.monotonic()))
        elapsed = time.monotonic() - started
        digest_done = True
        try:
            processes["digest"].wait(timeout=max(60.0, args.seconds))
        except subprocess.TimeoutExpired:
            digest_done = False
        digest_out.close()
        digest_status = processes["digest"].returncode
        time.sleep(1)  # the sink writes its last lines
        mail = read_sink(record)

        unanswered, late = sum(stats.no_answer.values()), sum(stats.timed_out.values())
        classes = ", ".join(f"{s // 100}xx {n}" for s, n in sorted(stats.statuses.items()))
        report = [
            f"=== load on {label}: {args.users} readers, {elapsed:.0f} s, gunicorn 2 workers ===",
            f"requests: {sum(stats.statuses.values()) + unanswered + late} ({classes}; "
            f"no answer {unanswered}; timed out {late})",
        ]
        report.append(
            "server errors (5xx) by route: "
            + (", ".join(f"{k}: {v}" for k, v in stats.server_errors.most_common()) or "none")
        )
        if stats.no_answer:
            report.append(
                "no answer (connection refused or reset) by route: "
                + ", ".join(f"{k}: {v}" for k, v in stats.no_answer.most_common())
            )
        if stats.timed_out:
            report.append(
                f"waited past {REQUEST_TIMEOUT} s (queued behind the others; not a failure) "
                "by route: " + ", ".join(f"{k}: {v}" for k, v in stats.timed_out.most_common())
            )
        report.append("latency per kind (ms):   count     p50     p99")
        for kind, values in sorted(stats.latencies.items()):
            report.append(
                f"  {kind:<22}{len(values):>7} {percentile(values, 0.5) * 1000:>7.0f} "
                f"{percentile(values, 0.99) * 1000:>7.0f}"
            )
        if stats.notes:
            report.append(
                "users noticed: " + ", ".join(f"{k}: {v}" for k, v in stats.notes.most_common())
            )
        order_lines, orders_ok = check_orders(env, world, stats, mail)
        report += order_lines
        tail = (workdir / "digest.log").read_text(errors="replace").strip().splitlines()[-1:]
        report.append(
            f"digest send: {'finished' if digest_done else 'STILL RUNNING'} "
            f"(exit {digest_status}): {tail[0] if tail else ''}"
        )
        delivery_lines, deliveries_ok = check_deliveries(env, mail, args.subscribers)
        report += delivery_lines
        failed = (
            bool(stats.server_errors)
            or bool(stats.no_answer)
            or not orders_ok
            or not deliveries_ok
            or not digest_done
            or digest_status != 0
        )
        report.append(f"result: {'FAILED' if failed else 'ok'} (logs in {workdir})")
        print("\n".join(report))
        return 1 if failed else 0
    finally:
        for name in ("digest", "app", "stripe", "sink"):
            stop(processes.get(name))
        for log in logs.values():
            log.close()
        if pg_name and args.database_url:
            drop_postgres_database(args.database_url, pg_name)


if __name__ == "__main__":
    sys.exit(main())

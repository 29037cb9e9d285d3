"""Two ``digest send`` processes on one run, on PostgreSQL: nobody gets it twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from shop import create_app
from shop.extensions import db
from tests.factories import TagFactory
from tests.newsletter.digest_helpers import article, many_subscribers

# Worker processes on PostgreSQL (postgres_url: real commits).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
READERS = 300


def test_two_workers_share_a_run_without_duplicates(
    postgres_url, app_config, smtp_sink, mailbox, tmp_path
):
    config = {**app_config, "SQLALCHEMY_DATABASE_URI": postgres_url}
    app = create_app(config)
    with app.app_context():
        db.create_all()
        emails = many_subscribers(READERS)
        article("Glaciers retreat", [TagFactory(name="Climate")])
        db.session.remove()
        db.engine.dispose()
    env = {
        **os.environ,
        "SECRET_KEY": config["SECRET_KEY"],
        "DATABASE_URL": postgres_url,
        "SITE_URL": config["SITE_URL"],
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_sink[0].port),
        "MAIL_BATCH_SIZE": "20",
        "BROADSHEET_INSTANCE": str(tmp_path / "instance"),
    }
    env.pop("FLASK_DEBUG", None)
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "digest", "send"]
    workers = [
        subprocess.Popen(
            [*command, "--frequency", "daily"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=120)[0].decode() for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    counts = Counter(m["To"] for m in mailbox.messages)
    assert set(counts) == set(emails)
    assert max(counts.values()) == 1
    # Between them, the two workers sent the run exactly once.
    sent = [int(o.split("sent ")[1].split(",")[0]) for o in outputs]
    assert sum(sent) == READERS

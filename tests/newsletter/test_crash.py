"""Crash and resume: SIGKILL ``digest send`` mid-run, again and again, then let it finish.

Everything is asserted from what the SMTP sink received, not from the ledger.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.factories import TagFactory
from tests.newsletter.digest_helpers import article, many_subscribers

# A command in another process (killed again and again) reads the rows: real commits.
pytestmark = [pytest.mark.real_commits, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
READERS = 400
COMMIT_EVERY = 10
KILLS = 3


def _command_env(app_config, smtp_sink, tmp_path) -> dict:
    env = {
        **os.environ,
        "SECRET_KEY": app_config["SECRET_KEY"],
        "DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "SITE_URL": app_config["SITE_URL"],
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_sink[0].port),
        "MAIL_DEFAULT_SENDER": app_config["MAIL_DEFAULT_SENDER"],
        "MAIL_COMMIT_EVERY": str(COMMIT_EVERY),
        "MAIL_BATCH_SIZE": "50",
        "MAIL_LEASE_SECONDS": "1",
        "BROADSHEET_INSTANCE": str(tmp_path / "instance"),
    }
    env.pop("FLASK_DEBUG", None)
    return env


def _start(env):
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "digest", "send", "--frequency", "daily"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_killed_sends_resume_with_nobody_missed_and_few_repeats(
    app, app_config, smtp_sink, mailbox, tmp_path
):
    rng = random.Random(8058)  # a fixed seed: the kill points differ, the test repeats
    emails = set(many_subscribers(READERS))
    article("Glaciers retreat", [TagFactory(name="Climate")])
    env = _command_env(app_config, smtp_sink, tmp_path)

    kills = 0
    for _ in range(KILLS):
        target = len(mailbox.handler.messages) + rng.randint(15, READERS // (KILLS + 1))
        process = _start(env)
        deadline = time.monotonic() + 60
        while len(mailbox.handler.messages) < target and process.poll() is None:
            assert time.monotonic() < deadline, "the send made no progress"
            time.sleep(0.002)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
    assert kills == KILLS, "every kill should land mid-send; make the list longer"

    final = _start(env)
    output, _ = final.communicate(timeout=120)
    assert final.returncode == 0, output.decode()

    received: dict[str, list[str]] = defaultdict(list)
    for message in mailbox.messages:
        received[message["To"]].append(message["Message-ID"])
    assert set(received) == emails, "every due reader got the digest"
    repeats = sum(len(ids) - 1 for ids in received.values())
    assert repeats <= kills * COMMIT_EVERY
    for ids in received.values():
        assert len(set(ids)) == 1, "a repeat carries the first copy's Message-ID"

    # And a run after the end sends nothing more.
    before = len(mailbox.handler.messages)
    again = _start(env)
    again.communicate(timeout=60)
    assert len(mailbox.handler.messages) == before

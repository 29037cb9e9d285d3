"""With Redis as the limiter's storage, every worker shares one count."""

from __future__ import annotations

import uuid

import pytest

from shop import create_app
from tests.support import csrf_token, require_redis

# Redis database 15 is shared by these files: under xdist they run on one worker.
pytestmark = pytest.mark.xdist_group("redis-db-15")

REDIS_URL = "redis://127.0.0.1:6379/15"


def attempt(client) -> int:
    """One failed login attempt for the same account; its status code."""
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"email": "x@example.org", "password": "wrong password 1", "csrf_token": token},
    ).status_code


@pytest.fixture
def redis_storage():
    """Redis on this machine; skip (or fail under CI) when it is not there."""
    client = require_redis(REDIS_URL)
    yield REDIS_URL
    client.flushdb()
    client.close()


def test_two_workers_share_the_login_limit_through_redis(
    redis_storage, app_config, mailbox, _schema
):
    # Each create_app stands for a new worker process: with memory storage it would
    # start counting from zero; with Redis it sees what the first worker counted.
    app_config.update(
        RATELIMIT_STORAGE_URI=redis_storage,
        LOGIN_RATE_LIMIT_ACCOUNT="3 per minute",
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
    )

    first = create_app(app_config).test_client()
    assert [attempt(first) for _ in range(3)] == [200, 200, 200]
    second = create_app(app_config).test_client()
    assert attempt(second) == 429


def test_memory_storage_counts_each_worker_alone(app_config, mailbox, _schema):
    # The contrast that makes the test above meaningful.
    app_config.update(LOGIN_RATE_LIMIT_ACCOUNT="3 per minute")

    first = create_app(app_config).test_client()
    assert [attempt(first) for _ in range(4)] == [200, 200, 200, 429]
    second = create_app(app_config).test_client()
    assert attempt(second) == 200

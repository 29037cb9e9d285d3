"""Redis down degrades rate limiting instead of failing pages; /healthz names each dependency."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from shop import create_app
from shop.articles.models import Comment
from shop.extensions import db
from tests.factories import ArticleFactory, UserFactory
from tests.support import AuthActions, csrf_token, require_redis

# Redis database 15 is shared by these files: under xdist they run on one worker.
pytestmark = pytest.mark.xdist_group("redis-db-15")

NOTHING_LISTENS = "redis://127.0.0.1:1/0"  # port 1: connection refused at once
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def real_redis():
    """Redis on this machine; skip (or fail under CI) when it is not there."""
    require_redis(REDIS_URL).close()
    return REDIS_URL


@pytest.fixture
def redis_down(app_config):
    """Settings whose rate-limit storage is a Redis that is not there."""
    app_config.update(
        RATELIMIT_STORAGE_URI=NOTHING_LISTENS,
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
    )
    return app_config


def test_healthz_reports_every_configured_dependency_ok(app, app_config, real_redis):
    app_config.update(
        RATELIMIT_STORAGE_URI=real_redis,
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
        CELERY_BROKER_URL=real_redis,
    )
    response = create_app(app_config).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "rate_limit_storage": "ok",
        "broker": "ok",
    }


def test_healthz_is_degraded_when_only_redis_is_down(app, redis_down):
    redis_down["CELERY_BROKER_URL"] = NOTHING_LISTENS
    client = create_app(redis_down).test_client()
    started = time.monotonic()
    response = client.get("/healthz")
    assert time.monotonic() - started < 10
    # The pages still work, so the balancer keeps this worker: 200, but not "ok".
    assert response.status_code == 200
    assert response.json == {
        "status": "degraded",
        "database": "ok",
        "rate_limit_storage": "unreachable",
        "broker": "unreachable",
    }


def test_healthz_is_503_when_the_database_is_down_whatever_else(app, redis_down):
    redis_down["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    response = create_app(redis_down).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "error"
    assert response.json["database"] == "unreachable"
    assert response.json["rate_limit_storage"] == "unreachable"


def test_healthz_leaves_out_what_is_not_configured(client):
    assert client.get("/healthz").json == {"status": "ok", "database": "ok"}


def test_login_registration_and_reset_work_while_redis_is_down(app, redis_down, mailbox):
    UserFactory(email="reader@example.org")
    client = create_app(redis_down).test_client()
    auth = AuthActions(client)

    assert client.get("/login").status_code == 200
    wrong = auth.login("reader@example.org", password="not the password")
    assert wrong.status_code == 200
    assert "Something went wrong" not in wrong.get_data(as_text=True)
    assert auth.login("reader@example.org").status_code == 302
    assert client.get("/account").status_code == 200
    auth.logout()

    token = csrf_token(client, "/register")
    registered = client.post(
        "/register",
        data={"email": "new@example.org", "password": "correct horse battery", "csrf_token": token},
    )
    assert registered.status_code == 302
    assert mailbox.to("new@example.org"), "no confirmation mail"

    token = csrf_token(client, "/reset")
    reset = client.post("/reset", data={"email": "reader@example.org", "csrf_token": token})
    assert reset.status_code == 302
    assert mailbox.to("reader@example.org"), "no reset mail"


def test_comments_work_while_redis_is_down(app, redis_down):
    ArticleFactory(title="Glaciers retreat")
    UserFactory(email="reader@example.org")
    client = create_app(redis_down).test_client()
    auth = AuthActions(client)
    auth.login("reader@example.org")
    response = auth.post(
        "/articles/glaciers-retreat/comments", {"body": "Still here."}, token_from="/account"
    )
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Comment)) == 1


def test_limits_still_count_in_memory_while_redis_is_down(app, redis_down):
    redis_down["LOGIN_RATE_LIMIT_ACCOUNT"] = "3 per minute"
    client = create_app(redis_down).test_client()
    statuses = []
    for _ in range(4):
        token = csrf_token(client, "/login")
        statuses.append(
            client.post(
                "/login",
                data={
                    "email": "x@example.org",
                    "password": "wrong password 1",
                    "csrf_token": token,
                },
            ).status_code
        )
    assert statuses == [200, 200, 200, 429]

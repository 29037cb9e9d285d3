"""Redis (the rate limiter's storage) is down: accounts and comments keep working."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.articles.models import Comment
from shop.extensions import db
from tests.factories import ArticleFactory, UserFactory
from tests.support import AuthActions, csrf_token, link_in, path_of, service_missing

# Redis database 15 is shared by these files: under xdist they run on one worker.
pytestmark = pytest.mark.xdist_group("redis-db-15")

DEAD_REDIS = "redis://127.0.0.1:1"  # a port where nothing listens
LIVE_REDIS = "redis://127.0.0.1:6379/15"
UP = ("ok", "up", True)


def _redis_state(health: dict):
    """The Redis entry of /healthz, wherever the JSON keeps its dependencies."""
    for key in ("redis", "rate_limit_storage", "ratelimit"):
        if key in health:
            return health[key]
    for group in ("checks", "dependencies", "services"):
        nested = health.get(group)
        if isinstance(nested, dict):
            found = _redis_state(nested)
            if found is not None:
                return found
    return None


def _is_up(state) -> bool:
    if isinstance(state, dict):
        state = state.get("status", state.get("ok"))
    return state in UP


@pytest.fixture
def dead_redis(app_config):
    """The limiter's storage points at a Redis that is not there."""
    app_config.update(RATELIMIT_STORAGE_URI=DEAD_REDIS)
    return DEAD_REDIS


def test_register_login_reset_and_comment_work_with_redis_down(dead_redis, app, mailbox):
    article = ArticleFactory(title="Ferry timetable")
    UserFactory(email="known@example.org")
    client = app.test_client()
    auth = AuthActions(client)

    token = csrf_token(client, "/register")
    form = {"email": "fresh@example.org", "password": "correct horse battery"}
    registered = client.post("/register", data={**form, "csrf_token": token})
    assert registered.status_code == 302, registered.get_data(as_text=True)[:300]
    assert db.session.scalar(select(User).where(User.email == "fresh@example.org"))
    assert link_in(mailbox.last_to("fresh@example.org"), "/confirm/")

    client = app.test_client()  # another visitor
    auth = AuthActions(client)
    logged_in = auth.login("known@example.org")
    assert logged_in.status_code == 302
    commented = auth.post(
        f"/articles/{article.slug}/comments", {"body": "On time today."}, token_from="/account"
    )
    assert commented.status_code == 302
    db.session.expire_all()
    assert [c.body for c in db.session.scalars(select(Comment))] == ["On time today."]
    auth.logout()

    mailbox.clear()
    token = csrf_token(client, "/reset")
    asked = client.post("/reset", data={"email": "known@example.org", "csrf_token": token})
    assert asked.status_code == 302
    link = link_in(mailbox.last_to("known@example.org"), "/reset/")
    assert client.get(path_of(link)).status_code == 200


def test_login_is_still_limited_with_redis_down(dead_redis, app_config, app):
    # Knocking Redis over must not open the door to unlimited password guesses.
    app.config["LOGIN_RATE_LIMIT_ACCOUNT"] = "3 per minute"
    client = app.test_client()
    codes = []
    for _ in range(4):
        token = csrf_token(client, "/login")
        data = {"email": "x@example.org", "password": "wrong password 1", "csrf_token": token}
        codes.append(client.post("/login", data=data).status_code)
    assert codes == [200, 200, 200, 429]


def test_healthz_shows_redis_down(dead_redis, app):
    response = app.test_client().get("/healthz")
    assert response.status_code in (200, 503)
    health = response.get_json()
    state = _redis_state(health)
    assert state is not None, f"/healthz does not mention Redis: {health}"
    assert not _is_up(state), health


@pytest.fixture
def live_redis(app_config):
    """The limiter's storage is this machine's Redis (skip, or fail in CI, without it)."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(LIVE_REDIS, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        service_missing(f"Redis is not reachable at {LIVE_REDIS}: {exc}")
    app_config.update(RATELIMIT_STORAGE_URI=LIVE_REDIS)
    return LIVE_REDIS


def test_healthz_shows_redis_up_when_it_answers(live_redis, app):
    health = app.test_client().get("/healthz").get_json()
    assert _is_up(_redis_state(health)), health

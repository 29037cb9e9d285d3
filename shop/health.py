"""Liveness and dependency checks for load balancers and uptime monitors."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shop.extensions import db, limiter

bp = Blueprint("health", __name__)

OK = "ok"
UNREACHABLE = "unreachable"
REDIS_SCHEMES = {"redis", "rediss", "unix"}


def check_database(timeout: float) -> str:
    """``ok`` when the database answers a query within ``timeout`` seconds."""
    try:
        if db.engine.dialect.name == "postgresql":
            # A stuck server must not hold the health check (or the balancer) for minutes.
            db.session.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError:
        db.session.rollback()
        return UNREACHABLE
    return OK


def ping_redis(url: str, timeout: float) -> str:
    """``ok`` when the Redis server at ``url`` answers PING within ``timeout`` seconds."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except (redis.RedisError, OSError):
        return UNREACHABLE
    finally:
        client.close()
    return OK


def check_rate_limit_storage(url: str, timeout: float) -> str:
    """``ok`` when the rate limiter's shared storage answers."""
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss"):
        return ping_redis(url, timeout)
    if scheme == "redis+unix":
        return ping_redis("unix" + url[len("redis+unix") :], timeout)
    # Other backends (memcached, MongoDB, Redis Sentinel or Cluster): ask the library.
    try:
        return OK if limiter.storage.check() else UNREACHABLE
    except Exception:  # noqa: BLE001  (any failure of a storage driver means "down")
        return UNREACHABLE


def check_broker(url: str, timeout: float) -> str:
    """``ok`` when the Celery broker accepts a connection within ``timeout`` seconds."""
    if urlsplit(url).scheme in REDIS_SCHEMES:
        return ping_redis(url, timeout)
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception:  # noqa: BLE001  (kombu raises each transport's own errors)
        return UNREACHABLE
    return OK


@bp.route("/healthz")
@limiter.exempt
def healthz():
    """Each configured dependency's state, as JSON.

    503 when the database is down (this worker cannot serve pages); 200 with
    ``"status": "degraded"`` when only Redis or the broker is down (pages still work:
    rate limits count in memory, jobs wait); 200 ``"ok"`` when all answer.
    """
    config = current_app.config
    timeout = float(config["HEALTH_CHECK_TIMEOUT"])
    report = {"database": check_database(timeout)}
    storage = config.get("RATELIMIT_STORAGE_URI") or "memory://"
    if not storage.startswith("memory://"):
        report["rate_limit_storage"] = check_rate_limit_storage(storage, timeout)
    broker = config.get("CELERY_BROKER_URL")
    if broker:
        report["broker"] = check_broker(broker, timeout)
    if report["database"] != OK:
        return jsonify(status="error", **report), 503
    status = OK if all(state == OK for state in report.values()) else "degraded"
    return jsonify(status=status, **report)

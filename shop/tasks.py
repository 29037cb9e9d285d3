"""The background-job seam: features register jobs here by name; Celery runs them.

A lower floor that must set off work elsewhere enqueues a job by name, so it never
imports the code that does it. With no broker configured (the embedded default) a
job runs at once, in the caller's process, after the caller's transaction has
committed. With ``CELERY_BROKER_URL`` set, the job is sent to the Celery workers,
and Celery beat sends the ``tick`` job every minute (docs/deploy.md).

Nothing here connects to a broker at import time: ``init_celery`` builds the Celery
app in the factory, and Celery opens a connection only when a job is first sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

if TYPE_CHECKING:
    from celery import Celery

# The job that does all time-based work; beat sends it every TICK_SECONDS.
TICK_JOB = "tick"
TICK_SECONDS = 60.0
# A message from the broker is handed to another worker if the worker that took it
# has not acknowledged it within the visibility timeout. Tasks acknowledge when
# done (acks_late), so the timeout must stay above the longest task: never below an
# hour, nor below two leases (a batch that outlives its lease is taken over anyway).
MIN_VISIBILITY_TIMEOUT = 3600

_jobs: dict[str, Callable[..., Any]] = {}


def job(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a named background job."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        _jobs[name] = func
        return func

    return register


def _lookup(name: str) -> Callable[..., Any]:
    try:
        return _jobs[name]
    except KeyError as exc:
        raise LookupError(f"no background job named {name!r}") from exc


def broker_configured(app: Flask | None = None) -> bool:
    """True when jobs go to Celery workers rather than running in this process."""
    app = app or current_app
    return bool(app.config.get("CELERY_BROKER_URL"))


def enqueue(name: str, **kwargs: Any) -> Any:
    """Run the named job: in this process without a broker (its result), else on a worker."""
    if not broker_configured():
        return _lookup(name)(**kwargs)
    enqueue_many(name, [kwargs])
    return None


def enqueue_many(
    name: str, kwargs_list: Iterable[dict[str, Any]], *, expires: float | None = None
) -> int:
    """Send one job per kwargs mapping (over one broker connection); return how many.

    ``expires`` (seconds) drops a job that no worker started in time, for work that
    the next tick would enqueue again anyway. Without a broker each runs here.
    """
    if not broker_configured():
        func = _lookup(name)
        count = 0
        for kwargs in kwargs_list:
            func(**kwargs)
            count += 1
        return count
    celery_app: Celery = current_app.extensions["celery"]
    count = 0
    with celery_app.producer_or_acquire() as producer:
        for kwargs in kwargs_list:
            celery_app.send_task(name, kwargs=kwargs, expires=expires, producer=producer)
            count += 1
    return count


def visibility_timeout(config: dict[str, Any]) -> int:
    """The Redis visibility timeout: the setting, or one above the longest batch."""
    configured = config.get("CELERY_VISIBILITY_TIMEOUT") or 0
    if configured > 0:
        return configured
    return max(MIN_VISIBILITY_TIMEOUT, 2 * config.get("MAIL_LEASE_SECONDS", 300))


def celery_settings(app: Flask) -> dict[str, Any]:
    """Celery's configuration for this app (docs/deploy.md explains each choice)."""
    broker = app.config.get("CELERY_BROKER_URL") or ""
    return {
        # Without a broker, enqueue() never reaches Celery; eager mode keeps a stray
        # .delay() in the same process instead of dialling a default broker.
        "broker_url": broker or "memory://",
        "task_always_eager": not broker,
        "broker_connection_retry_on_startup": True,
        # Acknowledge a task only when it has finished, and give it back to the queue
        # when its worker process dies: an interrupted batch is sent again, and the
        # ledger's leases make a second delivery of the same task harmless.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One task at a time per process: a dying worker holds no queue of others.
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": visibility_timeout(app.config)},
        # Progress lives in the ledger; nobody reads task results.
        "task_ignore_result": True,
        "timezone": "UTC",
        "beat_schedule": {
            TICK_JOB: {
                "task": TICK_JOB,
                "schedule": TICK_SECONDS,
                # Workers that were down for an hour run one tick, not sixty.
                "options": {"expires": TICK_SECONDS},
            }
        },
        "beat_schedule_filename": os.path.join(app.instance_path, "celerybeat-schedule"),
    }


def init_celery(app: Flask) -> Celery:
    """Build this app's Celery app, whose tasks run inside the Flask app context."""
    from celery import Celery, Task

    class FlaskTask(Task):
        """A task with the app's config and database session, like a request has."""

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    # Not set as Celery's process-wide current app: tests build many apps.
    celery_app = Celery(app.import_name, task_cls=FlaskTask, set_as_current=False)
    celery_app.conf.update(celery_settings(app))

    @celery_app.on_after_finalize.connect(weak=False)
    def register_jobs(sender: Celery, **_: Any) -> None:
        """Make every registered job a task once Celery builds its task registry."""
        for name, func in _jobs.items():
            if name not in sender.tasks:
                sender.task(name=name)(func)

    app.extensions["celery"] = celery_app
    return celery_app

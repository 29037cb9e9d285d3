"""The background-job seam: features register jobs here by name; Celery runs them.

A lower floor that must set off work elsewhere enqueues a job by name, so it never
imports the code that does it. With no broker configured (the embedded default) a
job runs at once, in the caller's process, after the caller's transaction has
committed. With ``CELERY_BROKER_URL`` set, the job is sent to the Celery workers,
and Celery beat sends the ``tick`` job every minute (docs/deploy.md).

Work that a web request sets off but must not wait for (sending a newsletter to
every reader) goes through ``enqueue_background``: to the workers with a broker,
else to a thread of this process with its own app context and database session.
A thread dies with its process; the ledger keeps what it did, and the next tick
takes up the rest. ``JOBS_IN_BACKGROUND = False`` runs such jobs in the caller
instead, and ``join_background`` waits for the threads (tests use both).

Nothing here connects to a broker at import time: ``init_celery`` builds the Celery
app in the factory, and Celery opens a connection only when a job is first sent.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
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
# The threads each app started for background jobs (app.extensions[BACKGROUND]).
BACKGROUND = "background_jobs"
_threads_lock = threading.Lock()


class QueueUnavailableError(RuntimeError):
    """A job could not be queued: the broker is unreachable, or no thread could start."""


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
    from kombu.exceptions import OperationalError

    celery_app: Celery = current_app.extensions["celery"]
    count = 0
    try:
        with celery_app.producer_or_acquire() as producer:
            for kwargs in kwargs_list:
                celery_app.send_task(name, kwargs=kwargs, expires=expires, producer=producer)
                count += 1
    except OperationalError as exc:
        # Kombu has already retried the connection; the caller decides what that means.
        raise QueueUnavailableError(f"the job queue cannot be reached: {exc}") from exc
    return count


def enqueue_background(name: str, **kwargs: Any) -> threading.Thread | None:
    """Queue the named job and return at once: to a worker, or to a thread of this process.

    Without a broker the job runs in a new thread (its thread is returned), unless
    ``JOBS_IN_BACKGROUND`` is off: then it runs here, before this returns. The caller
    commits first, so that the job sees what the caller wrote. ``QueueUnavailableError``
    when the job could not be queued at all.
    """
    func = _lookup(name)  # an unknown job fails in the caller, where someone sees it
    if broker_configured():
        enqueue_many(name, [kwargs])
        return None
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("JOBS_IN_BACKGROUND", True):
        func(**kwargs)
        return None
    # A fresh contextvars context: nothing of the caller's request or app context
    # (its database session above all) may leak into the thread.
    thread = threading.Thread(
        target=contextvars.Context().run,
        args=(_run_in_thread, app, name, func, kwargs),
        name=f"job {name}",
        # A process that exits (a restart, Ctrl-C) must not hang on a long send: the
        # thread dies with it, and the next tick resumes the run from the ledger.
        daemon=True,
    )
    with _threads_lock:
        app.extensions.setdefault(BACKGROUND, set()).add(thread)
    try:
        thread.start()
    except RuntimeError as exc:  # the process has no thread left to give
        with _threads_lock:
            app.extensions[BACKGROUND].discard(thread)
        raise QueueUnavailableError(f"no thread could start the job: {exc}") from exc
    return thread


def _run_in_thread(app: Flask, name: str, func: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Run one job in its own app context (so its own database session); log a failure."""
    try:
        with app.app_context():
            func(**kwargs)
    except Exception:
        # Nobody waits on this thread: the log is where a failure must be seen. What
        # the job left undone stays in the ledger for the next tick.
        app.logger.exception("background job %s %r failed", name, kwargs)
    finally:
        with _threads_lock:
            app.extensions.get(BACKGROUND, set()).discard(threading.current_thread())


def join_background(app: Flask | None = None, timeout: float | None = None) -> bool:
    """Wait for this app's background threads to end; False if some still run after ``timeout``."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    with _threads_lock:
        threads = list(app.extensions.get(BACKGROUND, ()))
    deadline = None if timeout is None else time.monotonic() + timeout
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


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

"""The Celery entry point: ``celery -A shop.celery_worker worker`` (and ``beat``).

Importing this module builds nothing. Celery asks it for its ``app`` attribute, and
that first request creates the Flask app from the environment (as ``wsgi.py`` does
for gunicorn) and hands over the Celery app that the factory made.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def celery_app() -> Any:
    """The Celery app of a Flask app built from the environment, made once."""
    from celery.signals import worker_process_init

    from shop import create_app
    from shop.config import ConfigError
    from shop.extensions import db

    flask_app = create_app()
    if not flask_app.config.get("CELERY_BROKER_URL"):
        raise ConfigError(
            "CELERY_BROKER_URL is not set. Without a broker, background jobs run in the "
            "process that starts them and there is nothing for a worker or beat to do: "
            "set it (e.g. redis://127.0.0.1:6379/0), or run `flask --app wsgi tick` "
            "from cron instead (docs/deploy.md)."
        )
    # The jobs register themselves on import; the worker must know them all.
    import shop.newsletters.sending  # noqa: F401
    import shop.scheduler  # noqa: F401
    import shop.sending.dispatch  # noqa: F401

    @worker_process_init.connect(weak=False)
    def fresh_connections(**_: Any) -> None:
        """A forked pool process opens its own database connections."""
        # Pooled connections inherited from the parent must not be shared across fork.
        with flask_app.app_context():
            db.engine.dispose(close=False)

    return flask_app.extensions["celery"]


def __getattr__(name: str) -> Any:
    """Build the app when Celery first asks for it (``app`` or ``celery``)."""
    if name in ("app", "celery"):
        return celery_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

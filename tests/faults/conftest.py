"""Fault fixtures: an app of the test's own, over a database the test may break."""

from __future__ import annotations

import pytest

from shop import create_app
from shop.extensions import db
from tests.conftest import IsolatedClient, make_config


def own_app(database_url: str, smtp_sink, instance_dir, **extra):
    """An app over ``database_url`` with the schema created; the caller disposes of it."""
    app = create_app(make_config(database_url, smtp_sink, instance_dir, **extra))
    app.test_client_class = IsolatedClient
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def dispose():
    """Dispose of the engines of the apps a test made, whatever happened to them."""
    apps = []
    yield apps.append
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

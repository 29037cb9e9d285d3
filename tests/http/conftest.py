"""HTTP caching tests run as production does: the page cache on, CSRF protection on."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_config(app_config):
    """The in-process page cache and CSRF checks, as a default install has them."""
    app_config["PAGE_CACHE"] = "memory"
    app_config["WTF_CSRF_ENABLED"] = True
    return app_config

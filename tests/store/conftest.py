"""Store fixtures."""

from __future__ import annotations

import pytest

from tests.store.helpers import Shopper


@pytest.fixture
def shopper(client):
    """The test client as a shopper."""
    return Shopper(client)

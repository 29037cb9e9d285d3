"""Account mail while the relay is down: words on the page, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from tests.support import csrf_token, free_port

DOWN = "We could not send the email just now"


@pytest.fixture
def app_config(app_config):
    """A relay address where nothing listens: every connection is refused."""
    app_config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_TIMEOUT=2)
    return app_config


def _post(client, path: str, token_from: str | None = None, **data):
    token = csrf_token(client, token_from or path)
    return client.post(path, data={"csrf_token": token, **data})


def test_registration_with_the_relay_down_says_so_in_words(client):
    response = _post(client, "/register", email="new@example.org", password="a long password")
    assert response.status_code == 200
    assert DOWN in response.get_data(as_text=True)


def test_a_taken_address_with_the_relay_down_gets_the_same_words(client, reader):
    response = _post(client, "/register", email=reader.email, password="a long password")
    assert response.status_code == 200
    assert DOWN in response.get_data(as_text=True)


def test_a_reset_with_the_relay_down_keeps_its_one_answer(client, reader):
    for email in (reader.email, "nobody@example.org"):
        response = _post(client, "/reset", email=email)
        assert response.status_code == 302
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "If an account exists for that address" in page


def test_resending_the_confirmation_with_the_relay_down_says_so(app, client, auth):
    user = User(email="waiting@example.org", role="reader")
    user.set_password("a long password")
    db.session.add(user)
    db.session.commit()
    auth.login("waiting@example.org", "a long password")
    response = _post(client, "/confirm/resend", token_from="/account")
    assert response.status_code == 302
    assert DOWN in client.get(response.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(select(User.confirmed_at).where(User.id == user.id)) is None

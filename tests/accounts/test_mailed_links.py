"""Mailed links have limits, and an email-change link dies with the password it was asked under."""

from __future__ import annotations

import re

from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from tests.factories import UserFactory
from tests.support import AuthActions, csrf_token, link_in, path_of

PASSWORD = "correct horse battery"
CHANGE_LINK = "/account/email/confirm/"
CSRF_VALUE = re.compile(r'(?<=name="csrf_token" type="hidden" value=")[^"]+')


def _user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def _ask_reset(client, email: str):
    token = csrf_token(client, "/reset")
    response = client.post(
        "/reset", data={"email": email, "csrf_token": token}, follow_redirects=True
    )
    main = response.get_data(as_text=True).split("<main", 1)[1]
    # CSRF tokens carry a timestamp; everything else must be the same.
    return response.status_code, CSRF_VALUE.sub("", main)


# --- password reset: a silent limit per address ---------------------------------------


def test_reset_mail_stops_at_the_address_limit_and_the_answer_never_changes(
    app, client, reader, mailbox
):
    app.config["RESET_RATE_LIMIT_ADDRESS"] = "2 per hour"
    nobody = _ask_reset(client, "nobody@example.org")
    answers = [_ask_reset(client, "reader@example.org") for _ in range(5)]
    assert answers == [nobody] * 5
    assert nobody[0] == 200 and "If an account exists" in nobody[1]
    assert len(mailbox.to("reader@example.org")) == 2
    # The count is per address: another reader still gets their link.
    UserFactory(email="second@example.org")
    _ask_reset(client, "Second@Example.org")
    assert len(mailbox.to("second@example.org")) == 1


# --- email change: limits per account and per new address ------------------------------


def _ask_change(auth, new_email: str):
    return auth.post("/account/email", {"email": new_email, "password": PASSWORD})


def test_email_change_is_limited_per_account(app, client, auth, reader, mailbox):
    app.config["EMAIL_CHANGE_RATE_LIMIT"] = "2 per hour"
    auth.login("reader@example.org")
    assert _ask_change(auth, "one@example.net").status_code == 302
    assert _ask_change(auth, "two@example.net").status_code == 302
    response = _ask_change(auth, "three@example.net")
    assert response.status_code == 429
    assert "Too many email changes asked for this account" in response.get_data(as_text=True)
    assert mailbox.to("three@example.net") == []


def test_email_change_is_limited_per_new_address_across_accounts(app, mailbox):
    app.config["EMAIL_CHANGE_RATE_LIMIT"] = "2 per hour"
    statuses = []
    for n in range(3):
        UserFactory(email=f"sender{n}@example.org")
        auth = AuthActions(app.test_client())
        auth.login(f"sender{n}@example.org")
        statuses.append(_ask_change(auth, "victim@example.net").status_code)
    assert statuses == [302, 302, 429]
    assert len(mailbox.to("victim@example.net")) == 2


# --- email change links die with the password -------------------------------------------


def test_an_email_change_link_dies_when_the_password_changes(client, auth, reader, mailbox):
    auth.login("reader@example.org")
    _ask_change(auth, "moved@example.net")
    link = path_of(link_in(mailbox.last_to("moved@example.net"), CHANGE_LINK))
    auth.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "a different password"},
    )

    response = client.get(link, follow_redirects=True)
    assert "already been used or is not valid" in response.get_data(as_text=True)
    assert _user("reader@example.org") is not None
    assert _user("moved@example.net") is None


def test_an_email_change_asked_after_a_password_change_still_works(client, auth, reader, mailbox):
    auth.login("reader@example.org")
    auth.post("/account/password", {"current_password": PASSWORD, "new_password": "x" * 12})
    response = auth.post("/account/email", {"email": "later@example.net", "password": "x" * 12})
    assert response.status_code == 302
    client.get(path_of(link_in(mailbox.last_to("later@example.net"), CHANGE_LINK)))
    assert _user("later@example.net") is not None


def test_resending_the_confirmation_stops_at_the_address_limit(app, client, auth, mailbox):
    app.config["REGISTER_RATE_LIMIT_ADDRESS"] = "2 per hour"
    token = csrf_token(client, "/register")
    client.post(
        "/register",
        data={"email": "waiting@example.org", "password": PASSWORD, "csrf_token": token},
    )
    auth.login("waiting@example.org")
    first = auth.post("/confirm/resend", token_from="/account")
    assert "We sent a new confirmation link" in client.get(first.headers["Location"]).get_data(
        as_text=True
    )
    second = auth.post("/confirm/resend", token_from="/account")
    page = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "already sent several links" in page
    assert len(mailbox.to("waiting@example.org")) == 2

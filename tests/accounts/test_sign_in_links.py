"""Signing in by a mailed link: single use, 15 minutes, no enumeration, no silent login."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select, update

from shop.accounts.models import MailedLink, User
from shop.clock import utcnow
from shop.extensions import db
from tests.factories import UserFactory
from tests.support import csrf_token, link_in, path_of, text_of

CSRF_VALUE = re.compile(r'(?<=name="csrf_token" type="hidden" value=")[^"]+')
SIGN_IN = "/signin/"


def _ask(client, email: str, next_url: str = ""):
    token = csrf_token(client, "/login")
    return client.post(
        "/login/link", data={"sign_in_email": email, "csrf_token": token, "next": next_url}
    )


def _main(response) -> str:
    main = response.get_data(as_text=True).split("<main", 1)[1]
    return CSRF_VALUE.sub("", main)


def _logged_in_as(client) -> str | None:
    page = client.get("/account")
    if page.status_code != 200:
        return None
    match = re.search(r"[\w.+-]+@example\.org", page.get_data(as_text=True))
    return match.group(0) if match else None


def _press(client, path: str):
    """Press the button on a sign-in link's page."""
    token = CSRF_VALUE.search(client.get(path).get_data(as_text=True)).group(0)
    return client.post(path, data={"csrf_token": token})


def test_a_mailed_link_logs_in_once_after_the_button_not_on_opening(client, reader, mailbox):
    response = _ask(client, "Reader@Example.org", next_url="/account/preferences")
    assert response.status_code == 200
    assert "We sent a message to reader@example.org" in response.get_data(as_text=True)
    message = mailbox.last_to("reader@example.org")
    assert message["Subject"] == "Your sign-in link for Broadsheet"
    assert "works once, within 15 minutes" in text_of(message)
    path = path_of(link_in(message, SIGN_IN))

    # Opening it (as a mail scanner would) shows whom it logs in, and logs nobody in.
    for _ in range(2):
        page = client.get(path)
        assert page.status_code == 200
        assert "Log in as reader@example.org" in page.get_data(as_text=True)
    assert _logged_in_as(client) is None

    response = _press(client, path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/preferences")
    assert _logged_in_as(client) == "reader@example.org"

    # Used up: a second press, or a copy in another browser, opens nothing.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    again = client.get(path)
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)
    assert _logged_in_as(client) is None


def test_an_unknown_address_gets_the_same_answer_and_a_mail_saying_so(client, reader, mailbox):
    known = _main(_ask(client, "reader@example.org"))
    unknown = _main(_ask(client, "nobody@example.org"))
    assert known.replace("reader@example.org", "X") == unknown.replace("nobody@example.org", "X")
    message = mailbox.last_to("nobody@example.org")
    assert "no account uses it" in text_of(message)
    assert SIGN_IN not in text_of(message)
    assert db.session.scalar(select(func.count()).select_from(MailedLink)) == 1


def test_a_link_expires_after_its_minutes(client, reader, mailbox):
    _ask(client, "reader@example.org")
    path = path_of(link_in(mailbox.last_to("reader@example.org"), SIGN_IN))
    db.session.execute(update(MailedLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    page = client.get(path)
    assert page.status_code == 410
    assert "This sign-in link has expired. Ask for a new one." in page.get_data(as_text=True)
    token = csrf_token(client, "/login")
    assert client.post(path, data={"csrf_token": token}).status_code == 410
    assert _logged_in_as(client) is None


def test_a_forged_or_unknown_link_is_refused_in_words(client):
    for path in (SIGN_IN + "nonsense", SIGN_IN + "A" * 43):
        page = client.get(path)
        assert page.status_code == 410
        assert "This sign-in link is not valid." in page.get_data(as_text=True)


def test_links_stop_at_the_address_limit_and_the_answer_never_changes(app, client, reader, mailbox):
    app.config["SIGN_IN_RATE_LIMIT_ADDRESS"] = "2 per hour"
    answers = {_main(_ask(client, "reader@example.org")) for _ in range(4)}
    assert len(answers) == 1
    assert len(mailbox.to("reader@example.org")) == 2


def test_a_bad_address_is_refused_by_the_form(client, mailbox):
    response = _ask(client, "not an address")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Invalid email address." in page
    assert "Email me a sign-in link" in page
    assert mailbox.handler.messages == []


def test_the_link_confirms_an_unconfirmed_address(client, mailbox):
    UserFactory(email="new@example.org", confirmed_at=None)
    _ask(client, "new@example.org")
    _press(client, path_of(link_in(mailbox.last_to("new@example.org"), SIGN_IN)))
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == "new@example.org"))
    assert user.confirmed_at is not None


def test_a_link_for_an_address_the_account_has_left_opens_nothing(client, reader, mailbox):
    _ask(client, "reader@example.org")
    path = path_of(link_in(mailbox.last_to("reader@example.org"), SIGN_IN))
    reader.email = "moved@example.org"
    db.session.commit()
    response = _press(client, path)
    assert response.status_code == 410
    assert "not valid any more" in response.get_data(as_text=True)
    assert _logged_in_as(client) is None


def test_next_must_stay_on_the_site(client, reader, mailbox):
    _ask(client, "reader@example.org", next_url="//evil.example/steal")
    response = _press(client, path_of(link_in(mailbox.last_to("reader@example.org"), SIGN_IN)))
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


def test_a_member_without_a_password_sets_one_and_cannot_log_in_with_a_guess(client, mailbox):
    user = UserFactory(email="member@example.org")
    user.clear_password()
    db.session.commit()
    token = csrf_token(client, "/login")
    refused = client.post(
        "/login",
        data={"email": "member@example.org", "password": "!no-password", "csrf_token": token},
    )
    assert "That email and password do not match an account." in refused.get_data(as_text=True)

    _ask(client, "member@example.org")
    _press(client, path_of(link_in(mailbox.last_to("member@example.org"), SIGN_IN)))
    page = client.get("/account/password").get_data(as_text=True)
    assert "Set a password" in page and "Current password" not in page
    client.post(
        "/account/password",
        data={
            "new_password": "a brand new passphrase",
            "csrf_token": csrf_token(client, "/account/password"),
        },
    )
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == "member@example.org"))
    assert user.has_password and user.check_password("a brand new passphrase")


def test_links_that_ended_a_month_ago_are_forgotten(app, reader):
    from shop.accounts import links

    now = utcnow()
    for token_hash, expires, used in [
        ("a" * 64, now - timedelta(days=40), None),  # expired long ago
        ("b" * 64, now + timedelta(minutes=5), now - timedelta(days=31)),  # used long ago
        ("c" * 64, now - timedelta(days=2), None),  # expired lately: kept for now
        ("d" * 64, now + timedelta(minutes=10), None),  # still good
    ]:
        db.session.add(
            MailedLink(
                token_hash=token_hash,
                purpose="sign_in",
                email="reader@example.org",
                user_id=reader.id,
                expires_at=expires,
                used_at=used,
            )
        )
    db.session.commit()
    assert links.delete_old_links(now) == 2
    kept = sorted(db.session.scalars(select(MailedLink.token_hash)))
    assert kept == ["c" * 64, "d" * 64]

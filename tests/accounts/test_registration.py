"""Registration tells nobody who has an account, survives parallel requests, and reads
addresses the way mail can deliver them."""

from __future__ import annotations

import re
import threading

import pytest
import requests
from sqlalchemy import func, select

import shop.accounts.models as account_models
from shop.accounts.models import User
from shop.extensions import db
from tests.support import csrf_token, link_in, path_of, text_of

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def _users() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(User))


def _register(client, email: str, password: str = PASSWORD, **extra):
    token = csrf_token(client, "/register")
    data = {"email": email, "password": password, "csrf_token": token, **extra}
    return client.post("/register", data=data)


def _answer(app, email: str, password: str = PASSWORD):
    """What a visitor sees on registering: status, Location, cookies, the next page."""
    client = app.test_client()
    response = _register(client, email, password)
    page = client.get(response.headers.get("Location", "/register")).get_data(as_text=True)
    main = page.split("<main", 1)[1].replace(email, "ADDRESS")
    cookies = tuple(sorted(h.split("=", 1)[0] for h in response.headers.getlist("Set-Cookie")))
    return response.status_code, response.headers.get("Location"), cookies, main


# --- one answer for a new and a taken address -------------------------------------------


def test_a_taken_address_gets_the_same_answer_as_a_new_one(app, reader, mailbox):
    taken = _answer(app, "reader@example.org", "another long password")
    new = _answer(app, "newcomer@example.org")
    assert taken == new
    assert taken[0] == 302 and taken[1] == "/register/check-inbox"
    assert "already exists" not in taken[3] and "Check your inbox" in taken[3]


def test_the_owner_of_a_taken_address_is_told_and_nothing_changes(app, client, reader, mailbox):
    _register(client, "Reader@Example.org", "another long password", digest="y")

    assert _users() == 1
    owner = _user("reader@example.org")
    assert owner.check_password(PASSWORD) and owner.digest_consent_at is None
    message = mailbox.last_to("reader@example.org")
    assert message["Subject"] == "You already have an account"
    body = text_of(message)
    assert "tried to create" in body and "/confirm/" not in body
    assert link_in(message, "/login") and link_in(message, "/reset")
    assert client.get("/account").status_code == 302  # and nobody got logged in


def test_a_new_and_a_taken_address_both_cost_one_password_hash(app, reader, mailbox, monkeypatch):
    calls = []
    real = account_models.generate_password_hash

    def counting(password, *args, **kwargs):
        calls.append(password)
        return real(password, *args, **kwargs)

    monkeypatch.setattr(account_models, "generate_password_hash", counting)
    _register(app.test_client(), "reader@example.org", "a taken address password")
    _register(app.test_client(), "fresh@example.org", "a brand new address pass")
    assert calls == ["a taken address password", "a brand new address pass"]


def test_registering_does_not_log_in_until_the_link_is_opened_once(app, client, mailbox):
    response = _register(client, "patient@example.org")
    assert response.headers["Location"] == "/register/check-inbox"
    assert client.get("/account").status_code == 302
    link = path_of(link_in(mailbox.last_to("patient@example.org"), "/confirm/"))

    assert client.get(link).headers["Location"] == "/account"
    assert client.get("/account").status_code == 200

    # A second opening (a forwarded mail, a shared inbox later) confirms, but logs nobody in.
    other = app.test_client()
    response = other.get(link, follow_redirects=True)
    assert "is confirmed" in response.get_data(as_text=True)
    assert other.get("/account").status_code == 302


def test_a_link_mailed_to_someone_else_does_not_log_them_into_the_senders_account(
    app, client, mailbox
):
    # Someone registers an account of their own, then sends its first, unused link to a
    # victim: opening it in the victim's browser must not log the victim into that account.
    _register(client, "mallory@example.org")
    link = path_of(link_in(mailbox.last_to("mallory@example.org"), "/confirm/"))

    victim = app.test_client()
    response = victim.get(link)
    assert response.headers["Location"].startswith("/login")
    assert victim.get("/account").status_code == 302
    assert _user("mallory@example.org").is_confirmed


def test_the_next_page_survives_the_mailed_link(app, client, mailbox):
    _register(client, "reader.next@example.org", next="/articles/a-story#reply")
    link = path_of(link_in(mailbox.last_to("reader.next@example.org"), "/confirm/"))
    assert client.get(link).headers["Location"] == "/articles/a-story#reply"


def test_auth_register_still_leaves_a_logged_in_reader(client, auth, mailbox):
    response = auth.register("helper@example.org")
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    assert _user("helper@example.org").is_confirmed


# --- registration mail per address ------------------------------------------------------


def test_registration_mail_to_one_address_stops_at_the_limit_with_the_same_answer(
    app, reader, mailbox
):
    app.config["REGISTER_RATE_LIMIT_ADDRESS"] = "2 per hour"
    answers = {_answer(app, "reader@example.org", f"password number {n}") for n in range(4)}
    assert len(answers) == 1 and next(iter(answers))[0] == 302
    assert len(mailbox.to("reader@example.org")) == 2


# --- parallel registrations -------------------------------------------------------------


def test_parallel_registrations_of_one_address_make_one_account_and_no_error(
    app, live_server, mailbox
):
    email = "racer@example.org"
    clients = []
    for _ in range(10):
        browser = requests.Session()
        page = browser.get(live_server + "/register", timeout=10)
        clients.append((browser, CSRF.search(page.text).group(1)))
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def register(browser, token):
        start.wait(timeout=10)
        response = browser.post(
            live_server + "/register",
            data={"email": email, "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=register, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert statuses == [302] * 10
    assert _users() == 1
    confirmations = [m for m in mailbox.to(email) if "/confirm/" in text_of(m)]
    assert len(confirmations) == 1


# --- addresses mail can reach -----------------------------------------------------------

NON_ASCII = "ünï@example.com"
CLEAR_ERROR = "only Latin letters, digits and punctuation before the @"


def test_a_non_ascii_local_part_is_a_clear_form_error_at_registration(client, mailbox):
    response = _register(client, NON_ASCII)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert CLEAR_ERROR in html
    assert _users() == 0
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/login", {"password": PASSWORD}),
        ("/reset", {}),
    ],
)
def test_a_non_ascii_local_part_is_a_clear_form_error_at_login_and_reset(
    client, mailbox, path, fields
):
    token = csrf_token(client, path)
    response = client.post(path, data={"email": NON_ASCII, "csrf_token": token, **fields})
    assert response.status_code == 200
    assert CLEAR_ERROR in response.get_data(as_text=True)
    assert mailbox.messages == []


def test_a_non_ascii_local_part_is_a_clear_form_error_at_email_change(
    client, auth, reader, mailbox
):
    auth.login("reader@example.org")
    response = auth.post("/account/email", {"email": NON_ASCII, "password": PASSWORD})
    assert response.status_code == 200
    assert CLEAR_ERROR in response.get_data(as_text=True)
    assert _user("reader@example.org") is not None
    assert mailbox.messages == []


def test_an_internationalised_domain_may_register(app, mailbox):
    response = _register(app.test_client(), "IDN@Bücher.example")
    assert response.status_code == 302
    assert _user("idn@bücher.example") is not None
    # Typed in its ASCII form, the same domain finds the same account.
    assert _register(app.test_client(), "idn@xn--bcher-kva.example").status_code == 302
    assert _users() == 1

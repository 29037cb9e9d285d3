"""Registration, confirmation, login, logout, reset, and account changes, through the forms."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.extensions import db
from tests.support import csrf_token, link_in, path_of, text_of

PASSWORD = "correct horse battery"


def _user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def submit_registration(client, email: str, password: str = PASSWORD, **extra):
    """Submit the registration form only, without opening the mailed link."""
    token = csrf_token(client, "/register")
    data = {"email": email, "password": password, "csrf_token": token, **extra}
    return client.post("/register", data=data)


def test_register_mails_a_confirmation_link_that_confirms_and_logs_in(
    production_password_hash, client, mailbox
):
    response = submit_registration(client, "New.Reader@Example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/register/check-inbox"
    user = _user("new.reader@example.org")
    assert user is not None and user.confirmed_at is None
    assert user.password_hash.startswith("scrypt:")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Check your inbox" in page and "new.reader@example.org" in page
    assert client.get("/account").status_code == 302  # not logged in before the link

    message = mailbox.last_to("new.reader@example.org")
    assert message["Subject"] == "Confirm your email address"
    assert message["Message-ID"].endswith("@localhost>")
    assert message.get_body(preferencelist=("html",)) is not None
    link = link_in(message, "/confirm/")

    response = client.get(path_of(link), follow_redirects=True)
    assert "Your email address is confirmed and you are logged in" in response.get_data(
        as_text=True
    )
    assert _user("new.reader@example.org").confirmed_at is not None
    assert client.get("/account").status_code == 200


def test_a_tampered_confirmation_link_is_refused(client, mailbox):
    submit_registration(client, "tamper@example.org")
    link = link_in(mailbox.last_to("tamper@example.org"), "/confirm/")
    response = client.get(path_of(link)[:-3] + "xyz", follow_redirects=True)
    assert "not valid" in response.get_data(as_text=True)
    assert _user("tamper@example.org").confirmed_at is None


def test_an_expired_confirmation_link_is_refused(app, client, mailbox):
    submit_registration(client, "late@example.org")
    link = link_in(mailbox.last_to("late@example.org"), "/confirm/")
    app.config["CONFIRM_TOKEN_MAX_AGE"] = -1
    response = client.get(path_of(link), follow_redirects=True)
    assert "expired" in response.get_data(as_text=True)
    assert _user("late@example.org").confirmed_at is None


def test_password_rules_are_shown_beside_the_field_and_email_kept(client, auth):
    response = auth.register("short@example.org", "tooshort")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "at least 10 characters" in html
    assert 'value="short@example.org"' in html
    assert "tooshort" not in html
    assert _user("short@example.org") is None


def test_password_may_not_be_the_email(client, auth):
    response = auth.register("same.as.pass@example.org", "Same.As.Pass@example.org")
    assert "cannot be your email" in response.get_data(as_text=True)
    assert _user("same.as.pass@example.org") is None


def test_an_invalid_email_is_refused(client, auth):
    response = auth.register("not-an-email", PASSWORD)
    assert "Invalid email address" in response.get_data(as_text=True)
    assert db.session.scalar(select(User)) is None


def test_registering_twice_makes_no_second_account_whatever_the_case(client, reader, mailbox):
    response = submit_registration(client, "READER@example.org", "another long password")
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    assert _user("reader@example.org").check_password(PASSWORD)
    assert mailbox.last_to("reader@example.org")["Subject"] == "You already have an account"


def test_login_and_logout(client, auth, reader):
    response = auth.login("reader@example.org")
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    auth.logout()
    assert client.get("/account").status_code == 302


def test_login_with_a_wrong_password_says_so_and_keeps_the_email(client, auth, reader):
    response = auth.login("reader@example.org", "wrong password here")
    html = response.get_data(as_text=True)
    assert "do not match an account" in html
    assert 'value="reader@example.org"' in html
    assert client.get("/account").status_code == 302


def test_remember_me_sets_a_lasting_cookie(client, auth, reader):
    auth.login("reader@example.org", remember="y")
    assert client.get_cookie("remember_token") is not None


def test_without_remember_me_there_is_no_lasting_cookie(client, auth, reader):
    auth.login("reader@example.org")
    assert client.get_cookie("remember_token") is None


def test_next_redirect_stays_on_the_site(client, reader):
    for target, expected in [
        ("/account", "/account"),
        ("https://evil.example/steal", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
    ]:
        client.get("/")  # fresh page, same session
        token = csrf_token(client, "/login")
        response = client.post(
            "/login",
            data={"email": "reader@example.org", "password": PASSWORD, "csrf_token": token},
            query_string={"next": target},
        )
        assert response.status_code == 302
        assert response.headers["Location"] == expected, target
        client.post("/logout", data={"csrf_token": csrf_token(client, "/account/password")})


def test_anonymous_visitor_is_sent_to_login_and_back(client, auth, reader):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    token = csrf_token(client, response.headers["Location"])
    response = client.post(
        response.headers["Location"],
        data={"email": "reader@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/account"


def test_post_from_another_site_without_csrf_token_is_400(client, reader):
    # With no session there is no token to check: the browser's word decides (shop/edge.py).
    response = client.post(
        "/login",
        data={"email": "reader@example.org", "password": PASSWORD},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 400
    assert "expired or did not come from this site" in response.get_data(as_text=True)


def test_a_login_page_session_needs_its_token_even_from_this_site(client, reader):
    csrf_token(client, "/login")  # the login page starts a session that holds a token
    response = client.post("/login", data={"email": "reader@example.org", "password": PASSWORD})
    assert response.status_code == 400


def test_csrf_token_does_not_expire_with_time(app):
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None


def test_reset_says_the_same_whether_or_not_the_account_exists(client, reader, mailbox):
    answers = []
    for email in ["reader@example.org", "nobody@example.org"]:
        token = csrf_token(client, "/reset")
        response = client.post(
            "/reset", data={"email": email, "csrf_token": token}, follow_redirects=True
        )
        page = response.get_data(as_text=True).split("<main")[1]
        # The form's CSRF token is signed with the time: two requests a second apart differ
        # there whatever the account, so the comparison leaves it out.
        answers.append(re.sub(r'(name="csrf_token"[^>]*value=")[^"]*"', r'\1"', page))
    assert answers[0] == answers[1]
    assert "If an account exists" in answers[0]
    assert len(mailbox.to("reader@example.org")) == 1
    assert mailbox.to("nobody@example.org") == []


def test_reset_link_sets_a_new_password_once(client, auth, reader, mailbox):
    token = csrf_token(client, "/reset")
    client.post("/reset", data={"email": "reader@example.org", "csrf_token": token})
    message = mailbox.last_to("reader@example.org")
    assert "within an hour" in text_of(message)
    path = path_of(link_in(message, "/reset/"))

    token = csrf_token(client, path)
    response = client.post(path, data={"password": "a brand new password", "csrf_token": token})
    assert response.headers["Location"] == "/account"
    auth.logout()
    assert auth.login("reader@example.org", "a brand new password").status_code == 302
    auth.logout()

    # The same link a second time is refused: it was single-use.
    response = client.get(path, follow_redirects=True)
    assert "already been used" in response.get_data(as_text=True)


def test_reset_link_expires(app, client, reader, mailbox):
    token = csrf_token(client, "/reset")
    client.post("/reset", data={"email": "reader@example.org", "csrf_token": token})
    path = path_of(link_in(mailbox.last_to("reader@example.org"), "/reset/"))
    app.config["RESET_TOKEN_MAX_AGE"] = -1
    response = client.get(path, follow_redirects=True)
    assert "expired" in response.get_data(as_text=True)


def test_change_password_needs_the_current_one_and_logs_out_other_sessions(
    app, client, auth, reader
):
    other = app.test_client()
    from tests.support import AuthActions

    AuthActions(other).login("reader@example.org")
    assert other.get("/account").status_code == 200

    auth.login("reader@example.org")
    response = auth.post(
        "/account/password",
        {"current_password": "wrong wrong wrong", "new_password": "another good password"},
    )
    assert "current password is not right" in response.get_data(as_text=True)

    response = auth.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "another good password"},
    )
    assert response.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200  # this device stays logged in
    assert other.get("/account").status_code == 302  # the other one is logged out


def test_change_email_is_confirmed_from_the_new_address(client, auth, reader, mailbox):
    auth.login("reader@example.org")
    response = auth.post("/account/email", {"email": "moved@example.org", "password": PASSWORD})
    assert response.status_code == 302
    assert _user("reader@example.org") is not None  # nothing changes before the link
    link = link_in(mailbox.last_to("moved@example.org"), "/account/email/confirm/")
    client.get(path_of(link))
    assert _user("moved@example.org") is not None
    assert _user("reader@example.org") is None


def test_change_email_refuses_an_address_in_use(client, auth, reader):
    from tests.factories import UserFactory

    UserFactory(email="taken@example.org")
    auth.login("reader@example.org")
    response = auth.post("/account/email", {"email": "taken@example.org", "password": PASSWORD})
    assert "already uses that email" in response.get_data(as_text=True)


def test_login_is_rate_limited_per_account(app, client, auth, reader):
    app.config["LOGIN_RATE_LIMIT_ACCOUNT"] = "3 per minute"
    for _ in range(3):
        assert auth.login("reader@example.org", "wrong password 123").status_code == 200
    response = auth.login("reader@example.org")
    assert response.status_code == 429
    assert "Too many login attempts for this account" in response.get_data(as_text=True)
    # Another account from the same address is still fine.
    from tests.factories import UserFactory

    UserFactory(email="second@example.org")
    assert auth.login("second@example.org").status_code == 302


def test_login_is_rate_limited_per_ip_behind_the_proxy(app_config, mailbox, _schema, reader):
    from shop import create_app

    app_config.update(PROXY_HOPS=1, LOGIN_RATE_LIMIT_IP="2 per minute")
    app = create_app(app_config)
    client = app.test_client()

    def attempt(ip: str, email: str):
        token = csrf_token(client, "/login")
        return client.post(
            "/login",
            data={"email": email, "password": "wrong password 123", "csrf_token": token},
            headers={"X-Forwarded-For": ip},
        )

    assert attempt("203.0.113.5", "a@example.org").status_code == 200
    assert attempt("203.0.113.5", "b@example.org").status_code == 200
    response = attempt("203.0.113.5", "c@example.org")
    assert response.status_code == 429
    assert "from your network" in response.get_data(as_text=True)
    # A different client behind the same proxy is counted on its own.
    assert attempt("198.51.100.7", "d@example.org").status_code == 200


def test_resend_confirmation(client, auth, mailbox):
    submit_registration(client, "again@example.org")
    auth.login("again@example.org")
    mailbox.clear()
    response = auth.post("/confirm/resend", token_from="/account")
    assert response.status_code == 302
    assert len(mailbox.to("again@example.org")) == 1


def test_create_admin_command(runner):
    result = runner.invoke(
        args=["create-admin", "Boss@Example.org", "--password", "a long admin password"]
    )
    assert result.exit_code == 0, result.output
    assert "Created admin boss@example.org" in result.output
    user = _user("boss@example.org")
    assert user.is_admin and user.is_confirmed
    assert user.check_password("a long admin password")


def test_create_admin_prompts_for_the_password(runner):
    result = runner.invoke(
        args=["create-admin", "prompted@example.org"],
        input="a long admin password\na long admin password\n",
    )
    assert result.exit_code == 0, result.output
    assert _user("prompted@example.org").is_admin


def test_create_admin_refuses_a_weak_password(runner):
    result = runner.invoke(args=["create-admin", "weak@example.org", "--password", "short"])
    assert result.exit_code != 0
    assert "at least 10 characters" in result.output
    assert _user("weak@example.org") is None

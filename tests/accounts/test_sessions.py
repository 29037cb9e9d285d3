"""Logging out ends the login on the server: copied cookies open nothing afterwards."""

from __future__ import annotations

from sqlalchemy import func, select

from shop.accounts.models import LoginSession
from shop.extensions import db
from tests.support import AuthActions, csrf_token, link_in, path_of

PASSWORD = "correct horse battery"
COOKIES = ("session", "remember_token")


def _copy_cookies(client) -> dict[str, str]:
    """The browser's login cookies, as a thief would copy them."""
    copied = {}
    for name in COOKIES:
        cookie = client.get_cookie(name)
        if cookie is not None:
            copied[name] = cookie.value
    return copied


def _replay(app, cookies: dict[str, str]):
    """A new browser holding only the copied cookies."""
    thief = app.test_client()
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief


def _sessions() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(LoginSession))


def test_copied_session_and_remember_cookies_stop_working_at_logout(app, client, auth, reader):
    auth.login("reader@example.org", remember="y")
    copied = _copy_cookies(client)
    assert set(copied) == {"session", "remember_token"}
    assert _replay(app, copied).get("/account").status_code == 200  # the copy works now

    auth.logout()
    assert client.get("/account").status_code == 302
    assert _replay(app, copied).get("/account").status_code == 302
    # Each cookie alone, too: the remember-me cookie would log a fresh browser back in.
    assert _replay(app, {"session": copied["session"]}).get("/account").status_code == 302
    remember_only = {"remember_token": copied["remember_token"]}
    assert _replay(app, remember_only).get("/account").status_code == 302
    assert _sessions() == 0


def test_logging_out_one_device_leaves_the_others_logged_in(app, client, auth, reader):
    phone = app.test_client()
    AuthActions(phone).login("reader@example.org", remember="y")
    auth.login("reader@example.org")
    assert _sessions() == 2

    auth.logout()
    assert phone.get("/account").status_code == 200
    assert _sessions() == 1


def test_a_password_change_ends_every_other_device_and_keeps_this_one(app, client, auth, reader):
    laptop = app.test_client()
    AuthActions(laptop).login("reader@example.org", remember="y")
    stolen = _copy_cookies(laptop)
    auth.login("reader@example.org", remember="y")
    mine = _copy_cookies(client)

    response = auth.post(
        "/account/password", {"current_password": PASSWORD, "new_password": "a new long password"}
    )
    assert response.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    assert laptop.get("/account").status_code == 302
    assert (
        _replay(app, {"remember_token": stolen["remember_token"]}).get("/account").status_code
        == 302
    )
    # This device stays remembered: its new cookies open a fresh browser.
    fresh = _copy_cookies(client)
    assert fresh["remember_token"] != mine["remember_token"]
    remembered = {"remember_token": fresh["remember_token"]}
    assert _replay(app, remembered).get("/account").status_code == 200
    assert _sessions() == 1


def test_a_password_reset_ends_every_device(app, client, auth, reader, mailbox):
    thief = app.test_client()
    AuthActions(thief).login("reader@example.org", remember="y")
    copied = _copy_cookies(thief)

    token = csrf_token(client, "/reset")
    client.post("/reset", data={"email": "reader@example.org", "csrf_token": token})
    path = path_of(link_in(mailbox.last_to("reader@example.org"), "/reset/"))
    token = csrf_token(client, path)
    client.post(path, data={"password": "the owner's new password", "csrf_token": token})

    assert client.get("/account").status_code == 200  # the reset logs this browser in
    assert thief.get("/account").status_code == 302
    assert _replay(app, copied).get("/account").status_code == 302
    assert _sessions() == 1


def test_a_session_id_from_before_login_sessions_is_refused(app, client, auth, reader):
    # "user:version", as cookies said before: such a session must log in again.
    with client.session_transaction() as session:
        session["_user_id"] = f"{reader.id}:{reader.session_version}"
        session["_fresh"] = True
    assert client.get("/account").status_code == 302

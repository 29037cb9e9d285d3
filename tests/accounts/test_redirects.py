"""``next`` never sends a reader off the site: the Location header is checked as written."""

from __future__ import annotations

import pytest

from tests.support import csrf_token, link_in, path_of

PASSWORD = "correct horse battery"

# Each of these leaves the site in some browser, or after a proxy decodes it once.
LEAVING = [
    "//evil.example/x",
    "////evil.example/x",
    "///evil.example/x",
    "/\\evil.example/x",
    "\\/evil.example/x",
    "/%2F%2Fevil.example/x",
    "/%2f/evil.example/x",
    "/%5Cevil.example/x",
    "/%252F%252Fevil.example/x",
    "/\t/evil.example/x",
    "\t//evil.example/x",
    " //evil.example/x",
    "/%09/evil.example/x",
    "/\r\n/evil.example/x",
    "https://evil.example/x",
    "https:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "http:/\\evil.example",
    "/\u3002/evil.example",
]
# Paths on this site, written to Location exactly as given.
STAYING = ["/x", "/account", "/articles/a-story#reply", "/tags/climate?page=2", "/a%20b"]


@pytest.fixture
def app_config(app_config):
    """Room for every value of the corpus within the login limits."""
    app_config.update(
        LOGIN_RATE_LIMIT_IP="1000 per minute", LOGIN_RATE_LIMIT_ACCOUNT="1000 per minute"
    )
    return app_config


def _where(response) -> str:
    """Where a response sends the browser: its Location, or "refused" for a 400 or 404."""
    if response.status_code in (400, 404):
        # Refused at the edge (control characters in the query): nothing was written.
        assert "Location" not in response.headers
        return "refused"
    assert response.status_code == 302, response.status_code
    return response.headers["Location"]


def _expected(target: str, default: str) -> set[str]:
    return {target} if target in STAYING else {default, "refused"}


def _login(client, next_value: str):
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"email": "reader@example.org", "password": PASSWORD, "csrf_token": token},
        query_string={"next": next_value},
    )


def _logout(client) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/password")})


def test_post_login_writes_only_a_path_on_this_site_to_location(client, reader):
    wrong = {}
    for target in LEAVING + STAYING:
        where = _where(_login(client, target))
        if where not in _expected(target, "/"):
            wrong[target] = where
        if where != "refused":
            _logout(client)
    assert wrong == {}


def test_get_login_when_logged_in_writes_only_a_path_on_this_site(client, reader):
    _login(client, "/")
    wrong = {}
    for target in LEAVING + STAYING:
        where = _where(client.get("/login", query_string={"next": target}))
        if where not in _expected(target, "/"):
            wrong[target] = where
    assert wrong == {}


@pytest.mark.parametrize("field", ["query", "form"])
def test_register_next_is_checked_before_and_after_the_mailed_link(app, mailbox, field):
    wrong = {}
    for number, target in enumerate(LEAVING + STAYING[:2]):
        client = app.test_client()
        email = f"next.reader.{number}@example.org"
        token = csrf_token(client, "/register")
        data = {"email": email, "password": PASSWORD, "csrf_token": token}
        query = {}
        if field == "form":
            data["next"] = target
        else:
            query["next"] = target
        where = _where(client.post("/register", data=data, query_string=query))
        if where == "refused":
            continue
        # The same answer for every next: the address could be anyone's.
        assert where == "/register/check-inbox"
        link = link_in(mailbox.last_to(email), "/confirm/")
        where = _where(client.get(path_of(link)))
        if where not in _expected(target, "/account"):
            wrong[target] = where
    assert wrong == {}

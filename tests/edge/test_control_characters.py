"""NUL and other control characters are refused at the edge: 404 in the address, 400 in a form."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shop.articles.models import Comment
from shop.extensions import db
from tests.factories import ArticleFactory, TagFactory

CONTROL_MESSAGE = "control characters"


def comment_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Comment))


@pytest.mark.parametrize(
    "path",
    ["/articles/%00", "/tags/%00", "/tags/%00/feed.xml", "/newsletters/%00", "/articles/a%01b"],
)
def test_a_control_character_in_a_path_is_a_404(client, path):
    ArticleFactory(title="Glaciers retreat", tags=[TagFactory(name="Climate")])
    response = client.get(path)
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in response.get_data(as_text=True)


def test_a_nul_in_the_checkout_return_is_a_404_that_says_why(client, auth, reader):
    auth.login(reader.email)
    response = client.get("/checkout/success?session_id=%00")
    assert response.status_code == 404
    assert CONTROL_MESSAGE in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/orders?q=%00",
        "/admin/orders.csv?q=%00",
        "/admin/subscribers?q=%00",
        "/admin/subscribers.csv?q=%00",
        "/admin/runs?q=%00",
        "/admin/audit?q=%00",
        "/admin/comments?q=%00",
        "/admin/articles?status=%00",
        "/admin/orders?q=ok&status=%1b",
        "/admin/orders?%00=1",
    ],
)
def test_a_control_character_in_an_admin_search_or_export_is_a_404(client, auth, admin, path):
    auth.login(admin.email)
    response = client.get(path)
    assert response.status_code == 404, path
    html = response.get_data(as_text=True)
    assert CONTROL_MESSAGE in html and 'class="site-header"' in html


def test_a_search_without_control_characters_still_works(client, auth, admin):
    auth.login(admin.email)
    assert client.get("/admin/orders?q=caf%C3%A9").status_code == 200
    assert client.get("/admin/subscribers.csv?q=reader").status_code == 200


@pytest.mark.parametrize("body", ["\x00", "nice\x00piece", "bell\x07", "esc\x1b[31m", "del\x7f"])
def test_a_comment_with_a_control_character_is_refused_and_not_stored(client, auth, reader, body):
    ArticleFactory(title="Glaciers retreat")
    auth.login(reader.email)
    response = auth.post(
        "/articles/glaciers-retreat/comments", {"body": body}, token_from="/account"
    )
    assert response.status_code == 400
    assert CONTROL_MESSAGE in response.get_data(as_text=True)
    assert comment_count() == 0


def test_tabs_and_line_breaks_in_a_comment_are_kept(client, auth, reader):
    ArticleFactory(title="Glaciers retreat")
    auth.login(reader.email)
    response = auth.post(
        "/articles/glaciers-retreat/comments",
        {"body": "First line\r\nSecond\tline"},
        token_from="/account",
    )
    assert response.status_code == 302
    assert comment_count() == 1
    body = db.session.scalar(select(Comment.body))
    assert "Second\tline" in body and "First line" in body


def test_a_nul_in_a_login_form_is_a_400_not_a_500(client, reader):
    from tests.support import csrf_token

    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": "reader@example.org\x00", "password": "x", "csrf_token": token}
    )
    assert response.status_code == 400
    assert CONTROL_MESSAGE in response.get_data(as_text=True)

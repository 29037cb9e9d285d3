"""Comment moderation: search by text or author, filter by state, page through."""

from __future__ import annotations

import re

import pytest

from shop.articles.services import recent_comments
from tests.factories import ArticleFactory, CommentFactory, UserFactory
from tests.support import csrf_token


@pytest.fixture
def comments(app):
    """Three comments by three readers, one of them hidden."""
    story = ArticleFactory(title="Rivers rise")
    alice = UserFactory(email="alice@example.org")
    bob = UserFactory(email="bob@example.org")
    carol = UserFactory(email="carol@example.org")
    return {
        "alice": CommentFactory(article=story, author=alice, body="A fine piece about RIVERS."),
        "bob": CommentFactory(article=story, author=bob, body="Buy cheap watches 100% off"),
        "carol": CommentFactory(article=story, author=carol, body="Rude words", hidden=True),
    }


def _shown(client, query: str = "") -> set[int]:
    response = client.get("/admin/comments" + query)
    assert response.status_code == 200, query
    return {int(n) for n in re.findall(r'id="comment-(\d+)"', response.get_data(as_text=True))}


def test_search_and_state_filters(client, auth, admin, comments):
    alice, bob, carol = comments["alice"].id, comments["bob"].id, comments["carol"].id
    auth.login("editor@example.org")
    assert _shown(client) == {alice, bob, carol}
    assert _shown(client, "?q=rivers") == {alice}  # any case
    assert _shown(client, "?q=BOB%40example") == {bob}  # by the author's email
    assert _shown(client, "?q=example.org") == {alice, bob, carol}
    assert _shown(client, "?q=100%25") == {bob}  # % is a character, not a wildcard
    assert _shown(client, "?q=_") == set()
    assert _shown(client, "?state=hidden") == {carol}
    assert _shown(client, "?state=visible") == {alice, bob}
    assert _shown(client, "?state=visible&q=rude") == set()
    assert _shown(client, "?state=hidden&q=carol") == {carol}
    assert _shown(client, "?q=++rivers++") == {alice}  # surrounding spaces are ignored
    html = client.get("/admin/comments?state=hidden&q=carol").get_data(as_text=True)
    assert '<option value="hidden" selected>' in html and 'value="carol"' in html
    assert "No comments match." in client.get("/admin/comments?q=nothing").get_data(as_text=True)


def test_moderating_returns_to_the_same_filters(client, auth, admin, comments):
    auth.login("editor@example.org")
    page = client.get("/admin/comments?state=visible&q=watches").get_data(as_text=True)
    token = csrf_token(client, "/admin/comments?state=visible&q=watches")
    back = re.search(r'name="next" value="([^"]+)"', page).group(1).replace("&amp;", "&")
    response = client.post(
        f"/admin/comments/{comments['bob'].id}/hide", data={"csrf_token": token, "next": back}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == back
    assert "q=watches" in back and "state=visible" in back
    assert _shown(client, "?state=hidden") == {comments["bob"].id, comments["carol"].id}


def test_pages_keep_the_filters(client, auth, admin):
    story = ArticleFactory()
    author = UserFactory(email="chatty@example.org")
    for n in range(52):
        CommentFactory(article=story, author=author, body=f"Comment {n}", hidden=n % 2 == 0)
    auth.login("editor@example.org")
    assert len(_shown(client, "?state=hidden")) == 26
    assert len(_shown(client)) == 50
    html = client.get("/admin/comments?q=chatty").get_data(as_text=True)
    links = re.findall(r'<a rel="next" href="([^"]+)"', html)
    assert links and "page=2" in links[0] and "q=chatty" in links[0]
    assert len(_shown(client, "?q=chatty&page=2")) == 2
    response = client.get("/admin/comments?q=chatty&page=3")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?state=bogus", "A comment is visible, hidden or held for approval."),
        ("?state=Hidden", "A comment is visible, hidden or held for approval."),
        ("?page=0", "There is no such page."),
        ("?page=abc", "There is no such page."),
        ("?page=2", "There is no such page."),
        ("?q=" + "x" * 201, "at most 200 characters"),
        ("?q=a%00b", "control characters"),
    ],
)
def test_bad_values_are_404_with_a_reason(client, auth, admin, comments, query, message):
    auth.login("editor@example.org")
    response = client.get("/admin/comments" + query)
    assert response.status_code == 404
    assert message in response.get_data(as_text=True)


def test_existing_callers_still_get_every_comment(app, comments):
    page = recent_comments()
    assert page.total == 3
    assert recent_comments(1, 2).pages == 2


def test_visitors_log_in_and_readers_are_refused(client, auth, reader):
    response = client.get("/admin/comments?q=x&state=hidden")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    auth.login("reader@example.org")
    assert client.get("/admin/comments?q=x&state=hidden").status_code == 403

"""Leaving a reply: who may, what is accepted, and how spam is slowed."""

from __future__ import annotations

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.articles.models import Comment
from shop.extensions import db
from tests.factories import ArticleFactory, UserFactory


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Comment))


def test_a_confirmed_reader_comments_and_sees_it(client, auth, reader):
    ArticleFactory(title="Glaciers retreat")
    auth.login("reader@example.org")
    response = auth.post(
        "/articles/glaciers-retreat/comments",
        {"body": "Read more at https://example.org/ice"},
        token_from="/articles/glaciers-retreat",
    )
    assert response.status_code == 302
    assert "#comment-" in response.headers["Location"]
    html = client.get("/articles/glaciers-retreat").get_data(as_text=True)
    assert 'href="https://example.org/ice" rel="nofollow ugc noopener"' in html
    assert "1 comment" in html


def test_anonymous_visitors_must_log_in(client):
    ArticleFactory(title="Glaciers retreat")
    html = client.get("/articles/glaciers-retreat").get_data(as_text=True)
    assert "to join the conversation" in html
    response = client.post("/articles/glaciers-retreat/comments", data={"body": "hi"})
    # No CSRF token and no login: refused either way, nothing stored.
    assert response.status_code in (302, 400)
    assert _count() == 0


def test_unconfirmed_readers_cannot_comment(client, auth):
    ArticleFactory(title="Glaciers retreat")
    UserFactory(email="new@example.org", confirmed_at=None)
    auth.login("new@example.org")
    auth.post(
        "/articles/glaciers-retreat/comments",
        {"body": "first!"},
        token_from="/articles/glaciers-retreat",
    )
    assert _count() == 0


def test_empty_and_overlong_comments_are_refused_and_the_text_kept(client, auth, reader):
    ArticleFactory(title="Glaciers retreat")
    auth.login("reader@example.org")
    response = auth.post(
        "/articles/glaciers-retreat/comments", {"body": "   "}, token_from="/account"
    )
    assert "Write something before posting" in response.get_data(as_text=True)
    long_text = "word " * 1001
    response = auth.post(
        "/articles/glaciers-retreat/comments", {"body": long_text}, token_from="/account"
    )
    html = response.get_data(as_text=True)
    assert "Keep comments under 5,000 characters" in html
    assert long_text.strip()[:200] in html
    assert _count() == 0


def test_a_5000_character_comment_is_accepted(client, auth, reader):
    ArticleFactory(title="Glaciers retreat")
    auth.login("reader@example.org")
    auth.post("/articles/glaciers-retreat/comments", {"body": "x" * 5000}, token_from="/account")
    assert _count() == 1


def test_the_honeypot_catches_bots(client, auth, reader):
    ArticleFactory(title="Glaciers retreat")
    auth.login("reader@example.org")
    auth.post(
        "/articles/glaciers-retreat/comments",
        {"body": "Buy now", "website": "http://spam.example"},
        token_from="/account",
    )
    assert _count() == 0


def test_comments_are_rate_limited(app, client, auth, reader):
    app.config["COMMENT_RATE_LIMIT"] = "2 per minute"
    ArticleFactory(title="Glaciers retreat")
    auth.login("reader@example.org")
    statuses = [
        auth.post(
            "/articles/glaciers-retreat/comments", {"body": f"n{n}"}, token_from="/account"
        ).status_code
        for n in range(3)
    ]
    assert statuses == [302, 302, 429]
    assert _count() == 2


def test_hidden_comments_are_not_shown(client):
    from tests.factories import CommentFactory

    article = ArticleFactory(title="Glaciers retreat")
    CommentFactory(article=article, body="Visible one")
    CommentFactory(article=article, body="Rude one", hidden=True)
    html = client.get("/articles/glaciers-retreat").get_data(as_text=True)
    assert "Visible one" in html and "Rude one" not in html


def test_comment_on_unknown_article_is_404(client, auth, reader):
    auth.login("reader@example.org")
    response = auth.post("/articles/nope/comments", {"body": "hello"}, token_from="/account")
    assert response.status_code == 404


def test_a_comment_shows_the_name_the_reader_chose_never_their_address(client, auth, reader):
    ArticleFactory(title="Glaciers retreat")
    auth.login("reader@example.org")
    page = client.get("/articles/glaciers-retreat").get_data(as_text=True)
    assert "Your name (optional)" in page
    refused = auth.post(
        "/articles/glaciers-retreat/comments",
        {"body": "First.", "display_name": "me@example.org"},
        token_from="/articles/glaciers-retreat",
    )
    assert "Use a name, not an email address" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Comment)) == 0

    auth.post(
        "/articles/glaciers-retreat/comments",
        {"body": "Anonymous-ish.", "display_name": ""},
        token_from="/articles/glaciers-retreat",
    )
    html = client.get("/articles/glaciers-retreat").get_data(as_text=True)
    assert '<span class="author">A reader</span>' in html
    assert ">reader<" not in html and "reader@example.org" not in html.split("comments")[1]

    auth.post(
        "/articles/glaciers-retreat/comments",
        {"body": "Named now.", "display_name": "  Nina   Reader "},
        token_from="/articles/glaciers-retreat",
    )
    db.session.refresh(reader)
    assert reader.display_name == "Nina Reader"
    html = client.get("/articles/glaciers-retreat").get_data(as_text=True)
    # The name is the account's: every comment of the reader shows it, and the field is gone.
    assert html.count('<span class="author">Nina Reader</span>') == 2
    assert "Your name (optional)" not in html


def test_the_name_is_asked_at_sign_up_and_kept_editable(client, auth, mailbox):
    assert "Your name" in client.get("/register").get_data(as_text=True)
    auth.register("named@example.org", display_name="Ada Lovelace")
    user = db.session.scalar(select(User).where(User.email == "named@example.org"))
    assert user.display_name == "Ada Lovelace"
    assert "Your name: Ada Lovelace" in client.get("/account").get_data(as_text=True)
    auth.post("/account/name", {"display_name": "Ada King"}, token_from="/account/name")
    db.session.refresh(user)
    assert user.display_name == "Ada King"
    page = auth.post("/account/name", {"display_name": "x" * 81}, token_from="/account/name")
    assert "Keep your name under 80 characters." in page.get_data(as_text=True)

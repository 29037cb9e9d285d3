"""The back office: who may enter, and writing, publishing and moderating."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from shop.articles.models import Article, Comment, Tag
from shop.clock import utcnow
from shop.extensions import db
from tests.factories import ArticleFactory, CommentFactory, TagFactory


def _form_defaults(html: str) -> dict:
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    return {"csrf_token": token}


def test_admin_writes_previews_and_publishes(client, auth, admin):
    climate = TagFactory(name="Climate")
    auth.login("editor@example.org")
    data = _form_defaults(client.get("/admin/articles/new").get_data(as_text=True))
    data.update(
        title="Rivers rise",
        summary="Floods.",
        body_markdown="# Heading\n\nText <script>alert(1)</script>",
        access="paid",
        tag_ids=[str(climate.id)],
        action="preview",
    )
    response = client.post("/admin/articles/new", data=data)
    article = db.session.scalar(select(Article).where(Article.slug == "rivers-rise"))
    assert response.headers["Location"] == f"/admin/articles/{article.id}/preview"
    assert article.status == "draft" and article.access == "paid"
    assert [t.name for t in article.tags] == ["Climate"]
    assert "<script>" not in article.body_html
    assert client.get("/articles/rivers-rise").status_code == 404  # a draft is private
    preview = client.get(f"/admin/articles/{article.id}/preview").get_data(as_text=True)
    assert "Rivers rise" in preview and "Preview" in preview

    data["action"] = "publish"
    data["title"] = "Rivers rise again"
    client.post(f"/admin/articles/{article.id}", data=data)
    db.session.expire_all()
    assert article.status == "published"
    # Never published before this save, so the slug followed the new title.
    assert article.slug == "rivers-rise-again"
    assert client.get("/articles/rivers-rise-again").status_code == 200

    data["title"] = "A different title"
    data["action"] = "save"
    client.post(f"/admin/articles/{article.id}", data=data)
    db.session.expire_all()
    assert article.slug == "rivers-rise-again"  # stable once published


def test_admin_schedules_an_article(client, auth, admin):
    auth.login("editor@example.org")
    data = _form_defaults(client.get("/admin/articles/new").get_data(as_text=True))
    when = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    data.update(title="Later", access="public", publish_at=when, action="publish")
    response = client.post("/admin/articles/new", data=data, follow_redirects=True)
    assert "Scheduled for" in response.get_data(as_text=True)
    article = db.session.scalar(select(Article).where(Article.slug == "later"))
    assert article.status == "scheduled"
    assert client.get("/articles/later").status_code == 404


def test_admin_form_errors_keep_what_was_typed(client, auth, admin):
    auth.login("editor@example.org")
    data = _form_defaults(client.get("/admin/articles/new").get_data(as_text=True))
    data.update(title="", body_markdown="My precious draft text", access="public")
    response = client.post("/admin/articles/new", data=data)
    html = response.get_data(as_text=True)
    assert "Give the article a title" in html
    assert "My precious draft text" in html
    data.update(title="Fine", access="everyone")
    assert "Not a valid choice" in client.post("/admin/articles/new", data=data).get_data(
        as_text=True
    )
    data.update(access="public", tag_ids=["999999"])
    assert client.post("/admin/articles/new", data=data).status_code == 200
    assert db.session.scalar(select(Article)) is None


def test_admin_unpublishes_and_deletes(client, auth, admin):
    article = ArticleFactory(title="Gone soon")
    CommentFactory(article=article)
    auth.login("editor@example.org")
    token = _form_defaults(client.get("/admin/articles").get_data(as_text=True))
    client.post(f"/admin/articles/{article.id}/unpublish", data=token)
    assert client.get("/articles/gone-soon").status_code == 404
    client.post(f"/admin/articles/{article.id}/delete", data=token)
    db.session.expire_all()
    assert db.session.scalar(select(Article)) is None
    assert db.session.scalar(select(Comment)) is None


def test_admin_actions_need_csrf(client, auth, admin):
    article = ArticleFactory()
    auth.login("editor@example.org")
    assert client.post(f"/admin/articles/{article.id}/delete").status_code == 400
    assert db.session.get(Article, article.id) is not None


def test_unknown_ids_are_404(client, auth, admin):
    auth.login("editor@example.org")
    token = _form_defaults(client.get("/admin/articles").get_data(as_text=True))
    assert client.get("/admin/articles/999999").status_code == 404
    assert client.post("/admin/articles/999999/delete", data=token).status_code == 404
    assert client.get("/admin/tags/999999").status_code == 404
    assert client.get("/admin/articles?status=bogus").status_code == 404
    assert client.get("/admin/articles?page=x").status_code == 404


def test_admin_manages_tags(client, auth, admin):
    auth.login("editor@example.org")
    token = _form_defaults(client.get("/admin/tags").get_data(as_text=True))
    client.post("/admin/tags", data={**token, "name": "North Korea"})
    tag = db.session.scalar(select(Tag))
    assert (tag.name, tag.slug) == ("North Korea", "north-korea")
    response = client.post("/admin/tags", data={**token, "name": "north korea"})
    assert "already exists" in response.get_data(as_text=True)
    client.post(f"/admin/tags/{tag.id}", data={**token, "name": "Korea"})
    db.session.expire_all()
    assert tag.slug == "korea"
    client.post(f"/admin/tags/{tag.id}/delete", data=token)
    assert db.session.scalar(select(Tag)) is None


def test_admin_hides_shows_and_deletes_comments(client, auth, admin):
    article = ArticleFactory(title="Talked about")
    comment = CommentFactory(article=article, body="Rude words")
    auth.login("editor@example.org")
    page = client.get("/admin/comments").get_data(as_text=True)
    assert "Rude words" in page
    token = _form_defaults(page)
    client.post(f"/admin/comments/{comment.id}/hide", data=token)
    assert "Rude words" not in client.get("/articles/talked-about").get_data(as_text=True)
    client.post(f"/admin/comments/{comment.id}/show", data=token)
    assert "Rude words" in client.get("/articles/talked-about").get_data(as_text=True)
    client.post(f"/admin/comments/{comment.id}/delete", data=token)
    db.session.expire_all()
    assert db.session.scalar(select(Comment)) is None

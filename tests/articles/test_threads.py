"""Comments that converse: replies, reply mail, editing and deleting, holding, who may comment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.articles.models import Comment, ThreadMute
from shop.clock import utcnow
from shop.extensions import db
from shop.preferences.models import DigestPreference
from tests.factories import ArticleFactory, CommentFactory, UserFactory, make_paying
from tests.support import AuthActions, csrf_token, html_of, link_in, path_of, text_of

SLUG = "glaciers-retreat"
PAGE = f"/articles/{SLUG}"


@pytest.fixture
def story(app):
    """A live article with one comment by Nina, who chose a name."""
    article = ArticleFactory(title="Glaciers retreat")
    nina = UserFactory(email="nina@example.org", display_name="Nina")
    top = CommentFactory(article=article, author=nina, body="The ice is going fast.")
    return article, nina, top


def _as(app, email: str) -> AuthActions:
    """A browser of its own, logged in as ``email``."""
    actions = AuthActions(app.test_client())
    assert actions.login(email).status_code == 302
    return actions


def _reply(actions: AuthActions, parent_id: object, body: str):
    return actions.post(
        f"{PAGE}/comments", {"body": body, "parent_id": str(parent_id)}, token_from=PAGE
    )


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Comment))


def _thread_html(client, top_id: int) -> str:
    """The replies list under one comment, as the page shows it."""
    html = client.get(PAGE).get_data(as_text=True)
    start = html.index(f'id="comment-{top_id}"')
    end = html.index('id="reply"')
    return html[start:end]


def test_replies_sit_under_their_comment_one_level_deep(app, client, story, reader, mailbox):
    _, _, top = story
    reader.display_name = "Rami"
    db.session.commit()
    me = _as(app, "reader@example.org")
    response = _reply(me, top.id, "It is, and faster each year.")
    assert response.status_code == 302
    first = db.session.scalars(select(Comment).where(Comment.parent_id == top.id)).one()
    assert response.headers["Location"].endswith(f"#comment-{first.id}")
    # A reply to the reply joins the same thread: never a second level.
    _reply(me, first.id, "Replying to myself, a correction.")
    replies = db.session.scalars(select(Comment).where(Comment.parent_id == top.id)).all()
    assert [r.parent_id for r in replies] == [top.id, top.id]

    thread = _thread_html(client, top.id)
    assert '<ol class="replies" aria-label="Replies to Nina">' in thread
    assert thread.index("The ice is going fast.") < thread.index("faster each year")
    assert thread.index("faster each year") < thread.index("a correction")
    assert "3 comments" in client.get(PAGE).get_data(as_text=True)


def test_a_reply_mails_the_thread_and_one_click_leaves_it(app, story, reader, mailbox):
    _, nina, top = story
    reader.display_name = "Rami"
    UserFactory(email="third@example.org", display_name="Tess")
    db.session.commit()
    _reply(_as(app, "reader@example.org"), top.id, "Line one.\nLine two.")

    assert [m["To"] for m in mailbox.messages] == ["nina@example.org"]
    mail = mailbox.last_to("nina@example.org")
    assert mail["Subject"] == "Rami replied to your comment on “Glaciers retreat”"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    assert "/replies/unsubscribe/" in unsubscribe
    text = text_of(mail)
    assert "Hello Nina," in text and "Line one.\r\nLine two." in text
    reply = db.session.scalars(select(Comment).where(Comment.parent_id == top.id)).one()
    assert link_in(mail, "/articles/").endswith(f"{PAGE}#comment-{reply.id}")
    html = html_of(mail)
    assert 'class="brand"' in html and "Stop emails about this conversation" in html
    assert "reader@example.org" not in text + html  # the replier by name, never address

    # The mail client's one-click POST: no session, no CSRF token, done at once.
    anonymous = app.test_client()
    page = anonymous.get(path_of(unsubscribe))
    assert "Stop these emails" in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ThreadMute)) == 0
    done = anonymous.post(path_of(unsubscribe), data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "No more emails about this conversation" in done.get_data(as_text=True)
    assert anonymous.post(path_of(unsubscribe)).status_code == 200  # twice is harmless

    # Tess replies: Rami (an earlier replier) hears of it; Nina left the thread.
    mailbox.clear()
    _reply(_as(app, "third@example.org"), top.id, "Seen it myself.")
    assert [m["To"] for m in mailbox.messages] == ["reader@example.org"]
    assert mailbox.last_to("reader@example.org")["Subject"] == (
        "Tess replied to a conversation you joined on “Glaciers retreat”"
    )


def test_no_mail_to_yourself_nor_for_a_new_top_comment(app, story, mailbox):
    _, _, top = story
    nina = _as(app, "nina@example.org")
    _reply(nina, top.id, "Adding to my own point.")
    nina.post(f"{PAGE}/comments", {"body": "A fresh thought."}, token_from=PAGE)
    assert _count() == 3
    assert mailbox.messages == []


def test_a_suppressed_address_hears_of_no_reply(app, story, reader, mailbox):
    _, nina, top = story
    UserFactory(email="third@example.org", display_name="Tess")
    _reply(_as(app, "third@example.org"), top.id, "An earlier reply.")
    mailbox.clear()
    # Nina's address bounced hard (or she complained): the publication suppressed it.
    pref = DigestPreference(user_id=nina.id, suppressed_at=utcnow())
    db.session.add(pref)
    db.session.commit()

    _reply(_as(app, "reader@example.org"), top.id, "A later reply.")

    assert [m["To"] for m in mailbox.messages] == ["third@example.org"]


def test_a_forged_unsubscribe_link_is_refused_and_changes_nothing(client, story):
    response = client.post("/replies/unsubscribe/not-a-token", data={"List-Unsubscribe": "x"})
    assert response.status_code == 400
    assert "not valid" in response.get_data(as_text=True)
    assert client.get("/replies/unsubscribe/eyJ1IjoxfQ.forged").status_code == 400
    assert db.session.scalar(select(func.count()).select_from(ThreadMute)) == 0


def test_bad_reply_targets_keep_the_text_and_post_nothing(app, story, reader):
    app.config["COMMENT_RATE_LIMIT"] = "20 per minute"  # six tries in a row, all refused
    _, _, top = story
    elsewhere = CommentFactory(article=ArticleFactory(title="Another story"))
    hidden = CommentFactory(article=top.article, body="Rude words", hidden=True)
    me = _as(app, "reader@example.org")
    for parent in ("abc", "-1", "99999999999", elsewhere.id, hidden.id):
        response = _reply(me, parent, "My careful reply.")
        assert response.status_code == 200, parent
        html = response.get_data(as_text=True)
        assert "The comment you replied to is no longer there." in html
        assert "My careful reply." in html  # the textarea keeps it
    assert _count() == 3
    # An empty reply is refused under the comment it answers, which stays open.
    html = _reply(me, top.id, "  ").get_data(as_text=True)
    assert '<details class="comment-form" open>' in html
    assert "Write something before posting." in html
    assert _count() == 3


def test_readers_edit_their_own_comment_for_fifteen_minutes(app, client, story, reader):
    _, _, top = story
    nina = _as(app, "nina@example.org")
    page = nina.client.get(PAGE).get_data(as_text=True)
    assert f'action="/comments/{top.id}/edit"' in page
    response = nina.post(f"/comments/{top.id}/edit", {"body": "The ice is going faster."}, PAGE)
    assert response.status_code == 302
    db.session.refresh(top)
    assert top.body == "The ice is going faster." and top.edited_at is not None
    assert '<span class="edited">edited</span>' in client.get(PAGE).get_data(as_text=True)

    # Someone else's comment: refused, unchanged, and no Edit button is offered.
    other = _as(app, "reader@example.org")
    assert f"/comments/{top.id}/edit" not in other.client.get(PAGE).get_data(as_text=True)
    assert other.post(f"/comments/{top.id}/edit", {"body": "Hijacked"}, PAGE).status_code == 403
    assert other.post(f"/comments/{top.id}/delete", {}, PAGE).status_code == 403
    db.session.refresh(top)
    assert top.body == "The ice is going faster."

    # Past the window: the text the reader typed comes back with the reason.
    top.created_at = utcnow() - timedelta(minutes=16)
    db.session.commit()
    late = nina.post(f"/comments/{top.id}/edit", {"body": "Too late a change."}, PAGE)
    html = late.get_data(as_text=True)
    assert late.status_code == 200
    assert "Comments can be changed for 15 minutes after posting" in html
    assert "Too late a change." in html
    assert f'action="/comments/{top.id}/edit"' not in client.get(PAGE).get_data(as_text=True)
    db.session.refresh(top)
    assert top.body == "The ice is going faster."
    assert nina.post("/comments/99999/edit", {"body": "x"}, PAGE).status_code == 404


def test_deleting_leaves_a_placeholder_only_where_replies_answer(app, client, story, reader):
    _, _, top = story
    _reply(_as(app, "reader@example.org"), top.id, "A reply that stays.")
    reply = db.session.scalars(select(Comment).where(Comment.parent_id == top.id)).one()
    nina = _as(app, "nina@example.org")
    assert nina.post(f"/comments/{top.id}/delete", {}, PAGE).status_code == 302
    html = client.get(PAGE).get_data(as_text=True)
    assert "[deleted]" in html and "The ice is going fast." not in html
    assert "A reply that stays." in html and "1 comment" in html
    db.session.refresh(top)
    assert top.body == "" and top.deleted_at is not None

    # The last reply goes: nothing is left for the placeholder to hold.
    me = _as(app, "reader@example.org")
    assert me.post(f"/comments/{reply.id}/delete", {}, PAGE).status_code == 302
    html = client.get(PAGE).get_data(as_text=True)
    assert "[deleted]" not in html and "0 comments" in html
    assert _count() == 0


def test_new_commenters_wait_for_approval_when_the_setting_asks(app, client, story, admin, mailbox):
    app.config["COMMENTS_HOLD_NEW_COMMENTERS"] = True
    _, _, top = story
    UserFactory(email="newcomer@example.org", display_name="Noor")
    newcomer = _as(app, "newcomer@example.org")
    response = _reply(newcomer, top.id, "My first words here.")
    assert response.status_code == 302
    held = db.session.scalars(select(Comment).where(Comment.parent_id == top.id)).one()
    assert held.held
    own = newcomer.client.get(PAGE).get_data(as_text=True)
    assert "Your comment will appear once a moderator approves it." in own
    assert "My first words here." in own and "Awaiting approval" in own
    assert "My first words here." not in client.get(PAGE).get_data(as_text=True)
    assert mailbox.messages == []  # nobody hears of a reply nobody may see

    # Nina has an approved comment already: hers goes straight up.
    _reply(_as(app, "nina@example.org"), top.id, "Welcome.")
    assert not db.session.scalars(select(Comment).where(Comment.body == "Welcome.")).one().held

    editor = _as(app, "editor@example.org")
    listing = editor.client.get("/admin/comments?state=held").get_data(as_text=True)
    assert "My first words here." in listing and "Welcome." not in listing
    approved = editor.post(
        f"/admin/comments/{held.id}/approve", {"next": "/admin/comments"}, "/admin/comments"
    )
    assert approved.status_code == 302
    assert "My first words here." in client.get(PAGE).get_data(as_text=True)
    assert [m["To"] for m in mailbox.messages] == ["nina@example.org"]

    # Approved once, trusted after: the next comment is not held.
    _reply(newcomer, top.id, "And a second.")
    second = db.session.scalars(select(Comment).where(Comment.body == "And a second.")).one()
    assert not second.held
    again = editor.post(f"/admin/comments/{held.id}/approve", {}, "/admin/comments")
    assert again.status_code == 302
    assert "not waiting for approval" in editor.client.get("/admin/comments").get_data(as_text=True)


def test_a_rejected_comment_is_gone_and_the_next_one_waits_too(app, client, story, admin):
    app.config["COMMENTS_HOLD_NEW_COMMENTERS"] = True
    UserFactory(email="newcomer@example.org")
    newcomer = _as(app, "newcomer@example.org")
    newcomer.post(f"{PAGE}/comments", {"body": "Cheap pills here"}, token_from=PAGE)
    held = db.session.scalars(select(Comment).where(Comment.body == "Cheap pills here")).one()
    held_id = held.id
    editor = _as(app, "editor@example.org")
    assert (
        editor.post(f"/admin/comments/{held_id}/reject", {}, "/admin/comments").status_code == 302
    )
    assert _count() == 1
    assert "Cheap pills" not in client.get(PAGE).get_data(as_text=True)
    assert editor.post("/admin/comments/99999/reject", {}, "/admin/comments").status_code == 404
    newcomer.post(f"{PAGE}/comments", {"body": "Sorry, a real point."}, token_from=PAGE)
    assert db.session.scalars(select(Comment).where(Comment.body.like("Sorry%"))).one().held


def test_an_article_can_take_comments_from_paying_readers_only(app, story, reader):
    article, _, top = story
    article.comments_from = "paying"
    db.session.commit()
    me = _as(app, "reader@example.org")
    page = me.client.get(PAGE).get_data(as_text=True)
    assert "Only paying subscribers can comment on this article." in page
    assert 'action="/articles/glaciers-retreat/comments"' not in page
    refused = me.post(f"{PAGE}/comments", {"body": "Let me in."}, token_from=PAGE)
    assert refused.status_code == 302
    assert _reply(me, top.id, "Or this way?").status_code == 302
    assert _count() == 1

    make_paying(reader)
    assert me.post(f"{PAGE}/comments", {"body": "Now I pay."}, token_from=PAGE).status_code == 302
    assert _count() == 2


def test_an_article_with_comments_off_keeps_its_comments_and_takes_none(app, client, story):
    article, _, top = story
    article.comments_from = "off"
    db.session.commit()
    html = client.get(PAGE).get_data(as_text=True)
    assert "Comments are closed on this article." in html
    assert "The ice is going fast." in html
    nina = _as(app, "nina@example.org")
    assert 'name="parent_id"' not in nina.client.get(PAGE).get_data(as_text=True)
    nina.post(f"{PAGE}/comments", {"body": "Still here?"}, token_from=PAGE)
    _reply(nina, top.id, "Hello?")
    assert _count() == 1


def test_the_editor_chooses_who_may_comment(app, admin):
    article = ArticleFactory(title="Glaciers retreat")
    editor = _as(app, "editor@example.org")
    form = editor.client.get(f"/admin/articles/{article.id}").get_data(as_text=True)
    assert '<label for="comments_from">Who may comment</label>' in form
    token = csrf_token(editor.client, f"/admin/articles/{article.id}")
    data = {"title": "Glaciers retreat", "access": "public", "action": "save"}
    for value, status in (("paying", 302), ("nobody", 200)):
        response = editor.client.post(
            f"/admin/articles/{article.id}",
            data={**data, "comments_from": value, "csrf_token": token},
        )
        assert response.status_code == status, value
    db.session.refresh(article)
    assert article.comments_from == "paying"

"""Newsletters from the back office: compose, audience, preview, test, send, schedule, archive."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop import background, clock, scheduler
from shop.clock import utcnow
from shop.extensions import db
from shop.newsletters import sending as newsletter_sending
from shop.newsletters import services as newsletters
from shop.newsletters.models import Newsletter
from shop.sending.models import Delivery, Run
from tests.factories import TagFactory, make_paying
from tests.newsletter.digest_helpers import subscriber
from tests.support import html_of, link_in, path_of, text_of


@pytest.fixture
def editor(client, auth, admin):
    """The client, logged in as an admin."""
    auth.login(admin.email)
    return client


def _compose(editor, auth, **fields) -> object:
    data = {
        "subject": "Our year in review",
        "body_markdown": "Thank you for reading.\n\nSee [our latest](/tags/climate).",
        "audience": "all",
        **fields,
    }
    return auth.post("/admin/newsletters/new", data, token_from="/admin/newsletters/new")


def _newsletter(subject: str = "Our year in review") -> Newsletter:
    db.session.expire_all()
    return db.session.scalar(select(Newsletter).where(Newsletter.subject == subject))


def test_an_editor_composes_a_draft(editor, auth):
    """Saving keeps a draft, renders its Markdown and gives it an archive slug."""
    response = _compose(editor, auth)
    assert response.status_code == 302
    newsletter = _newsletter()
    assert newsletter.status == "draft"
    assert newsletter.slug == "our-year-in-review"
    assert "<p>Thank you for reading.</p>" in newsletter.body_html
    page = editor.get(path_of(response.headers["Location"]))
    assert "It would go to" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"subject": "  "}, "Give the newsletter a subject."),
        ({"body_markdown": ""}, "Write the newsletter&#39;s text."),
        ({"audience": "everyone-ever"}, "Choose who receives it."),
        ({"audience": "tags"}, "Choose at least one tag whose followers receive it."),
        ({"audience": "tags", "tag_ids": "99999"}, "One of the chosen tags no longer exists."),
        ({"subject": "x" * 201}, "Keep the subject under 200 characters."),
    ],
)
def test_bad_input_is_refused_and_saves_nothing(editor, auth, fields, message):
    """Each broken rule gets its own message on the form, and no newsletter is stored."""
    response = _compose(editor, auth, **fields)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Newsletter.id))) == 0


def test_audiences_pick_the_right_readers(app, mailbox):
    """All, tag followers, paying and free each reach exactly their readers."""
    climate, economy = TagFactory(name="Climate"), TagFactory(name="Economy")
    today = clock.local_date(utcnow())
    subscriber("everything@example.org")
    subscriber("climate@example.org", tags=[climate])
    subscriber("economy@example.org", "weekly", tags=[economy])
    subscriber("off@example.org", "off")
    payer = subscriber("payer@example.org", "instant", tags=[economy])
    make_paying(payer)
    # Nobody below may receive any newsletter.
    subscriber("unsub@example.org", unsubscribed_at=utcnow())
    subscriber("bounced@example.org", suppressed_at=utcnow())
    subscriber("paused@example.org", paused_until=today)
    subscriber("unconfirmed@example.org", confirmed=False)

    def recipients(audience: str, tags=()) -> list[str]:
        newsletter = newsletters.create_newsletter(
            None,
            newsletters.NewsletterInput(f"To {audience}", "Hello.", audience, [t.id for t in tags]),
        )
        mailbox.clear()
        newsletter_sending.send_now(newsletter)
        return sorted(m["To"] for m in mailbox.messages)

    assert recipients("all") == [
        "climate@example.org",
        "economy@example.org",
        "everything@example.org",
        "off@example.org",
        "payer@example.org",
    ]
    # The reader with digests off follows everything, so tag newsletters reach them too.
    assert recipients("tags", [climate]) == [
        "climate@example.org",
        "everything@example.org",
        "off@example.org",
    ]
    assert recipients("paying") == ["payer@example.org"]
    assert recipients("free") == [
        "climate@example.org",
        "economy@example.org",
        "everything@example.org",
        "off@example.org",
    ]


def test_preview_and_test_send(editor, auth, admin, mailbox):
    """The preview is the email itself; a test goes to the editor alone, marked as a test."""
    subscriber("someone@example.org")
    _compose(editor, auth)
    newsletter = _newsletter()
    preview = editor.get(f"/admin/newsletters/{newsletter.id}/preview")
    assert preview.status_code == 200
    assert "Thank you for reading." in preview.get_data(as_text=True)
    assert "script-src" not in preview.headers["Content-Security-Policy"]
    assert "default-src 'none'" in preview.headers["Content-Security-Policy"]

    response = auth.post(
        f"/admin/newsletters/{newsletter.id}/test",
        token_from=f"/admin/newsletters/{newsletter.id}",
    )
    assert response.status_code == 302
    assert [m["To"] for m in mailbox.messages] == [admin.email]
    assert mailbox.messages[0]["Subject"] == "[Test] Our year in review"
    assert _newsletter().status == "draft"
    assert db.session.scalar(select(func.count(Delivery.id))) == 0


# Send now sends from a thread of the process: real commits.
@pytest.mark.real_commits
def test_sending_reaches_every_reader_once_with_working_links(editor, auth, client, mailbox):
    """Send now: one message per reader, proper headers, absolute links, then the archive."""
    for n in range(3):
        subscriber(f"reader{n}@example.org")
    _compose(editor, auth)
    newsletter = _newsletter()
    send = f"/admin/newsletters/{newsletter.id}/send"
    response = auth.post(send, token_from=f"/admin/newsletters/{newsletter.id}")
    assert response.status_code == 303
    assert path_of(response.headers["Location"]) == f"/admin/newsletters/{newsletter.id}/progress"
    # The request only queued it; a thread of the process sends it.
    assert background.join_background(timeout=30)
    assert sorted(m["To"] for m in mailbox.messages) == [
        "reader0@example.org",
        "reader1@example.org",
        "reader2@example.org",
    ]
    message = mailbox.last_to("reader1@example.org")
    assert message["Subject"] == "Our year in review"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<http://localhost/unsubscribe/")
    assert re.fullmatch(r"<\w+-run-\d+-\w+-delivery\d+-u\d+@localhost>", message["Message-ID"])
    # These readers chose no name: greeted without one, never by a piece of the address.
    assert "Hello," in text_of(message) and "reader1" not in text_of(message).split("Hello")[1][:10]
    html = html_of(message)
    assert "Hello," in html and 'style="' in html
    for url in re.findall(r'href="([^"]+)"', html):
        assert url.startswith("http://localhost/"), url
    raw = next(m[2] for m in mailbox.handler.messages if "reader1@example.org" in m[1])
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert b"\n" not in raw.replace(b"\r\n", b"")

    # The web version link in the mail opens the archive.
    archive = link_in(message, "/newsletters/")
    page = client.get(path_of(archive))
    assert page.status_code == 200
    assert "Thank you for reading." in page.get_data(as_text=True)
    assert "Our year in review" in client.get("/newsletters").get_data(as_text=True)

    progress = editor.get(
        f"/admin/newsletters/{newsletter.id}/progress", headers={"Accept": "application/json"}
    )
    assert progress.json == {
        "status": "sent",
        "total": 3,
        "sent": 3,
        "failed": 0,
        "bounced": 0,
        "queued": 0,
        "finished": True,
    }
    # A second press of Send sends nothing more.
    mailbox.clear()
    again = auth.post(send, token_from=f"/admin/newsletters/{newsletter.id}/progress")
    assert again.status_code == 303
    assert background.join_background(timeout=30)
    assert mailbox.messages == []
    # A sent newsletter cannot be edited or deleted.
    edit = editor.get(f"/admin/newsletters/{newsletter.id}")
    assert path_of(edit.headers["Location"]).endswith("/progress")
    auth.post(
        f"/admin/newsletters/{newsletter.id}/delete",
        token_from=f"/admin/newsletters/{newsletter.id}/progress",
    )
    assert _newsletter() is not None


def test_the_archive_keeps_paying_readers_newsletters_theirs(app, client, auth, reader):
    """A newsletter for paying readers shows a subscribe prompt to everyone else."""
    newsletter = newsletters.create_newsletter(
        None, newsletters.NewsletterInput("Members' letter", "Secret plans.", "paying")
    )
    newsletter_sending.send_now(newsletter)
    page = client.get(f"/newsletters/{newsletter.slug}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Secret plans." not in text
    assert "Subscribe to read it" in text
    make_paying(reader)
    auth.login(reader.email)
    assert "Secret plans." in client.get(f"/newsletters/{newsletter.slug}").get_data(as_text=True)


def test_unknown_or_unsent_newsletters_are_not_in_the_archive(app, client):
    """Drafts and made-up slugs are 404s; a bad page number too."""
    draft = newsletters.create_newsletter(
        None, newsletters.NewsletterInput("Draft only", "Not yet.", "all")
    )
    assert client.get(f"/newsletters/{draft.slug}").status_code == 404
    assert client.get("/newsletters/no-such-thing").status_code == 404
    assert client.get("/newsletters?page=0").status_code == 404
    assert client.get("/newsletters?page=7").status_code == 404


def test_scheduled_newsletters_go_out_from_tick_once(editor, auth, mailbox):
    """Scheduling refuses the past; tick sends when the time comes, and only once."""
    subscriber("early@example.org")
    _compose(editor, auth)
    newsletter = _newsletter()
    form = f"/admin/newsletters/{newsletter.id}"
    past = clock.local_now(utcnow() - timedelta(hours=1))
    response = auth.post(
        f"{form}/schedule", {"send_at": past.strftime("%Y-%m-%dT%H:%M")}, token_from=form
    )
    assert "Choose a time in the future" in editor.get(form).get_data(as_text=True)
    assert _newsletter().status == "draft"
    auth.post(f"{form}/schedule", {"send_at": "not a date"}, token_from=form)
    assert _newsletter().status == "draft"

    later = clock.local_now(utcnow() + timedelta(hours=2))
    response = auth.post(
        f"{form}/schedule", {"send_at": later.strftime("%Y-%m-%dT%H:%M")}, token_from=form
    )
    assert response.status_code == 302
    scheduled = _newsletter()
    assert scheduled.status == "scheduled"
    assert scheduled.scheduled_at > utcnow() + timedelta(hours=1)

    scheduler.tick(utcnow())
    assert mailbox.messages == []
    scheduler.tick(scheduled.scheduled_at + timedelta(minutes=1))
    assert [m["To"] for m in mailbox.messages] == ["early@example.org"]
    scheduler.tick(scheduled.scheduled_at + timedelta(minutes=2))
    assert len(mailbox.messages) == 1
    assert _newsletter().status == "sent"


def test_an_interrupted_start_is_planned_again_by_tick(app, mailbox):
    """A crash after taking the newsletter but before queuing it is repaired by tick."""
    subscriber("patient@example.org")
    newsletter = newsletters.create_newsletter(
        None, newsletters.NewsletterInput("Interrupted", "Still coming.", "all")
    )
    newsletter.status = "scheduled"
    newsletter.scheduled_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    # What start_sending leaves behind when the process dies before queuing anyone.
    run = Run(kind="newsletter", period=f"newsletter:{newsletter.id}", subject="Interrupted")
    db.session.add(run)
    db.session.commit()
    newsletter.status = "sending"
    newsletter.run_id = run.id
    db.session.commit()

    scheduler.tick()
    assert [m["To"] for m in mailbox.messages] == ["patient@example.org"]
    assert _newsletter("Interrupted").status == "sent"


def test_bad_ids_are_404s(editor):
    """Made-up newsletter ids answer 404 on every page."""
    for path in ("/admin/newsletters/999", "/admin/newsletters/999/preview"):
        assert editor.get(path).status_code == 404
    assert editor.get("/admin/newsletters?page=abc").status_code == 404


def test_one_scheduled_newsletter_that_cannot_start_does_not_hold_back_the_others(
    app, mailbox, monkeypatch
):
    subscriber("patient@example.org")
    due = utcnow() - timedelta(minutes=5)
    for slug in ("broken", "fine"):
        db.session.add(
            Newsletter(
                subject=slug.title(),
                slug=slug,
                body_markdown="Hello",
                body_html="<p>Hello</p>",
                status="scheduled",
                scheduled_at=due,
            )
        )
    db.session.commit()
    real_send_now = newsletter_sending.send_now

    def send_now(newsletter, *args, **kwargs):
        if newsletter.slug == "broken":
            raise RuntimeError("the template of this one is broken")
        return real_send_now(newsletter, *args, **kwargs)

    monkeypatch.setattr(newsletter_sending, "send_now", send_now)
    assert newsletter_sending.send_due(utcnow()) == 1
    assert [m["Subject"] for m in mailbox.messages] == ["Fine"]
    db.session.expire_all()
    statuses = dict(db.session.execute(select(Newsletter.slug, Newsletter.status)).all())
    assert statuses == {"broken": "scheduled", "fine": "sent"}

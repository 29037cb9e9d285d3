"""Stories by email: "Publish and email" mails the whole story, once, to the chosen audience."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shop import scheduler
from shop.articles.models import Article
from shop.clock import utcnow
from shop.digests.models import MailedArticle
from shop.digests.runs import run_digest
from shop.digests.selection import instant_plans, plan_digests
from shop.extensions import db
from shop.sending.models import Delivery, Run, RunKind
from shop.stories import sending as stories
from tests.factories import TagFactory, make_paying
from tests.newsletter.digest_helpers import article as digest_article
from tests.newsletter.digest_helpers import cutoff, subscriber
from tests.support import html_of, path_of, text_of

BODY = (
    "The river rose overnight.\n\n"
    "![The flooded square](/static/img/flood.png)\n\n"
    "Residents moved to [the school](/tags/climate) on the hill.\n\n"
    "PAID-ONLY: the council knew in March."
)


@pytest.fixture
def app_config(app_config):
    """Jobs run in the request that queues them, so the test reads their mail at once."""
    return {**app_config, "JOBS_IN_BACKGROUND": False}


@pytest.fixture
def editor(client, auth, admin):
    """The client, logged in as an admin."""
    auth.login(admin.email)
    return client


def _write(auth, action: str = "publish_email", **fields):
    """Write a new story in the editor and press a button."""
    data = {
        "title": "Flood in the valley",
        "summary": "What happened when the river rose.",
        "body_markdown": BODY,
        "access": "public",
        "email_audience": "all",
        "action": action,
        **fields,
    }
    return auth.post("/admin/articles/new", data, token_from="/admin/articles/new")


def _press(auth, article_id: int, action: str, **fields):
    """Press a button on the story's editor page."""
    data = {"title": "Flood in the valley", "body_markdown": BODY, "action": action, **fields}
    path = f"/admin/articles/{article_id}"
    return auth.post(path, data, token_from=path)


def _story() -> Article:
    db.session.expire_all()
    found = db.session.scalar(select(Article).where(Article.title == "Flood in the valley"))
    assert found is not None
    return found


def _mailed(article_id: int) -> set[int]:
    return set(
        db.session.scalars(
            select(MailedArticle.user_id).where(MailedArticle.article_id == article_id)
        )
    )


def test_publish_and_email_sends_the_whole_story_once_to_readers_who_get_mail(
    editor, auth, mailbox, admin
):
    """One full message per reader who may be mailed; images absolute; a text part."""
    climate = TagFactory(name="Climate")
    daily = subscriber("daily@example.org")
    instant = subscriber("instant@example.org", frequency="instant", tags=[climate])
    weekly = subscriber("weekly@example.org", frequency="weekly")
    subscriber("off@example.org", frequency="off")
    subscriber("gone@example.org", unsubscribed_at=utcnow())
    subscriber("paused@example.org", paused_until=(utcnow() + timedelta(days=9)).date())
    subscriber("unconfirmed@example.org", confirmed=False)

    response = _write(auth, tag_ids=str(climate.id))
    assert response.status_code == 302
    story = _story()
    assert sorted(m["To"] for m in mailbox.messages) == [
        "daily@example.org",
        "instant@example.org",
        "weekly@example.org",
    ]
    message = mailbox.last_to("daily@example.org")
    assert message["Subject"] == "Flood in the valley"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<http://localhost/unsubscribe/")
    html = html_of(message)
    assert '<img src="http://localhost/static/img/flood.png"' in html
    assert 'href="http://localhost/tags/climate"' in html
    assert "PAID-ONLY: the council knew in March." in html
    assert 'style="' in html  # the site's mail styles, inlined
    for url in re.findall(r'(?:href|src)="([^"]+)"', html):
        assert url.startswith("http://localhost/"), url
    text = text_of(message)
    assert "The river rose overnight." in text
    assert "PAID-ONLY: the council knew in March." in text
    assert "[the school](http://localhost/tags/climate)" in text
    assert f"Read it on the site: http://localhost/articles/{story.slug}" in text
    assert f"Join the conversation: http://localhost/articles/{story.slug}#reply" in text
    assert "Unsubscribe: http://localhost/unsubscribe/" in text

    # Each of them has it as mailed, in the ledger's run of kind "story".
    assert _mailed(story.id) == {daily.id, instant.id, weekly.id}
    run = db.session.get(Run, story.email_run_id)
    assert run is not None and run.kind == RunKind.STORY and run.sent == 3
    page = editor.get(path_of(response.headers["Location"])).get_data(as_text=True)
    assert "Emailed to 3 readers on" in page
    assert f'href="/admin/runs/{run.id}"' in page
    assert 'value="publish_email"' not in page

    # The tick's instant notice does not send it again, nor does the daily digest.
    mailbox.clear()
    result = scheduler.tick()
    assert result.errors == []
    assert mailbox.messages == []
    db.session.execute(
        update(Article)
        .where(Article.id == story.id)
        .values(published_at=cutoff() - timedelta(hours=2))
    )
    db.session.commit()
    digest_article("Other news")
    run_digest("daily")
    digest = mailbox.last_to("daily@example.org")
    assert "Other news" in text_of(digest)
    assert "Flood in the valley" not in text_of(digest)


def test_publish_only_sends_nothing_and_readers_get_their_usual_notice(editor, auth, mailbox):
    """Publish only: no story mail; the instant notice goes as it always did."""
    climate = TagFactory(name="Climate")
    subscriber("daily@example.org")
    subscriber("instant@example.org", frequency="instant", tags=[climate])
    _write(auth, action="publish", tag_ids=str(climate.id))
    story = _story()
    assert story.is_live() and story.email_audience is None
    assert mailbox.messages == []
    assert db.session.scalar(select(func.count(Run.id)).where(Run.kind == RunKind.STORY)) == 0
    scheduler.tick()
    assert [m["To"] for m in mailbox.messages] == ["instant@example.org"]
    assert mailbox.messages[0]["Subject"] == "New: Flood in the valley"


# A second job calls the engine in the test's own session, which claims and rolls back.
@pytest.mark.real_commits
def test_pressing_again_or_saving_never_sends_it_twice(editor, auth, mailbox):
    """A double submit, a re-save and a second job send nothing more."""
    subscriber("daily@example.org")
    _write(auth)
    story = _story()
    assert len(mailbox.messages) == 1
    again = _press(auth, story.id, "publish_email", email_audience="paying")
    assert again.status_code == 302
    page = auth.client.get(path_of(again.headers["Location"])).get_data(as_text=True)
    assert "goes only once" in page
    _press(auth, story.id, "save")
    _press(auth, story.id, "publish")
    stories.send_story(story.id)
    assert scheduler.tick().errors == []
    assert len(mailbox.messages) == 1
    story = _story()
    assert story.email_audience == "all"  # the first choice stands
    assert db.session.scalar(select(func.count(Delivery.id))) == 1
    page = auth.client.get(f"/admin/articles/{story.id}").get_data(as_text=True)
    assert "Emailed to 1 reader on" in page


def test_a_paid_story_goes_whole_to_payers_and_as_a_teaser_to_the_rest(
    editor, auth, mailbox, smtp_sink
):
    """Payers get every paragraph; the others its opening and a way to subscribe."""
    payer = subscriber("payer@example.org")
    make_paying(payer)
    subscriber("free@example.org")
    _write(auth, access="paid")
    story = _story()
    full = mailbox.last_to("payer@example.org")
    assert "PAID-ONLY: the council knew in March." in text_of(full)
    assert "PAID-ONLY: the council knew in March." in html_of(full)
    teaser = mailbox.last_to("free@example.org")
    raw = next(m[2] for m in smtp_sink[1].messages if "free@example.org" in m[1])
    assert b"PAID-ONLY" not in raw
    assert b"council" not in raw
    assert "The river rose overnight." in text_of(teaser)
    assert "What happened when the river rose." in text_of(teaser)
    paywall = f"http://localhost/articles/{story.slug}#paywall-heading"
    assert f"Subscribe to read the whole story: {paywall}" in text_of(teaser)
    assert f'href="{paywall}"' in html_of(teaser)
    # Both count as mailed: the digest sends neither of them the story again.
    assert len(_mailed(story.id)) == 2


def test_the_followers_of_its_tags_and_the_paying_readers(editor, auth, mailbox):
    """Tag followers (and readers who follow everything); or only readers who pay."""
    climate, sport = TagFactory(name="Climate"), TagFactory(name="Sport")
    subscriber("climate@example.org", tags=[climate])
    subscriber("sport@example.org", tags=[sport])
    subscriber("everything@example.org")
    payer = subscriber("payer@example.org", tags=[sport])
    make_paying(payer)
    _write(auth, tag_ids=str(climate.id), email_audience="tags")
    assert sorted(m["To"] for m in mailbox.messages) == [
        "climate@example.org",
        "everything@example.org",
    ]
    mailbox.clear()
    _write(auth, title="Match report", email_audience="paying")
    assert [m["To"] for m in mailbox.messages] == ["payer@example.org"]


def test_a_story_with_no_tags_cannot_go_to_their_followers(editor, auth, mailbox):
    """The rule is said on the page; the story stays a draft and nothing is sent."""
    subscriber("daily@example.org")
    response = _write(auth, email_audience="tags")
    page = auth.client.get(path_of(response.headers["Location"])).get_data(as_text=True)
    assert "Give the story a tag first" in page
    story = _story()
    assert story.status == "draft" and story.email_audience is None
    assert mailbox.messages == []
    bad = _press(auth, story.id, "publish_email", email_audience="the-whole-world")
    page = auth.client.get(path_of(bad.headers["Location"])).get_data(as_text=True)
    assert "Choose who gets the story by email." in page
    assert mailbox.messages == []


def test_a_scheduled_story_is_emailed_when_it_goes_live(editor, auth, mailbox):
    """Scheduled with "Publish and email": nothing now; the tick mails it once it is live."""
    climate = TagFactory(name="Climate")
    subscriber("instant@example.org", frequency="instant", tags=[climate])
    later = (utcnow() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    _write(auth, tag_ids=str(climate.id), publish_at=later)
    story = _story()
    assert story.status == "scheduled" and story.email_pending
    assert mailbox.messages == []
    page = auth.client.get(f"/admin/articles/{story.id}").get_data(as_text=True)
    assert "To be emailed when it goes live" in page
    scheduler.tick()
    assert mailbox.messages == []
    # Its time comes: one message, the story; no instant notice besides.
    db.session.execute(update(Article).where(Article.id == story.id).values(published_at=utcnow()))
    db.session.commit()
    result = scheduler.tick()
    assert result.stories == 1 and result.errors == []
    assert [m["Subject"] for m in mailbox.messages] == ["Flood in the valley"]
    scheduler.tick()
    assert len(mailbox.messages) == 1


def test_publish_only_withdraws_a_scheduled_email(editor, auth, mailbox):
    """Until it is planned, the editor may take the email back."""
    subscriber("daily@example.org")
    later = (utcnow() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    _write(auth, publish_at=later)
    story = _story()
    _press(auth, story.id, "publish", publish_at=later)
    assert _story().email_audience is None
    db.session.execute(update(Article).where(Article.id == story.id).values(published_at=utcnow()))
    db.session.commit()
    scheduler.tick()
    assert mailbox.messages == []


def test_queued_story_mail_keeps_notices_and_digests_off_the_story(app, mailbox, admin):
    """Planned but not yet sent (a relay down): no notice or digest sends it meanwhile."""
    climate = TagFactory(name="Climate")
    instant = subscriber("instant@example.org", frequency="instant", tags=[climate])
    daily = subscriber("daily@example.org")
    story = digest_article("Flood in the valley", tags=[climate], email_audience="all")
    run = stories.plan_story(story)
    assert run is not None and run.total == 2 and mailbox.messages == []
    assert stories.plan_story(story).id == run.id  # planned once
    assert instant_plans(story) == []
    plans, _ = plan_digests("daily", cutoff().date(), cutoff(), user_ids=[daily.id])
    assert plans == []
    # The tick resumes the run: each reader gets the story once, then nothing more.
    scheduler.tick()
    assert sorted(m["To"] for m in mailbox.messages) == [daily.email, instant.email]
    assert all(m["Subject"] == "Flood in the valley" for m in mailbox.messages)
    scheduler.tick()
    assert len(mailbox.messages) == 2


def test_readers_outside_the_audience_keep_their_instant_notice(editor, auth, mailbox):
    """Emailed to paying readers only: an instant reader who does not pay gets the notice."""
    climate = TagFactory(name="Climate")
    payer = subscriber("payer@example.org", frequency="instant", tags=[climate])
    make_paying(payer)
    subscriber("instant@example.org", frequency="instant", tags=[climate])
    _write(auth, tag_ids=str(climate.id), email_audience="paying")
    assert [m["To"] for m in mailbox.messages] == ["payer@example.org"]
    scheduler.tick()
    notices = mailbox.to("instant@example.org")
    assert [m["Subject"] for m in notices] == ["New: Flood in the valley"]
    assert len(mailbox.to("payer@example.org")) == 1

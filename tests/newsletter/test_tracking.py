"""Opens and clicks: the pixel, the signed redirect links, and the run's figures."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from itsdangerous import Signer
from sqlalchemy import func, select

from shop.extensions import db
from shop.newsletters.models import Newsletter
from shop.newsletters.sending import send_now
from shop.newsletters.services import NewsletterInput, create_newsletter
from shop.reports import engagement
from shop.sending import tracking
from shop.sending.models import Delivery, MailEvent, Run
from tests.bounces.test_mailgun import KEY, _post, _signature
from tests.factories import UserFactory
from tests.newsletter.digest_helpers import article, subscriber
from tests.support import html_of, text_of

BODY = (
    "Thank you for reading.\n\n"
    "Read [the report](https://example.com/report?a=1&b=2), see [our latest](/tags/climate), "
    "or [write to us](mailto:editor@example.org)."
)
PIXEL = re.compile(r'<img src="http://localhost/t/o/([^"/]+)\.gif" width="1" height="1" alt=""')
TRACKED = re.compile(r'href="(http://localhost/t/c/([^"/]+)/([0-9a-f]{16}))"')


@pytest.fixture
def tracked(app_config):
    """The app with tracking on, as it is by default."""
    app_config["MAIL_TRACKING"] = True
    return app_config


def _send(subject: str = "Our year in review", body: str = BODY) -> Run:
    author = UserFactory(email=f"editor-{subject[:3].lower()}@example.org")
    newsletter = create_newsletter(author, NewsletterInput(subject=subject, body_markdown=body))
    run = send_now(newsletter)
    assert run is not None
    return run


def _figures(run: Run) -> engagement.RunFigures:
    db.session.expire_all()
    sent = db.session.scalar(
        select(func.count()).where(Delivery.run_id == run.id, Delivery.status == "sent")
    )
    return engagement.run_figures(run.id, sent, 0)


def _slug(run: Run) -> str:
    return db.session.scalar(select(Newsletter.slug).where(Newsletter.run_id == run.id))


def _links(html: str) -> dict[str, str]:
    """The tracked URL of each link text in a message's HTML."""
    found = re.findall(r'<a href="(http://localhost/t/c/[^"]+)"[^>]*>([^<]+)</a>', html)
    return {text.strip(): url for url, text in found}


def test_the_default_is_on(tmp_path):
    from shop.config import load_settings

    assert load_settings(str(tmp_path), {})["MAIL_TRACKING"] is True
    assert load_settings(str(tmp_path), {"MAIL_TRACKING": "off"})["MAIL_TRACKING"] is False


def test_a_newsletter_counts_opens_once_per_reader(tracked, app, client, mailbox):
    subscriber("nina@example.org")
    subscriber("omar@example.org")
    run = _send()
    html = html_of(mailbox.last_to("nina@example.org"))
    token = PIXEL.search(html)[1]
    assert tracking.delivery_of(token) is not None
    # Each reader's copy has its own token, and the same token in every link.
    other = PIXEL.search(html_of(mailbox.last_to("omar@example.org")))[1]
    assert other != token
    assert {t for _, t, _ in TRACKED.findall(html)} == {token}

    for _ in range(2):
        image = client.get(f"/t/o/{token}.gif")
        assert image.status_code == 200
        assert image.mimetype == "image/gif" and image.data.startswith(b"GIF89a")
        assert "no-store" in image.headers["Cache-Control"]
    figures = _figures(run)
    assert (figures.delivered, figures.opened, figures.opens) == (2, 1, 2)
    assert figures.rate(figures.opened) == "50.0%"


def test_links_lead_only_to_the_runs_own_links(tracked, app, client, mailbox):
    reader = subscriber("nina@example.org")
    run = _send()
    message = mailbox.last_to(reader.email)
    html = html_of(message)
    links = _links(html)
    # The reader's own pages and mailto: are left alone; the text part keeps plain links.
    assert set(links) == {"the report", "our latest", "Read it on the web"}
    assert 'href="mailto:editor@example.org"' in html
    assert re.search(r'href="http://localhost/unsubscribe/[^"]+"', html)
    assert "https://example.com/report?a=1&b=2" in text_of(message)
    assert "/t/c/" not in text_of(message)

    report = links["the report"]
    response = client.get(urlsplit(report).path)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/report?a=1&b=2"
    # An address in the query is no target: the link leads where the run's link does.
    hijack = client.get(urlsplit(report).path + "?url=https://evil.example/&next=//evil.example")
    assert hijack.headers["Location"] == "https://example.com/report?a=1&b=2"
    inside = client.get(urlsplit(links["our latest"]).path)
    assert inside.headers["Location"] == "http://localhost/tags/climate"

    _, token, key = TRACKED.search(html).groups()
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    other_delivery = f"{int(token.split('.')[0]) + 1}.{token.split('.')[1]}"
    for path in (
        f"/t/c/{forged}/{key}",
        f"/t/c/{other_delivery}/{key}",
        f"/t/c/{token}/{'0' * 16}",
        f"/t/c/{token}/https:evil.example",
        "/t/c/nothing/0123456789abcdef",
    ):
        refused = client.get(path)
        assert refused.status_code == 404, path
        assert "Location" not in refused.headers
    # A forged pixel is an image all the same, and counts nothing.
    assert client.get(f"/t/o/{forged}.gif").status_code == 200

    figures = _figures(run)
    assert (figures.opened, figures.clicked, figures.clicks) == (1, 1, 3)
    by_url = {link.url: (link.readers, link.clicks) for link in engagement.link_clicks(run.id)}
    assert by_url == {
        "https://example.com/report?a=1&b=2": (1, 2),
        "http://localhost/tags/climate": (1, 1),
        f"http://localhost/newsletters/{_slug(run)}": (0, 0),
    }


def test_a_link_of_another_run_does_not_open_from_this_runs_mail(tracked, app, client, mailbox):
    reader = subscriber("nina@example.org")
    _send("First issue", "See [the shop](https://shop.example/only-first).")
    first = _links(html_of(mailbox.last_to(reader.email)))["the shop"]
    mailbox.clear()
    _send("Second issue", "See [elsewhere](https://example.com/second).")
    second = html_of(mailbox.last_to(reader.email))
    token = PIXEL.search(second)[1]
    key = first.rsplit("/", 1)[1]
    assert client.get(f"/t/c/{token}/{key}").status_code == 404


def test_with_tracking_off_the_mail_carries_none(app, client, mailbox):
    assert app.config["MAIL_TRACKING"] is False
    reader = subscriber("nina@example.org")
    article("A story of its own")
    run = _send()
    raw = b"".join(c for _, rcpts, c in mailbox.handler.messages if reader.email in rcpts)
    assert b"/t/o/" not in raw and b"/t/c/" not in raw and b"?m=" not in raw
    assert b"XXBS" not in raw
    assert b'href="https://example.com/report?a=1&amp;b=2"' in raw
    assert db.session.scalar(select(func.count()).select_from(MailEvent)) == 0
    assert engagement.link_clicks(run.id) == []


def test_a_digest_tracks_its_stories_links(tracked, app, client, mailbox):
    from shop.digests.runs import run_digest

    reader = subscriber("nina@example.org")
    story = article("Rivers in spring")
    result = run_digest("daily")
    html = html_of(mailbox.last_to(reader.email))
    assert PIXEL.search(html)
    story_link = _links(html)["Rivers in spring"]
    landed = client.get(urlsplit(story_link).path)
    assert landed.headers["Location"] == f"http://localhost/articles/{story.slug}"
    # The text part and the preview keep the article's own address.
    assert f"http://localhost/articles/{story.slug}" in text_of(mailbox.last_to(reader.email))
    assert result.run is not None
    urls = {link.url: link.readers for link in engagement.link_clicks(result.run.id)}
    assert urls[f"http://localhost/articles/{story.slug}"] == 1


def test_complaints_and_unsubscribes_count_on_their_run(tracked, app_config, app, client, mailbox):
    app.config["MAILGUN_WEBHOOK_SIGNING_KEY"] = KEY
    annoyed = subscriber("annoyed@example.org")
    leaving = subscriber("leaving@example.org")
    subscriber("staying@example.org")
    gone = subscriber("gone@example.org")
    run = _send()
    complaint = mailbox.last_to(annoyed.email)
    event = {
        "event": "complained",
        "recipient": annoyed.email,
        "message": {"headers": {"message-id": complaint["Message-ID"].strip("<>")}},
    }
    assert _post(client, event, _signature()).json["outcome"] == "complaint"
    # A bounce reported after the relay took the message moves it out of "delivered".
    late = mailbox.last_to(gone.email)
    event = {
        "event": "failed",
        "severity": "permanent",
        "recipient": gone.email,
        "message": {"headers": {"message-id": late["Message-ID"].strip("<>")}},
    }
    assert _post(client, event, _signature()).json["outcome"] == "bounce"
    # The one-click unsubscribe of the List-Unsubscribe header names the message.
    header = mailbox.last_to(leaving.email)["List-Unsubscribe"].strip("<>")
    assert "?m=" in header
    split = urlsplit(header)
    page = client.get(f"{split.path}?{split.query}")
    assert f"?m={split.query[2:]}" in page.get_data(as_text=True).replace("&amp;", "&")
    done = client.post(f"{split.path}?{split.query}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    # Pressed again, or with a forged token, it is counted once and against nothing else.
    client.post(f"{split.path}?m=1.forged", data={"List-Unsubscribe": "One-Click"})
    figures = _figures(run)
    assert (figures.delivered, figures.bounced) == (3, 1)
    assert (figures.unsubscribed, figures.complained) == (1, 1)
    assert figures.opened == 0


def test_tokens_are_the_signers_own(app):
    signer = Signer(app.config["SECRET_KEY"], salt=tracking.SALT)
    for delivery_id in (1, 42, 10**9):
        token = tracking.Tokens().token(delivery_id)
        assert token == signer.sign(str(delivery_id)).decode()
        assert tracking.delivery_of(token) == delivery_id
    assert tracking.delivery_of("42") is None
    assert tracking.delivery_of("x" * 500) is None


def test_the_run_page_shows_the_figures_and_links(tracked, app, client, auth, admin, mailbox):
    reader = subscriber("nina@example.org")
    run = _send()
    html = html_of(mailbox.last_to(reader.email))
    client.get(f"/t/o/{PIXEL.search(html)[1]}.gif")
    client.get(urlsplit(_links(html)["the report"]).path)
    auth.login(admin.email)
    page = client.get(f"/admin/runs/{run.id}").get_data(as_text=True)
    flat = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "Opened 1 (100.0%)" in flat
    assert "Clicked 1 (100.0%)" in flat
    assert "Apple Mail Privacy Protection" in flat
    assert "https://example.com/report?a=1&amp;b=2 1 1" in flat
    assert "http://localhost/tags/climate 0 0" in flat

    dashboard = client.get("/admin/").get_data(as_text=True)
    assert 'id="chart-engagement"' in dashboard
    assert "Our year in review" in dashboard
    profile = client.get(f"/admin/subscribers/{reader.id}").get_data(as_text=True)
    flat = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", profile))
    assert "Mails received 1" in flat
    assert "Opened, of the last 1 1" in flat
    assert "Clicked, of the last 1 1" in flat
    assert db.session.scalar(select(func.count()).select_from(Newsletter)) == 1


def test_a_story_emailed_on_publishing_tracks_its_links(tracked, app, client, mailbox):
    from shop.articles.services import publish_article
    from shop.stories.sending import send_story
    from tests.factories import ArticleFactory

    reader = subscriber("nina@example.org")
    story = ArticleFactory(title="Rivers in spring", body_markdown=BODY)
    publish_article(story, email_audience="all")
    send_story(story.id)
    html = html_of(mailbox.last_to(reader.email))
    assert PIXEL.search(html)
    landed = client.get(urlsplit(_links(html)["the report"]).path)
    assert landed.headers["Location"] == "https://example.com/report?a=1&b=2"
    assert "https://example.com/report?a=1&b=2" in text_of(mailbox.last_to(reader.email))
    run = db.session.get(Run, story.email_run_id)
    assert _figures(run).clicked == 1

"""The outbox viewer: what the local outbox holds, shown without running its HTML."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from shop.mail import outbox_dir, outbox_message, outbox_messages, send_email, write_to_outbox
from shop.readers.views import PREVIEW_POLICY
from tests.support import csrf_token


@pytest.fixture(autouse=True)
def no_relay(app_config, tmp_path):
    """The embedded default: no relay, so mail lands in this test's own outbox."""
    app_config.update(MAIL_SERVER="", MAIL_OUTBOX_DIR=str(tmp_path / "outbox"))


def _message(subject: str, *, html: str | None = None, text: str = "Hello there.") -> bytes:
    message = EmailMessage()
    message["From"] = "Broadsheet <news@localhost>"
    message["To"] = "someone@example.org"
    message["Subject"] = subject
    message["Message-ID"] = "<abc.1@localhost>"
    message["List-Unsubscribe"] = "<http://localhost/unsubscribe/t>"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_the_outbox_lists_messages_newest_first(client, auth, admin, mailbox):
    send_email("first@example.org", "Confirm your address", "confirm", link="http://x/c/1")
    send_email("second@example.org", "Reset your password", "reset", link="http://x/r/2")
    assert mailbox.messages == []  # no relay: nothing went out
    auth.login("editor@example.org")
    html = _text(client.get("/admin/outbox"))
    assert "second@example.org" in html and "first@example.org" in html
    assert html.index("Reset your password") < html.index("Confirm your address")
    assert "SMTP relay" not in html
    names = re.findall(r'href="/admin/outbox/([^"/]+)"', html)
    assert len(names) == 2 and names == sorted(names, reverse=True)


def test_a_message_shows_its_headers_and_text_and_links_its_html(client, auth, admin):
    path = write_to_outbox(
        _message(
            "A <b>bold</b> subject",
            text="Plain words & more.",
            html="<p>Rich</p><script>alert('x')</script><img src=x onerror=alert(1)>",
        )
    )
    auth.login("editor@example.org")
    page = _text(client.get(f"/admin/outbox/{path.name}"))
    for header in ("From", "To", "Subject", "Message-ID", "List-Unsubscribe"):
        assert f"<dt>{header}</dt>" in page
    assert "A &lt;b&gt;bold&lt;/b&gt; subject" in page
    assert "&lt;abc.1@localhost&gt;" in page
    assert re.search(r"<pre[^>]*>Plain words &amp; more.\s*</pre>", page)
    # The HTML part never appears in the admin page, only behind a link.
    assert "<script>alert" not in page and "onerror" not in page and "Rich" not in page
    assert f'href="/admin/outbox/{path.name}/html"' in page

    response = client.get(f"/admin/outbox/{path.name}/html")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == PREVIEW_POLICY
    assert "no-store" in response.headers["Cache-Control"]
    assert response.mimetype == "text/html"
    assert "<p>Rich</p>" in _text(response)


def test_a_message_sent_by_send_email_reads_back(client, auth, admin):
    send_email("someone@example.org", "Hello", "confirm", link="http://x/confirm/abc")
    [path] = outbox_dir().glob("*.eml")
    auth.login("editor@example.org")
    page = _text(client.get(f"/admin/outbox/{path.name}"))
    assert "http://x/confirm/abc" in page
    assert "<dt>Date</dt>" in page
    html = _text(client.get(f"/admin/outbox/{path.name}/html"))
    assert 'href="http://x/confirm/abc"' in html


def test_a_text_only_message_has_no_html_page(client, auth, admin):
    path = write_to_outbox(_message("Just text"))
    auth.login("editor@example.org")
    assert "This message has no HTML part." in _text(client.get(f"/admin/outbox/{path.name}"))
    response = client.get(f"/admin/outbox/{path.name}/html")
    assert response.status_code == 404
    assert "no HTML part" in _text(response)


def test_with_a_relay_the_page_says_the_outbox_is_history(app, client, auth, admin):
    write_to_outbox(_message("Old one"))
    app.config["MAIL_SERVER"] = "127.0.0.1"
    auth.login("editor@example.org")
    html = _text(client.get("/admin/outbox"))
    assert "Mail goes to the SMTP relay; the outbox holds only what was written before." in html
    assert "Old one" in html


def test_an_empty_or_missing_outbox_is_an_empty_list(client, auth, admin):
    assert not outbox_dir().exists()
    auth.login("editor@example.org")
    response = client.get("/admin/outbox")
    assert response.status_code == 200
    assert "The outbox is empty." in _text(response)


def test_the_outbox_is_paginated(client, auth, admin):
    for n in range(51):
        write_to_outbox(_message(f"Message number {n:02d}"))
    (outbox_dir() / "half-written.eml.tmp").write_bytes(b"Subject: no")
    (outbox_dir() / "notes.txt").write_text("not mail")
    auth.login("editor@example.org")
    first = _text(client.get("/admin/outbox"))
    assert "Message number 50" in first and "Message number 01" in first
    assert "Message number 00" not in first
    assert 'href="/admin/outbox?page=2"' in first
    second = _text(client.get("/admin/outbox?page=2"))
    assert "Message number 00" in second and "Message number 01" not in second
    assert outbox_messages(2).total == 51


@pytest.mark.parametrize("query", ["?page=0", "?page=x", "?page=2", "?page=-3"])
def test_bad_pages_are_404(client, auth, admin, query):
    write_to_outbox(_message("Only one"))
    auth.login("editor@example.org")
    response = client.get("/admin/outbox" + query)
    assert response.status_code == 404
    assert "There is no such page." in _text(response)


def test_unknown_names_and_path_traversal_are_404(client, auth, admin, tmp_path):
    path = write_to_outbox(_message("Inside"))
    # A file outside the outbox with a name of the outbox's own pattern.
    outside = tmp_path / "20260101T000000000000-deadbeef.eml"
    outside.write_bytes(_message("Outside"))
    # And a link inside the outbox, under such a name, that leads out of it.
    link = outbox_dir() / "20260101T000000000001-deadbeef.eml"
    link.symlink_to(outside)
    (outbox_dir() / "20260101T000000000002-deadbeef.eml.tmp").write_bytes(_message("Half"))
    auth.login("editor@example.org")
    bad = [
        "20991231T235959999999-00000000.eml",  # the pattern, but no such file
        link.name,
        "20260101T000000000002-deadbeef.eml.tmp",
        "..%2F" + outside.name,
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "%2E%2E%2F" + outside.name,
        path.name.upper(),
        path.name + "%00",
        "..",
        "notes.txt",
    ]
    for name in bad:
        for suffix in ("", "/html"):
            response = client.get(f"/admin/outbox/{name}{suffix}")
            assert response.status_code == 404, (name, suffix)
    assert client.get(f"/admin/outbox/{outside.parent.name}/{outside.name}").status_code == 404
    assert client.get(f"/admin/outbox/{path.name}").status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../20260101T000000000000-deadbeef.eml",
        "/etc/passwd",
        "sub/20260101T000000000000-deadbeef.eml",
        "20260101T000000000000-DEADBEEF.eml",
        "20260101T000000000000-deadbeef.eml.tmp",
        " 20260101T000000000000-deadbeef.eml",
        "20260101T000000000000-deadbeef.eml\n",
    ],
)
def test_outbox_message_accepts_only_its_own_file_names(app, name):
    write_to_outbox(_message("Anything"))
    assert outbox_message(name) is None


def test_visitors_log_in_and_readers_are_refused(client, auth, reader):
    path = write_to_outbox(_message("Private", html="<p>Private</p>"))
    paths = ["/admin/outbox", f"/admin/outbox/{path.name}", f"/admin/outbox/{path.name}/html"]
    for url in paths:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login?next="), url
    auth.login("reader@example.org")
    assert csrf_token(client, "/account/password")
    for url in paths:
        assert client.get(url).status_code == 403, url

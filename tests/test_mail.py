"""Account mail: the relay when configured, the local outbox when not."""

from __future__ import annotations

from shop import create_app
from shop.mail import read_outbox, send_email
from tests.support import html_of, text_of


def test_mail_goes_to_the_smtp_relay_as_text_and_html(app, mailbox):
    send_email("someone@example.org", "Hello", "confirm", link="http://localhost/confirm/abc")
    message = mailbox.last_to("someone@example.org")
    assert message["To"] == "someone@example.org"
    assert message["From"] == "Broadsheet <news@localhost>"
    assert message["Date"]
    assert "http://localhost/confirm/abc" in text_of(message)
    assert 'href="http://localhost/confirm/abc"' in html_of(message)


def test_without_a_relay_mail_lands_in_the_local_outbox(app_config, tmp_path, mailbox, _schema):
    app_config.update(MAIL_SERVER="", MAIL_OUTBOX_DIR=str(tmp_path / "outbox"))
    app = create_app(app_config)
    with app.app_context():
        send_email("someone@example.org", "Hello", "confirm", link="http://x/confirm/abc")
        messages = read_outbox()
    assert mailbox.messages == []
    assert len(messages) == 1
    assert messages[0]["Subject"] == "Hello"
    assert "http://x/confirm/abc" in text_of(messages[0])
    assert list((tmp_path / "outbox").glob("*.tmp")) == []


def test_no_mail_body_line_is_over_998_characters(app, mailbox):
    send_email("someone@example.org", "Hello", "reset", link="http://localhost/" + "r" * 400)
    raw = mailbox.handler.messages[-1][2]
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998

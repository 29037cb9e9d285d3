"""Account mail: the relay when configured, the local outbox when not."""

from __future__ import annotations

from aiosmtpd.controller import Controller

from shop import create_app
from shop.mail import read_outbox, send_email
from tests.support import SinkHandler, free_port, html_of, text_of


def test_mail_goes_to_the_smtp_relay_as_text_and_html(app, mailbox):
    send_email("someone@example.org", "Hello", "confirm", link="http://localhost/confirm/abc")
    message = mailbox.last_to("someone@example.org")
    assert message["To"] == "someone@example.org"
    assert message["From"] == "Broadsheet <news@localhost>"
    assert message["Date"]
    assert "http://localhost/confirm/abc" in text_of(message)
    assert 'href="http://localhost/confirm/abc"' in html_of(message)


def test_a_long_link_written_out_in_a_message_wraps_on_a_phone(app, mailbox):
    # The paste-this-link line is one unbroken word: without a wrap rule on the column
    # it runs off a 390 px screen and the page scrolls sideways.
    link = "http://localhost/confirm/" + "x" * 200
    send_email("someone@example.org", "Hello", "confirm", link=link)
    html = html_of(mailbox.last_to("someone@example.org"))
    column = html.split('class="wrap"')[1].split(">")[0]
    assert "overflow-wrap: anywhere" in column


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


# faß.example keeps its ß under IDNA 2008 (xn--fa-hia); IDNA 2003 would turn it into
# fass.example, a different domain that somebody else may own.
IDN = "leser@faß.example"
IDN_A_LABEL = "leser@xn--fa-hia.example"


def test_a_confirmation_to_an_idn_address_arrives_at_its_a_label(app, auth, mailbox):
    response = auth.register(IDN)
    assert response.status_code == 302
    assert [rcpts for _, rcpts, _ in mailbox.handler.messages] == [[IDN_A_LABEL]]
    message = mailbox.last_to(IDN_A_LABEL)
    assert message["To"] == IDN_A_LABEL
    assert message["Subject"] == "Confirm your email address"
    assert "/confirm/" in text_of(message)


def test_a_non_ascii_local_part_is_refused_with_a_reason_not_an_error(app_config, _schema, caplog):
    handler = SinkHandler()
    # The suite's sink offers SMTPUTF8; this relay, like many, does not.
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=False)
    controller.start()
    try:
        app_config.update(MAIL_PORT=controller.port)
        with create_app(app_config).app_context():
            # Registration refuses such addresses now, but older accounts may hold one.
            assert send_email("jürgen@example.org", "Hallo", "confirm", link="http://x/1") is False
            assert send_email("someone@faß.example", "Hallo", "confirm", link="http://x/2")
    finally:
        controller.stop()
    assert [rcpts for _, rcpts, _ in handler.messages] == [["someone@xn--fa-hia.example"]]
    assert "jürgen@example.org" in caplog.text and "SMTPUTF8" in caplog.text


def test_a_relay_that_offers_smtputf8_gets_a_non_ascii_local_part(app, mailbox):
    assert send_email("jürgen@faß.example", "Hallo", "confirm", link="http://x/c/1")
    message = mailbox.last_to("jürgen@xn--fa-hia.example")
    assert message["To"] == "jürgen@xn--fa-hia.example"
    assert message["Subject"] == "Hallo"
    assert "http://x/c/1" in text_of(message)


def test_the_outbox_keeps_mail_to_idn_and_non_ascii_addresses(app_config, tmp_path, _schema):
    app_config.update(MAIL_SERVER="", MAIL_OUTBOX_DIR=str(tmp_path / "outbox"))
    with create_app(app_config).app_context():
        send_email(IDN, "Hello", "confirm", link="http://x/confirm/1")
        send_email("jürgen@example.org", "Hello", "confirm", link="http://x/confirm/2")
        messages = read_outbox()
    assert sorted(m["To"] for m in messages) == ["jürgen@example.org", IDN_A_LABEL]


def test_lines_that_begin_with_a_dot_arrive_as_they_were_sent(app, mailbox):
    from shop.mail import open_transport

    # DATA ends at a line holding one dot: every line that begins with one is sent with
    # its dot doubled, and the server takes the extra one off again.
    data = (
        b".first line\r\nFrom: news@localhost\r\nTo: dots@example.org\r\nSubject: Dots\r\n\r\n"
        b".\r\n..two\r\n. three\r\nno dot\r\n.\r\n.last"
    )
    transport = open_transport()
    try:
        assert transport.send("dots@example.org", data).startswith("250")
    finally:
        transport.close()
    assert mailbox.handler.messages[-1][2] == data + b"\r\n"


def test_dots_are_stuffed_as_smtplib_stuffs_them():
    import smtplib

    from shop.mail.transport import dot_stuffed

    samples = [b"", b".", b"..", b"a.b\n.c\r\n.\r\n", b".x\n\n.\n", b"\r\n.\r\n.", b"no dots"]
    for sample in samples:
        assert dot_stuffed(sample) == smtplib._quote_periods(sample), sample

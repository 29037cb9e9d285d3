"""Every mail kind, as the sink received it, fits a 390 px phone screen without scrolling."""

from __future__ import annotations

import pytest

from shop.digests.runs import run_digest
from shop.extensions import db
from shop.mail import send_email
from shop.newsletters.message import send_test
from shop.newsletters.models import Newsletter
from tests.factories import UserFactory
from tests.newsletter.digest_helpers import article, subscriber
from tests.support import html_of

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# A signed token as long as the real ones, with no place to break it but anywhere.
TOKEN = "eyJ1IjoxMjM0NTZ9." + "Zk9xR2h" * 14
LONG_ADDRESS = "a.rather.long.address.for.testing.wrapping@a-subdomain.example.org"


def _scroll_width(browser, html: str) -> int:
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.set_content(html)
        return int(page.evaluate("document.documentElement.scrollWidth"))
    finally:
        context.close()


@pytest.mark.parametrize(
    "template, context",
    [
        ("confirm", {"link": f"http://localhost/confirm/{TOKEN}"}),
        ("reset", {"link": f"http://localhost/reset/{TOKEN}"}),
        (
            "change_email",
            {"link": f"http://localhost/account/email/{TOKEN}", "new_email": LONG_ADDRESS},
        ),
    ],
)
def test_an_account_mail_with_a_long_link_fits_a_phone(browser, app, mailbox, template, context):
    send_email("phone@example.org", "Subject", template, **context)
    html = html_of(mailbox.last_to("phone@example.org"))
    assert TOKEN in html  # the long link is there, written out
    assert _scroll_width(browser, html) <= 390


def test_a_digest_and_a_newsletter_fit_a_phone(browser, app, mailbox):
    reader = subscriber("digest.phone@example.org")
    article("A-headline-with-no-spaces-" * 6)
    run_digest("daily")
    assert _scroll_width(browser, html_of(mailbox.last_to(reader.email))) <= 390

    editor = UserFactory(email="editor.phone@example.org")
    newsletter = Newsletter(
        subject="Letter",
        slug="letter",
        body_markdown="x",
        body_html=f"<p>Read it at http://localhost/newsletters/{TOKEN}</p>",
    )
    db.session.add(newsletter)
    db.session.commit()
    send_test(newsletter, editor)
    assert _scroll_width(browser, html_of(mailbox.last_to(editor.email))) <= 390

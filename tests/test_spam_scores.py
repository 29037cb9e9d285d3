"""Every kind of mail Broadsheet sends scores 0 on SpamAssassin's offline rules.

Each kind is made by the code that sends it (or, where that code needs a live Stripe
object, with the very context it passes), caught by the SMTP sink, and scored by Debian's
``spamassassin -L -t`` as the receiving server would score it. A list of the templates
in ``templates/email`` keeps this file honest: a new kind of mail fails the last test until
it is scored here too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest

from shop.accounts import links
from shop.accounts import services as accounts
from shop.articles.comments import add_comment
from shop.articles.services import publish_article
from shop.billing import fulfilment, gift_mail
from shop.billing.models import Gift, GiftStatus
from shop.cart.models import Order
from shop.clock import utcnow
from shop.digests.runs import run_digest, run_instant
from shop.extensions import db
from shop.mail import send_email
from shop.newsletters.message import send_test
from shop.newsletters.models import Newsletter
from shop.readers.subscribe import request_subscription
from shop.shipping import services as shipping
from shop.stories.sending import send_story
from shop.urls import external_url
from tests.factories import ArticleFactory, UserFactory, make_paid_order, make_paying, make_product
from tests.newsletter.digest_helpers import article, subscriber

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates" / "email"
DEMO_ARTICLES = ROOT / "shop" / "demo" / "articles"
# Pieces that other mails include, not mails of their own.
NOT_A_KIND = {"layout", "digest_article"}  # and every _partial
SCORE = re.compile(r"^X-Spam-Status: \w+, score=(-?\d+\.\d+)(.*?)(?=^\S)", re.M | re.S)
BODY = (
    "A long look at how the county's libraries kept their doors open through the winter, "
    "told by the people who run them.\n\n" * 3
)


@pytest.fixture(scope="module")
def spamassassin():
    """Debian's spamassassin, or a skip with the reason (a failure under CI)."""
    path = shutil.which("spamassassin")
    if path is None:
        reason = "spamassassin is not installed (apt-get install spamassassin)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


KINDS: dict = {}


def kind(make):
    """Register a function that makes one kind of mail, sent to the address it is given."""
    KINDS[make.__name__] = make
    return make


def _reader(email: str, **fields):
    return UserFactory(email=email, display_name="Nina Reader", **fields)


def _paid_order(user, posted: bool = False) -> Order:
    product = make_product(name="The printed annual", amount=2400, interval=None)
    return make_paid_order(user, product, posted=posted, currency="gbp")


def _gift(buyer, recipient_email: str) -> Gift:
    order = _paid_order(buyer)
    gift = Gift(
        order_id=order.id,
        buyer_id=buyer.id,
        plan_name="Monthly",
        months=12,
        amount=4800,
        currency="gbp",
        giver_name="Sam Giver",
        recipient_name="Nina Reader",
        recipient_email=recipient_email,
        message="Happy birthday! You will like the long reads.",
        send_on=date.today(),
        status=GiftStatus.SCHEDULED,
    )
    db.session.add(gift)
    db.session.commit()
    return gift


@kind
def confirm(to):
    accounts.send_confirmation(_reader(to, confirmed_at=None))


@kind
def reset(to):
    _reader(to)
    accounts.request_password_reset(to)


@kind
def change_email(to):
    user = _reader("before." + to)
    accounts.request_email_change(user, to, "correct horse battery")


@kind
def register_taken(to):
    _reader(to)
    accounts.register(to, "another long password", digest_consent=False)


@kind
def sign_in(to):
    _reader(to)
    links.request_sign_in_link(to)


@kind
def sign_in_unknown(to):
    links.request_sign_in_link(to)


@kind
def confirm_subscription(to):
    request_subscription(to)


@kind
def receipt(to):
    fulfilment.send_receipt(_paid_order(_reader(to), posted=True).id)


@kind
def shipped(to):
    order = _paid_order(_reader(to), posted=True)
    shipping.mark_shipped(order.id, "JD014600006281234567")


@kind
def payment_failed(to):
    # sync.payment_failed needs a Stripe invoice; this is the message it sends.
    _reader(to)
    send_email(
        to,
        "Your payment did not go through",
        "payment_failed",
        amount=800,
        currency="gbp",
        account_url=external_url("accounts.account"),
    )


@kind
def trial_ending(to):
    # sync.trial_ending needs a Stripe subscription; this is the message it sends.
    _reader(to)
    product = make_product(name="Monthly", amount=800, interval="month")
    send_email(
        to,
        "Your free trial ends soon",
        "trial_ending",
        plan=product.name,
        ends=utcnow() + timedelta(days=3),
        price=product.prices[0],
        account_url=external_url("accounts.account"),
    )


@kind
def gift(to):
    _gift(_reader("giver." + to), to)
    assert gift_mail.send_due_gifts() == 1


@kind
def gift_ending(to):
    gift = _gift(_reader("giver." + to), to)
    reader = _reader(to)
    gift.status = GiftStatus.REDEEMED
    gift.redeemed_by_id = reader.id
    gift.redeemed_at = utcnow() - timedelta(days=358)
    gift.access_until = utcnow() + timedelta(days=6)
    db.session.commit()
    assert gift_mail.send_reminders() == 1


@kind
def reply(to):
    story = ArticleFactory(title="How the libraries kept their doors open")
    top = add_comment(story, _reader(to, confirmed_at=utcnow()), "Our branch did the same.")
    replier = _reader("replier." + to, confirmed_at=utcnow())
    add_comment(story, replier, "Which branch? Ours opened late on Thursdays.", parent_id=top.id)


def _story(to, paying_reader: bool) -> None:
    # A paid story of the demo's usual length, with a picture after its first paragraph.
    source = sorted(DEMO_ARTICLES.glob("01-*.md"))[0].read_text(encoding="utf-8")
    body = source.split("---", 2)[2].strip()
    body = body.replace("\n\n", "\n\n![A barge on the river](/static/img/barge.png)\n\n", 1)
    reader = subscriber(to)
    if paying_reader:
        make_paying(reader)
    story = ArticleFactory(title="The barges return", access="paid", body_markdown=body)
    publish_article(story, email_audience="all")
    send_story(story.id)


@kind
def story(to):
    _story(to, paying_reader=True)


@kind
def story_teaser(to):
    _story(to, paying_reader=False)


@kind
def digest(to):
    subscriber(to)
    article("How the libraries kept their doors open", body_markdown=BODY)
    article("The river festival returns", body_markdown=BODY)
    run_digest("daily")


@kind
def instant(to):
    subscriber(to, frequency="instant")
    run_instant(article("The council votes on the bridge tonight", body_markdown=BODY))


@kind
def newsletter(to):
    editor = _reader(to)
    letter = Newsletter(
        subject="What we are working on this month",
        slug="this-month",
        body_markdown=BODY,
        body_html="".join(f"<p>{p}</p>" for p in BODY.split("\n\n") if p),
    )
    db.session.add(letter)
    db.session.commit()
    send_test(letter, editor)


@pytest.fixture(scope="module")
def user_prefs(tmp_path_factory):
    """Preferences with Bayes off, so one scoring never learns from another."""
    prefs = tmp_path_factory.mktemp("spamassassin") / "user_prefs"
    prefs.write_text("use_bayes 0\nbayes_auto_learn 0\n")
    return str(prefs)


def _score(spamassassin: str, prefs: str, raw: bytes) -> tuple[float, str]:
    report = subprocess.run(
        [spamassassin, "-L", "-t", "-p", prefs],
        input=raw,
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout.decode("utf-8", "replace")
    found = SCORE.search(report)
    assert found, report[:2000]
    return float(found.group(1)), " ".join(found.group(2).split())


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_of_mail_scores_zero(app, mailbox, spamassassin, user_prefs, name):
    to = f"{name.replace('_', '.')}@example.org"
    KINDS[name](to)
    received = mailbox.to(to)
    assert received, f"no {name} mail reached the sink"
    score, rules = _score(spamassassin, user_prefs, received[-1].as_bytes())
    assert score <= 0.0, f"{name} scored {score}: {rules}"


def test_every_kind_of_mail_is_scored_here():
    kinds = {p.stem for p in TEMPLATES.glob("[!_]*.html")} - NOT_A_KIND
    assert kinds == set(KINDS) - {"instant", "story_teaser"}

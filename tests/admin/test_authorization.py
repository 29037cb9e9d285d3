"""Every method of every /admin rule: anonymous visitors log in, readers get 403.

The walk reads ``app.url_map``, so a route added later is checked without anyone
remembering to add it here; a route with a URL parameter this file cannot fill
fails the test until a real record for it is added below.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest

from shop.articles.models import Article, Comment
from shop.billing.models import Gift, Payment
from shop.cart.models import Order
from shop.clock import utcnow
from shop.extensions import db
from shop.mail import write_to_outbox
from shop.media.services import store_upload
from shop.members import importing
from shop.newsletters import services as newsletters
from shop.newsletters.models import Newsletter
from shop.sending.models import Delivery, Run
from shop.shipping.models import ShippingRate
from tests.factories import (
    ArticleFactory,
    CommentFactory,
    TagFactory,
    UserFactory,
    make_paid_order,
    make_product,
)
from tests.media import pictures
from tests.support import csrf_token

SKIPPED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def real_ids(app, admin) -> dict[str, object]:
    """One real record for each kind of id an admin URL can carry."""
    reader = UserFactory(email="someone@example.org")
    tag = TagFactory(name="Walked")
    article = ArticleFactory(title="Walked article", tags=[tag])
    comment = CommentFactory(article=article, author=reader)
    product = make_product("Walked product", 500)
    newsletter = newsletters.create_newsletter(
        admin, newsletters.NewsletterInput("Walked newsletter", "Hello.", "all")
    )
    run = Run(kind="digest", period="daily:walk", cutoff=utcnow() - timedelta(hours=1))
    db.session.add(run)
    db.session.flush()
    db.session.add(Delivery(run_id=run.id, user_id=reader.id, status="failed", article_ids=""))
    # A paid order, posted, so the shipping queue has it to walk.
    order = make_paid_order(reader, product, posted=True)
    payment = Payment(
        user_id=reader.id, order_id=order.id, amount=500, currency="usd", status="paid"
    )
    db.session.add(payment)
    rate = ShippingRate(name="Walked rate", amount=350, currency="usd", active=True)
    db.session.add(rate)
    gift_order = Order(
        user_id=reader.id, status="paid", mode="payment", currency="usd", total=800, cart_version=0
    )
    db.session.add(gift_order)
    db.session.flush()
    gift = Gift(
        order_id=gift_order.id,
        buyer_id=reader.id,
        plan_name="Walked plan",
        months=1,
        amount=800,
        currency="usd",
        giver_name="Walked Giver",
        recipient_name="Walked Recipient",
        recipient_email="recipient@example.org",
        send_on=utcnow().date(),
        status="sent",
    )
    db.session.add(gift)
    db.session.commit()
    member_import = importing.prepare(b"email,name,tags\nwalked@example.org,Walked,\n", "walk.csv")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "Hi"
    message.set_content("Hello")
    message.add_alternative("<p>Hello</p>", subtype="html")
    outbox_file = write_to_outbox(message.as_bytes())
    picture = store_upload(pictures.jpeg(600, 400, colour=(7, 7, 7)), "walked.jpg")
    return {
        "name:media.media_file": picture.variants[0].name,
        "article_id": article.id,
        "tag_id": tag.id,
        "comment_id": comment.id,
        "product_id": product.id,
        "newsletter_id": newsletter.id,
        "run_id": run.id,
        "user_id": reader.id,
        "order_id": order.id,
        "payment_id": payment.id,
        "rate_id": rate.id,
        "gift_id": gift.id,
        "import_id": member_import.id,
        "name": outbox_file.name,
    }


def admin_rules(app) -> list[tuple[str, str, str]]:
    """(method, endpoint, rule) for every method of every rule in the admin blueprint."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            for method in sorted((rule.methods or set()) - SKIPPED_METHODS):
                found.append((method, rule.endpoint, rule.rule))
    return found


def _url(app, endpoint: str, real_ids: dict) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    missing = [arg for arg in rule.arguments if arg not in real_ids]
    assert not missing, f"{rule.rule}: add a real record for {missing} to real_ids"
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **{arg: real_ids[arg] for arg in rule.arguments})


def _request(client, method: str, url: str, token: str):
    data = {"csrf_token": token} if method != "GET" else None
    return client.open(url, method=method, data=data)


def test_the_walk_finds_the_back_office(app):
    """The walk is not empty: it sees the routes the back office is made of."""
    endpoints = {endpoint for _, endpoint, _ in admin_rules(app)}
    assert {"admin.dashboard", "admin.articles_list", "admin.newsletter_send"} <= endpoints
    assert len(endpoints) >= 20


def test_anonymous_visitors_are_sent_to_login(app, client, real_ids):
    """Every method of every admin rule redirects an anonymous visitor to the login page."""
    token = csrf_token(client, "/login")
    for method, endpoint, _ in admin_rules(app):
        url = _url(app, endpoint, real_ids)
        response = _request(client, method, url, token)
        assert response.status_code == 302, (method, url, response.status_code)
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login", (method, url, location)


def test_readers_are_refused(app, client, auth, real_ids):
    """Every method of every admin rule answers 403 to a logged-in reader."""
    reader = UserFactory(email="curious@example.org")
    auth.login(reader.email)
    token = csrf_token(client, "/account/password")
    for method, endpoint, _ in admin_rules(app):
        url = _url(app, endpoint, real_ids)
        response = _request(client, method, url, token)
        assert response.status_code == 403, (method, url, response.status_code)
    # And nothing was changed or deleted on the way.
    assert db.session.get(Article, real_ids["article_id"]) is not None
    assert db.session.get(Comment, real_ids["comment_id"]) is not None
    assert db.session.get(Newsletter, real_ids["newsletter_id"]).status == "draft"


def test_admins_reach_every_page(app, client, auth, admin, real_ids):
    """The same GETs work for an admin, so the walk above tested real pages."""
    auth.login(admin.email)
    for method, endpoint, _ in admin_rules(app):
        if method != "GET":
            continue
        url = _url(app, endpoint, real_ids)
        response = client.get(url)
        assert response.status_code in (200, 302), (url, response.status_code)

"""The demo publication: loads once, prints a generated admin password, and is idempotent."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.articles.models import Article, Comment, Tag
from shop.catalogue.models import Price, Product
from shop.extensions import db
from shop.media.models import Image


def _counts() -> tuple[int, ...]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (User, Article, Tag, Comment, Product, Price, Image)
    )


def test_demo_loads_a_publication_and_running_it_twice_changes_nothing(runner, client):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    password = re.search(r"password: (\S+)", first.output).group(1)
    assert len(password) >= 12

    users, articles, tags, comments, _, _, _ = _counts()
    assert articles >= 12 and tags >= 8 and comments >= 3
    plans = db.session.scalars(select(Product).where(Product.kind == "plan")).all()
    assert sorted(p.price.interval for p in plans) == ["month", "year"]
    items = db.session.scalars(select(Product).where(Product.kind == "item")).all()
    assert 2 <= len(items) <= 3
    access = set(db.session.scalars(select(Article.access)))
    assert access == {"public", "members", "paid"}
    admin = db.session.scalar(select(User).where(User.email == "admin@example.com"))
    assert admin.is_admin and admin.check_password(password)

    # Six months of made-up history, so the back office has something to show.
    from shop.billing.models import Payment, Subscription
    from shop.sending.models import Delivery

    history = [
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Payment, Subscription, Delivery)
    ]
    assert all(n > 0 for n in history), history
    assert "demo readers with six months of history" in first.output

    # Those digests were opened and clicked, each click on a link its own run carried.
    from shop.reports.engagement import link_clicks, run_figures
    from shop.sending.models import Run

    runs = db.session.scalars(select(Run).order_by(Run.id)).all()
    figures = [run_figures(run.id, run.sent, run.bounced) for run in runs]
    assert all(0 < f.clicked < f.opened < f.delivered for f in figures[-7:]), figures[-7:]
    stories = {f"/articles/{slug}" for slug in db.session.scalars(select(Article.slug))}
    clicked = {urlsplit(link.url).path for link in link_clicks(runs[-1].id)}
    assert clicked and clicked <= stories

    # What the demo shop sells it delivers: posted items with an address and their
    # orders in the shipping queue, and gifts in the back office's gift list.
    from shop.billing.models import Gift
    from shop.shipping.models import Shipment, ShippingRate

    assert all(item.needs_shipping for item in items)
    assert db.session.scalar(select(func.count()).select_from(ShippingRate)) == 2
    shipments = db.session.scalars(select(Shipment)).all()
    assert len(shipments) == 4 and all(s.line1 and s.country for s in shipments)
    assert sum(s.shipped_at is not None for s in shipments) == 2
    assert sorted(g.status for g in db.session.scalars(select(Gift))) == ["redeemed", "scheduled"]
    assert "4 posted orders, 2 gifts and 18 pictures (drawn here)." in first.output

    # Every story and product has a picture drawn for it, stored in every width and format.
    pictured = [*db.session.scalars(select(Article)), *db.session.scalars(select(Product))]
    assert len(pictured) == 18
    for row in pictured:
        assert row.image is not None and row.image_alt.startswith("An illustration of ")
        assert sorted((v.format, v.width) for v in row.image.variants) == [
            ("jpeg", 480), ("jpeg", 960), ("jpeg", 1600),
            ("webp", 480), ("webp", 960), ("webp", 1600),
        ]  # fmt: skip
    assert len({row.image.content_hash for row in pictured}) == 18
    served = client.get(f"/media/{pictured[0].image.variants[0].name}")
    assert served.status_code == 200 and served.mimetype.startswith("image/")

    before = _counts()
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert "password:" not in second.output
    assert "already exists" in second.output
    assert _counts() == before
    assert [
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Payment, Subscription, Delivery)
    ] == history
    db.session.expire_all()
    assert admin.check_password(password)

    # A visitor sees the demo publication with its cart widget.
    html = client.get("/").get_data(as_text=True)
    assert "Your cart is currently empty!" in html
    first_title = db.session.scalar(
        select(Article.title).order_by(Article.published_at.desc()).limit(1)
    )
    assert first_title.replace("'", "&#39;") in html
    assert 'fetchpriority="high"' in html and html.count('<source type="image/webp"') >= 10


def test_each_demo_run_generates_a_different_password(runner, app):
    first = runner.invoke(args=["demo", "--admin-email", "one@example.com"])
    second = runner.invoke(args=["demo", "--admin-email", "two@example.com"])
    p1 = re.search(r"password: (\S+)", first.output).group(1)
    p2 = re.search(r"password: (\S+)", second.output).group(1)
    assert p1 != p2

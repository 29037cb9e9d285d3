"""Where a feature picture shows: cards, the article, link previews, feeds and mail."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree as ET

from shop.clock import utcnow
from shop.digests import runs as digest
from shop.media import services as media
from tests.factories import ArticleFactory
from tests.media import pictures
from tests.newsletter.digest_helpers import article, subscriber
from tests.support import html_of

ATOM = "{http://www.w3.org/2005/Atom}"


def _pictured(title: str, hours_ago: float, colour=(120, 30, 30), **fields):
    image = media.store_upload(pictures.jpeg(1800, 1200, colour=colour), f"{title}.jpg")
    return ArticleFactory(
        title=title,
        image=image,
        image_alt=f"Alt for {title}",
        published_at=utcnow() - timedelta(hours=hours_ago),
        **fields,
    )


def _img(html: str, alt: str) -> str:
    return re.search(rf'<img [^>]*alt="{re.escape(alt)}"[^>]*>', html).group(0)


def test_home_cards_are_responsive_the_lead_eager_and_the_rest_lazy(client):
    _pictured("Newest", 1)
    _pictured("Older", 2, colour=(30, 120, 30))
    ArticleFactory(title="No picture", published_at=utcnow() - timedelta(hours=3))
    html = client.get("/").get_data(as_text=True)
    lead, other = _img(html, "Alt for Newest"), _img(html, "Alt for Older")
    for img in (lead, other):
        assert re.search(r'srcset="/media/\w+-480\.jpg 480w, /media/\w+-960\.jpg 960w, ', img)
        assert 'width="960" height="640"' in img and 'sizes="' in img
    assert 'fetchpriority="high"' in lead and "loading=" not in lead
    assert 'loading="lazy"' in other and "fetchpriority" not in other
    assert html.count('<source type="image/webp" srcset="/media/') == 2
    # The story without a picture is a card as before.
    assert "No picture" in html


def test_the_article_header_and_link_previews_show_the_picture(client):
    story = _pictured("Headline", 1)
    html = client.get(f"/articles/{story.slug}").get_data(as_text=True)
    start = html.index("<header>", html.index('class="story"'))
    header = html[start : html.index("</header>", start)]
    assert 'fetchpriority="high"' in _img(header, "Alt for Headline")
    wide = story.image.widest("jpeg")
    assert f'<meta property="og:image" content="http://localhost/media/{wide.name}">' in html
    assert '<meta property="og:image:width" content="1600">' in html
    assert '<meta property="og:image:height" content="1067">' in html
    assert '<meta name="twitter:card" content="summary_large_image">' in html
    assert '<meta property="og:image:alt" content="Alt for Headline">' in html


def test_feeds_carry_the_picture(client):
    story = _pictured("Fed", 1)
    feed = ET.fromstring(client.get("/feed.xml").data)  # noqa: S314  (our own feed)
    entry = feed.find(f"{ATOM}entry")
    enclosure = entry.find(f"{ATOM}link[@rel='enclosure']")
    file = story.image.widest("jpeg", at_most=960)
    assert enclosure.get("href") == f"http://localhost/media/{file.name}"
    assert enclosure.get("type") == "image/jpeg" and enclosure.get("length") == str(file.bytes)
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html"
    assert f'src="http://localhost/media/{file.name}"' in content.text
    assert 'alt="Alt for Fed"' in content.text


def test_the_digest_shows_the_picture_at_a_full_address(app, mailbox):
    subscriber("pictures@example.org")
    image = media.store_upload(pictures.jpeg(1800, 1200, colour=(9, 99, 9)), "mail.jpg")
    article("Mailed with a picture", image=image, image_alt="A green square")
    article("Mailed without", [])
    assert digest.run_digest("daily").summary.sent == 1
    html = html_of(mailbox.to("pictures@example.org")[0])
    img = _img(html, "A green square")
    assert re.search(r'src="http://localhost/media/[0-9a-f]{16}-960\.jpg"', img)
    assert 'width="552"' in img and "srcset" not in img
    assert img.count("<img") == 1 and html.count("<img") == 1


def test_the_shops_plans_load_their_pictures_at_once_and_the_items_lazily(client):
    from shop.catalogue.models import KIND_PLAN
    from shop.extensions import db
    from tests.factories import make_product

    for name, kind, interval in (
        ("Monthly", KIND_PLAN, "month"),
        ("Yearly", KIND_PLAN, "year"),
        ("Tote bag", "item", None),
    ):
        product = make_product(name, 500, kind=kind, interval=interval)
        product.image = media.store_upload(pictures.jpeg(1200, 900), f"{name}.jpg")
        product.image_alt = f"Alt for {name}"
    db.session.commit()
    html = client.get("/shop").get_data(as_text=True)
    first, second, item = (_img(html, f"Alt for {n}") for n in ("Monthly", "Yearly", "Tote bag"))
    # The plans sit at the top, where the largest picture is the page's first paint.
    assert 'fetchpriority="high"' in first and "loading=" not in first
    assert "loading=" not in second and "fetchpriority" not in second
    assert 'loading="lazy"' in item

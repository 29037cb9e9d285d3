"""Home, article and tag pages, scheduling, feeds and the sitemap."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree as ET

from shop.articles.models import ArticleStatus
from shop.clock import utcnow
from tests.factories import ArticleFactory, CommentFactory, TagFactory

ATOM = "{http://www.w3.org/2005/Atom}"


def test_home_lists_newest_first_and_paginates(app, client):
    app.config["ARTICLES_PER_PAGE"] = 3
    now = utcnow()
    for n in range(5):
        ArticleFactory(title=f"Story {n}", published_at=now - timedelta(hours=n + 1))
    first = client.get("/").get_data(as_text=True)
    assert [t for t in re.findall(r"Story \d", first)][:3] == ["Story 0", "Story 1", "Story 2"]
    assert "Story 3" not in first
    assert "Page 1 of 2" in first
    second = client.get("/?page=2").get_data(as_text=True)
    assert "Story 3" in second and "Story 4" in second and "Story 0" not in second


def test_bad_page_numbers_are_404(client):
    ArticleFactory()
    for bad in ["0", "-1", "abc", "99", "1.5"]:
        assert client.get(f"/?page={bad}").status_code == 404, bad


def test_article_page_reads_like_a_news_article(client):
    climate, korea = TagFactory(name="Climate"), TagFactory(name="North Korea")
    article = ArticleFactory(
        title="Rivers rise across the north",
        summary="Flood warnings in three provinces.",
        body_markdown="The **water** came fast.",
        tags=[climate, korea],
    )
    CommentFactory(article=article, body="Stay safe, everyone.")
    response = client.get("/articles/rivers-rise-across-the-north")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count("<h1") == 1
    assert "<h1>Rivers rise across the north</h1>" in html
    assert "<strong>water</strong>" in html
    assert article.author.name in html
    assert article.published_at.strftime("%B %Y") in html
    assert 'href="/tags/climate"' in html and 'href="/tags/north-korea"' in html
    # The tags once, as the hashtag line; only the kicker names the first tag again.
    assert '<a href="/tags/climate">#climate</a>' in html
    assert '<a href="/tags/north-korea">#north-korea</a>' in html
    assert html.count('href="/tags/north-korea"') == 1
    assert ">North Korea<" not in html
    assert "1 min read" in html
    assert "Stay safe, everyone." in html
    assert "Leave a Reply" in html
    assert '<meta property="og:title" content="Rivers rise across the north">' in html
    assert '<meta property="og:type" content="article">' in html
    assert (
        '<meta property="og:url" content="http://localhost/articles/rivers-rise-across-the-north">'
        in html
    )
    assert '<meta name="description" content="Flood warnings in three provinces.">' in html


def test_unknown_slugs_are_404(client):
    assert client.get("/articles/nope").status_code == 404
    assert client.get("/tags/nope").status_code == 404
    assert client.get("/tags/nope/feed.xml").status_code == 404


def test_drafts_are_not_shown(client):
    ArticleFactory(title="Secret draft", status=ArticleStatus.DRAFT, published_at=None)
    assert "Secret draft" not in client.get("/").get_data(as_text=True)
    assert client.get("/articles/secret-draft").status_code == 404


def test_scheduled_article_appears_by_itself_when_its_time_comes(client):
    article = ArticleFactory(
        title="Tomorrow's news",
        status=ArticleStatus.SCHEDULED,
        published_at=utcnow() + timedelta(minutes=5),
    )
    assert client.get("/articles/tomorrow-s-news").status_code == 404
    assert "Tomorrow" not in client.get("/").get_data(as_text=True)
    assert "Tomorrow" not in client.get("/feed.xml").get_data(as_text=True)

    # Time passes: no job runs, yet the article is out.
    from shop.extensions import db

    article.published_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/articles/tomorrow-s-news").status_code == 200
    assert "Tomorrow" in client.get("/").get_data(as_text=True)


def test_tag_page_lists_its_articles(client):
    climate = TagFactory(name="Climate", description="Weather and the planet.")
    ArticleFactory(title="Glaciers retreat", tags=[climate])
    ArticleFactory(title="Markets calm")
    html = client.get("/tags/climate").get_data(as_text=True)
    assert "<h1>Climate</h1>" in html
    assert "Glaciers retreat" in html
    assert "Markets calm" not in html
    assert "Weather and the planet." in html


def _parse_atom(response):
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    return ET.fromstring(response.data)  # noqa: S314  (our own output)


def test_site_feed_is_valid_atom(client):
    climate = TagFactory(name="Climate")
    ArticleFactory(title="Glaciers retreat", summary="Ice is going.", tags=[climate])
    ArticleFactory(title="Paid story", access="paid", body_markdown="SECRET BODY")
    feed = _parse_atom(client.get("/feed.xml"))
    assert feed.tag == f"{ATOM}feed"
    for required in ["id", "title", "updated"]:
        assert feed.find(f"{ATOM}{required}") is not None
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 2
    for entry in entries:
        for required in ["id", "title", "updated", "published", "summary"]:
            assert entry.find(f"{ATOM}{required}") is not None, required
        assert entry.find(f"{ATOM}author/{ATOM}name") is not None
        assert entry.find(f"{ATOM}link").get("href").startswith("http://localhost/articles/")
    glaciers = next(e for e in entries if e.find(f"{ATOM}title").text == "Glaciers retreat")
    assert glaciers.find(f"{ATOM}category").get("term") == "climate"
    assert b"SECRET BODY" not in client.get("/feed.xml").data


def test_tag_feed_holds_only_that_tag(client):
    climate = TagFactory(name="Climate")
    ArticleFactory(title="Glaciers retreat", tags=[climate])
    ArticleFactory(title="Markets calm")
    feed = _parse_atom(client.get("/tags/climate/feed.xml"))
    titles = [e.find(f"{ATOM}title").text for e in feed.findall(f"{ATOM}entry")]
    assert titles == ["Glaciers retreat"]
    assert "Climate" in feed.find(f"{ATOM}title").text


def test_feed_escapes_hostile_titles(client):
    ArticleFactory(title="<script>alert(1)</script> & friends")
    feed = _parse_atom(client.get("/feed.xml"))
    assert feed.find(f"{ATOM}entry/{ATOM}title").text == "<script>alert(1)</script> & friends"


def test_sitemap_lists_live_articles_and_tags(client):
    climate = TagFactory(name="Climate")
    ArticleFactory(title="Glaciers retreat", tags=[climate])
    ArticleFactory(title="Not yet", status=ArticleStatus.DRAFT, published_at=None)
    response = client.get("/sitemap.xml")
    root = ET.fromstring(response.data)  # noqa: S314
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    locs = [u.find(f"{ns}loc").text for u in root.findall(f"{ns}url")]
    assert "http://localhost/articles/glaciers-retreat" in locs
    assert "http://localhost/tags/climate" in locs
    assert not any("not-yet" in loc for loc in locs)


def test_robots_points_at_the_sitemap(client):
    body = client.get("/robots.txt").get_data(as_text=True)
    assert "Sitemap: http://localhost/sitemap.xml" in body
    assert "Disallow: /admin/" in body


def test_hostile_titles_and_tag_names_are_escaped_on_pages(client):
    tag = TagFactory(name="<img src=x onerror=alert(1)>", slug="img-src-x")
    ArticleFactory(title="<script>alert('t')</script>", slug="hostile", tags=[tag])
    for path in ["/", "/articles/hostile", "/tags/img-src-x"]:
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert('t')</script>" not in html
        assert "<img src=x onerror" not in html
    html = client.get("/articles/hostile").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in html

"""Atom feeds and the sitemap, built with ElementTree so they are always well-formed."""

from __future__ import annotations

from datetime import datetime
from xml.etree import ElementTree as ET  # noqa: S405  (we build XML; we never parse input)

from flask import current_app
from markupsafe import escape

from shop.articles.models import Article
from shop.media import services as media
from shop.media.models import JPEG

ATOM_NS = "http://www.w3.org/2005/Atom"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def atom_feed(
    *,
    title: str,
    feed_url: str,
    site_url: str,
    articles: list[Article],
    article_url,
    tag_url,
    updated: datetime,
) -> bytes:
    """Render an Atom 1.0 feed of articles (summaries only, never paid bodies)."""
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _text(feed, "id", feed_url)
    _text(feed, "title", title)
    _text(feed, "updated", _iso(updated))
    ET.SubElement(feed, "link", {"rel": "self", "href": feed_url})
    ET.SubElement(feed, "link", {"rel": "alternate", "href": site_url})
    for article in articles:
        entry = ET.SubElement(feed, "entry")
        url = article_url(article)
        _text(entry, "id", url)
        _text(entry, "title", article.title)
        ET.SubElement(entry, "link", {"rel": "alternate", "href": url})
        published = article.published_at
        assert published is not None  # feeds list published articles only
        _text(entry, "published", _iso(published))
        _text(entry, "updated", _iso(max(article.updated_at, published)))
        author = ET.SubElement(entry, "author")
        _text(author, "name", article.author.name or current_app.config["PUBLICATION_NAME"])
        for tag in article.tags:
            ET.SubElement(
                entry, "category", {"term": tag.slug, "label": tag.name, "scheme": tag_url(tag)}
            )
        _text(entry, "summary", article.summary or article.title)
        if article.image is not None:
            _picture(entry, article)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _picture(entry: ET.Element, article: Article) -> None:
    """The feature picture: an enclosure for readers that show one, and in the content."""
    assert article.image is not None
    file = article.image.widest(JPEG, at_most=960)
    address = media.absolute_url(file.name)
    ET.SubElement(
        entry,
        "link",
        {"rel": "enclosure", "type": "image/jpeg", "href": address, "length": str(file.bytes)},
    )
    html = (
        f'<p><img src="{escape(address)}" width="{file.width}" height="{file.height}" '
        f'alt="{escape(article.image_alt)}"></p><p>{escape(article.summary or article.title)}</p>'
    )
    _text(entry, "content", html, type="html")


def sitemap(urls: list[tuple[str, datetime | None]]) -> bytes:
    """Render a sitemap.xml of absolute URLs with optional last-modified times."""
    root = ET.Element("urlset", {"xmlns": SITEMAP_NS})
    for loc, lastmod in urls:
        url = ET.SubElement(root, "url")
        _text(url, "loc", loc)
        if lastmod is not None:
            _text(url, "lastmod", _iso(lastmod))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def sitemap_index(locations: list[str]) -> bytes:
    """Render a sitemap index: the absolute URLs of a large sitemap's parts."""
    root = ET.Element("sitemapindex", {"xmlns": SITEMAP_NS})
    for loc in locations:
        _text(ET.SubElement(root, "sitemap"), "loc", loc)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)

"""The demo's articles: Markdown files with a front matter, shipped inside the package."""

from __future__ import annotations

import pytest

from shop.demo.content import COMMENTS, TAGS, DemoArticle, load_articles, parse_article
from shop.text import slugify


def test_every_article_file_parses_and_refers_to_known_tags():
    articles = load_articles()
    assert len(articles) == 14
    slugs = [slugify(article.title) for article in articles]
    assert len(set(slugs)) == len(slugs)
    names = {name for name, _ in TAGS}
    for article in articles:
        assert article.tags and set(article.tags) <= names, article.title
        assert article.summary and article.body.strip()
    # Newest first, as the files' numbers order them.
    assert [a.days_ago for a in articles] == sorted(a.days_ago for a in articles)
    assert {slug for slug, _ in COMMENTS} <= set(slugs)


def test_the_front_matter_is_split_from_the_body():
    text = (
        "---\n"
        "title: A title: with a colon\n"
        "summary:  One line.  \n"
        "tags: Local, Media\n"
        "access: paid\n"
        "days_ago: 3\n"
        "---\n"
        "Body with a rule\n\n---\n\nand more.\n"
    )
    assert parse_article(text) == DemoArticle(
        title="A title: with a colon",
        summary="One line.",
        tags=("Local", "Media"),
        access="paid",
        days_ago=3,
        body="Body with a rule\n\n---\n\nand more.\n",
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("title: no fence\n", "starts with"),
        ("---\ntitle: never closed\n", "no closing"),
        ("---\ntitle: T\n---\nbody\n", "lacks summary"),
        ("---\ntitle: T\ntitle: T\n---\n", "once"),
        ("---\nauthor: someone\n---\n", "once"),
        ("---\ntitle: T\nsummary: S\ntags: Local\naccess: secret\ndays_ago: 1\n---\n", "access"),
    ],
)
def test_a_malformed_article_file_is_refused_by_name(text, complaint):
    with pytest.raises(ValueError, match=complaint) as error:
        parse_article(text, "99-broken.md")
    assert "99-broken.md" in str(error.value)

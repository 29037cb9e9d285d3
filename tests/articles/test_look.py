"""The look: reading time, one date format, the masthead and featured story, tags once."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

from shop.articles.services import ArticleInput, create_article, update_article
from shop.clock import format_day, format_moment, utcnow
from shop.text import reading_minutes
from tests.factories import AdminFactory, ArticleFactory, TagFactory

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_reading_time_is_words_at_230_a_minute_and_never_nothing():
    assert reading_minutes("") == 1
    assert reading_minutes("A few words.") == 1
    assert reading_minutes(" ".join(["word"] * 460)) == 2
    assert reading_minutes(" ".join(["word"] * 920)) == 4


def test_an_article_counts_its_reading_time_each_time_its_body_is_saved(app):
    author = AdminFactory()
    article = create_article(author, ArticleInput(title="Long read", body_markdown="Short."))
    assert article.reading_minutes == 1
    long_body = " ".join(["river"] * 1150)
    update_article(article, ArticleInput(title="Long read", body_markdown=long_body))
    assert article.reading_minutes == 5


def test_cards_and_the_article_page_say_how_long_a_read_is(client):
    ArticleFactory(title="Long read", body_markdown=" ".join(["river"] * 920))
    assert "4 min read" in client.get("/").get_data(as_text=True)
    assert "4 min read" in client.get("/articles/long-read").get_data(as_text=True)


def test_one_date_format_for_days_and_moments():
    assert format_day(date(2026, 3, 5)) == "5 March 2026"
    assert format_day(datetime(2026, 11, 25, 23, 59)) == "25 November 2026"
    assert format_moment(datetime(2026, 3, 5, 9, 7, 30)) == "5 March 2026, 09:07 UTC"
    assert format_day(None) == "" and format_moment(None) == ""


def test_no_template_formats_a_date_itself():
    # Every page and email writes dates through |date or |datetime, so they read alike.
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*")
        if path.is_file() and "strftime" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_the_home_page_has_a_masthead_a_featured_story_and_the_subscribe_box(app, client):
    app.config["PUBLICATION_DESCRIPTION"] = "Rivers, weather and the north."
    now = utcnow()
    ArticleFactory(title="Newest story", published_at=now - timedelta(minutes=5))
    ArticleFactory(title="Older story", published_at=now - timedelta(hours=5))
    html = client.get("/").get_data(as_text=True)
    masthead = html[
        html.index('<header class="masthead') : html.index("</header>", html.index("masthead"))
    ]
    assert '<h1 class="masthead-title">Broadsheet</h1>' in masthead
    assert "Rivers, weather and the north." in masthead
    assert 'id="subscribe"' in masthead and 'action="/subscribe"' in masthead
    featured = re.findall(r'<article class="card card-featured">.*?</article>', html, re.S)
    assert len(featured) == 1 and "Newest story" in featured[0]
    assert html.index("Newest story") < html.index("Older story")
    assert html.count('class="subscribe-box"') == 1


def test_the_second_page_has_no_featured_story(app, client):
    app.config["ARTICLES_PER_PAGE"] = 1
    ArticleFactory(title="Newest story")
    ArticleFactory(title="Older story", published_at=utcnow() - timedelta(days=1))
    assert "card-featured" not in client.get("/?page=2").get_data(as_text=True)


def test_cards_show_the_tags_once_as_hashtags(client):
    climate = TagFactory(name="Climate")
    ArticleFactory(title="Rivers rise", tags=[climate])
    html = client.get("/").get_data(as_text=True)
    card = re.search(r'<article class="card[^"]*">.*?</article>', html, re.S).group(0)
    assert '<a href="/tags/climate">#climate</a>' in card
    assert card.count('href="/tags/climate"') == 1

"""Site search: ranking, snippets, the paywall's rule, pages, and whatever a reader types."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shop.articles import search
from shop.articles.models import ArticleStatus
from shop.clock import utcnow
from tests.factories import ArticleFactory, TagFactory, UserFactory, make_paying
from tests.support import AuthActions

TITLE_LINK = re.compile(r'<h2 class="card-title"><a href="/articles/([^"]+)">')


def _slugs(client, q: str, **params) -> list[str]:
    response = client.get("/search", query_string={"q": q, **params})
    assert response.status_code == 200
    return TITLE_LINK.findall(response.get_data(as_text=True))


def _page(client, q: str) -> str:
    response = client.get("/search", query_string={"q": q})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_word_in_the_title_ranks_above_the_same_word_in_the_body(client):
    body = ArticleFactory(
        title="Harbour news",
        body_markdown="The council met, and the lighthouse keeper spoke at length.",
        published_at=utcnow() - timedelta(hours=1),
    )
    title = ArticleFactory(
        title="The lighthouse reopens",
        body_markdown="Visitors are back.",
        published_at=utcnow() - timedelta(days=3),
    )
    ArticleFactory(title="Unrelated", body_markdown="Nothing here.")
    assert _slugs(client, "lighthouse") == [title.slug, body.slug]


def test_words_match_their_other_forms_and_all_words_are_needed(client):
    both = ArticleFactory(title="Flooded rivers", body_markdown="Farmers moved their herds.")
    ArticleFactory(title="Rivers in spring", body_markdown="Calm water.")
    assert both.slug in _slugs(client, "river flooding")
    assert _slugs(client, "rivers farmer") == [both.slug]


def test_snippets_mark_the_words_and_escape_the_text(client):
    ArticleFactory(
        title="Notes",
        summary="",
        body_markdown="Before <b>tags</b> & after: the turbine <script>alert(1)</script> spun.",
    )
    page = _page(client, "turbine")
    snippet = re.search(r'<p class="snippet">(.*?)</p>', page, re.S).group(1)
    assert "<mark>turbine</mark>" in snippet
    assert "<script>" not in page and "<b>" not in snippet
    assert "&amp;" in snippet or "&lt;" in snippet


def test_a_title_or_summary_with_markup_is_escaped(client):
    ArticleFactory(title="Quotes <img src=x onerror=alert(1)>", summary="A <i>glacier</i> melts.")
    page = _page(client, "glacier")
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert "<mark>glacier</mark>" in page


def test_a_paid_body_is_searched_and_quoted_only_for_a_reader_who_may_read_it(client):
    paid = ArticleFactory(
        title="Inside the ministry",
        summary="What the papers show.",
        body_markdown="The memo names the contractor Zanzibarco twice.",
        access="paid",
    )
    # Everyone finds it by its title and summary, and sees the summary, not the body.
    page = _page(client, "ministry")
    assert paid.slug in TITLE_LINK.findall(page)
    assert "What the papers show" in page and "memo" not in page
    # A word only in the paid body finds nothing for a visitor, nor for a free reader.
    assert _slugs(client, "zanzibarco") == []
    UserFactory(email="free@example.org")
    AuthActions(client).login("free@example.org")
    assert _slugs(client, "zanzibarco") == []
    assert "memo" not in _page(client, "ministry papers")
    AuthActions(client).logout()

    payer = UserFactory(email="payer@example.org")
    make_paying(payer)
    AuthActions(client).login("payer@example.org")
    assert _slugs(client, "zanzibarco") == [paid.slug]
    assert "<mark>Zanzibarco</mark>" in _page(client, "zanzibarco")


def test_a_members_body_is_searched_for_a_confirmed_reader(client):
    members = ArticleFactory(
        title="Club notes", body_markdown="The quorum was met.", access="members"
    )
    assert _slugs(client, "quorum") == []
    UserFactory(email="member@example.org")
    AuthActions(client).login("member@example.org")
    assert _slugs(client, "quorum") == [members.slug]


def test_drafts_and_scheduled_stories_are_not_found(client):
    ArticleFactory(title="Draft about comets", status=ArticleStatus.DRAFT, published_at=None)
    ArticleFactory(
        title="Future comets",
        status=ArticleStatus.SCHEDULED,
        published_at=utcnow() + timedelta(days=1),
    )
    live = ArticleFactory(title="Comets tonight")
    assert _slugs(client, "comets") == [live.slug]


def test_edits_and_deletions_reach_the_index(app, client, admin):
    from shop.articles import services

    article = ArticleFactory(title="Old headline")
    services.update_article(
        article, services.ArticleInput(title="Old headline", body_markdown="Now with otters.")
    )
    assert _slugs(client, "otters") == [article.slug]
    services.delete_article(article)
    assert _slugs(client, "otters") == []


def test_results_paginate_and_keep_the_query(app, client):
    app.config["ARTICLES_PER_PAGE"] = 2
    for n in range(5):
        ArticleFactory(title=f"Budget story {n}", published_at=utcnow() - timedelta(hours=n + 1))
    first = _page(client, "budget")
    assert "5 stories match" in first and "Page 1 of 3" in first
    assert len(TITLE_LINK.findall(first)) == 2
    assert (
        'href="/search?page=2&amp;q=budget"' in first
        or 'href="/search?q=budget&amp;page=2"' in first
    )
    seen = set()
    for n in (1, 2, 3):
        seen |= set(_slugs(client, "budget", page=n))
    assert len(seen) == 5
    assert client.get("/search", query_string={"q": "budget", "page": 4}).status_code == 404


def test_an_empty_query_gets_help_and_topics(client):
    tag = TagFactory(name="Weather")
    ArticleFactory(tags=[tag])
    for q in ("", "   ", '"*()', "---"):
        page = _page(client, q)
        assert "Search" in page and "Weather" in page
        assert "No stories match" not in page
    assert "Type a word" in _page(client, "")
    assert "could not find any words" in _page(client, '"*()')


def test_no_results_suggest_topics(client):
    tag = TagFactory(name="Elections")
    ArticleFactory(tags=[tag])
    page = _page(client, "xylophone")
    assert "No stories match “xylophone”" in page
    assert 'href="/tags/elections"' in page


def test_an_overlong_query_is_trimmed_and_says_so(client):
    ArticleFactory(title="Ferry timetable")
    page = _page(client, "ferry " + "word " * 300)
    assert "long search" in page
    assert html.unescape(page).count("ferry") >= 1


def test_result_pages_are_kept_out_of_search_engines(client):
    assert '<meta name="robots" content="noindex">' in _page(client, "anything")
    # The page with only the box says nothing thin, so it may be indexed.
    assert "noindex" not in client.get("/search").get_data(as_text=True)
    assert "/search" not in client.get("/sitemap.xml").get_data(as_text=True)


def test_every_page_has_the_search_box(client):
    page = client.get("/").get_data(as_text=True)
    assert 'role="search"' in page and 'action="/search"' in page
    assert '<label class="visually-hidden" for="header-q">' in page


def test_operators_and_syntax_are_words_or_nothing(client):
    ArticleFactory(title="Near the border", body_markdown="And the fence.")
    for q in (
        '"',
        "*",
        "AND(",
        "NEAR(a b)",
        "OR",
        "a:b",
        "title:near",
        "^near",
        "{title}",
        "'; DROP",
    ):
        assert client.get("/search", query_string={"q": q}).status_code == 200, q
    assert _slugs(client, "NEAR border") != []


def test_parse_query_keeps_words_only():
    query = search.parse_query('  "tax*" AND (reform)  NEAR/3 café_x ')
    assert query.terms == ["tax", "AND", "reform", "NEAR", "3", "café", "x"]
    assert search.parse_query("x" * 500).trimmed
    assert len(search.parse_query("a " * 50).terms) == search.MAX_TERMS


def test_marked_balances_and_escapes():
    assert search.marked("a \x02<b>\x03 \x03c \x02d") == "a <mark>&lt;b&gt;</mark> c <mark>d</mark>"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=300))
def test_any_text_is_a_page_not_an_error(client, text):
    response = client.get("/search", query_string={"q": text})
    assert response.status_code == 200, text


def test_demo_stories_are_found(app, runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    slugs = _slugs(app.test_client(), "barges Danube")
    assert slugs[0] == "inside-the-slow-careful-work-of-moving-ukrainian-grain-by-river"

"""shop.pagination: one page of a SELECT, the ?page= argument, and pages past the end."""

from __future__ import annotations

import pytest
from sqlalchemy import Select, event, func, select
from werkzeug.exceptions import NotFound

from shop.articles.models import Article
from shop.extensions import db
from shop.pagination import MAX_PAGE, Page, check_page_exists, page_arg, paginate
from tests.factories import ArticleFactory


def titles() -> Select:
    return select(Article).order_by(Article.title)


def test_a_page_holds_its_slice_and_the_total(app):
    for n in range(5):
        ArticleFactory(title=f"Story {n}")
    page = paginate(titles(), 2, 2)
    assert [a.title for a in page.items] == ["Story 2", "Story 3"]
    assert (page.total, page.pages, page.has_prev, page.has_next) == (5, 3, True, True)


def test_rows_gives_whole_rows_and_count_replaces_the_total(app):
    for n in range(3):
        ArticleFactory(title=f"Story {n}")
    statement = select(Article.id, Article.title).order_by(Article.title)
    count = select(func.count(Article.id)).where(Article.title != "Story 0")
    page = paginate(statement, 1, 10, count=count, rows=True)
    assert page.total == 2
    assert [row.title for row in page.items] == ["Story 0", "Story 1", "Story 2"]


def test_past_the_end_reads_no_rows(app):
    ArticleFactory(title="Only")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = paginate(titles(), 3, 10)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert page.items == [] and page.total == 1 and page.pages == 1
    # The count, and no OFFSET query (the test's own savepoints aside).
    queries = [s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(queries) == 1 and "count(" in queries[0].lower()


def test_an_empty_list_still_has_page_one(app):
    page = paginate(titles(), 1, 10)
    assert (page.items, page.total, page.pages) == ([], 0, 1)
    check_page_exists(page)  # no 404
    with pytest.raises(NotFound):
        check_page_exists(Page(items=[], page=2, per_page=10, total=0))


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "²", str(MAX_PAGE + 1), ""])
def test_page_arg_refuses_anything_but_a_positive_whole_number(app, raw):
    with app.test_request_context(f"/?page={raw}"), pytest.raises(NotFound):
        page_arg()


def test_page_arg_reads_the_number_and_defaults_to_one(app):
    with app.test_request_context("/?page=7"):
        assert page_arg() == 7
    with app.test_request_context("/"):
        assert page_arg() == 1

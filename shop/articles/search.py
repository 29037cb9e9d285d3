"""Site search: what a reader typed, made safe, matched against what that reader may read.

One service, ``search``, over two implementations: PostgreSQL's full-text search (the
generated ``tsvector`` columns, ranked by ``ts_rank_cd``, snippets by ``ts_headline``) and
SQLite's FTS5 (``bm25``, ``snippet``), the embedded default. The objects they read are in
``search_schema``. A body the reader may not read is neither searched nor quoted: such an
article matches on its title and summary only, and its snippet comes from its summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import (
    Integer,
    and_,
    case,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.expression import ColumnClause

from shop.articles.models import ACCESS_LEVELS, Article
from shop.articles.search_schema import FTS_TABLE, PG_CONFIG
from shop.billing import access
from shop.extensions import db
from shop.pagination import Page, paginate

MAX_QUERY = 200
MAX_TERMS = 8
# Words only: every quote, star, bracket and operator of either dialect's syntax goes.
_WORD = re.compile(r"[^\W_]+")
# Marks put round each hit by the database, replaced by <mark> once the rest is escaped.
# The indexed text never holds control characters (rendering.plain_text, edge.py).
OPEN, CLOSE = "\x02", "\x03"
_MARKS = re.compile(f"([{OPEN}{CLOSE}])")
SNIPPET_WORDS = 24


@dataclass
class Query:
    """A reader's search, reduced to the words it is matched on."""

    text: str
    terms: list[str]
    trimmed: bool = False

    @property
    def shown(self) -> str:
        """The query as searched, to put back in the box."""
        return " ".join(self.terms) if self.trimmed else self.text


@dataclass
class Hit:
    """One article found, with a snippet of where it matched."""

    article: Article
    snippet: Markup


@dataclass
class Results:
    """A search's answer: the query understood and, when it had words, a page of hits."""

    query: Query
    page: Page | None = None


def parse_query(raw: str | None) -> Query:
    """Turn anything typed into words to match; too long a query is cut, and says so."""
    text = " ".join((raw or "").split())
    trimmed = len(text) > MAX_QUERY
    words = _WORD.findall(text[:MAX_QUERY])
    if len(words) > MAX_TERMS:
        trimmed = True
    return Query(text=text[:MAX_QUERY], terms=words[:MAX_TERMS], trimmed=trimmed)


def readable_levels(reader) -> list[str]:
    """The access levels whose bodies this reader may read (and so search)."""
    return [level for level in ACCESS_LEVELS if access.can_read(reader, level)]


def marked(raw: str) -> Markup:
    """Escape a snippet and turn the database's hit marks into balanced <mark> tags."""
    out: list[str] = []
    inside = False
    for piece in _MARKS.split(raw or ""):
        if piece == OPEN:
            if not inside:
                out.append("<mark>")
            inside = True
        elif piece == CLOSE:
            if inside:
                out.append("</mark>")
            inside = False
        else:
            out.append(str(escape(piece)))
    if inside:
        out.append("</mark>")
    return Markup("".join(out))  # noqa: S704  (every piece of text above is escaped)


def search(raw: str | None, reader, page: int = 1, per_page: int = 10) -> Results:
    """Live articles matching the query, best first, with snippets this reader may see."""
    query = parse_query(raw)
    if not query.terms:
        return Results(query=query)
    readable = readable_levels(reader)
    postgres = db.session.get_bind().dialect.name == "postgresql"
    statement = (_postgres_ranked if postgres else _sqlite_ranked)(query.terms, readable)
    statement = statement.where(Article.live_clause()).options(
        selectinload(Article.tags), selectinload(Article.author)
    )
    found = paginate(statement, page, per_page)
    articles: list[Article] = found.items
    open_ = [a for a in articles if a.access in readable]
    closed = [a for a in articles if a.access not in readable]
    snippets = (_postgres_snippets if postgres else _sqlite_snippets)(query.terms, open_, closed)
    found.items = [Hit(a, marked(snippets.get(a.id, ""))) for a in articles]
    return Results(query=query, page=found)


def _choose(summary: str, body: str | None) -> str:
    """The body's snippet where the body matched, else the summary's, else the body's start."""
    if body and OPEN in body:
        return body
    if OPEN in summary or body is None:
        return summary
    return summary or body


# --- SQLite: FTS5 ----------------------------------------------------------------------

_fts = table(FTS_TABLE, column("rowid", Integer))
_fts_ref: ColumnClause[Any] = literal_column(FTS_TABLE)


def _fts_query(terms: list[str], head_only: bool = False) -> str:
    # Each word a quoted string, so that no word is read as an operator (AND, NEAR, *).
    phrase = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
    return f"{{title summary}} : ({phrase})" if head_only else phrase


def _sqlite_ranked(terms: list[str], readable: list[str]):
    # Two branches, one MATCH each: FTS5 takes one MATCH per scan of its table.
    def branch(head_only: bool, allowed):
        return (
            select(_fts.c.rowid.label("id"), func.bm25(_fts_ref, 10.0, 4.0, 1.0).label("rank"))
            .join(Article, Article.id == _fts.c.rowid)
            .where(_fts_ref.match(_fts_query(terms, head_only)), allowed)
        )

    hits = union_all(
        branch(False, Article.access.in_(readable)),
        branch(True, Article.access.not_in(readable)),
    ).subquery()
    # bm25 is lower for a better match.
    return (
        select(Article)
        .join(hits, hits.c.id == Article.id)
        .order_by(hits.c.rank, Article.published_at.desc(), Article.id.desc())
    )


def _sqlite_snippets(terms, readable: list[Article], closed: list[Article]) -> dict[int, str]:
    def snippet(index: int):
        return func.snippet(_fts_ref, index, OPEN, CLOSE, "…", SNIPPET_WORDS)

    out: dict[int, str] = {}
    for articles, head_only in ((readable, False), (closed, True)):
        if not articles:
            continue
        columns = [_fts.c.rowid, snippet(1)] + ([] if head_only else [snippet(2)])
        rows = db.session.execute(
            select(*columns).where(
                _fts_ref.match(_fts_query(terms, head_only)),
                _fts.c.rowid.in_([a.id for a in articles]),
            )
        )
        for row in rows:
            out[row[0]] = _choose(row[1], None if head_only else row[2])
    return out


# --- PostgreSQL: tsvector columns ------------------------------------------------------

_head: ColumnClause[Any] = literal_column("articles.search_head")
_all: ColumnClause[Any] = literal_column("articles.search_all")
_HEADLINE = (
    f"StartSel={OPEN}, StopSel={CLOSE}, MaxWords={SNIPPET_WORDS}, MinWords=12, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


def _tsquery(terms: list[str]):
    # plainto_tsquery reads no operators: every word is a word, all of them required.
    return func.plainto_tsquery(literal_column(f"'{PG_CONFIG}'"), " ".join(terms))


def _postgres_ranked(terms: list[str], readable: list[str]):
    tsquery = _tsquery(terms)
    can_read = Article.access.in_(readable)
    rank = case((can_read, func.ts_rank_cd(_all, tsquery)), else_=func.ts_rank_cd(_head, tsquery))
    return (
        select(Article)
        .where(
            or_(
                and_(can_read, _all.op("@@")(tsquery)),
                and_(~can_read, _head.op("@@")(tsquery)),
            )
        )
        .order_by(rank.desc(), Article.published_at.desc(), Article.id.desc())
    )


def _postgres_snippets(terms, readable: list[Article], closed: list[Article]) -> dict[int, str]:
    tsquery = _tsquery(terms)
    config: ColumnClause[Any] = literal_column(f"'{PG_CONFIG}'")

    def headline(col):
        return func.ts_headline(config, col, tsquery, _HEADLINE)

    out: dict[int, str] = {}
    for articles, head_only in ((readable, False), (closed, True)):
        if not articles:
            continue
        columns = [Article.id, headline(Article.summary)]
        if not head_only:
            columns.append(headline(Article.body_text))
        rows = db.session.execute(select(*columns).where(Article.id.in_([a.id for a in articles])))
        for row in rows:
            out[row[0]] = _choose(row[1], None if head_only else row[2])
    return out

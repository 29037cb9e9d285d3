"""Digests and instant notices as the sending engine's content.

Each delivery carries its own list of articles; the batch's articles are read once
and rendered by a ``DigestRenderer``. When a commit group commits, the digest records
in the same transaction what its messages mean: each article mailed to each reader
(never again), and for a digest, each reader's "covered until" moved to the run's
cutoff. Both are set-based: one statement each, whatever the group's size.
"""

from __future__ import annotations

import json
from typing import cast

from sqlalchemy import DateTime, String, Table, TextClause, bindparam, insert, select, text, update
from sqlalchemy.orm import selectinload

from shop.accounts.models import User
from shop.articles.models import Article
from shop.billing.access import paying_among
from shop.clock import utcnow
from shop.digests.models import MailedArticle
from shop.digests.rendering import DigestRenderer
from shop.digests.selection import Candidate, tag_names
from shop.extensions import db
from shop.mail.bulk import Rendered
from shop.preferences.mailing import ReaderMail
from shop.preferences.models import DigestPreference
from shop.sending import tracking
from shop.sending.content import Plan, SentRecords, register_content
from shop.sending.models import Delivery, Run, RunKind

# The next digest starts where this one's cutoff was.
_MOVE_WINDOW = (
    update(DigestPreference)
    .where(
        DigestPreference.user_id.in_(bindparam("readers", expanding=True)),
        DigestPreference.covered_until < bindparam("cutoff"),
    )
    .values(covered_until=bindparam("cutoff"))
    .execution_options(synchronize_session=False)
)
# The articles a group mailed, in one statement whatever their number: the group travels
# as one JSON parameter, [[user, delivery, [article, ...]], ...], and the database
# unfolds it. An executemany of a thousand rows costs more in SQLAlchemy's work per
# row than in the database's.
_MAILED_FROM_JSON: dict[str, TextClause] = {
    dialect: text(sql).bindparams(
        bindparam("rows", type_=String()), bindparam("mailed_at", type_=DateTime())
    )
    for dialect, sql in {
        "sqlite": """
            INSERT INTO mailed_articles (user_id, article_id, delivery_id, mailed_at)
            SELECT json_extract(d.value, '$[0]'), a.value, json_extract(d.value, '$[1]'),
                   :mailed_at
            FROM json_each(:rows) AS d, json_each(d.value, '$[2]') AS a
            WHERE true  -- without a WHERE, SQLite would not read ON CONFLICT as the upsert
            ON CONFLICT (user_id, article_id) DO NOTHING
        """,
        "postgresql": """
            INSERT INTO mailed_articles (user_id, article_id, delivery_id, mailed_at)
            SELECT (d->>0)::integer, a::integer, (d->>1)::integer, :mailed_at
            FROM json_array_elements(CAST(:rows AS json)) AS d,
                 json_array_elements_text(d->2) AS a
            ON CONFLICT (user_id, article_id) DO NOTHING
        """,
    }.items()
}


def record_mailed(listed: list[tuple[int, int, tuple[int, ...]]]) -> None:
    """The MailedArticle rows; one already there (same reader and article) is kept."""
    # One time for the group's rows: they were mailed within the same few seconds.
    now = utcnow()
    statement = _MAILED_FROM_JSON.get(db.session.get_bind().dialect.name)
    if statement is None:
        rows = [
            {"user_id": u, "article_id": a, "delivery_id": d, "mailed_at": now}
            for u, d, articles in listed
            for a in articles
        ]
        # __table__ is typed FromClause, as a class may map a select; this one maps a Table.
        db.session.execute(insert(cast("Table", MailedArticle.__table__)), rows)
        return
    db.session.execute(statement, {"rows": json.dumps(listed), "mailed_at": now})


class DigestContent(ReaderMail):
    """Digests and instant notices: each delivery carries its own list of articles."""

    def __init__(self, run: Run, deliveries: list[Delivery]) -> None:
        super().__init__()
        # Each delivery's list, read from its column once for the batch.
        self._listed = {d.id: d.articles for d in deliveries}
        ids = {a for listed in self._listed.values() for a in listed}
        # The tags in one more query, not one per article.
        rows = db.session.scalars(
            select(Article).where(Article.id.in_(ids)).options(selectinload(Article.tags))
        ).all()
        articles: dict[int, Candidate] = {}
        for a in rows:
            # A run lists published articles only, and a published date is never cleared.
            assert a.published_at is not None
            articles[a.id] = Candidate(
                a.id,
                a.title,
                a.slug,
                a.summary,
                a.access,
                a.published_at,
                frozenset(t.id for t in a.tags),
                a.image_id,
                a.image_alt,
            )
        self.renderer = DigestRenderer(
            articles=articles,
            tag_names=tag_names({t for a in articles.values() for t in a.tag_ids}),
            kind=run.kind,
            tracked=tracking.enabled(),
        )
        # Only a digest moves its readers' window on; an instant notice does not.
        self.cutoff = run.cutoff if run.kind == RunKind.DIGEST else None
        # Which of the batch's readers pay, in one query: they get whole stories.
        readers = [d.user_id for d in deliveries]
        self.paying = paying_among(readers)

    def message(self, delivery: Delivery, reader: User) -> Rendered | None:
        """The digest of the delivery's articles that still exist; None if all were deleted."""
        listed = self._listed.get(delivery.id)
        if listed is None:
            listed = delivery.articles
        kept = [a for a in listed if a in self.renderer.articles]
        if not kept:
            return None
        plan = Plan(reader.id, reader.email, reader.name, reader.id in self.paying, kept)
        return self.renderer.digest(plan)

    def record_sent(self, sent: SentRecords) -> None:
        """Each article mailed to each reader; for a digest, the readers' window moved on."""
        if sent.listed:
            record_mailed(sent.listed)
        if self.cutoff is not None and sent.readers:
            db.session.execute(_MOVE_WINDOW, {"readers": sent.readers, "cutoff": self.cutoff})


register_content(RunKind.DIGEST, DigestContent)
register_content(RunKind.INSTANT, DigestContent)

"""Importing members: a file is read and kept (``prepare``), checked line by line without
writing (``dry_run``), then imported chunk by chunk (``run_import``), each chunk in one
transaction with the import's progress. An import stopped part-way goes on from its last
committed chunk; importing the same file again updates, never duplicates.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.exc import DataError, IntegrityError

from shop.background import job
from shop.clock import utcnow
from shop.errors import RuleError
from shop.extensions import db
from shop.members import formats, rules
from shop.members.models import ImportStatus, MemberImport

log = logging.getLogger(__name__)

IMPORT_JOB = "members.import"
DEFAULT_CHUNK = 500
# The report keeps this many lines that were skipped or carry a note.
REPORT_MAX = 2000
# An import "running" with no chunk committed for this long has died: it may be taken over.
STALE_AFTER = timedelta(minutes=10)
FORGET_UNIMPORTED_AFTER = timedelta(days=7)
UNFINISHED = (ImportStatus.PLANNED, ImportStatus.QUEUED, ImportStatus.RUNNING, ImportStatus.FAILED)


class MemberImportError(RuleError):
    """An import that cannot start or go on, in words for the admin."""


def chunk_size() -> int:
    """Rows per transaction: ``MEMBER_IMPORT_CHUNK``, else 500."""
    return int(current_app.config.get("MEMBER_IMPORT_CHUNK") or DEFAULT_CHUNK)


def read_file(item: MemberImport) -> tuple[formats.Mapping, list[formats.MemberRow]]:
    """The kept file's mapping and rows."""
    mapping, records = formats.read(item.content, item.format)
    return mapping, formats.rows(mapping, records, item.source_status)


def prepare(
    data: bytes,
    filename: str,
    wanted: str = formats.AUTO,
    status: str | None = None,
    created_by_id: int | None = None,
    keep: bool = True,
) -> MemberImport:
    """Read an uploaded file, detect its format and keep it, ready for the dry run.

    The same file (same bytes, same format) with an import that has not finished gives that
    import back, so that running the command again goes on where it stopped. With
    ``keep=False`` nothing is stored (a dry run from the command).
    """
    if status is not None and status not in formats.MAILCHIMP_STATUSES:
        raise formats.ImportFileError(f"Unknown Mailchimp status “{status}”.")
    text = formats.decode(data)
    mapping, records = formats.read(text, wanted)
    if not records:
        raise formats.ImportFileError("The file has a header but no members.")
    digest = hashlib.sha256(data).hexdigest()
    unfinished = db.session.scalar(
        select(MemberImport)
        .where(
            MemberImport.digest == digest,
            MemberImport.format == mapping.format,
            MemberImport.status.in_(UNFINISHED),
            MemberImport.done_rows > 0,
        )
        .order_by(MemberImport.id.desc())
        .limit(1)
    )
    if keep and unfinished is not None and unfinished.source_status == status:
        return unfinished
    item = MemberImport(
        filename=(filename or "members.csv")[-255:],
        digest=digest,
        format=mapping.format,
        source_status=status,
        content=text,
        total=len(records),
        created_by_id=created_by_id,
    )
    if keep:
        db.session.add(item)
        db.session.commit()
    return item


@dataclass
class DryRun:
    """What an import would do, line by line, and the counts."""

    mapping: formats.Mapping
    outcomes: list[rules.Outcome]
    counts: Counter = field(default_factory=Counter)

    def reasons(self) -> Counter:
        """How many lines were skipped for each kind of reason."""
        return Counter(
            o.reasons[0].split(":")[0].split(" of line")[0]
            for o in self.outcomes
            if o.action == rules.Action.SKIP and o.reasons
        )


def _chunks(rows: list[formats.MemberRow], size: int) -> Iterator[list[formats.MemberRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _decide_chunk(chunk: list[formats.MemberRow], ctx: rules.Context) -> list[rules.Decision]:
    emails = list({rules.normalise_email(r.email) for r in chunk})
    members = rules.load_members(emails)
    return [rules.decide(row, ctx, members) for row in chunk]


def dry_run(item: MemberImport) -> DryRun:
    """What importing the kept file would do, writing nothing."""
    mapping, rows = read_file(item)
    ctx = rules.context(item.format)
    outcomes: list[rules.Outcome] = []
    for chunk in _chunks(rows, chunk_size()):
        outcomes.extend(d.outcome for d in _decide_chunk(chunk, ctx))
    result = DryRun(mapping, outcomes)
    result.counts.update(o.action for o in outcomes)
    return result


def _claim(item_id: int) -> bool:
    """Take the import for this process: one not running, or one whose runner died."""
    now = utcnow()
    result = db.session.execute(
        update(MemberImport)
        .where(
            MemberImport.id == item_id,
            or_(
                MemberImport.status.in_(
                    (ImportStatus.PLANNED, ImportStatus.QUEUED, ImportStatus.FAILED)
                ),  # queued: this is the job it was queued for, or its replacement
                (MemberImport.status == ImportStatus.RUNNING)
                & (MemberImport.updated_at < now - STALE_AFTER),
            ),
        )
        .values(status=ImportStatus.RUNNING, updated_at=now, error=None)
    )
    db.session.commit()
    return isinstance(result, CursorResult) and result.rowcount == 1


def can_go_on(item: MemberImport) -> bool:
    """Whether a started import has stopped: failed, or queued or running with no chunk
    committed for STALE_AFTER (its process died)."""
    if item.status == ImportStatus.FAILED:
        return True
    quiet = item.updated_at < utcnow() - STALE_AFTER
    return item.status in (ImportStatus.QUEUED, ImportStatus.RUNNING) and quiet


def queue(item: MemberImport) -> None:
    """Mark the import queued, so that the page shows it waiting for the job."""
    if item.status == ImportStatus.DONE:
        raise MemberImportError("This file has already been imported.")
    if item.status == ImportStatus.RUNNING and item.updated_at >= utcnow() - STALE_AFTER:
        raise MemberImportError("This import is already running.")
    item.status = ImportStatus.QUEUED
    item.updated_at = utcnow()
    db.session.commit()


def _apply_chunk(chunk: list[formats.MemberRow], ctx: rules.Context) -> list[rules.Outcome]:
    """Apply a chunk's lines in its transaction; if the database refuses one (an account
    made meanwhile), the chunk again line by line, each in a savepoint, that one skipped.

    Savepoints only on that rare second pass: one per line costs a round trip each, and on
    SQLite a savepoint opened before any write commits (and syncs) at its release.
    """
    seen = dict(ctx.seen)
    try:
        outcomes = [rules.apply(d, ctx) for d in _decide_chunk(chunk, ctx)]
        db.session.flush()
        return outcomes
    except (IntegrityError, DataError):
        db.session.rollback()
    ctx.seen = seen
    return [_apply_one(d, ctx) for d in _decide_chunk(chunk, ctx)]


def _apply_one(decision: rules.Decision, ctx: rules.Context) -> rules.Outcome:
    """One line in a savepoint of its own: a line the database refuses skips that line only."""
    try:
        with db.session.begin_nested():
            return rules.apply(decision, ctx)
    except (IntegrityError, DataError) as exc:
        log.warning("member import line %s refused: %s", decision.row.line, exc.orig)
        outcome = decision.outcome
        outcome.action = rules.Action.SKIP
        outcome.reasons = ["could not be saved: another account took the address meanwhile"]
        return outcome


def _record(item: MemberImport, outcomes: list[rules.Outcome]) -> None:
    counts = Counter(o.action for o in outcomes)
    item.created += counts[rules.Action.CREATE]
    item.updated += counts[rules.Action.UPDATE]
    item.skipped += counts[rules.Action.SKIP]
    report = json.loads(item.report or "[]")
    room = REPORT_MAX - len(report)
    worth = [o.as_dict() for o in outcomes if o.action == rules.Action.SKIP or o.reasons]
    item.report = json.dumps(report + worth[: max(room, 0)])


def run_import(
    item_id: int, progress: Callable[[int], None] | None = None, size: int | None = None
) -> MemberImport:
    """Import the kept file from where it stopped, one transaction per chunk.

    ``progress`` is told how many rows each committed chunk held (the command's bar).
    MemberImportError when the import is finished or another process is running it.
    """
    if not _claim(item_id):
        item = db.session.get(MemberImport, item_id)
        if item is None:
            raise MemberImportError("There is no such import.")
        if item.status == ImportStatus.DONE:
            raise MemberImportError("This file has already been imported.")
        raise MemberImportError("Another process is running this import.")
    item = db.session.get(MemberImport, item_id)
    assert item is not None
    _, rows = read_file(item)
    ctx = rules.context(item.format)
    # The lines already imported still count as seen: a later duplicate stays one.
    for row in rows[: item.done_rows]:
        rules.screen(row, ctx)
    if progress and item.done_rows:
        progress(item.done_rows)
    try:
        for chunk in _chunks(rows[item.done_rows :], size or chunk_size()):
            outcomes = _apply_chunk(chunk, ctx)
            _record(item, outcomes)
            item.done_rows += len(chunk)
            item.updated_at = utcnow()
            db.session.commit()
            if progress:
                progress(len(chunk))
    except Exception as exc:
        db.session.rollback()
        item = db.session.get(MemberImport, item_id)
        assert item is not None
        item.status = ImportStatus.FAILED
        item.error = f"Stopped after line {item.done_rows + 1}: {type(exc).__name__}"[:500]
        db.session.commit()
        raise
    item.status = ImportStatus.DONE
    item.total = len(rows)
    item.finished_at = utcnow()
    # The members are in now: keep the header (the page shows its columns), not the people.
    item.content = item.content.splitlines(keepends=True)[0] if item.content else ""
    db.session.commit()
    return item


def forget_unimported(now: datetime | None = None) -> int:
    """Delete files checked but never imported, a week on: they hold people's addresses."""
    cutoff = (now or utcnow()) - FORGET_UNIMPORTED_AFTER
    result = db.session.execute(
        delete(MemberImport).where(
            MemberImport.status == ImportStatus.PLANNED, MemberImport.created_at < cutoff
        )
    )
    db.session.commit()
    return result.rowcount if isinstance(result, CursorResult) else 0


@job(IMPORT_JOB)
def import_job(import_id: int) -> None:
    """The background job: run one import (the page polls its progress)."""
    try:
        run_import(import_id)
    except MemberImportError as error:
        log.info("member import %s not run: %s", import_id, error)
    except Exception:
        # Recorded on the import (failed, and where): its page offers to go on.
        log.exception("member import %s stopped", import_id)


def report(item: MemberImport) -> list[dict]:
    """The import's stored report: the lines skipped or with a note."""
    return json.loads(item.report or "[]")

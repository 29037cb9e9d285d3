"""Recording and reading the audit log.

Every successful POST under /admin is recorded by the back office's after-request hook,
so a new admin action cannot be left out of the log. A view may add a summary and the
values it changed with ``note()``; otherwise the form's fields are recorded.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from flask import g
from sqlalchemy import or_, select

from shop.audit.models import AuditEntry
from shop.extensions import db
from shop.pagination import Page, paginate

log = logging.getLogger(__name__)

# Never written to the log, whatever the form calls them.
SECRET_FIELDS = ("csrf_token", "password", "new_password", "current_password", "token")
VALUE_LIMIT = 200


@dataclass
class Note:
    """What a view says about the change it made."""

    summary: str
    target: str = ""
    changes: dict[str, Any] | None = None


def note(summary: str, target: str = "", **changes: Any) -> None:
    """Describe this request's change for the audit log, in the view's own words."""
    g.audit_note = Note(summary, target, changes or None)


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if any(secret in key.lower() for secret in SECRET_FIELDS):
            continue
        if isinstance(value, str) and len(value) > VALUE_LIMIT:
            value = value[:VALUE_LIMIT] + "…"
        cleaned[key] = value
    return cleaned


def record(
    actor,
    action: str,
    *,
    target: str = "",
    summary: str = "",
    changes: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Write one entry and commit it."""
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else "system",
        action=action[:64],
        target=target[:64],
        summary=summary[:500],
        changes=json.dumps(_clean(changes or {}), default=str, ensure_ascii=False),
        ip=ip,
    )
    db.session.add(entry)
    db.session.commit()
    return entry


def record_request(actor, endpoint: str, view_args: dict, form: dict, ip: str | None) -> None:
    """Record a successful admin POST, with the view's note if it left one."""
    action = endpoint.removeprefix("admin.")
    noted: Note | None = g.get("audit_note")
    target = noted.target if noted and noted.target else _target(action, view_args)
    summary = noted.summary if noted else action.replace("_", " ")
    changes = noted.changes if noted and noted.changes is not None else form
    try:
        record(actor, action, target=target, summary=summary, changes=changes, ip=ip)
    except Exception:  # the change is made; a lost log line must not turn it into a 500
        db.session.rollback()
        log.exception("could not write the audit log for %s", endpoint)


def _target(action: str, view_args: dict) -> str:
    for key, value in view_args.items():
        if key.endswith("_id"):
            return f"{key.removesuffix('_id')} {value}"
    return action.split("_")[0]


def entries(page: int, *, query: str = "", action: str = "", per_page: int = 50) -> Page:
    """The log, newest first, filtered by free text and by action."""
    statement = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if query:
        like = f"%{query}%"
        statement = statement.where(
            or_(
                AuditEntry.actor_email.ilike(like),
                AuditEntry.summary.ilike(like),
                AuditEntry.target.ilike(like),
            )
        )
    if action:
        statement = statement.where(AuditEntry.action == action)
    return paginate(statement, page, per_page)


def actions() -> list[str]:
    """Every action name the log holds, for the filter."""
    return list(db.session.scalars(select(AuditEntry.action).distinct().order_by("action")))


def changes_of(entry: AuditEntry) -> dict[str, Any]:
    """An entry's recorded values."""
    try:
        return json.loads(entry.changes or "{}")
    except ValueError:
        return {}

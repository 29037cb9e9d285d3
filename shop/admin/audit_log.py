"""The audit log's page: who changed what, and when."""

from __future__ import annotations

from flask import abort, render_template, request

from shop.admin.blueprint import bp
from shop.audit import services as audit
from shop.pagination import check_page_exists, page_arg

QUERY_LIMIT = 200


@bp.route("/audit")
def audit_log():
    """The audit log, newest first, searchable and filtered by action."""
    query = request.args.get("q", "").strip()[:QUERY_LIMIT]
    action = request.args.get("action", "").strip()
    known = audit.actions()
    if action and action not in known:
        abort(404, description="No admin action of that name is in the log.")
    page = audit.entries(page_arg(), query=query, action=action)
    check_page_exists(page)
    return render_template(
        "admin/audit.html",
        page=page,
        query=query,
        action=action,
        actions=known,
        changes_of=audit.changes_of,
    )

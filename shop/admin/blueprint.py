"""The back office's blueprint: every /admin route asks for an admin, and every change
an admin makes is written to the audit log."""

from flask import Blueprint, abort, redirect, request, session, url_for
from flask_login import current_user

from shop.audit import services as audit

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def require_admin():
    """Every /admin route: anonymous visitors log in, readers get 403."""
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if not current_user.is_admin:
        abort(403)
    return None


def _refused() -> bool:
    """Whether this request flashed an error: the action was refused and changed nothing."""
    return any(category == "error" for category, _ in session.get("_flashes", []))


@bp.after_request
def audit_changes(response):
    """Log every admin action that changed data: a POST answered with a redirect."""
    # Our forms answer a successful POST with a redirect and a refused one with the
    # form again (200) or an error flash, so this covers every admin route, new ones too.
    if (
        request.method == "POST"
        and 300 <= response.status_code < 400
        and current_user.is_authenticated
        and current_user.is_admin
        and not _refused()
    ):
        audit.record_request(
            current_user._get_current_object(),
            request.endpoint or "",
            request.view_args or {},
            {k: v[0] if len(v) == 1 else v for k, v in request.form.lists()},
            request.remote_addr,
        )
    return response

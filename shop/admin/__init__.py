"""The back office: views over the features' services, for admins only."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def require_admin():
    """Every /admin route: anonymous visitors log in, readers get 403."""
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if not current_user.is_admin:
        abort(403)
    return None


import shop.admin.products  # noqa: E402,F401
from shop.admin import views  # noqa: E402,F401  (routes register on import)

"""The newsletter archive: every issue that went out. Thin views."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from shop.billing.access import can_read
from shop.newsletters import archive as newsletters
from shop.newsletters.models import Audience
from shop.pagination import check_page_exists, page_arg

bp = Blueprint("newsletters", __name__)


@bp.route("/newsletters")
def archive():
    """Every newsletter that went out, newest first."""
    page = newsletters.archived(page_arg())
    check_page_exists(page)
    return render_template("newsletter/archive.html", page=page)


@bp.route("/newsletters/<slug>")
def archive_issue(slug: str):
    """One newsletter as it went out; those for paying readers stay theirs."""
    newsletter = newsletters.archived_issue(slug)
    if newsletter is None:
        abort(404, description="There is no newsletter at this address.")
    readable = newsletter.audience != Audience.PAYING or can_read(current_user, "paid")
    return render_template("newsletter/issue.html", newsletter=newsletter, readable=readable)

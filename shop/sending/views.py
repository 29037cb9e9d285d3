"""What a reader's mail client asks of the site: the open pixel and tracked links."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, abort, redirect

from shop.extensions import limiter
from shop.sending import tracking

bp = Blueprint("tracking", __name__)

# A transparent 1x1 GIF, the smallest image every mail client shows.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@bp.route("/t/o/<token>.gif")
@limiter.exempt  # a mail client's images, and the scanners that fetch them first
def pixel(token: str) -> Response:
    """The 1x1 image of a message: counts an open, and answers the same for any token."""
    tracking.record_open(token)
    response = Response(PIXEL, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.route("/t/c/<token>/<key>")
@limiter.exempt
def click(token: str, key: str):
    """A tracked link: counts the click, then 302 to that run's link; nowhere else."""
    url = tracking.click_target(token, key)
    if url is None:
        abort(404, description="This link is not valid. It may have been copied incompletely.")
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response

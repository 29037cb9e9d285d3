"""GET /media/<name>: pictures kept in the local folder, cached for a year; template helpers."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, send_file
from werkzeug.wrappers import Response

from shop.media import services
from shop.media.models import Image
from shop.media.storage import CACHE_FOREVER, NAME, LocalStorage, storage

bp = Blueprint("media", __name__)


@bp.route("/media/<name>")
def media_file(name: str) -> Response:
    """A stored picture; its name holds its content hash, so it never changes."""
    store = storage()
    if not isinstance(store, LocalStorage) or not NAME.fullmatch(name):
        abort(404, description="There is no such picture.")
    path = store.path(name)
    if not path.is_file():
        abort(404, description="There is no such picture.")
    response = send_file(path, mimetype=_mimetype(name), conditional=True, max_age=31536000)
    response.headers["Cache-Control"] = CACHE_FOREVER
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _mimetype(name: str) -> str:
    return "image/webp" if name.endswith(".webp") else "image/jpeg"


@bp.app_template_global()
def media_srcset(image: Image, fmt: str, absolute: bool = False) -> str:
    """A picture's srcset in one format, for templates."""
    return services.srcset(image, fmt, absolute=absolute)


@bp.app_template_global()
def media_url(name: str, absolute: bool = False) -> str:
    """A stored file's address, for templates."""
    return services.absolute_url(name) if absolute else services.url(name)


@bp.app_context_processor
def media_limits() -> dict[str, int]:
    """The upload limit, for the forms' hints."""
    return {"media_max_mb": max(1, int(current_app.config["MEDIA_MAX_BYTES"]) // (1024 * 1024))}

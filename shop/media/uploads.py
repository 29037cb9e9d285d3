"""The request side of an upload: which views take files, and how large a body they allow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app
from werkzeug.datastructures import FileStorage

from shop.forms import parse_row_id
from shop.media import services

# Room for the form's other fields (the article's body, say) beside the file itself.
FORM_ALLOWANCE = 1024 * 1024

View = TypeVar("View", bound=Callable[..., Any])


def accepts_upload(view: View) -> View:
    """Mark a view as taking a picture: its body may be as large as MEDIA_MAX_BYTES allows."""
    view.accepts_upload = True  # type: ignore[attr-defined]
    return view


def body_limit(view: Callable[..., Any] | None) -> int | None:
    """The body limit for a view that takes uploads; None for every other view."""
    if view is None or not getattr(view, "accepts_upload", False):
        return None
    return int(current_app.config["MEDIA_MAX_BYTES"]) + FORM_ALLOWANCE


def read_upload(upload: FileStorage | None) -> tuple[bytes, str] | None:
    """An uploaded file's bytes (at most one past the limit) and its name; None if none."""
    if upload is None or not upload.filename:
        return None
    data = upload.stream.read(int(current_app.config["MEDIA_MAX_BYTES"]) + 1)
    return data, upload.filename


def chosen_picture(
    upload: FileStorage | None,
    pending: object,
    current_id: int | None,
    remove: bool = False,
    field: str = "image",
) -> int | None:
    """The picture a form ends with: a new upload (stored now), one kept from a refused
    form, the one it had, or none when the author removed it. MediaError if refused."""
    if remove:
        return None
    sent = read_upload(upload)
    if sent is not None:
        return services.store_upload(*sent, field=field).id
    kept = parse_row_id(pending)
    if kept is not None and services.get_image(kept) is not None:
        return kept
    return current_id

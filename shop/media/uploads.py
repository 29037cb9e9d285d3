"""The request side of an upload: which views take files, and how large a body they allow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app
from werkzeug.datastructures import FileStorage

from shop.forms import BODY_LIMIT_SETTING, larger_body, parse_row_id
from shop.media import services
from shop.media.forms import PictureForm
from shop.media.models import Image

UPLOAD_SETTING = "MEDIA_MAX_BYTES"
# Room for the form's other fields (the article's body, say) beside the file itself.
FORM_ALLOWANCE = 1024 * 1024

View = TypeVar("View", bound=Callable[..., Any])


def accepts_upload(view: View) -> View:
    """Mark a view as taking a picture: an admin's body may be as large as MEDIA_MAX_BYTES
    allows, with room for the other fields (shop/edge.py reads the mark)."""
    return larger_body(UPLOAD_SETTING, extra=FORM_ALLOWANCE)(view)


def is_upload_view(view: Callable[..., Any] | None) -> bool:
    """Whether a view takes pictures (``accepts_upload``)."""
    return getattr(view, BODY_LIMIT_SETTING, None) == UPLOAD_SETTING


def read_upload(upload: object) -> tuple[bytes, str] | None:
    """An uploaded file's bytes (at most one past the limit) and its name; None if none."""
    # A form built with obj=article holds the article's Image here when no file came.
    if not isinstance(upload, FileStorage) or not upload.filename:
        return None
    data = upload.stream.read(int(current_app.config["MEDIA_MAX_BYTES"]) + 1)
    return data, upload.filename


def chosen_picture(
    upload: object,
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


def form_picture(form: PictureForm, current_id: int | None) -> int | None:
    """The picture a PictureForm ends with (stored now if uploaded); kept on the form, so
    that should the rest of the form be refused, it stays chosen without a new upload."""
    image_id = chosen_picture(
        form.image.data, form.pending_image_id.data, current_id, bool(form.remove_image.data)
    )
    form.pending_image_id.data = str(image_id) if image_id else ""
    return image_id


def shown_picture(form: PictureForm, current: Image | None) -> Image | None:
    """The picture a re-shown form holds: kept from a refused send, or the saved one."""
    if form.remove_image.data:
        return None
    pending = parse_row_id(form.pending_image_id.data)
    return services.get_image(pending) if pending else current

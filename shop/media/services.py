"""Taking a picture in: checked by what it is, cleaned, resized, stored; and its addresses.

An upload is a picture only if Pillow's decoders for JPEG, PNG, WebP or GIF read it
whole; its name and declared type count for nothing (so an SVG, a script named .jpg or
a PDF is refused). The pixel count is checked from the header before anything is
decoded, against decompression bombs. The picture is turned upright from its EXIF
orientation and re-encoded from its pixels alone, so no EXIF (GPS, camera serial),
XMP, comment or trailing bytes survive into any stored file, and only the resized
variants are kept, never the uploaded file.
"""

from __future__ import annotations

import hashlib
import io
import warnings

from flask import current_app
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from sqlalchemy import select

from shop.errors import RuleError
from shop.extensions import db
from shop.media.models import CONTENT_TYPES, EXTENSIONS, JPEG, WEBP, Image, ImageVariant
from shop.media.storage import storage

# The widths every picture is offered at (never wider than it was uploaded).
WIDTHS = (480, 960, 1600)
FORMATS = (WEBP, JPEG)
# Decoders tried on an upload: no others (EPS, for one, would run Ghostscript).
ACCEPTED = ("JPEG", "PNG", "WEBP", "GIF")
MIN_SIDE = 16
JPEG_QUALITY = 82
WEBP_QUALITY = 80
NAME_MAX = 255
ALT_MAX = 300


class MediaError(RuleError):
    """An upload was refused: too large, not a picture, or one we cannot use."""


def max_bytes() -> int:
    """The largest upload accepted, in bytes (MEDIA_MAX_BYTES)."""
    return int(current_app.config["MEDIA_MAX_BYTES"])


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def _open_checked(data: bytes, field: str | None) -> PILImage.Image:
    """Open the upload as a picture, or say plainly why it is not one."""
    not_a_picture = MediaError(
        "That file is not a picture we can use: upload a JPEG, PNG, WebP or GIF "
        "(SVG and other drawings are not accepted).",
        field,
    )
    limit = int(current_app.config["MEDIA_MAX_PIXELS"])
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check only warns below twice its limit: ours comes first.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            probe = PILImage.open(io.BytesIO(data), formats=ACCEPTED)
            if probe.width * probe.height > limit:
                raise MediaError(
                    f"That picture is {probe.width} × {probe.height} pixels, more than the "
                    f"{limit // 1_000_000} megapixels accepted: make it smaller and try again.",
                    field,
                )
            if getattr(probe, "n_frames", 1) > 1:
                raise MediaError(
                    "Animated pictures are not accepted: upload a still picture.", field
                )
            probe.verify()
            # verify() leaves the image unusable: open it again to decode the pixels.
            picture = PILImage.open(io.BytesIO(data), formats=ACCEPTED)
            picture.load()
    except MediaError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise not_a_picture from exc
    except PILImage.DecompressionBombError as exc:
        raise MediaError(
            f"That picture has more than the {limit // 1_000_000} megapixels accepted: "
            "make it smaller and try again.",
            field,
        ) from exc
    if min(picture.size) < MIN_SIDE:
        raise MediaError(f"That picture is too small: at least {MIN_SIDE} pixels a side.", field)
    return picture


def _upright(picture: PILImage.Image) -> PILImage.Image:
    """Turned as the camera meant, in RGB or RGBA, with nothing of the file's metadata."""
    picture = ImageOps.exif_transpose(picture) or picture
    has_alpha = picture.mode in ("RGBA", "LA", "PA") or (
        picture.mode == "P" and "transparency" in picture.info
    )
    pixels = picture.convert("RGBA" if has_alpha else "RGB")
    # A new image from the pixels alone: no info dict, so no EXIF, XMP, ICC or comment.
    clean = PILImage.new(pixels.mode, pixels.size)
    clean.paste(pixels)
    return clean


def variant_widths(width: int) -> list[int]:
    """The widths made for a picture ``width`` pixels wide."""
    return sorted({min(w, width) for w in WIDTHS})


def _encode(picture: PILImage.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == JPEG:
        if picture.mode == "RGBA":
            # JPEG has no transparency: lay the picture on white, as a page would show it.
            flat = PILImage.new("RGB", picture.size, (255, 255, 255))
            flat.paste(picture, mask=picture.getchannel("A"))
            picture = flat
        picture.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    else:
        # method 2 of 0-6: most of the size saving of the slow methods, at a third the time.
        picture.save(out, "WEBP", quality=WEBP_QUALITY, method=2)
    return out.getvalue()


def clean_alt(image_id: int | None, alt: str, field: str = "image_alt") -> str:
    """A picture's alt text: required with a picture, dropped without one."""
    alt = " ".join((alt or "").split())
    if image_id is None:
        # No picture, nothing to describe: words left from a removed one go with it.
        return ""
    if not alt:
        raise MediaError(
            "Describe the picture for readers who cannot see it (the alt text), "
            "for example “Protesters outside the parliament at dusk”.",
            field,
        )
    if len(alt) > ALT_MAX:
        raise MediaError(f"Keep the description under {ALT_MAX} characters.", field)
    return alt


def find_by_key(key: str) -> Image | None:
    """The picture whose stored names start with ``key``."""
    return db.session.scalar(select(Image).where(Image.content_hash.startswith(key)))


def store_upload(data: bytes, filename: str = "", field: str | None = None) -> Image:
    """Check, clean, resize and store an upload; the same file twice is one picture."""
    if not data:
        raise MediaError("Choose a picture to upload.", field)
    if len(data) > max_bytes():
        raise MediaError(
            f"That file is {_megabytes(len(data))}; pictures may be up to "
            f"{_megabytes(max_bytes())}.",
            field,
        )
    digest = hashlib.sha256(data).hexdigest()
    existing = db.session.scalar(select(Image).where(Image.content_hash == digest))
    if existing is not None:
        return existing
    picture = _upright(_open_checked(data, field))
    image = Image(
        original_name=(filename or "")[-NAME_MAX:],
        width=picture.width,
        height=picture.height,
        content_hash=digest,
    )
    store = storage()
    for width in variant_widths(picture.width):
        height = max(1, round(picture.height * width / picture.width))
        resized = (
            picture
            if width == picture.width
            else picture.resize((width, height), PILImage.Resampling.LANCZOS)
        )
        for fmt in FORMATS:
            body = _encode(resized, fmt)
            name = f"{image.key}-{width}.{EXTENSIONS[fmt]}"
            store.save(name, body, CONTENT_TYPES[fmt])
            image.variants.append(
                ImageVariant(width=width, height=height, format=fmt, name=name, bytes=len(body))
            )
    db.session.add(image)
    db.session.commit()
    return image


def get_image(image_id: int | None) -> Image | None:
    """A picture by id, or None."""
    return db.session.get(Image, image_id) if image_id else None


def url(name: str) -> str:
    """Where a browser fetches a stored file (a path when this app serves it)."""
    return storage().url(name)


def absolute_url(name: str) -> str:
    """The stored file's full address, for mail, feeds and link previews."""
    address = url(name)
    return address if "://" in address else current_app.config["SITE_URL"] + address


def srcset(image: Image, fmt: str, absolute: bool = False) -> str:
    """``url 480w, url 960w, ...`` for one format."""
    to_url = absolute_url if absolute else url
    return ", ".join(f"{to_url(v.name)} {v.width}w" for v in image.of_format(fmt))


def body_markdown(image: Image, alt: str) -> str:
    """The Markdown an author pastes into a body to show the picture."""
    clean = " ".join((alt or "").replace("[", "(").replace("]", ")").split())
    return f"![{clean}]({url(image.widest(JPEG, at_most=960).name)})"

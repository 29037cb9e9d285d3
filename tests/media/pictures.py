"""Real picture files for tests, made with Pillow."""

from __future__ import annotations

import io

from PIL import Image

# EXIF tags: Orientation (0x0112) and the GPS block (0x8825).
ORIENTATION = 0x0112
GPS_IFD = 0x8825


def jpeg(width: int = 1200, height: int = 800, colour=(200, 40, 40), **save) -> bytes:
    """A JPEG of one colour, with a darker left half so orientation can be seen."""
    picture = Image.new("RGB", (width, height), colour)
    picture.paste((20, 20, 20), (0, 0, width // 2, height))
    out = io.BytesIO()
    picture.save(out, "JPEG", **{"quality": 90, **save})
    return out.getvalue()


def jpeg_with_gps_and_rotation(width: int = 1200, height: int = 800) -> bytes:
    """A landscape JPEG whose EXIF says turn it 90° (so it shows as a portrait), with GPS."""
    picture = Image.new("RGB", (width, height), (30, 120, 200))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "Camera Maker Inc"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 12.0), 3: "W", 4: (0.0, 7.0, 39.0)})
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png(width: int = 640, height: int = 480, alpha: bool = False) -> bytes:
    """A PNG, transparent at the top when ``alpha``."""
    picture = Image.new("RGBA" if alpha else "RGB", (width, height), (10, 160, 90, 255))
    if alpha:
        picture.paste((0, 0, 0, 0), (0, 0, width, height // 2))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def animated_gif() -> bytes:
    """A two-frame animated GIF."""
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def bomb_png(side: int = 20000) -> bytes:
    """A tiny PNG file that decodes to side × side pixels (a decompression bomb)."""
    picture = Image.new("1", (side, side))
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    return out.getvalue()


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    b'<script>alert(document.cookie)</script><rect width="100" height="100"/></svg>'
)

"""The demo's pictures, drawn here with Pillow (nothing is downloaded): each one seeded
by its article's or product's slug, so a demo loaded twice draws the same pictures.

They go through the same upload service as an author's pictures: checked, resized to
every width in WebP and JPEG, and stored where MEDIA_STORAGE says.
"""

from __future__ import annotations

import hashlib
import io
import random

from PIL import Image, ImageDraw
from sqlalchemy import select

from shop.articles.models import Article
from shop.catalogue.models import Product
from shop.extensions import db
from shop.media import services as media

WIDTH, HEIGHT = 1600, 1000
# (name, colour): the deep and the light end of each picture's sky.
SKIES = [
    ("deep blue", (18, 42, 92), (120, 170, 214)),
    ("dusk violet", (52, 30, 84), (226, 150, 120)),
    ("forest green", (16, 64, 48), (170, 206, 150)),
    ("slate grey", (40, 48, 58), (190, 196, 204)),
    ("rust red", (96, 32, 22), (236, 184, 120)),
    ("sea teal", (10, 70, 84), (150, 214, 206)),
]
SHAPES = ("hills", "circles", "stripes")
WORDS = {
    "hills": "rolling hills under a low sun",
    "circles": "overlapping circles",
    "stripes": "diagonal bands of light",
}


def _rng(seed: str) -> random.Random:
    """A random source fixed by the seed (a slug), the same on every machine."""
    return random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))  # noqa: S311


def _sky(deep: tuple[int, int, int], light: tuple[int, int, int]) -> Image.Image:
    """A vertical gradient from ``deep`` at the top to ``light`` at the bottom."""
    column = Image.new("RGB", (1, HEIGHT))
    for y in range(HEIGHT):
        t = y / (HEIGHT - 1)
        column.putpixel(
            (0, y), tuple(round(d + (lt - d) * t) for d, lt in zip(deep, light, strict=True))
        )
    return column.resize((WIDTH, HEIGHT))


def _shade(colour: tuple[int, int, int], amount: float) -> tuple[int, ...]:
    return (*(max(0, min(255, round(c * amount))) for c in colour), 200)


def draw(seed: str) -> tuple[bytes, str]:
    """A picture for ``seed`` as PNG bytes, and the words that describe it."""
    rng = _rng(seed)
    name, deep, light = SKIES[rng.randrange(len(SKIES))]
    shape = SHAPES[rng.randrange(len(SHAPES))]
    picture = _sky(deep, light).convert("RGBA")
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(layer)
    # A sun (or moon) somewhere in the upper half.
    sx, sy, sr = rng.randint(200, WIDTH - 200), rng.randint(120, HEIGHT // 2), rng.randint(60, 140)
    pen.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=(255, 236, 190, 210))
    if shape == "hills":
        for band in range(4):
            base = HEIGHT * (0.55 + band * 0.12)
            points: list[tuple[float, float]] = [(0, HEIGHT)]
            for x in range(0, WIDTH + 100, 100):
                points.append((x, base - rng.randint(0, 120)))
            points.append((WIDTH, HEIGHT))
            pen.polygon(points, fill=_shade(deep, 1.4 - band * 0.3))
    elif shape == "circles":
        for _ in range(9):
            x, y, r = rng.randint(0, WIDTH), rng.randint(0, HEIGHT), rng.randint(80, 320)
            pen.ellipse((x - r, y - r, x + r, y + r), fill=_shade(light, rng.uniform(0.5, 1.2)))
    else:
        for _ in range(7):
            x, w = rng.randint(-WIDTH // 2, WIDTH), rng.randint(60, 220)
            pen.polygon(
                [(x, HEIGHT), (x + w, HEIGHT), (x + w + 600, 0), (x + 600, 0)],
                fill=_shade(light, rng.uniform(0.6, 1.3)),
            )
    picture = Image.alpha_composite(picture, layer)
    out = io.BytesIO()
    # Stored re-encoded anyway: a quick, light compression is enough.
    picture.convert("RGB").save(out, "PNG", compress_level=1)
    return out.getvalue(), f"An illustration of {WORDS[shape]}, in {name}"


def load_pictures(article_slugs: list[str], product_slugs: list[str]) -> int:
    """Draw and store a picture for each demo article and product that has none."""
    made = 0
    for row in [
        *db.session.scalars(
            select(Article).where(Article.slug.in_(article_slugs), Article.image_id.is_(None))
        ),
        *db.session.scalars(
            select(Product).where(Product.slug.in_(product_slugs), Product.image_id.is_(None))
        ),
    ]:
        data, words = draw(row.slug)
        image = media.store_upload(data, f"{row.slug}.png")
        row.image_id = image.id
        title = row.title if isinstance(row, Article) else row.name
        row.image_alt = f"{words}, for “{title}”"
        made += 1
    db.session.commit()
    return made

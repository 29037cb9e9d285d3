"""An uploaded picture and the resized files made from it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.clock import utcnow
from shop.extensions import Model

WEBP = "webp"
JPEG = "jpeg"
CONTENT_TYPES = {WEBP: "image/webp", JPEG: "image/jpeg"}
EXTENSIONS = {WEBP: "webp", JPEG: "jpg"}


class Image(Model):
    """A picture as uploaded: its size and the hash of its pixels' file, never the file."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(primary_key=True)
    original_name: Mapped[str] = mapped_column(String(255), default="")
    width: Mapped[int]
    height: Mapped[int]
    # SHA-256 of the uploaded bytes: the same file uploaded twice is one picture.
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    variants: Mapped[list[ImageVariant]] = relationship(
        back_populates="image",
        cascade="all, delete-orphan",
        order_by="ImageVariant.width",
        lazy="selectin",
    )

    @property
    def key(self) -> str:
        """The prefix of every stored file's name: a piece of the content hash."""
        return self.content_hash[:16]

    def of_format(self, fmt: str) -> list[ImageVariant]:
        """The variants in one format, narrowest first."""
        return [v for v in self.variants if v.format == fmt]

    def widest(self, fmt: str = JPEG, at_most: int | None = None) -> ImageVariant:
        """The widest variant of a format, at most ``at_most`` pixels wide when one is."""
        choices = self.of_format(fmt)
        if at_most is not None:
            fitting = [v for v in choices if v.width <= at_most]
            choices = fitting or choices[:1]
        return choices[-1]

    def __repr__(self) -> str:
        return f"<Image {self.key} {self.width}x{self.height}>"


class ImageVariant(Model):
    """One resized file of a picture: a width in one format, under its stored name."""

    __tablename__ = "image_variants"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    width: Mapped[int]
    height: Mapped[int]
    format: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(80), unique=True)
    bytes: Mapped[int]

    image: Mapped[Image] = relationship(back_populates="variants")

    @property
    def content_type(self) -> str:
        """The MIME type the file is served with."""
        return CONTENT_TYPES[self.format]

"""Uploads: checked by content, cleaned of metadata, resized, stored and served."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from shop.extensions import db
from shop.media import services as media
from shop.media.models import Image
from shop.media.storage import LocalStorage, storage
from tests.media import pictures


def _stored_bytes(name: str) -> bytes:
    store = storage()
    assert isinstance(store, LocalStorage)
    return store.path(name).read_bytes()


def test_a_jpeg_is_resized_to_each_width_in_webp_and_jpeg(app, client):
    image = media.store_upload(pictures.jpeg(2000, 1000), "holiday.jpg")
    made = sorted((v.format, v.width, v.height) for v in image.variants)
    assert made == [
        ("jpeg", 480, 240),
        ("jpeg", 960, 480),
        ("jpeg", 1600, 800),
        ("webp", 480, 240),
        ("webp", 960, 480),
        ("webp", 1600, 800),
    ]
    for variant in image.variants:
        response = client.get(f"/media/{variant.name}")
        assert response.status_code == 200
        assert response.mimetype == variant.content_type
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        decoded = PILImage.open(io.BytesIO(response.data))
        assert decoded.format == variant.format.upper()
        assert decoded.size == (variant.width, variant.height)


def test_a_small_picture_is_never_made_larger(app):
    image = media.store_upload(pictures.png(640, 480), "small.png")
    assert sorted({v.width for v in image.variants}) == [480, 640]


def test_the_same_file_twice_is_one_picture(app):
    data = pictures.jpeg(800, 600, colour=(1, 2, 3))
    assert media.store_upload(data, "a.jpg").id == media.store_upload(data, "b.jpg").id


def test_exif_orientation_is_applied_and_gps_is_stripped(app):
    original = pictures.jpeg_with_gps_and_rotation(1200, 800)
    assert PILImage.open(io.BytesIO(original)).getexif().get_ifd(pictures.GPS_IFD)
    image = media.store_upload(original, "phone.jpg")
    # Orientation 6: the landscape file is a portrait picture.
    assert (image.width, image.height) == (800, 1200)
    for variant in image.variants:
        data = _stored_bytes(variant.name)
        stored = PILImage.open(io.BytesIO(data))
        assert stored.height > stored.width
        assert not stored.getexif(), "no EXIF at all survives"
        assert b"Camera Maker" not in data
        assert "icc_profile" not in stored.info


def test_transparency_is_kept_in_webp_and_laid_on_white_in_jpeg(app):
    image = media.store_upload(pictures.png(600, 400, alpha=True), "logo.png")
    webp = PILImage.open(io.BytesIO(_stored_bytes(image.widest("webp").name)))
    jpeg = PILImage.open(io.BytesIO(_stored_bytes(image.widest("jpeg").name)))
    assert webp.mode == "RGBA" and webp.getpixel((10, 10))[3] == 0
    assert jpeg.getpixel((10, 10)) == pytest.approx((255, 255, 255), abs=3)


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (pictures.SVG, "drawing.svg", "SVG"),
        (b"#!/bin/sh\necho this is not a picture\n", "photo.jpg", "not a picture"),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\n", "scan.png", "not a picture"),
        (pictures.jpeg()[:400], "cut-short.jpg", "not a picture"),
        (pictures.animated_gif(), "moving.gif", "Animated"),
        (b"", "empty.jpg", "Choose a picture"),
    ],
)
def test_what_is_not_a_still_picture_is_refused_by_its_content(app, data, name, words):
    with pytest.raises(media.MediaError, match=words):
        media.store_upload(data, name)
    assert db.session.query(Image).count() == 0


def test_a_decompression_bomb_is_refused_before_it_is_decoded(app):
    data = pictures.bomb_png(20000)
    assert len(data) < 200_000, "a small file that would decode to 400 megapixels"
    with pytest.raises(media.MediaError, match="megapixels"):
        media.store_upload(data, "bomb.png")


def test_a_file_past_the_size_limit_is_refused(app):
    app.config["MEDIA_MAX_BYTES"] = 50_000
    with pytest.raises(media.MediaError, match="may be up to"):
        media.store_upload(pictures.jpeg(3000, 2000) + b"\0" * 60_000, "huge.jpg")


def test_a_polyglot_keeps_none_of_its_payload(app):
    payload = b"<script>alert('stored')</script><?php system($_GET['c']); ?>"
    image = media.store_upload(pictures.jpeg(900, 600) + payload, "polyglot.jpg")
    for variant in image.variants:
        data = _stored_bytes(variant.name)
        assert b"<script>" not in data and b"<?php" not in data


def test_media_names_outside_the_stores_pattern_are_not_served(app, client):
    assert client.get("/media/..%2Fsecret_key").status_code == 404
    assert client.get("/media/0123456789abcdef-960.jpg").status_code == 404
    assert client.get("/media/secret_key").status_code == 404


def test_the_pixel_limit_is_a_setting(app):
    app.config["MEDIA_MAX_PIXELS"] = 1_000_000
    with pytest.raises(media.MediaError, match="2000 × 1000 pixels"):
        media.store_upload(pictures.jpeg(2000, 1000, colour=(9, 9, 9)), "wide.jpg")


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({"MEDIA_STORAGE": "ftp"}, "local or s3"),
        ({"MEDIA_STORAGE": "s3"}, "MEDIA_S3_BUCKET"),
        ({"MEDIA_MAX_BYTES": "ten"}, "whole number"),
        ({"MEDIA_MAX_PIXELS": "0"}, "above 0"),
    ],
)
def test_a_wrong_media_setting_stops_the_start(tmp_path, environ, words):
    from shop.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=words):
        load_settings(str(tmp_path), environ)

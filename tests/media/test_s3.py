"""S3Storage against a local S3-compatible server (moto's), over real HTTP."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from shop.media import services as media
from shop.media.storage import S3Storage, build_storage, storage
from tests.media import pictures

boto3 = pytest.importorskip("boto3", reason="boto3 is the optional extra [s3]")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev extra")

BUCKET = "broadsheet-pictures"


@pytest.fixture(scope="module")
def s3_endpoint():
    """A local S3 on 127.0.0.1, its bucket made."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


@pytest.fixture
def s3_app(app_config, s3_endpoint):
    """Settings that put pictures in the bucket."""
    app_config.update(
        MEDIA_STORAGE="s3",
        MEDIA_S3_BUCKET=BUCKET,
        MEDIA_S3_ENDPOINT_URL=s3_endpoint,
        MEDIA_S3_REGION="us-east-1",
        MEDIA_S3_ACCESS_KEY_ID="test",
        MEDIA_S3_SECRET_ACCESS_KEY="test",
        MEDIA_PUBLIC_URL="https://pictures.example.org",
    )
    return app_config


def test_pictures_go_to_the_bucket_with_their_type_and_cache_header(s3_app, app, client):
    app.extensions.pop("media_storage", None)
    assert isinstance(storage(), S3Storage)
    image = media.store_upload(pictures.jpeg(1000, 500, colour=(4, 5, 6)), "s3.jpg")
    bucket = boto3.client(
        "s3",
        endpoint_url=s3_app["MEDIA_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    for variant in image.variants:
        stored = bucket.get_object(Bucket=BUCKET, Key=variant.name)
        assert stored["ContentType"] == variant.content_type
        assert stored["CacheControl"] == "public, max-age=31536000, immutable"
        size = PILImage.open(io.BytesIO(stored["Body"].read())).size
        assert size == (variant.width, variant.height)
    # Browsers fetch from the bucket's public address, never from this app.
    wide = image.widest("jpeg")
    assert media.url(wide.name) == f"https://pictures.example.org/{wide.name}"
    assert client.get(f"/media/{wide.name}").status_code == 404
    app.extensions.pop("media_storage", None)


def test_the_bucket_address_is_the_default_public_url():
    store = build_storage(
        {
            "MEDIA_STORAGE": "s3",
            "MEDIA_S3_BUCKET": "b",
            "MEDIA_S3_ENDPOINT_URL": "https://s3.example.net/",
            "MEDIA_S3_REGION": "auto",
            "MEDIA_S3_ACCESS_KEY_ID": "k",
            "MEDIA_S3_SECRET_ACCESS_KEY": "s",
            "MEDIA_PUBLIC_URL": "",
        }
    )
    assert store.url("x") == "https://s3.example.net/b/x"

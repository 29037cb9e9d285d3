"""Where picture files live: one small interface, a local folder or S3-compatible storage.

Every stored name holds a piece of the file's content hash, so a name never changes
meaning and every file may be cached for a year.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Protocol

from flask import current_app

# Names are made here (hash, width, extension), never taken from an upload.
NAME = re.compile(r"[0-9a-f]{16}-\d{1,5}\.(?:webp|jpg)")
CACHE_FOREVER = "public, max-age=31536000, immutable"
LOCAL = "local"
S3 = "s3"


class Storage(Protocol):
    """What the rest of the app may ask of a store of picture files."""

    def save(self, name: str, data: bytes, content_type: str) -> None:
        """Keep ``data`` under ``name``."""

    def url(self, name: str) -> str:
        """The address a browser fetches the file from (a path when served here)."""

    def delete(self, name: str) -> None:
        """Remove a file; a missing one is no error."""


class LocalStorage:
    """A folder on this machine, served by the app at /media/<name>."""

    def __init__(self, root: str | os.PathLike[str], base_url: str = "/media") -> None:
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")

    def path(self, name: str) -> Path:
        """The file's place in the folder; only names this app makes are accepted."""
        if not NAME.fullmatch(name):
            raise ValueError(f"not a stored picture's name: {name!r}")
        return self.root / name

    def save(self, name: str, data: bytes, content_type: str) -> None:
        """Write the file whole, then move it in place, so no reader sees half a file."""
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(target)

    def url(self, name: str) -> str:
        """/media/<name>."""
        return f"{self.base_url}/{name}"

    def delete(self, name: str) -> None:
        """Remove the file if it is there."""
        self.path(name).unlink(missing_ok=True)


class S3Storage:
    """A bucket on Amazon S3 or any S3-compatible service, for several web machines."""

    def __init__(
        self,
        bucket: str,
        public_url: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        import boto3  # an optional extra: only a site that stores pictures in S3 needs it

        self.bucket = bucket
        self.public_url = public_url.rstrip("/")
        # Without keys given here, boto3 finds them as it always does (environment, role).
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
        )

    def save(self, name: str, data: bytes, content_type: str) -> None:
        """Put the object with its type and the year-long cache header."""
        self.client.put_object(
            Bucket=self.bucket,
            Key=name,
            Body=data,
            ContentType=content_type,
            CacheControl=CACHE_FOREVER,
        )

    def url(self, name: str) -> str:
        """MEDIA_PUBLIC_URL/<name>."""
        return f"{self.public_url}/{name}"

    def delete(self, name: str) -> None:
        """Delete the object (S3 answers the same for a missing one)."""
        self.client.delete_object(Bucket=self.bucket, Key=name)


def build_storage(config: dict[str, Any]) -> Storage:
    """The store the settings name: the local folder, or S3 when MEDIA_STORAGE=s3."""
    if config["MEDIA_STORAGE"] == S3:
        endpoint = config["MEDIA_S3_ENDPOINT_URL"]
        public = config["MEDIA_PUBLIC_URL"] or (
            f"{endpoint.rstrip('/')}/{config['MEDIA_S3_BUCKET']}"
            if endpoint
            else f"https://{config['MEDIA_S3_BUCKET']}.s3.amazonaws.com"
        )
        return S3Storage(
            bucket=config["MEDIA_S3_BUCKET"],
            public_url=public,
            endpoint_url=endpoint,
            region=config["MEDIA_S3_REGION"],
            access_key=config["MEDIA_S3_ACCESS_KEY_ID"],
            secret_key=config["MEDIA_S3_SECRET_ACCESS_KEY"],
        )
    return LocalStorage(config["MEDIA_DIR"])


def storage() -> Storage:
    """This app's store, built once from its settings."""
    store = current_app.extensions.get("media_storage")
    if store is None:
        store = build_storage(current_app.config)
        current_app.extensions["media_storage"] = store
    return store

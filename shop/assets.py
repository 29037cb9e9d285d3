"""What the site's own files and response bodies look like on the wire.

Static files (``static/``) are hashed once at start-up: ``url_for('static', ...)`` then
names each by its content (``css/site.3f2a1c9e0b7d.css``), and that name is served with
``Cache-Control: public, max-age=31536000, immutable``, since its bytes can never change
under it. The plain name (``css/site.css``) still works, with ``no-cache`` and an ETag, for
old links and anything outside the templates. A name with a hash that is no longer the
file's (a page cached from before a deploy) gets today's file with ``no-cache``, never
a year's lifetime for bytes that do not match its name.

With ``COMPRESS`` on, the text ones are also kept brotli- and gzip-compressed, once, at
start-up and at each format's smallest, and sent in the encoding the browser prefers.

Responses are compressed (Flask-Compress: brotli, else gzip) when ``COMPRESS`` is on:
pages, CSS, JavaScript, feeds, the sitemap, JSON, CSV; never pictures or bodies under
``COMPRESS_MIN_SIZE`` bytes. Flask-Compress gives each encoding its own strong ETag
(``"abc:br"``, ``"abc:gzip"``) and answers ``If-None-Match`` after compressing, so a
cache never mixes the two; ``Vary: Accept-Encoding`` goes on every response.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import re
from dataclasses import dataclass, field
from typing import Any

import brotli
from flask import Flask, abort, current_app, request, session
from flask.wrappers import Response as FlaskResponse
from flask_compress import Compress
from werkzeug.security import safe_join
from werkzeug.wrappers import Response

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
DIGEST_LENGTH = 12
# name.<hash>.ext -> name, hash, .ext (the hash is hexadecimal, DIGEST_LENGTH long).
FINGERPRINTED = re.compile(
    rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})(?P<ext>\.[^./]+)$"
)
# The bodies worth compressing: text. Pictures are compressed by their own formats; an
# SVG is XML text, so it is compressed too.
COMPRESS_MIMETYPES = [
    "text/html",
    "text/css",
    "text/plain",
    "text/csv",
    "text/xml",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/xml",
    "application/atom+xml",
    "application/rss+xml",
    "image/svg+xml",
]


# The encodings a static file is kept in, best first. Compressed once, at start-up, so
# at brotli's and gzip's smallest (a page is compressed per request, at a quicker level).
STATIC_ENCODINGS = ("br", "gzip")


@dataclass(frozen=True)
class Asset:
    """One static file as served: its bytes, content hash, type and modification time,
    and its compressed bodies (none when compression is off or it is not text)."""

    body: bytes
    digest: str
    mimetype: str
    mtime: float
    encoded: dict[str, bytes] = field(default_factory=dict)


def compress_static(body: bytes) -> dict[str, bytes]:
    """The body in each static encoding, each kept only where it is smaller."""
    encoded = {
        "br": brotli.compress(body, quality=11),
        "gzip": gzip.compress(body, compresslevel=9, mtime=0),
    }
    return {name: data for name, data in encoded.items() if len(data) < len(body)}


class Compressor(Compress):
    """Flask-Compress, told the encoding that Werkzeug's Accept-Encoding parser picks.

    Flask-Compress 1.25 reads ``gzip;q=0`` (gzip refused) as gzip at the lowest
    preference and may send it; Werkzeug treats q=0 as refused, as RFC 9110 says.
    """

    def after_request(self, response: FlaskResponse | None) -> FlaskResponse:
        """Compress in the encoding Werkzeug picks (or none), then restore the header."""
        environ = request.environ
        asked = environ.get("HTTP_ACCEPT_ENCODING")
        chosen = request.accept_encodings.best_match(list(self.enabled_algorithms))
        environ["HTTP_ACCEPT_ENCODING"] = chosen or "identity"
        try:
            return super().after_request(response)
        finally:
            if asked is None:
                environ.pop("HTTP_ACCEPT_ENCODING", None)
            else:
                environ["HTTP_ACCEPT_ENCODING"] = asked


def fingerprinted_name(filename: str, digest: str) -> str:
    """``css/site.css`` -> ``css/site.<digest>.css``."""
    stem, ext = os.path.splitext(filename)
    return f"{stem}.{digest}{ext}"


class StaticFiles:
    """The static folder, hashed once (again on a change, when ``watch`` is on)."""

    def __init__(
        self,
        folder: str,
        watch: bool = False,
        compress: frozenset[str] = frozenset(),
        min_size: int = 0,
    ) -> None:
        """Read and hash every file under ``folder``; compress the types in ``compress``."""
        self.folder = os.path.abspath(folder)
        self.watch = watch
        self.compress = compress
        self.min_size = min_size
        self.assets: dict[str, Asset] = {}
        for root, _dirs, files in os.walk(self.folder):
            for name in files:
                path = os.path.join(root, name)
                relative = os.path.relpath(path, self.folder).replace(os.sep, "/")
                self.assets[relative] = self._read(path)

    def _read(self, path: str) -> Asset:
        with open(path, "rb") as handle:
            body = handle.read()
        digest = hashlib.sha256(body).hexdigest()[:DIGEST_LENGTH]
        mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        worth = mimetype in self.compress and len(body) >= self.min_size
        encoded = compress_static(body) if worth else {}
        return Asset(body, digest, mimetype, os.path.getmtime(path), encoded)

    def get(self, filename: str) -> Asset | None:
        """The file by its plain name, re-read first in development if it changed."""
        asset = self.assets.get(filename)
        if self.watch:
            # Only files inside the folder: a name with ``..`` in it finds nothing.
            path = safe_join(self.folder, filename)
            if path is None or not os.path.isfile(path):
                return None
            mtime = os.path.getmtime(path)
            if asset is None or asset.mtime != mtime:
                asset = self.assets[filename] = self._read(path)
        return asset

    def url_name(self, filename: str) -> str:
        """The name a page links to: fingerprinted when the file is known."""
        asset = self.get(filename)
        return fingerprinted_name(filename, asset.digest) if asset else filename

    def resolve(self, requested: str) -> tuple[Asset, bool] | None:
        """The file a requested name stands for, and whether the name holds its hash."""
        asset = self.assets.get(requested) if not self.watch else self.get(requested)
        if asset is not None:
            return asset, False
        match = FINGERPRINTED.match(requested)
        if match is None:
            return None
        asset = self.get(match["stem"] + match["ext"])
        if asset is None:
            return None
        return asset, asset.digest == match["digest"]


def static_files() -> StaticFiles:
    """This app's hashed static folder."""
    return current_app.extensions["static_files"]


def serve_static(filename: str) -> Response:
    """A static file: a year's lifetime under its hashed name, ``no-cache`` otherwise."""
    found = static_files().resolve(filename)
    if found is None:
        abort(404)
    asset, current = found
    encoding = request.accept_encodings.best_match(
        [name for name in STATIC_ENCODINGS if name in asset.encoded]
    )
    if encoding:
        response = Response(asset.encoded[encoding], mimetype=asset.mimetype)
        response.headers["Content-Encoding"] = encoding
        # Flask-Compress's form of a per-encoding ETag, so both kinds of body agree.
        response.set_etag(f"{asset.digest}:{encoding}")
    else:
        response = Response(asset.body, mimetype=asset.mimetype)
        response.set_etag(asset.digest)
    if asset.encoded:
        response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = IMMUTABLE if current else REVALIDATE
    return response.make_conditional(request)


def static_vary_no_cookie(response: Response) -> Response:
    """A static file is the same for everyone: no ``Vary: Cookie`` on it.

    Flask-Login's response hook looks in the session on every request, and Flask then
    adds ``Vary: Cookie``, which would make a shared cache keep a copy per visitor of a
    file that never depends on who asks. Reading is all that happened (a change to the
    session would still be saved).
    """
    if request.endpoint == "static":
        session.accessed = False
    return response


def fingerprint_static_urls(endpoint: str, values: dict[str, Any]) -> None:
    """url_for('static', filename=...) names the file by its hash (``fingerprint=False``
    keeps the plain name, for a permanent redirect that must outlive the file's bytes)."""
    if endpoint != "static":
        return
    if not values.pop("fingerprint", True):
        return
    filename = values.get("filename")
    if filename:
        values["filename"] = static_files().url_name(filename)


def register_assets(app: Flask) -> None:
    """Hash the static files, serve them, and compress responses if COMPRESS is on."""
    assert app.static_folder is not None  # noqa: S101  (the factory always sets one)
    compress = app.config["COMPRESS"]
    app.extensions["static_files"] = StaticFiles(
        app.static_folder,
        watch=app.debug,
        compress=frozenset(COMPRESS_MIMETYPES if compress else ()),
        min_size=app.config["COMPRESS_MIN_SIZE"],
    )
    app.view_functions["static"] = serve_static
    app.url_defaults(fingerprint_static_urls)
    # Registered before the extensions, so it runs after Flask-Login's hook has looked.
    app.after_request(static_vary_no_cookie)
    if compress:
        app.config.setdefault("COMPRESS_MIMETYPES", COMPRESS_MIMETYPES)
        app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
        # Brotli's level 5 is smaller than gzip's 6 on these pages for under half a ms.
        app.config.setdefault("COMPRESS_BR_LEVEL", 5)
        # Nothing here streams a body; were one to, the same two encodings.
        app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "gzip"])
        Compressor(app)

"""Static files named by their content, cached for a year; compressed responses.

What a browser or a proxy notices: the page links ``site.<hash>.css``, that name may be
kept a year, the plain name still works but is checked each time, and text bodies come
brotli- or gzip-compressed when asked for (never pictures, never tiny bodies), each
encoding with its own ETag.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from pathlib import Path

import brotli
import pytest

from shop import create_app
from shop.assets import IMMUTABLE
from shop.media.services import store_upload
from tests.factories import ArticleFactory, UserFactory
from tests.media import pictures

STATIC = Path(__file__).resolve().parents[2] / "static"
LINKED = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def digest_of(relative: str) -> str:
    """The 12-character content hash a static file is named by."""
    return hashlib.sha256((STATIC / relative).read_bytes()).hexdigest()[:12]


def decoded(response) -> bytes:
    """The body as the browser reads it, whatever the encoding."""
    encoding = response.headers.get("Content-Encoding")
    if encoding == "br":
        return brotli.decompress(response.data)
    if encoding == "gzip":
        return gzip.decompress(response.data)
    assert encoding is None, encoding
    return response.data


def test_pages_link_static_files_by_their_content(client):
    html = client.get("/").get_data(as_text=True)
    linked = LINKED.findall(html)
    assert f"/static/css/site.{digest_of('css/site.css')}.css" in linked
    assert f"/static/img/logo.{digest_of('img/logo.svg')}.svg" in linked
    # Every static link on the page names its file by its hash: none left plain.
    assert all(re.search(r"\.[0-9a-f]{12}\.\w+$", url) for url in linked), linked


def test_a_fingerprinted_name_is_cached_for_a_year(client):
    name = f"/static/css/site.{digest_of('css/site.css')}.css"
    response = client.get(name)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.mimetype == "text/css"
    assert response.data == (STATIC / "css/site.css").read_bytes()


def test_scripts_are_fingerprinted_on_the_back_office_pages(client, auth, admin):
    auth.login(admin.email)
    html = client.get("/admin/articles/new").get_data(as_text=True)
    script = f"/static/js/editor.{digest_of('js/editor.js')}.js"
    assert script in html
    response = client.get(script)
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert response.data == (STATIC / "js/editor.js").read_bytes()


def test_the_plain_name_still_works_and_is_checked_each_time(client):
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.data == (STATIC / "css/site.css").read_bytes()
    again = client.get("/static/css/site.css", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


def test_a_stale_hash_gets_todays_file_without_a_long_lifetime(client):
    # A page cached before a deploy asks for the old name: the new bytes, but not for a year.
    response = client.get("/static/css/site.0123456789ab.css")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.data == (STATIC / "css/site.css").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/css/nothing.css",
        "/static/css/nothing.0123456789ab.css",
        "/static/../pyproject.toml",
        "/static/css/",
    ],
)
def test_unknown_static_names_are_404(client, path):
    assert client.get(path).status_code == 404


def test_the_favicon_redirect_keeps_the_plain_name(client):
    # A 301 is remembered for good: it must not point at bytes that a deploy replaces.
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/static/img/favicon.svg")


# --- compression ------------------------------------------------------------------------


def _articles() -> None:
    for n in range(6):
        ArticleFactory(title=f"River story {n}", summary="The river rose again. " * 10)


@pytest.mark.parametrize("encoding", ["br", "gzip"])
@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/", "text/html"),
        ("/articles/river-story-1", "text/html"),
        ("/static/css/site.css", "text/css"),
        ("/static/css/admin.css", "text/css"),
        ("/static/js/editor.js", None),
        ("/feed.xml", "application/atom+xml"),
        ("/sitemap.xml", "application/xml"),
    ],
)
def test_text_bodies_are_compressed_when_asked(client, path, mimetype, encoding):
    _articles()
    plain = client.get(path)
    response = client.get(path, headers={"Accept-Encoding": f"{encoding}, deflate"})
    assert response.status_code == 200
    if mimetype:
        assert response.mimetype == mimetype
    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.headers["Vary"]
    assert int(response.headers["Content-Length"]) == len(response.data) < len(plain.data)
    assert decoded(response) == plain.data


def test_brotli_is_preferred_when_both_are_offered(client):
    response = client.get("/static/css/site.css", headers={"Accept-Encoding": "gzip, br"})
    assert response.headers["Content-Encoding"] == "br"


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/admin/subscribers/export.json", "application/json"),
        ("/admin/subscribers/export.csv", "text/csv"),
    ],
)
def test_exports_are_compressed(client, auth, admin, path, mimetype):
    # Both are streamed as they are read from the database: compressed as they stream.
    auth.login(admin.email)
    for n in range(15):
        UserFactory(email=f"reader{n}@example.org")
    plain = client.get(path)
    assert plain.mimetype == mimetype
    response = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert decoded(response) == plain.data


def test_a_client_that_asks_for_nothing_gets_plain_bytes(client):
    _articles()
    response = client.get("/")
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" in response.headers["Vary"]
    assert (
        client.get("/", headers={"Accept-Encoding": "identity"}).headers.get("Content-Encoding")
        is None
    )


def test_tiny_bodies_are_not_compressed(client):
    response = client.get("/robots.txt", headers={"Accept-Encoding": "br, gzip"})
    assert response.status_code == 200
    assert len(response.data) < 500
    assert "Content-Encoding" not in response.headers


def test_pictures_are_not_compressed(client):
    picture = store_upload(pictures.jpeg(1200, 800), "river.jpg")
    for variant in picture.variants:
        response = client.get(f"/media/{variant.name}", headers={"Accept-Encoding": "br, gzip"})
        assert response.status_code == 200
        assert response.mimetype in ("image/jpeg", "image/webp")
        assert "Content-Encoding" not in response.headers
    # The largest is well past the smallest size that would be compressed.
    assert len(response.get_data()) > 500


def test_each_encoding_has_its_own_etag_and_answers_304(client):
    path = "/static/css/site.css"
    br = client.get(path, headers={"Accept-Encoding": "br"})
    gz = client.get(path, headers={"Accept-Encoding": "gzip"})
    plain = client.get(path)
    etags = {br.headers["ETag"], gz.headers["ETag"], plain.headers["ETag"]}
    assert len(etags) == 3, etags  # a cache can never hand gzip bytes to a brotli client
    again = client.get(
        path, headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["ETag"]}
    )
    assert again.status_code == 304
    # The brotli ETag does not validate the gzip body: the full response comes back.
    other = client.get(
        path, headers={"Accept-Encoding": "gzip", "If-None-Match": br.headers["ETag"]}
    )
    assert other.status_code == 200
    assert decoded(other) == plain.data


def test_compress_off_leaves_bodies_to_the_proxy(app_config):
    app_config["COMPRESS"] = False
    client = create_app(app_config).test_client()
    response = client.get("/static/css/site.css", headers={"Accept-Encoding": "br, gzip"})
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    page = client.get("/", headers={"Accept-Encoding": "br, gzip"})
    assert "Content-Encoding" not in page.headers
    # The fingerprinted names and their lifetime do not depend on compression.
    assert f"site.{digest_of('css/site.css')}.css" in page.get_data(as_text=True)


def test_compress_setting_reads_the_environment(tmp_path):
    from shop.config import load_settings

    assert load_settings(str(tmp_path), {})["COMPRESS"] is True
    assert load_settings(str(tmp_path), {"COMPRESS": "off"})["COMPRESS"] is False
    assert load_settings(str(tmp_path), {"COMPRESS_MIN_SIZE": "2048"})["COMPRESS_MIN_SIZE"] == 2048


def test_an_encoding_refused_with_q0_is_not_sent(client):
    response = client.get("/static/css/site.css", headers={"Accept-Encoding": "br;q=0, gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    page = client.get("/", headers={"Accept-Encoding": "br;q=0, gzip;q=0"})
    assert "Content-Encoding" not in page.headers


def test_in_development_an_edited_file_gets_a_new_name(tmp_path):
    # With --debug the files are watched, so an edited sheet shows on the next page load.
    from shop.assets import StaticFiles

    sheet = tmp_path / "css" / "site.css"
    sheet.parent.mkdir()
    sheet.write_text("body { color: red; }")
    files = StaticFiles(str(tmp_path), watch=True)
    before = files.url_name("css/site.css")
    sheet.write_text("body { color: blue; }")
    os.utime(sheet, (sheet.stat().st_atime, sheet.stat().st_mtime + 5))
    after = files.url_name("css/site.css")
    assert before != after
    assert files.resolve(after) is not None
    assert files.resolve(after)[1] is True
    # Without watching (production), the name stays the one hashed at start-up.
    fixed = StaticFiles(str(tmp_path))
    name = fixed.url_name("css/site.css")
    sheet.write_text("body { color: green; }")
    assert fixed.url_name("css/site.css") == name


def test_in_development_names_outside_the_folder_find_nothing(tmp_path):
    from shop.assets import StaticFiles

    (tmp_path / "static").mkdir()
    (tmp_path / "secret.txt").write_text("not for the web")
    files = StaticFiles(str(tmp_path / "static"), watch=True)
    assert files.resolve("../secret.txt") is None
    assert files.resolve(str(tmp_path / "secret.txt")) is None
    assert files.resolve("") is None


def test_static_files_do_not_vary_by_cookie(client, auth, reader):
    # The same file for everyone: a shared cache keeps one copy, not one per visitor.
    auth.login(reader.email)
    name = f"/static/css/site.{digest_of('css/site.css')}.css"
    for path in (name, "/static/css/site.css"):
        response = client.get(path, headers={"Accept-Encoding": "br"})
        assert response.status_code == 200
        assert "cookie" not in response.headers.get("Vary", "").lower(), response.headers["Vary"]
        assert "Set-Cookie" not in response.headers
    # A page that reads the login still says it varies by cookie.
    assert "Cookie" in client.get("/account").headers["Vary"]

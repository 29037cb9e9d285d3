"""The editor's pictures: the feature picture with its alt text, and pictures in the body."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from shop.articles.models import Article
from shop.extensions import db
from shop.media.models import Image
from tests.media import pictures


def _token(client, path: str = "/admin/articles/new") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _post(client, path: str, **fields):
    return client.post(path, data=fields, content_type="multipart/form-data")


def test_a_feature_picture_needs_alt_text_and_nothing_is_lost(client, auth, admin):
    auth.login("editor@example.org")
    token = _token(client)
    response = _post(
        client,
        "/admin/articles/new",
        csrf_token=token,
        title="Harbour at dawn",
        summary="Boats come in.",
        body_markdown="The boats came in **early**.",
        access="public",
        action="publish",
        image=(io.BytesIO(pictures.jpeg(1800, 1200)), "harbour.jpg"),
        image_alt="",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Describe the picture for readers who cannot see it" in html
    # The form comes back whole, the picture kept, so the author only adds the words.
    assert "Harbour at dawn" in html and "The boats came in **early**." in html
    assert db.session.scalar(select(Article)) is None
    kept = re.search(r'name="pending_image_id"[^>]*value="(\d+)"', html).group(1)
    assert 'srcset="/media/' in html

    response = _post(
        client,
        "/admin/articles/new",
        csrf_token=token,
        title="Harbour at dawn",
        summary="Boats come in.",
        body_markdown="The boats came in **early**.",
        access="public",
        action="publish",
        pending_image_id=kept,
        image_alt="Fishing boats in a harbour at first light",
    )
    assert response.status_code == 302
    article = db.session.scalar(select(Article))
    assert article.image_id == int(kept)
    assert article.image_alt == "Fishing boats in a harbour at first light"

    home = client.get("/").get_data(as_text=True)
    assert 'alt="Fishing boats in a harbour at first light"' in home
    page = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert '<meta property="og:image" content="http://localhost/media/' in page
    assert '<meta name="twitter:card" content="summary_large_image">' in page


def test_a_picture_is_replaced_and_removed(client, auth, admin):
    auth.login("editor@example.org")
    token = _token(client)
    _post(
        client,
        "/admin/articles/new",
        csrf_token=token,
        title="Removable",
        access="public",
        image=(io.BytesIO(pictures.png(800, 600)), "first.png"),
        image_alt="A green field",
    )
    article = db.session.scalar(select(Article))
    first = article.image_id
    assert first is not None
    _post(
        client,
        f"/admin/articles/{article.id}",
        csrf_token=token,
        title="Removable",
        access="public",
        image=(io.BytesIO(pictures.jpeg(900, 600, colour=(0, 90, 0))), "second.jpg"),
        image_alt="A darker field",
    )
    db.session.expire_all()
    second = article.image_id
    assert second not in (None, first)
    # Saving again with no new file keeps the picture.
    _post(
        client,
        f"/admin/articles/{article.id}",
        csrf_token=token,
        title="Removable, renamed",
        access="public",
        image_alt="A darker field",
    )
    db.session.expire_all()
    assert article.image_id == second and article.title == "Removable, renamed"
    _post(
        client,
        f"/admin/articles/{article.id}",
        csrf_token=token,
        title="Removable",
        access="public",
        image_alt="A darker field",
        remove_image="y",
    )
    db.session.expire_all()
    assert article.image_id is None and article.image_alt == ""


def test_a_file_that_is_not_a_picture_is_refused_beside_its_field(client, auth, admin):
    auth.login("editor@example.org")
    response = _post(
        client,
        "/admin/articles/new",
        csrf_token=_token(client),
        title="Not a picture",
        access="public",
        image=(io.BytesIO(pictures.SVG), "logo.svg"),
        image_alt="Our logo",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "is not a picture we can use" in html and "Not a picture" in html
    assert db.session.scalar(select(Image)) is None


def test_an_upload_past_the_limit_is_refused_with_413_before_it_is_read(client, auth, admin):
    auth.login("editor@example.org")
    token = _token(client)
    limit = client.application.config["MEDIA_MAX_BYTES"]
    response = _post(
        client,
        "/admin/articles/new",
        csrf_token=token,
        title="Too big",
        image=(io.BytesIO(b"\xff" * (limit + 2 * 1024 * 1024)), "huge.jpg"),
    )
    assert response.status_code == 413
    assert "pictures may be up to 10 MB" in response.get_data(as_text=True)
    # A picture far above the site's usual 1 MB form limit is taken.
    big = pictures.jpeg(4000, 3000, colour=(1, 1, 1), quality=100, subsampling=0)
    noisy = big + bytes(range(256)) * (3 * 1024 * 1024 // 256)
    response = _post(
        client,
        "/admin/articles/new",
        csrf_token=token,
        title="Big but allowed",
        access="public",
        image=(io.BytesIO(noisy), "big.jpg"),
        image_alt="Black",
    )
    assert response.status_code == 302
    # Other forms keep the small limit.
    response = client.post("/login", data={"email": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413


def test_a_body_picture_gives_markdown_that_renders_responsive(client, auth, admin):
    auth.login("editor@example.org")
    token = _token(client)
    response = client.post(
        "/admin/media",
        data={
            "csrf_token": token,
            "picture": (io.BytesIO(pictures.jpeg(1400, 700, colour=(80, 0, 0))), "x.jpg"),
            "alt": "A red [wall]",
        },
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    markdown = response.json["markdown"]
    assert re.fullmatch(r"!\[A red \(wall\)\]\(/media/[0-9a-f]{16}-960\.jpg\)", markdown)
    _post(
        client,
        "/admin/articles/new",
        csrf_token=token,
        title="Walls",
        access="public",
        action="publish",
        body_markdown=f"Before.\n\n{markdown}\n\nAfter.",
    )
    page = client.get("/articles/walls").get_data(as_text=True)
    body = page[page.index('class="story-body"') :]
    img = re.search(r"<img [^>]*>", body).group(0)
    assert 'srcset="/media/' in img and " 1400w" in img
    assert 'width="960" height="480"' in img
    assert 'loading="lazy"' in img and 'alt="A red (wall)"' in img
    assert '<source type="image/webp"' in body

    refused = client.post(
        "/admin/media",
        data={"csrf_token": token, "alt": "Nothing"},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 400
    assert refused.json["errors"] == ["Choose a picture to upload."]
    no_alt = client.post(
        "/admin/media",
        data={
            "csrf_token": token,
            "picture": (io.BytesIO(pictures.png()), "x.png"),
        },
        content_type="multipart/form-data",
    )
    assert no_alt.status_code == 400
    assert "Describe the picture" in no_alt.get_data(as_text=True)


def test_a_product_gets_a_picture_shown_in_the_shop(client, auth, admin):
    auth.login("editor@example.org")
    token = _token(client, "/admin/products/new")
    fields = dict(
        csrf_token=token,
        name="Tote bag",
        description="Canvas.",
        kind="item",
        active="y",
        amount="15",
        interval="",
    )
    refused = _post(
        client,
        "/admin/products/new",
        image=(io.BytesIO(pictures.jpeg(1200, 900, colour=(200, 180, 150))), "tote.jpg"),
        **fields,
    )
    assert refused.status_code == 200
    html = refused.get_data(as_text=True)
    assert "Describe the picture" in html and 'value="Tote bag"' in html
    kept = re.search(r'name="pending_image_id"[^>]*value="(\d+)"', html).group(1)
    saved = _post(
        client,
        "/admin/products/new",
        pending_image_id=kept,
        image_alt="A canvas tote bag with the masthead printed on it",
        **fields,
    )
    assert saved.status_code == 302
    shop = client.get("/shop").get_data(as_text=True)
    img = re.search(r'<img [^>]*alt="A canvas tote bag[^"]*"[^>]*>', shop).group(0)
    assert 'srcset="/media/' in img and 'loading="lazy"' in img and 'width="960"' in img

"""An editor puts pictures in a story, in a real browser, and readers see them load.

The feature picture is uploaded with the article (refused without its alt text, with
nothing lost), a picture goes into the body through the editor's upload button, and the
home page and the story show both at a desktop's and a phone's width: every image
loaded (none broken), WebP chosen, every page audited by axe.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import expect

from tests.factories import AdminFactory
from tests.media import pictures

PASSWORD = "correct horse battery"
WIDTHS = ((1280, 800), (390, 844))

# Every <img> on the page, once scrolled into view: loaded and decoded, not broken.
BROKEN_IMAGES = """async () => {
  const images = [...document.images];
  for (const img of images) {
    img.scrollIntoView();
    if (!img.complete) {
      await new Promise((done) => { img.onload = img.onerror = done; });
    }
  }
  window.scrollTo(0, 0);
  return images.filter((img) => !img.naturalWidth).map((img) => img.currentSrc || img.src);
}"""


def _file(name: str, data: bytes, mime: str = "image/jpeg") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def _loaded(page, selector: str) -> dict:
    """What the browser made of one picture: the file it chose and its sizes."""
    return page.locator(selector).first.evaluate(
        """async (img) => {
          img.scrollIntoView();
          if (!img.complete) { await new Promise((d) => { img.onload = img.onerror = d; }); }
          return {src: img.currentSrc, natural: img.naturalWidth, shown: img.clientWidth,
                  height: img.clientHeight, lazy: img.loading};
        }"""
    )


def test_an_editor_adds_pictures_and_readers_see_them(checked_page, tmp_path):
    site, page = checked_page, checked_page.page
    # SCREENSHOTS=folder keeps the pages' pictures to look at.
    shots = Path(os.environ.get("SCREENSHOTS") or tmp_path)
    editor = AdminFactory(email="editor@example.org")
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(editor.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")

    site.goto("/admin/articles/new")
    page.get_by_label("Title").fill("Boats at first light")
    page.get_by_label("Summary").fill("The harbour before the market opens.")
    page.get_by_label("Body (Markdown)").fill("The first boats come in before six.")
    page.get_by_label("Picture", exact=True).set_input_files(
        files=[_file("harbour.jpg", pictures.jpeg(2400, 1600, colour=(30, 90, 160)))]
    )
    site.submit("Publish only")
    # Refused for want of words, and nothing is lost: the text and the picture stay.
    alt = page.get_by_label("Describe the picture (alt text)")
    expect(alt).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error .error")).to_contain_text("Describe the picture")
    expect(page.get_by_label("Title")).to_have_value("Boats at first light")
    preview = _loaded(page, ".picture-current img")
    assert preview["natural"] > 0

    alt.fill("Fishing boats tied up in a harbour at dawn")
    site.submit("Publish only")
    expect(page.get_by_role("status")).to_contain_text("Published.")

    # A picture for the body: uploaded in the background, its line put into the body.
    body_form = page.locator("form[data-body-picture]")
    body_form.get_by_label("Picture for the body").set_input_files(
        files=[_file("crates.png", pictures.png(1200, 800), "image/png")]
    )
    body_form.get_by_label("Describe the picture").fill("Crates of fish on the quay")
    body_form.get_by_role("button", name="Upload picture").click()
    body = page.get_by_label("Body (Markdown)")
    expect(body).to_have_value(
        re.compile(r"before six\.\n\n!\[Crates of fish on the quay\]\(/media/")
    )
    site.audit()
    site.submit("Update and publish")
    expect(page.get_by_role("status")).to_contain_text("Published.")

    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        site.goto("/")
        card = _loaded(page, ".card-picture img")
        assert card["natural"] > 0 and card["src"].endswith(".webp"), card
        assert card["lazy"] == "auto", "the lead story's picture is not lazy"
        # The browser picks a file near the width shown, never the largest for a thumbnail.
        assert card["natural"] >= card["shown"]
        assert page.evaluate(BROKEN_IMAGES) == []
        page.screenshot(path=str(shots / f"home-{width}.png"), full_page=True)

        site.follow(page.get_by_role("link", name="Boats at first light"))
        header = _loaded(page, ".story-picture img")
        assert header["natural"] > 0 and header["src"].endswith(".webp")
        inline = _loaded(page, ".story-body img")
        assert inline["natural"] > 0 and inline["lazy"] == "lazy"
        assert page.evaluate(BROKEN_IMAGES) == []
        expect(page.get_by_role("img", name="Crates of fish on the quay")).to_be_visible()
        page.screenshot(path=str(shots / f"story-{width}.png"), full_page=True)

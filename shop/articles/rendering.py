"""Markdown to sanitised HTML, and plain-text comments to safe HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from shop.media import services as media
from shop.media.models import JPEG, WEBP

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
    ["table", "strikethrough"]
)

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "figcaption", "figure",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong",
    "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align"},
    "td": {"align"},
    "abbr": {"title"},
}

# The article title is the page's only h1: an author's "# Heading" becomes an h2,
# while "##" and below keep their level, so headings stay in order after the title.
_HEADING = re.compile(r"<(/?)h1>")


# An image in the sanitised body, and the stored picture a src names (its file's key).
_IMG = re.compile(r"<img\b([^>]*)>")
_ATTR = re.compile(r'([a-z]+)="([^"]*)"')
_STORED = re.compile(r"(?:^|/)([0-9a-f]{16})-\d{1,5}\.(?:jpg|webp)$")
BODY_SIZES = "(min-width: 44rem) 42rem, calc(100vw - 2rem)"
MAIL_WIDTH = 600


def render_markdown(source: str, for_mail: bool = False) -> str:
    """Render an article body to HTML that cannot run script.

    Stored pictures become responsive ones; ``for_mail``, one JPEG at a full address,
    at most the mail's width, as mail clients take neither srcset nor relative links.
    """
    html = _markdown.render(source or "")
    html = _HEADING.sub(lambda m: f"<{m.group(1)}h2>", html)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return _IMG.sub(lambda match: _stored_picture(match, for_mail), clean)


def _stored_picture(match: re.Match[str], for_mail: bool) -> str:
    """A stored picture in the body becomes a responsive one; any other image stays."""
    attrs = dict(_ATTR.findall(match.group(1)))
    key = _STORED.search(attrs.get("src", ""))
    image = media.find_by_key(key.group(1)) if key else None
    if image is None or not image.variants:
        return match.group(0)
    # The values came out of nh3 already escaped; the ones made here are escaped now.
    alt = attrs.get("alt", "")
    title = f' title="{attrs["title"]}"' if "title" in attrs else ""
    if for_mail:
        file = image.widest(JPEG, at_most=MAIL_WIDTH * 2)
        shown = min(MAIL_WIDTH, file.width)
        return (
            f'<img src="{escape(media.absolute_url(file.name))}" width="{shown}" '
            f'height="{round(file.height * shown / file.width)}" alt="{alt}"{title} '
            f'style="display:block;width:100%;max-width:{shown}px;height:auto;border:0;">'
        )
    fallback = image.widest(JPEG, at_most=960)
    return (
        f'<picture><source type="image/webp" srcset="{escape(media.srcset(image, WEBP))}" '
        f'sizes="{BODY_SIZES}">'
        f'<img src="{escape(media.url(fallback.name))}" '
        f'srcset="{escape(media.srcset(image, JPEG))}" sizes="{BODY_SIZES}" '
        f'width="{fallback.width}" height="{fallback.height}" alt="{alt}"{title} '
        'loading="lazy" decoding="async"></picture>'
    )


def lead_markdown(source: str, blocks: int = 2) -> str:
    """The first ``blocks`` top-level blocks of a Markdown body (paragraphs, headings,
    lists...) as Markdown, and never all of them: a teaser that gives no story away."""
    lines = (source or "").splitlines()
    ends = [
        token.map[1]
        for token in _markdown.parse(source or "")
        if token.level == 0 and token.map is not None and token.nesting in (0, 1)
    ]
    keep = min(blocks, len(ends) - 1)
    if keep <= 0:
        return ""
    return "\n".join(lines[: ends[keep - 1]]).rstrip()


_URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def render_comment(text: str) -> Markup:
    """Escape a plain-text comment and make its links clickable (nofollow ugc)."""
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        # Punctuation that ends a sentence is not part of the link.
        stripped = url.rstrip(_TRAILING)
        end = match.start() + len(stripped)
        out.append(str(escape(text[pos : match.start()])))
        out.append(
            f'<a href="{escape(stripped)}" rel="nofollow ugc noopener">{escape(stripped)}</a>'
        )
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))  # noqa: S704  (every piece above is escaped)


class _TextOnly(HTMLParser):
    """Collects an HTML fragment's text, a space at each tag so words do not run together."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self.parts.append(" ")


# Control characters are the search snippets' markers; the text never holds them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_SPACES = re.compile(r"\s+")


def plain_text(html: str) -> str:
    """The words of rendered (sanitised) HTML, for the search index."""
    parser = _TextOnly()
    parser.feed(html or "")
    parser.close()
    text = _CONTROL.sub(" ", "".join(parser.parts))
    return _SPACES.sub(" ", text).strip()

"""Markdown to sanitised HTML, and plain-text comments to safe HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

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


def render_markdown(source: str) -> str:
    """Render an article body to HTML that cannot run script."""
    html = _markdown.render(source or "")
    html = _HEADING.sub(lambda m: f"<{m.group(1)}h2>", html)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
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

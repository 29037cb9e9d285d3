"""Markdown and comments never carry script; links and slugs come out right."""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser

import pytest

from shop.articles.rendering import render_comment, render_markdown
from shop.text import slugify

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    "![x](javascript:alert(1))",
    "<div style=\"background:url('javascript:alert(1)')\">x</div>",
    "[x](JaVaScRiPt:alert(1))",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
]


DANGEROUS_TAGS = {"script", "iframe", "svg", "math", "object", "embed", "style", "form"}


class ElementAudit(HTMLParser):
    """Collect what a browser would build from some HTML: elements and attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in DANGEROUS_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"{tag}[{name}]")
            if (
                name in {"href", "src"}
                and value
                and not value.startswith(("http://", "https://", "mailto:", "/"))
            ):
                self.problems.append(f"{tag}[{name}={value}]")


def audit(html: str) -> list[str]:
    """Elements or attributes in ``html`` that could run script."""
    parser = ElementAudit()
    parser.feed(html)
    return parser.problems


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_markdown_output_carries_no_script(payload):
    assert audit(render_markdown(f"Intro\n\n{payload}\n")) == []


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_comment_output_is_escaped_text(payload):
    html = str(render_comment(payload))
    assert audit(html) == []
    # Nothing of the payload became markup: it reads back as the same text.
    assert unescape(html) == payload


def test_markdown_keeps_ordinary_formatting():
    html = render_markdown("# Big\n\nSome **bold**, a [link](https://example.org).\n\n- a\n- b")
    assert "<h2>Big</h2>" in html  # the page title is the only h1
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">link</a>' in html
    assert "<li>a</li>" in html


def test_comment_links_become_clickable_with_nofollow_ugc():
    html = str(render_comment("See https://example.org/report. <b>Thanks</b>"))
    assert (
        '<a href="https://example.org/report" rel="nofollow ugc noopener">'
        "https://example.org/report</a>." in html
    )
    assert "&lt;b&gt;Thanks&lt;/b&gt;" in html


def test_comment_link_with_quotes_cannot_break_out():
    html = str(render_comment('https://example.org/"onmouseover="alert(1)'))
    assert 'onmouseover="' not in html


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Rivers rise across the north", "rivers-rise-across-the-north"),
        ("Ça va? Déjà vu!", "ca-va-deja-vu"),
        ("  --North   Korea-- ", "north-korea"),
        ("<script>alert(1)</script>", "script-alert-1-script"),
        ("日本", ""),
    ],
)
def test_slugify(title, slug):
    assert slugify(title) == slug


def test_the_audit_itself_catches_script():
    assert audit('<img src="x" onerror="alert(1)">') != []
    assert audit('<a href="javascript:alert(1)">x</a>') != []
    assert audit("<script>alert(1)</script>") != []


def test_headings_stay_in_order_below_the_title():
    html = render_markdown("# One\n\n## Two\n\n### Three")
    assert "<h1>" not in html
    assert "<h2>One</h2>" in html and "<h2>Two</h2>" in html and "<h3>Three</h3>" in html

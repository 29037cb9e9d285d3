"""Digest messages: rendered once per distinct digest, finished per reader by substitution.

Building a Flask-Mail ``Message`` per reader costs most of the time a send takes
(docs/architecture.md). Here each article's fragment is rendered once per access
variant, each distinct digest (the same articles for the same kind of reader) once,
CSS is inlined once per digest, and each reader's copy is the cached bytes with a
few placeholders replaced: name, links and headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from urllib.parse import urlsplit

import css_inline
from flask import current_app, render_template
from markupsafe import escape

from shop.newsletter.selection import Candidate, Plan
from shop.urls import external_url

# Placeholders: plain ASCII words that survive Jinja escaping and CSS inlining.
NAME = "XXBSNAMEXX"
UNSUB = "XXBSUNSUBXX"
PREFS = "XXBSPREFSXX"

BOUNDARY = "=_broadsheet_digest_boundary"
MAX_LINE = 998


@dataclass
class Rendered:
    """A distinct digest: subject, and bodies with placeholders."""

    subject: str
    text: str
    html: str


@dataclass
class DigestRenderer:
    """Renders the digests of one run, caching fragments and whole digests."""

    articles: dict[int, Candidate]
    tag_names: dict[int, str]
    kind: str = "digest"
    _fragments: dict[tuple[int, bool], tuple[str, str]] = field(default_factory=dict)
    _digests: dict[tuple[tuple[int, ...], bool], Rendered] = field(default_factory=dict)

    def fragment(self, article_id: int, full: bool) -> tuple[str, str]:
        """One article's HTML and text parts, for a reader who may or may not read it."""
        key = (article_id, full)
        if key not in self._fragments:
            article = self.articles[article_id]
            context = {
                "article": article,
                "full": full,
                "url": external_url("articles.article", slug=article.slug),
                "subscribe_url": external_url("store.catalogue"),
                "tags": [self.tag_names[t] for t in sorted(article.tag_ids) if t in self.tag_names],
            }
            self._fragments[key] = (
                render_template("email/digest_article.html", **context),
                render_template("email/digest_article.txt", **context),
            )
        return self._fragments[key]

    def digest(self, plan: Plan) -> Rendered:
        """The digest for a plan's articles and reader kind, rendered once and cached."""
        key = (tuple(plan.article_ids), plan.paying)
        if key not in self._digests:
            parts = [
                self.fragment(a, plan.paying or self.articles[a].access != "paid")
                for a in plan.article_ids
            ]
            subject = self.subject(plan.article_ids)
            context = {
                "subject": subject,
                "kind": self.kind,
                "count": len(plan.article_ids),
                "name": NAME,
                "unsubscribe_url": UNSUB,
                "preferences_url": PREFS,
                "address": current_app.config["PUBLICATION_ADDRESS"],
            }
            html = render_template("email/digest.html", fragments=[p[0] for p in parts], **context)
            text = render_template("email/digest.txt", fragments=[p[1] for p in parts], **context)
            self._digests[key] = Rendered(subject, wrap_lines(text), wrap_lines(inline(html)))
        return self._digests[key]

    def subject(self, article_ids: list[int]) -> str:
        """ "3 new stories: Climate, Ukraine and 2 more" — the count and the tags."""
        count = len(article_ids)
        if self.kind == "instant":
            return f"New: {self.articles[article_ids[0]].title}"
        seen: list[str] = []
        for article_id in article_ids:
            for tag_id in sorted(self.articles[article_id].tag_ids):
                name = self.tag_names.get(tag_id)
                if name and name not in seen:
                    seen.append(name)
        noun = "story" if count == 1 else "stories"
        if not seen:
            return f"{count} new {noun}"
        shown = ", ".join(seen[:3])
        more = f" and {len(seen) - 3} more" if len(seen) > 3 else ""
        return f"{count} new {noun} in {shown}{more}"


_inliner = None


def inline(html: str) -> str:
    """Inline the digest's CSS so mail clients that drop <style> still show it."""
    global _inliner
    if _inliner is None:
        _inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)
    return _inliner.inline(html)


def wrap_lines(text: str, limit: int = 200) -> str:
    """Break lines longer than ``limit`` at spaces, so no line nears SMTP's 998."""
    out: list[str] = []
    for line in text.splitlines():
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            if cut <= 0:
                cut = limit
            out.append(line[:cut])
            line = line[cut:].lstrip(" ")
        out.append(line)
    return "\n".join(out) + "\n"


def message_id(run_id: int, delivery_id: int) -> str:
    """The Message-ID of a delivery: the same on every attempt, so repeats can be dropped."""
    domain = urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"
    return f"<delivery-{delivery_id}.run-{run_id}@{domain}>"


def list_id() -> str:
    """The List-Id header's value."""
    domain = urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"
    name = current_app.config["PUBLICATION_NAME"].replace('"', "")
    return f'"{name} digest" <digest.{domain}>'


def _header(value: str) -> str:
    # Subjects may hold any text: RFC 2047-encode anything that is not plain ASCII.
    if value.isascii() and "\n" not in value and "\r" not in value:
        return value
    return Header(value, "utf-8").encode()


def build_bytes(
    rendered: Rendered,
    *,
    to: str,
    name: str,
    msgid: str,
    unsubscribe_url: str,
    preferences_url: str,
    sender: str,
) -> bytes:
    """One reader's message, ready for ``sendmail``: CRLF line ends, 8-bit UTF-8 bodies."""
    html_name = str(escape(name))
    text = (
        rendered.text.replace(NAME, name)
        .replace(UNSUB, unsubscribe_url)
        .replace(PREFS, preferences_url)
    )
    html = (
        rendered.html.replace(NAME, html_name)
        .replace(UNSUB, str(escape(unsubscribe_url)))
        .replace(PREFS, str(escape(preferences_url)))
    )
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {_header(rendered.subject)}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {msgid}",
        f"List-Id: {list_id()}",
        f"List-Unsubscribe: <{unsubscribe_url}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{BOUNDARY}"',
    ]
    body = [
        "",
        f"--{BOUNDARY}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        text.rstrip("\n"),
        f"--{BOUNDARY}",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        html.rstrip("\n"),
        f"--{BOUNDARY}--",
        "",
    ]
    joined = "\r\n".join(headers + body)
    # Bodies use \n inside; SMTP wants CRLF everywhere and nothing bare.
    joined = joined.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    return joined.encode("utf-8")

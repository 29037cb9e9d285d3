"""Digest messages: rendered in pieces once, assembled per distinct digest, finished per reader.

Building a Flask-Mail ``Message`` per reader costs most of the time a send takes
(docs/architecture.md). Here each article's fragment is rendered and CSS-inlined once
per access variant, and the digest's frame once per story count; both are kept for
the app, so every batch and run reuses them. A distinct digest (the same articles for
the same kind of reader) is a join of those cached pieces, already in the bytes SMTP
wants, and each reader's copy is those bytes with a few placeholders filled in: name,
links and headers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from functools import lru_cache
from itertools import chain
from typing import TypeVar
from urllib.parse import urlsplit

import css_inline
from flask import current_app, render_template
from itsdangerous import URLSafeSerializer
from itsdangerous.encoding import base64_encode
from markupsafe import escape

from shop.digests.selection import Candidate, Plan
from shop.install import scoped_key
from shop.mail import header_address
from shop.preferences import tokens
from shop.urls import external_url

# Placeholders: plain ASCII words that survive Jinja escaping and CSS inlining.
NAME = "XXBSNAMEXX"
UNSUB = "XXBSUNSUBXX"
PREFS = "XXBSPREFSXX"
# Where the frame of a digest takes its subject and stories (never in a finished message).
SUBJECT = "XXBSSUBJECTXX"
STORY_A = "XXBSSTORYAXX"
STORY_B = "XXBSSTORYBXX"
# Where an unsubscribe link takes the reader's token.
LINK_SLOT = "XXBSTOKENXX"

BOUNDARY = "=_broadsheet_digest_boundary"
MAX_LINE = 998
WRAP_AT = 200
# Fragments and frames kept per app, across batches and runs.
APP_CACHE_SIZE = 5000

T = TypeVar("T")

_PLACEHOLDER = re.compile(f"({NAME}|{UNSUB}|{PREFS})")
_FRAME_SLOTS = re.compile(f"({NAME}|{UNSUB}|{PREFS}|{SUBJECT})")

# What a body is compiled into: UTF-8 bytes with CRLF line ends, cut where a
# placeholder goes; a placeholder's key is its name, prefixed "h" in the HTML part.
BodyParts = list[bytes | str]
_TEXT_HEAD = (
    f"\r\n--{BOUNDARY}\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
).encode("ascii")
_HTML_HEAD = (
    f"\r\n--{BOUNDARY}\r\nContent-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
).encode("ascii")
_END = f"\r\n--{BOUNDARY}--\r\n".encode("ascii")


@dataclass
class Rendered:
    """A distinct message: subject, and bodies with placeholders."""

    subject: str
    text: str
    html: str
    # The stories the message lists: recorded as mailed to the reader once it is sent.
    article_ids: tuple[int, ...] = ()
    _compiled: tuple[str, str, BodyParts] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def body_parts(self) -> BodyParts:
        """The MIME body as CRLF bytes cut at the placeholders, built once per message."""
        # Keyed by the bodies themselves: a caller may still replace them.
        if (
            self._compiled is None
            or self._compiled[0] is not self.text
            or self._compiled[1] is not self.html
        ):
            self._compiled = (self.text, self.html, _compile_body(self.text, self.html))
        return self._compiled[2]


@dataclass(frozen=True)
class _Piece:
    """Rendered text in both forms: as text, and compiled (CRLF bytes, placeholders cut)."""

    text: str
    parts: BodyParts

    @classmethod
    def of(cls, text: str, key_prefix: str = "") -> _Piece:
        """The piece for ``text``; placeholder keys get ``key_prefix``."""
        return cls(text, _cut_at_slots(text, key_prefix))


@dataclass(frozen=True)
class _Frame:
    """A digest without its stories: what comes before them, between two, and after."""

    html: tuple[_Piece, _Piece, _Piece]
    text: tuple[_Piece, _Piece, _Piece]
    css: str


@dataclass(frozen=True)
class _Fragment:
    """One story as the digest shows it, in HTML and text, and each as its bytes."""

    html: str
    text: str
    html_bytes: bytes
    text_bytes: bytes

    @classmethod
    def of(cls, html: str, text: str) -> _Fragment:
        """The fragment of a story's rendered HTML and text."""
        return cls(html, text, _only_bytes(html), _only_bytes(text))


@dataclass
class DigestRenderer:
    """Renders the digests of one batch; fragments and frames are kept for the whole app."""

    articles: dict[int, Candidate]
    tag_names: dict[int, str]
    kind: str = "digest"
    # At most this many stories per digest; None reads DIGEST_MAX_ARTICLES, 0 lists all.
    max_articles: int | None = None
    _fragments: dict[tuple[int, bool], _Fragment] = field(default_factory=dict)
    _frames: dict[tuple[int, int], _Frame] = field(default_factory=dict)
    _tags: dict[int, tuple[str, ...]] = field(default_factory=dict)
    _rank: dict[int, int] = field(default_factory=dict)
    _digests: dict[tuple[tuple[int, ...], bool], Rendered] = field(default_factory=dict)

    def tags_of(self, article_id: int) -> tuple[str, ...]:
        """An article's tag names, in tag order."""
        return self._tag_table()[article_id]

    def _tag_table(self) -> dict[int, tuple[str, ...]]:
        if not self._tags:
            self._tags = {
                a.id: tuple(self.tag_names[t] for t in sorted(a.tag_ids) if t in self.tag_names)
                for a in self.articles.values()
            }
        return self._tags

    def fragment(self, article_id: int, full: bool) -> _Fragment:
        """One article as a digest shows it, to a reader who may read it all or not."""
        found = self._fragments.get((article_id, full))
        if found is None:
            article = self.articles[article_id]
            tags = self.tags_of(article_id)
            # Keyed by everything the fragment shows: an edited article gets a new one.
            key = (article, full, tags, current_app.config["SITE_URL"])
            found = _app_cache(
                "digest_fragments", key, lambda: self._render_fragment(article, full, tags)
            )
            self._fragments[(article_id, full)] = found
        return found

    def _render_fragment(self, article: Candidate, full: bool, tags: tuple[str, ...]) -> _Fragment:
        context = {
            "article": article,
            "full": full,
            "url": external_url("articles.article", slug=article.slug),
            "subscribe_url": external_url("catalogue.catalogue"),
            "tags": list(tags),
        }
        html = render_template("email/digest_article.html", **context)
        text = render_template("email/digest_article.txt", **context)
        css = self.frame(1, 0).css
        return _Fragment.of(
            _wrap_long_lines(_inliner().inline_fragment(html, css)), _wrap_long_lines(text)
        )

    def frame(self, count: int, more: int) -> _Frame:
        """The digest's frame for ``count`` new stories of which ``more`` are not listed."""
        found = self._frames.get((count, more))
        if found is None:
            config = current_app.config
            key = (
                self.kind,
                count,
                more,
                config["SITE_URL"],
                config["PUBLICATION_NAME"],
                config["PUBLICATION_ADDRESS"],
            )
            found = _app_cache("digest_frames", key, lambda: self._render_frame(count, more))
            self._frames[(count, more)] = found
        return found

    def _render_frame(self, count: int, more: int) -> _Frame:
        context = {
            "subject": SUBJECT,
            "kind": self.kind,
            "count": count,
            "more": more,
            "home_url": external_url("articles.index"),
            "name": NAME,
            "unsubscribe_url": UNSUB,
            "preferences_url": PREFS,
            "address": current_app.config["PUBLICATION_ADDRESS"],
            # Two stand-ins show what the template puts around and between stories.
            "fragments": [STORY_A, STORY_B],
        }
        html = render_template("email/digest.html", **context)
        text = render_template("email/digest.txt", **context)
        style = re.search(r"<style[^>]*>(.*?)</style>", html, re.DOTALL)
        return _Frame(
            html=_cut_frame(_wrap_long_lines(inline(html)), "h"),
            text=_cut_frame(_wrap_long_lines(text), ""),
            css=style.group(1) if style else "",
        )

    def listed(self, article_ids: list[int]) -> list[int]:
        """The stories a digest lists: the newest ``max_articles``, in the plan's order."""
        limit = self.max_articles
        if limit is None:
            limit = current_app.config["DIGEST_MAX_ARTICLES"]
        if limit <= 0 or len(article_ids) <= limit:
            return list(article_ids)
        if not self._rank:
            by_age = sorted(self.articles.values(), key=lambda a: (a.published_at, a.id))
            self._rank = {a.id: n for n, a in enumerate(by_age)}
        keep = set(sorted(article_ids, key=self._rank.__getitem__)[-limit:])
        return [a for a in article_ids if a in keep]

    def digest(self, plan: Plan) -> Rendered:
        """The digest for a plan's articles and reader kind, assembled once and cached."""
        key = (tuple(plan.article_ids), plan.paying)
        found = self._digests.get(key)
        if found is None:
            listed = self.listed(plan.article_ids)
            frame = self.frame(len(plan.article_ids), len(plan.article_ids) - len(listed))
            stories = [
                self.fragment(a, plan.paying or self.articles[a].access != "paid") for a in listed
            ]
            subject = self.subject(plan.article_ids)
            found = _assemble(subject, frame, stories, tuple(listed))
            self._digests[key] = found
        return found

    def subject(self, article_ids: list[int]) -> str:
        """ "3 new stories: Climate, Ukraine and 2 more" — the count and the tags."""
        count = len(article_ids)
        if self.kind == "instant":
            return f"New: {self.articles[article_ids[0]].title}"
        # A dict keeps the first-seen order of the tag names, without repeats.
        names = chain.from_iterable(map(self._tag_table().__getitem__, article_ids))
        seen = list(dict.fromkeys(names))
        noun = "story" if count == 1 else "stories"
        if not seen:
            return f"{count} new {noun}"
        shown = ", ".join(seen[:3])
        more = f" and {len(seen) - 3} more" if len(seen) > 3 else ""
        return f"{count} new {noun} in {shown}{more}"


def _assemble(
    subject: str, frame: _Frame, stories: list[_Fragment], listed: tuple[int, ...]
) -> Rendered:
    """A digest from its frame and stories, as text and as compiled bytes at once."""
    html_subject = str(escape(subject))
    (h_before, h_between, h_after), (t_before, t_between, t_after) = frame.html, frame.text
    text = "".join([t_before.text, t_between.text.join([s.text for s in stories]), t_after.text])
    html = "".join(
        [
            h_before.text.replace(SUBJECT, html_subject),
            h_between.text.join([s.html for s in stories]),
            h_after.text,
        ]
    )
    rendered = Rendered(subject, text, html, listed)
    # The same bytes _compile_body would make of those texts, without reading them again.
    subject_key, subject_bytes = "h" + SUBJECT, html_subject.encode("utf-8")
    parts: BodyParts = [_TEXT_HEAD, *t_before.parts]
    parts.append(t_between.parts[0].join([s.text_bytes for s in stories]))
    parts.extend(t_after.parts)
    parts.append(_HTML_HEAD)
    parts.extend(subject_bytes if p == subject_key else p for p in h_before.parts)
    parts.append(h_between.parts[0].join([s.html_bytes for s in stories]))
    parts.extend(h_after.parts)
    parts.append(_END)
    rendered._compiled = (text, html, parts)
    return rendered


def _app_cache(name: str, key: Hashable, build: Callable[[], T]) -> T:
    """A value kept for the app (every batch and run of the process), built once."""
    cache = current_app.extensions.setdefault(name, {})
    found = cache.get(key)
    if found is None:
        found = build()
        # The keys hold everything the value depends on, so this only bounds memory.
        if len(cache) >= APP_CACHE_SIZE:
            cache.clear()
        cache[key] = found
    return found


def _cut_frame(rendered: str, key_prefix: str) -> tuple[_Piece, _Piece, _Piece]:
    """A frame rendered with two stand-in stories, cut into before, between and after."""
    before, rest = rendered.split(STORY_A)
    between, after = rest.split(STORY_B)
    # The body ends where the frame does, and _compile_body drops its last line ends.
    after_parts = _cut_at_slots(after.rstrip("\n"), key_prefix)
    return (
        _Piece.of(before, key_prefix),
        _Piece(between, [_only_bytes(between)]),
        _Piece(after, after_parts),
    )


def _only_bytes(text: str) -> bytes:
    """Text that holds no placeholder (a story, a separator), as CRLF UTF-8 bytes."""
    parts = _cut_at_slots(text, "")
    if len(parts) != 1:
        raise ValueError("a story or separator must not hold a placeholder")
    return parts[0]


def _cut_at_slots(text: str, key_prefix: str) -> BodyParts:
    """``text`` as CRLF UTF-8 bytes cut at its placeholders (and a frame's subject)."""
    pieces = _FRAME_SLOTS.split(_crlf(text))
    return [key_prefix + p if n % 2 else p.encode("utf-8") for n, p in enumerate(pieces)]


_inliner_instance: css_inline.CSSInliner | None = None


def _inliner() -> css_inline.CSSInliner:
    global _inliner_instance
    if _inliner_instance is None:
        _inliner_instance = css_inline.CSSInliner(
            keep_style_tags=False, load_remote_stylesheets=False
        )
    return _inliner_instance


def inline(html: str) -> str:
    """Inline the digest's CSS so mail clients that drop <style> still show it."""
    return _inliner().inline(html)


def _break_line(line: str, limit: int) -> list[str]:
    """One line broken at spaces into pieces of at most ``limit`` characters."""
    out: list[str] = []
    while len(line) > limit:
        cut = line.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        out.append(line[:cut])
        line = line[cut:].lstrip(" ")
    out.append(line)
    return out


def wrap_lines(text: str, limit: int = WRAP_AT) -> str:
    """Break lines longer than ``limit`` at spaces, so no line nears SMTP's 998."""
    out: list[str] = []
    for line in text.splitlines():
        out.extend(_break_line(line, limit))
    return "\n".join(out) + "\n"


def _wrap_long_lines(text: str, limit: int = WRAP_AT) -> str:
    """Like wrap_lines, but leaves every short line and the ends as they are."""
    # Pieces wrapped this way can be joined without wrapping the whole again.
    lines = text.split("\n")
    if all(len(line) <= limit for line in lines):
        return text
    return "\n".join("\n".join(_break_line(line, limit)) for line in lines)


@lru_cache(maxsize=16)
def _domain(site_url: str) -> str:
    return urlsplit(site_url).hostname or "localhost"


def message_id(run_id: int, run_created_at: datetime | None, delivery_id: int, user_id: int) -> str:
    """The Message-ID of a delivery: the same on every attempt, so repeats can be dropped.

    It carries the install's id and the run's creation time (``shop/install.py``): two
    installs, or one restored from a backup whose new rows reuse the old ids, never
    share one. The reader's id tells apart a delivery id reused within a restored run.
    """
    config = current_app.config
    # The run's part is the same for all its messages: worked out once per run.
    head = _run_key(run_id, run_created_at, config["SECRET_KEY"], config.get("INSTALL_ID"))
    return f"<{head}-delivery{delivery_id}-u{user_id}@{_domain(config['SITE_URL'])}>"


@lru_cache(maxsize=64)
def _run_key(run_id: int, created_at: datetime | None, secret: str, configured: str | None) -> str:
    # Keyed by the settings install_id() reads, so a changed setting gets a new key.
    # Naive UTC as stored; made aware so every machine, whatever its zone, agrees.
    created = created_at.replace(tzinfo=UTC) if created_at else None
    return scoped_key("run", run_id, created)


def list_id() -> str:
    """The List-Id header's value."""
    domain = _domain(current_app.config["SITE_URL"])
    name = current_app.config["PUBLICATION_NAME"].replace('"', "")
    return f'"{name} digest" <digest.{domain}>'


@lru_cache(maxsize=2)
def _date_of_second(second: int) -> str:
    return format_datetime(datetime.fromtimestamp(second, UTC))


def _date_header() -> str:
    """The Date header's value; it has whole seconds, so it is formatted once a second."""
    return _date_of_second(int(time.time()))


def _header(value: str) -> str:
    # Subjects may hold any text: RFC 2047-encode anything that is not plain ASCII.
    if value.isascii() and "\n" not in value and "\r" not in value:
        return value
    return Header(value, "utf-8").encode()


def _crlf(text: str) -> str:
    """Every line end as CRLF: SMTP wants nothing bare."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _compile_body(text: str, html: str) -> BodyParts:
    """The MIME body as bytes between placeholders; HTML placeholders get an ``h`` prefix."""
    return [
        _TEXT_HEAD,
        *_cut_at(text.rstrip("\n"), ""),
        _HTML_HEAD,
        *_cut_at(html.rstrip("\n"), "h"),
        _END,
    ]


def _cut_at(text: str, key_prefix: str) -> BodyParts:
    """``text`` as CRLF UTF-8 bytes cut at its placeholders."""
    pieces = _PLACEHOLDER.split(_crlf(text))
    return [key_prefix + p if n % 2 else p.encode("utf-8") for n, p in enumerate(pieces)]


def _one_line(value: str) -> str:
    """A substituted value with no line breaks, which would be bare in the body."""
    if "\n" in value or "\r" in value:
        return value.replace("\r", " ").replace("\n", " ")
    return value


@lru_cache(maxsize=8)
def _sender_header(sender: str) -> str:
    # The same sender for a whole run: worked out once, not once per message.
    return header_address(sender)


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
    """One reader's message, ready for ``sendmail``: CRLF line ends, 8-bit UTF-8 bodies.

    Addresses go into the headers as ``shop.mail.header_address`` writes them: an IDN
    domain as its A-label, a non-ASCII local part in UTF-8 (sent only over SMTPUTF8).
    """
    name = _one_line(name)
    unsubscribe_url = _one_line(unsubscribe_url)
    preferences_url = _one_line(preferences_url)
    values = {
        NAME: name.encode("utf-8"),
        UNSUB: unsubscribe_url.encode("utf-8"),
        PREFS: preferences_url.encode("utf-8"),
        "h" + NAME: str(escape(name)).encode("utf-8"),
        "h" + UNSUB: str(escape(unsubscribe_url)).encode("utf-8"),
        "h" + PREFS: str(escape(preferences_url)).encode("utf-8"),
    }
    # Built with \n and converted: a folded (encoded) subject has line breaks too.
    head = _crlf(
        f"From: {_sender_header(sender)}\n"
        f"To: {header_address(to)}\n"
        f"Subject: {_header(rendered.subject)}\n"
        f"Date: {_date_header()}\n"
        f"Message-ID: {msgid}\n"
        f"List-Id: {list_id()}\n"
        f"List-Unsubscribe: <{unsubscribe_url}>\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/alternative; boundary="{BOUNDARY}"\n'
    )
    parts = [head.encode("utf-8")]
    parts.extend(p if isinstance(p, bytes) else values[p] for p in rendered.body_parts())
    return b"".join(parts)


class UnsubscribeLinks:
    """The run's one-click unsubscribe links, signed per reader at little cost."""

    def __init__(self) -> None:
        serializer = URLSafeSerializer(current_app.config["SECRET_KEY"], salt=tokens.SALT)
        self._signer = serializer.make_signer()
        self._around = external_url("readers.unsubscribe", token=LINK_SLOT).split(LINK_SLOT)

    def url(self, user_id: int) -> str:
        """The reader's unsubscribe URL, the same as ``tokens.unsubscribe_url`` makes."""
        # {"u": id} is too short for the serializer to compress, so this is the payload
        # its dumps() writes; building it directly saves most of the cost (a test
        # checks that the two agree).
        payload = base64_encode(b'{"u":%d}' % user_id)
        return self._signer.sign(payload).decode("ascii").join(self._around)

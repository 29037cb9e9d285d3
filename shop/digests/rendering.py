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
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import TypeVar

from flask import current_app, render_template
from markupsafe import escape

from shop.digests.selection import Candidate
from shop.mail.bulk import (
    END,
    HTML_HEAD,
    NAME,
    PREFS,
    TEXT_HEAD,
    TRACK,
    UNSUB,
    BodyParts,
    Rendered,
    cut_at,
    inline,
    inliner,
    wrap_long_lines,
)
from shop.media import services as media
from shop.sending import tracking
from shop.sending.content import Plan
from shop.sending.models import RunKind
from shop.urls import external_url

# Where the frame of a digest takes its subject and stories (never in a finished message).
SUBJECT = "XXBSSUBJECTXX"
STORY_A = "XXBSSTORYAXX"
STORY_B = "XXBSSTORYBXX"

# Fragments and frames kept per app, across batches and runs.
APP_CACHE_SIZE = 5000

T = TypeVar("T")

_FRAME_SLOTS = re.compile(f"({NAME}|{UNSUB}|{PREFS}|{TRACK}|{SUBJECT})")


@dataclass(frozen=True)
class _Piece:
    """Rendered text in both forms: as text, and compiled (CRLF bytes, placeholders cut)."""

    text: str
    parts: BodyParts

    @classmethod
    def of(cls, text: str, key_prefix: str = "") -> _Piece:
        """The piece for ``text``; placeholder keys get ``key_prefix``."""
        return cls(text, _cut_at_slots(text, key_prefix))

    def separator(self) -> bytes:
        """The bytes of a piece that holds no placeholder, such as what goes between stories."""
        only = self.parts[0]
        assert isinstance(only, bytes)  # _cut_frame builds the between piece by _only_bytes
        return only


@dataclass(frozen=True)
class _Frame:
    """A digest without its stories: what comes before them, between two, and after."""

    html: tuple[_Piece, _Piece, _Piece]
    text: tuple[_Piece, _Piece, _Piece]
    css: str
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Fragment:
    """One story as the digest shows it, in HTML and text, and each as its bytes."""

    html: str
    text: str
    # Its tracked links hold the token's placeholder; the text part keeps plain links.
    html_parts: BodyParts
    text_bytes: bytes
    links: tuple[str, ...] = ()
    # The HTML as one piece of bytes, when it holds no placeholder (tracking off).
    html_bytes: bytes | None = None

    @classmethod
    def of(cls, html: str, text: str, links: tuple[str, ...] = ()) -> _Fragment:
        """The fragment of a story's rendered HTML and text."""
        parts = _cut_at_slots(html, "h")
        only = parts[0] if len(parts) == 1 and isinstance(parts[0], bytes) else None
        return cls(html, text, parts, _only_bytes(text), links, only)


@dataclass
class DigestRenderer:
    """Renders the digests of one batch; fragments and frames are kept for the whole app."""

    articles: dict[int, Candidate]
    tag_names: dict[int, str]
    kind: str = RunKind.DIGEST
    # At most this many stories per digest; None reads DIGEST_MAX_ARTICLES, 0 lists all.
    max_articles: int | None = None
    # Links and open pixel with the delivery's token: a run's messages, not a preview.
    tracked: bool = False
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
            key = (article, full, tags, current_app.config["SITE_URL"], self.tracked)
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
            "image": media.get_image(article.image_id),
        }
        html = render_template("email/digest_article.html", **context)
        text = render_template("email/digest_article.txt", **context)
        css = self.frame(1, 0).css
        html = inliner().inline_fragment(html, css)
        links: tuple[str, ...] = ()
        if self.tracked:
            html, links = tracking.track(html, pixel=False)
        return _Fragment.of(wrap_long_lines(html), wrap_long_lines(text), links)

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
                self.tracked,
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
        html = inline(html)
        links: tuple[str, ...] = ()
        if self.tracked:
            html, links = tracking.track(html)
        return _Frame(
            html=_cut_frame(wrap_long_lines(html), "h"),
            text=_cut_frame(wrap_long_lines(text), ""),
            css=style.group(1) if style else "",
            links=links,
        )

    def listed(self, article_ids: Sequence[int]) -> list[int]:
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

    def subject(self, article_ids: Sequence[int]) -> str:
        """ "3 new stories: Climate, Ukraine and 2 more" — the count and the tags."""
        count = len(article_ids)
        if self.kind == RunKind.INSTANT:
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
    links = frame.links + tuple(link for s in stories for link in s.links)
    rendered = Rendered(subject, text, html, listed, tuple(sorted(set(links))))
    # The same bytes compile_body would make of those texts, without reading them again.
    subject_key, subject_bytes = "h" + SUBJECT, html_subject.encode("utf-8")
    parts: BodyParts = [TEXT_HEAD, *t_before.parts]
    parts.append(t_between.separator().join([s.text_bytes for s in stories]))
    parts.extend(t_after.parts)
    parts.append(HTML_HEAD)
    parts.extend(subject_bytes if p == subject_key else p for p in h_before.parts)
    between = h_between.separator()
    plain = [s.html_bytes for s in stories if s.html_bytes is not None]
    if len(plain) == len(stories):
        parts.append(between.join(plain))  # nothing to fill in: one piece
    else:
        for n, story in enumerate(stories):
            if n:
                parts.append(between)
            parts.extend(story.html_parts)
    parts.extend(h_after.parts)
    parts.append(END)
    rendered.set_compiled(parts)
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
    # The body ends where the frame does, and compile_body drops its last line ends.
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
    only = parts[0]
    # cut_at puts bytes first (placeholder keys, as str, only between them).
    assert isinstance(only, bytes)
    return only


def _cut_at_slots(text: str, key_prefix: str) -> BodyParts:
    """``text`` as CRLF UTF-8 bytes cut at its placeholders (and a frame's subject)."""
    return cut_at(text, key_prefix, _FRAME_SLOTS)

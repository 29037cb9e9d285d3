"""A story as mail: the whole article, or for a paid story a teaser, and the engine's content.

Each variant (full, teaser) is rendered once per batch; each reader's copy differs only
by the substituted links (``shop.mail.bulk``). Sending one records the article as mailed
to its reader in the commit group's transaction, as a digest does, so that no digest or
notice sends it again.
"""

from __future__ import annotations

import re

from flask import current_app, render_template
from markupsafe import Markup
from sqlalchemy import select

from shop.accounts.models import User
from shop.articles.models import ACCESS_PAID, Article
from shop.articles.rendering import lead_markdown, render_markdown
from shop.billing.access import full_readers_among
from shop.digests.content import record_mailed
from shop.extensions import db
from shop.mail.bulk import NAME, PREFS, UNSUB, Rendered, inline, wrap_lines
from shop.preferences.mailing import ReaderMail
from shop.sending import tracking
from shop.sending.content import SentRecords, register_content
from shop.sending.models import Delivery, Run, RunKind
from shop.urls import absolute_links, external_url

# How much of a paid story a reader who may not read it gets: its first blocks.
TEASER_BLOCKS = 2
# A Markdown link or image on this site: "](/x)" leads nowhere in a mail client either.
_RELATIVE_MARKDOWN = re.compile(r"\]\(/(?!/)")
# A teaser is words only: an image with a few lines around it is what filters take for
# spam (SpamAssassin's HTML_IMAGE_ONLY rules), and the story's pictures are on the site.
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")


def _absolute_markdown(source: str) -> str:
    base = current_app.config["SITE_URL"].rstrip("/")
    return _RELATIVE_MARKDOWN.sub(f"]({base}/", source)


def render(article: Article, full: bool, tracked: bool = False) -> Rendered:
    """The story as mail, whole or as a teaser, with the per-reader placeholders; with
    ``tracked``, its links and an open pixel carry the delivery's token."""
    url = external_url("articles.article", slug=article.slug)
    markdown = article.body_markdown
    if not full:
        markdown = lead_markdown(_MARKDOWN_IMAGE.sub("", markdown), TEASER_BLOCKS)
    # The stored HTML is the page's, sanitised on save; a teaser's is rendered the same way.
    html = article.body_html if full else render_markdown(markdown)
    context = {
        "subject": article.title,
        "article": article,
        "full": full,
        "body_html": Markup(absolute_links(html)),  # noqa: S704  (sanitised on render)
        # What a removed image leaves is a run of blank lines.
        "body_text": re.sub(r"\n{3,}", "\n\n", _absolute_markdown(markdown)).strip(),
        "url": url,
        "comments_url": f"{url}#reply",
        "subscribe_url": f"{url}#paywall-heading",
        "name": NAME,
        "unsubscribe_url": UNSUB,
        "preferences_url": PREFS,
        "address": current_app.config["PUBLICATION_ADDRESS"],
    }
    html = render_template("email/story.html", **context)
    text = render_template("email/story.txt", **context)
    html = inline(html)
    links: tuple[str, ...] = ()
    if tracked:
        html, links = tracking.track(html)
    return Rendered(article.title, wrap_lines(text), wrap_lines(html), (article.id,), links=links)


class StoryContent(ReaderMail):
    """The sending loop's content for a story run: one rendering per variant."""

    def __init__(self, run: Run, deliveries: list[Delivery]) -> None:
        super().__init__()
        self.article = db.session.scalar(select(Article).where(Article.email_run_id == run.id))
        self._variants: dict[bool, Rendered] = {}
        self.tracked = tracking.enabled()
        self.full_readers: set[int] = set()
        if self.article is not None and self.article.access == ACCESS_PAID:
            # The batch's readers in one query, and who of them pays in one more.
            ids = [d.user_id for d in deliveries]
            readers = list(db.session.scalars(select(User).where(User.id.in_(ids))))
            self.full_readers = full_readers_among(readers, self.article.access)

    def _variant(self, full: bool) -> Rendered:
        found = self._variants.get(full)
        if found is None:
            assert self.article is not None  # message() asks only with an article
            found = self._variants[full] = render(self.article, full, self.tracked)
        return found

    def message(self, delivery: Delivery, reader: User) -> Rendered | None:
        """The whole story, or a paid story's teaser for a reader who may not read it; None
        when the story was deleted or taken back to draft."""
        if self.article is None or not self.article.is_live():
            return None
        full = self.article.access != ACCESS_PAID or reader.id in self.full_readers
        return self._variant(full)

    def record_sent(self, sent: SentRecords) -> None:
        """The article mailed to each reader: no digest or notice sends it again."""
        if sent.listed:
            record_mailed(sent.listed)


register_content(RunKind.STORY, StoryContent)

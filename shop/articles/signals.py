"""Signals the articles feature sends; higher floors (the newsletter) listen."""

from blinker import Namespace

_signals = Namespace()

# Sent with the Article when it is published (or scheduled to be).
article_published = _signals.signal("article-published")

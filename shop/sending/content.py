"""What a run sends reaches the engine through one interface: ``Content``.

The engine sends runs of any kind; it knows nothing of digests or newsletters. Each
kind registers a factory (``register_content``) when its package is imported (the
app factory imports them all), and the engine asks the factory of a run's kind for
the content of each batch: the message of each delivery, the reader's links, and
what to record, inside the commit group's transaction, once messages were sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shop.accounts.models import User
from shop.mail.bulk import Rendered
from shop.sending.models import Delivery, Run, RunKind


@dataclass(slots=True)
class Plan:
    """One reader's delivery as planned: who, and which articles in which order."""

    user_id: int
    email: str
    name: str
    paying: bool
    # A tuple when planned by a digest: readers who get the same articles share one.
    article_ids: Sequence[int]


@dataclass
class SentRecords:
    """What one commit group sent, handed to the content's hook before it commits."""

    run: Run
    # (reader, delivery, the articles its message listed), for messages that listed any.
    listed: list[tuple[int, int, tuple[int, ...]]] = field(default_factory=list)
    # Every reader the group's messages went to, in the order they were accepted.
    readers: list[int] = field(default_factory=list)


class Content(Protocol):
    """What a run's messages say: built once per batch, asked once per delivery."""

    # The reader's page of mail settings, the same for everyone.
    preferences_url: str

    def message(self, delivery: Delivery, reader: User) -> Rendered | None:
        """The reader's message with its placeholders, or None if there is nothing to send."""

    def unsubscribe_url(self, user_id: int) -> str:
        """The reader's one-click unsubscribe link."""

    def record_sent(self, sent: SentRecords) -> None:
        """Write what the group's messages mean (in the open transaction; no commit)."""

    def bounced(self, user_id: int) -> None:
        """A reader's message bounced for good (in the open transaction; no commit)."""


ContentFactory = Callable[[Run, list[Delivery]], Content]

_factories: dict[RunKind, ContentFactory] = {}


def register_content(kind: RunKind, factory: ContentFactory) -> None:
    """Say which factory builds the content of a kind of run (at import of its package)."""
    _factories[kind] = factory


def content_for(run: Run, deliveries: list[Delivery]) -> Content:
    """The content of a batch of a run's deliveries, from its kind's factory."""
    try:
        factory = _factories[RunKind(run.kind)]
    except (KeyError, ValueError) as exc:
        raise LookupError(f"no content is registered for runs of kind {run.kind!r}") from exc
    return factory(run, deliveries)

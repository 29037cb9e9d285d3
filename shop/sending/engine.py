"""Sending a run: claim a batch, send it (``shop.sending.pipeline``), record it in commit groups.

A delivery is recorded as sent only after the SMTP server accepted it, and records are
committed in groups: the messages handed to the relay and the accepted ones not yet
committed are never more than ``MAIL_COMMIT_EVERY`` together. A crash can therefore
repeat at most the one group in flight, and a repeat carries the same Message-ID
(docs/reliability.md). A group commits while the relay still has a few messages of the
next, so that sending goes on through the commit.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import deque
from collections.abc import Callable

from flask import current_app
from sqlalchemy import select

from shop.accounts.models import User
from shop.clock import utcnow
from shop.extensions import db
from shop.mail import (
    RelayUnreachableError,
    Rendered,
    build_bytes,
    message_id,
)
from shop.sending import ledger, tracking
from shop.sending.content import Content, SentRecords, content_for
from shop.sending.models import Delivery, DeliveryStatus, Run
from shop.sending.pipeline import NotSentError, Pipeline
from shop.sending.summary import Summary, describe, fail, not_accepted, relay_outage

log = logging.getLogger(__name__)


def _give_back(group: ledger.SentGroup, run_id: int, worker: str) -> None:
    """After a batch broke: commit its accepted messages, release its other leases."""
    for attempt in range(2):
        try:
            group.commit()
            ledger.release_leases(run_id, worker)
            return
        except Exception:
            # A failed statement leaves the transaction unusable: start a new one and
            # try once more; the group still holds its records until they are written.
            db.session.rollback()
            if attempt:
                log.exception("Run %s: could not record the broken batch's progress", run_id)


def _run(run_id: int) -> Run:
    """The run being sent (it exists: the ledger never deletes a run it is sending)."""
    run = db.session.get(Run, run_id)
    if run is None:
        raise LookupError(f"there is no run {run_id}")
    return run


def _start(run_id: int) -> None:
    """Note when the run began sending, the first time any worker takes it up."""
    run = _run(run_id)
    if run.started_at is None:
        run.started_at = utcnow()
        db.session.commit()


def _claim(run_id: int, worker: str, wait: bool) -> list[Delivery]:
    """The next batch this worker can take, waiting for it if told to; empty when none is."""
    while True:
        batch = ledger.claim_batch(run_id, worker, current_app.config["MAIL_BATCH_SIZE"])
        if batch:
            return batch
        later = ledger.waiting_for(run_id) if wait else None
        if later is None:
            return batch
        # A dead worker's lease or a retry's backoff: wait for it, then go on.
        time.sleep(min(5.0, max(0.05, (later - utcnow()).total_seconds())))


def _readers(batch: list[Delivery]) -> dict[int, User]:
    """The readers of a batch's deliveries by id, in one query."""
    return {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_([d.user_id for d in batch])))
    }


def _finish(run_id: int) -> None:
    """Count the run's deliveries, and note its end once none of them is queued."""
    run = _run(run_id)
    ledger.refresh_counts(run)
    queued = db.session.scalar(
        select(Delivery.id).where(
            Delivery.run_id == run_id, Delivery.status == DeliveryStatus.QUEUED
        )
    )
    if queued is None and run.finished_at is None:
        run.finished_at = utcnow()
    db.session.commit()


class _Sending:
    """One worker sending one run over one transport, batch by batch, into its summary."""

    def __init__(
        self,
        run_id: int,
        worker: str,
        summary: Summary,
        pipeline: Pipeline,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.run_id = run_id
        self.worker = worker
        self.summary = summary
        self.pipeline = pipeline
        self.unreachable: RelayUnreachableError | None = None
        self.fatal: BaseException | None = None
        self.progress = progress
        self.commit_every = max(1, current_app.config["MAIL_COMMIT_EVERY"])
        # A group commits while a window of messages is still with the relay, so that
        # the senders have work through the commit (the messages it may hand over
        # meanwhile are those MAIL_COMMIT_EVERY leaves room for); at least half a group.
        self.group_size = self.commit_every - min(pipeline.window, self.commit_every // 2)
        # The batch's messages built and not yet handed over, and its content.
        self._built: deque[tuple[Delivery, str, bytes, Rendered]] = deque()
        self._content: Content | None = None
        # With tracking off, no token is made and no link is noted: the bytes carry none.
        self.tokens = tracking.Tokens() if tracking.enabled() else None
        self._links: set[str] = set()
        self._new_links: set[str] = set()
        self._last_links: tuple[str, ...] = ()

    def send_batch(self, batch: list[Delivery]) -> bool:
        """Send a claimed batch and record it; False if the relay could not be reached."""
        run = _run(self.run_id)
        group = ledger.SentGroup(run)
        unreachable: RelayUnreachableError | None = None
        self.pipeline.resume()
        try:
            content = content_for(run, batch)
            group.hook = self._recorder(content)
            unreachable = self._send_each(batch, run, content, group)
            group.commit()
            if unreachable is not None:
                relay_outage(self.run_id, self.worker, self.summary, unreachable)
        except BaseException:
            # The batch itself broke (its content could not be built, the database
            # went away, Ctrl-C): keep what the server accepted, and hand the rest
            # back now rather than when the lease runs out.
            self.pipeline.halt()
            self._built.clear()
            try:
                # What the senders still hold comes back (accepted, or not sent), so
                # that what was accepted is kept too.
                self._settle(group)
            except Exception:
                log.exception("Run %s: could not record the senders' last answers", self.run_id)
            self.fatal = None
            _give_back(group, self.run_id, self.worker)
            raise
        return unreachable is None

    def _send_each(
        self, batch: list[Delivery], run: Run, content: Content, group: ledger.SentGroup
    ) -> RelayUnreachableError | None:
        """Build a batch's messages while the relay answers the last ones; why it was
        unreachable, if it was.

        The messages handed over and the accepted ones not yet committed are never
        more than ``MAIL_COMMIT_EVERY`` together, so a crash still repeats at most one
        commit group; building goes on ahead meanwhile (built is not sent).
        """
        users = _readers(batch)
        self._built.clear()
        built = self._built
        self._content = content
        pending = iter(batch)
        exhausted = False
        while self.unreachable is None:
            self._stop_if_fatal()
            self._hand_built(group)
            if not exhausted and len(built) < self.pipeline.window:
                delivery = next(pending, None)
                if delivery is None:
                    exhausted = True
                else:
                    self._build(run, content, delivery, users, group, built)
                self._collect(group, block=False)
            elif built or self.pipeline.outstanding:
                # Nothing more to build now: wait for the relay's next answer.
                self._collect(group, block=True)
            else:
                break
        # The relay went away: what was handed over comes back (accepted, or not sent);
        # what was built and not handed over stays queued.
        self._built.clear()
        self._settle(group)
        self._stop_if_fatal()
        unreachable, self.unreachable = self.unreachable, None
        return unreachable

    def _hand_built(self, group: ledger.SentGroup) -> None:
        """Give the relay the built messages there is room for now."""
        built = self._built
        if self.unreachable is not None or self.fatal is not None:
            return  # the senders stopped offering: the rest of the batch stays queued
        while built and self._room(group):
            ready, to, data, rendered = built.popleft()
            self.pipeline.hand(to, data, (ready, self._content, rendered))

    def _room(self, group: ledger.SentGroup) -> bool:
        """Whether another message may go to the relay now."""
        outstanding = self.pipeline.outstanding
        return outstanding < self.pipeline.window and len(group) + outstanding < self.commit_every

    def _build(
        self,
        run: Run,
        content: Content,
        delivery: Delivery,
        users: dict[int, User],
        group: ledger.SentGroup,
        built: deque[tuple[Delivery, str, bytes, Rendered]],
    ) -> None:
        """Build one delivery's message into ``built``, or record why there is none."""
        try:
            user = users[delivery.user_id]
            message = self._render(run, content, delivery, user)
        except Exception as exc:
            # One message that cannot be built (a template's error, a row it
            # cannot read) fails alone; the batch and the run go on.
            fail(delivery, self.summary, f"not built: {describe(exc)}", exc)
            return
        if message is None:
            group.add(delivery, "skipped: nothing left to send")
            self.summary.skipped += 1
            self._commit_if_full(group)
            return
        rendered, data = message
        built.append((delivery, user.email, data, rendered))

    def _collect(self, group: ledger.SentGroup, block: bool) -> None:
        """Record the outcomes the relay has given so far (with ``block``, at least one)."""
        while (outcome := self.pipeline.next_outcome(block)) is not None:
            block = False
            delivery, content, rendered = outcome.job
            error = outcome.error
            if error is None:
                assert outcome.reply is not None
                self._accepted(delivery, group, outcome.reply, rendered)
            elif isinstance(error, RelayUnreachableError):
                # Nothing reached the relay: this delivery and the rest of the
                # batch wait for it, and no attempt is counted against them.
                self.unreachable = self.unreachable or error
            elif isinstance(error, NotSentError):
                pass  # never offered: it stays queued, like the rest of the batch
            elif isinstance(error, Exception):
                not_accepted(delivery, content, self.summary, error)
            else:  # a sender met SystemExit or the like: the batch stops, as if here
                self.fatal = self.fatal or error

    def _stop_if_fatal(self) -> None:
        """Raise what a sender thread met that should end the batch (SystemExit...)."""
        if self.fatal is not None:
            fatal, self.fatal = self.fatal, None
            raise fatal

    def _settle(self, group: ledger.SentGroup) -> None:
        """Wait for every handed-over message's outcome and record it."""
        while self.pipeline.outstanding:
            self._collect(group, block=True)

    def _render(
        self, run: Run, content: Content, delivery: Delivery, user: User
    ) -> tuple[Rendered, bytes] | None:
        """A delivery's message and its bytes for the reader, or None if it has nothing to send."""
        rendered = content.message(delivery, user)
        if rendered is None:
            return None
        unsubscribe_url = content.unsubscribe_url(user.id)
        token = ""
        if self.tokens is not None:
            token = self.tokens.token(delivery.id)
            # The unsubscribe link names the delivery too, so the run is told who left.
            unsubscribe_url = f"{unsubscribe_url}?m={token}"
            if rendered.links and rendered.links is not self._last_links:
                self._note_links(rendered.links)
        data = build_bytes(
            rendered,
            to=user.email,
            name=user.name,
            msgid=message_id(self.run_id, run.created_at, delivery.id, delivery.user_id),
            unsubscribe_url=unsubscribe_url,
            preferences_url=content.preferences_url,
            sender=self.pipeline.sender,
            tracking=token,
        )
        return rendered, data

    def _note_links(self, urls: tuple[str, ...]) -> None:
        """Remember a message's links, to store for the run with its commit group."""
        # Readers with the same digest share one Rendered: checked once per distinct one.
        self._last_links = urls
        new = set(urls) - self._links
        self._links |= new
        self._new_links |= new

    def _recorder(self, content: Content) -> ledger.SentHook:
        """The group's hook: the links its messages carry, then what the content records."""

        def record(sent: SentRecords) -> None:
            # Stored in the transaction that records the group's messages as sent, a
            # statement or two per group rather than per distinct message.
            if self._new_links:
                tracking.register_links(self.run_id, self._new_links)
                self._new_links = set()
            content.record_sent(sent)

        return record

    def _accepted(
        self, delivery: Delivery, group: ledger.SentGroup, reply: str, rendered: Rendered
    ) -> None:
        """Count a message the server accepted into its group, committing a full group."""
        # Recorded only now that the server accepted it; committed with its group.
        group.add(delivery, reply, rendered.article_ids)
        self.summary.sent += 1
        if self.progress:
            self.progress(1)
        self._commit_if_full(group)

    def _commit_if_full(self, group: ledger.SentGroup) -> None:
        """Commit a full group, once the senders were given what they may take meanwhile."""
        if len(group) >= self.group_size:
            self._hand_built(group)
            group.commit()


def send_run(
    run_id: int,
    *,
    worker: str | None = None,
    wait: bool = True,
    progress: Callable[[int], None] | None = None,
    max_batches: int | None = None,
) -> Summary:
    """Send the queued deliveries of a run that this worker can take; return a summary.

    With ``max_batches`` it stops after that many batches (a Celery task sends one
    batch); otherwise it goes on until the run has nothing left to take.
    """
    worker = worker or ledger.worker_name()
    summary = Summary()
    started = time.monotonic()
    _start(run_id)
    pipeline = Pipeline()
    sending = _Sending(run_id, worker, summary, pipeline, progress)
    batches = 0
    session = db.session()
    # A commit expires every loaded row, and reading one again costs a SELECT each:
    # a batch's rows stay loaded across its commit groups, and are let go after it.
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    # What is loaded by now (the app, its modules, the run's plans) lives through the
    # send: out of the collector's sight, a full collection no longer walks it all
    # again while the senders wait for the engine. Given back to it afterwards.
    gc.freeze()
    try:
        while max_batches is None or batches < max_batches:
            batch = _claim(run_id, worker, wait)
            if not batch:
                break
            batches += 1
            reached = sending.send_batch(batch)
            for delivery in batch:
                session.expunge(delivery)
            if not reached:
                # Even when told to wait: a relay that is down may stay down for hours,
                # and the run is left unfinished, so the next tick goes on with it.
                break
    finally:
        pipeline.close()
        gc.unfreeze()
        session.expire_on_commit = expire_on_commit
        session.expire_all()
    _finish(run_id)
    summary.seconds = time.monotonic() - started
    return summary

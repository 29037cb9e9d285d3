"""What each imported line does to the members here: create, update or skip, and why.

``decide`` says it without writing (the dry run shows exactly that); ``apply`` does it.
The rules: an address mail could not reach, a second line for one address, an address
suppressed here, an admin's account, or a line the source itself marks deleted or pending
is skipped. A new member keeps the source's consent and its date, counts as confirmed (the
source confirmed them) and gets no mail; they sign in by a mailed link. An existing member
gains what they lack (a name, consent, topics, complimentary access) and loses nothing: an
unsubscribe here always stands, consent here is never taken away by the file, and an
unconfirmed account here is never confirmed by a file (that would hand an address's
account to whoever registered it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import func, select

from shop.accounts.models import NO_PASSWORD, ROLE_READER, User
from shop.accounts.services import (
    AccountError,
    address_problem,
    clean_display_name,
    normalise_email,
)
from shop.articles.models import Tag
from shop.billing import gateway
from shop.billing.customers import user_for_customer
from shop.billing.models import ComplimentaryAccess, Customer
from shop.clock import utcnow
from shop.extensions import db
from shop.members.formats import FORMAT_NAMES, MemberRow
from shop.preferences.models import DEFAULT_FREQUENCY, DigestPreference, Frequency


class Action(StrEnum):
    """What a line does."""

    CREATE = "create"
    UPDATE = "update"
    SKIP = "skip"


@dataclass
class Outcome:
    """One line's result, as the dry run and the report show it."""

    line: int
    email: str
    action: str
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The outcome as JSON-ready values (the import's stored report)."""
        return {"line": self.line, "email": self.email, "action": self.action,
                "reasons": self.reasons}  # fmt: skip


@dataclass
class Context:
    """What one import knows across its lines: the topics here, the addresses seen so far."""

    format: str
    tags: dict[str, Tag]
    seen: dict[str, int] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The source's name for notes ("Ghost")."""
        return FORMAT_NAMES[self.format].split()[0]


def context(fmt: str) -> Context:
    """A fresh context: every topic by its lower-cased name and by its slug."""
    tags: dict[str, Tag] = {}
    for tag in db.session.scalars(select(Tag)):
        tags[tag.name.lower()] = tag
        tags[tag.slug] = tag
    return Context(fmt, tags)


@dataclass
class Member:
    """An existing account and what an import may change of it."""

    user: User
    pref: DigestPreference | None
    comp: ComplimentaryAccess | None


@dataclass
class Decision:
    """What to do with one line, and the changes an import makes for it."""

    row: MemberRow
    email: str
    outcome: Outcome
    member: Member | None = None
    name: str | None = None
    consent: bool = False
    tags: list[Tag] = field(default_factory=list)
    comp: bool = False
    # Whether the import touches the account at all, and may link a Stripe customer to it.
    linkable: bool = False
    stripe: bool = True


def screen(row: MemberRow, ctx: Context) -> tuple[str, str | None]:
    """The line's address, normalised, and why the file alone rules it out (None if not).

    Remembers each good address, so that a second line for it is a duplicate.
    """
    email = normalise_email(row.email)
    if not row.email:
        return email, "invalid: no email address"
    if row.problem:
        return email, f"invalid: {row.problem}"
    problem = address_problem(row.email)
    if problem:
        return email, f"invalid: {problem}"
    if email in ctx.seen:
        return email, f"duplicate of line {ctx.seen[email]}"
    ctx.seen[email] = row.line
    if row.source_skip:
        return email, row.source_skip
    return email, None


def load_members(emails: list[str]) -> dict[str, Member]:
    """The accounts with these addresses, with their preference and complimentary access."""
    if not emails:
        return {}
    users = list(db.session.scalars(select(User).where(func.lower(User.email).in_(emails))))
    ids = [u.id for u in users]
    prefs = {
        p.user_id: p
        for p in db.session.scalars(
            select(DigestPreference).where(DigestPreference.user_id.in_(ids))
        )
    }
    comps = {
        c.user_id: c
        for c in db.session.scalars(
            select(ComplimentaryAccess).where(ComplimentaryAccess.user_id.in_(ids))
        )
    }
    return {normalise_email(u.email): Member(u, prefs.get(u.id), comps.get(u.id)) for u in users}


def _name(row: MemberRow, reasons: list[str]) -> str | None:
    try:
        return clean_display_name(row.name)
    except AccountError as error:
        reasons.append(f"name left out: {error}")
        return None


def _topics(row: MemberRow, ctx: Context, reasons: list[str]) -> list[Tag]:
    found: list[Tag] = []
    for name in row.tags:
        tag = ctx.tags.get(name.lower())
        if tag is None:
            reasons.append(f"topic not found: {name}")
        elif tag not in found:
            found.append(tag)
    return found


def _comp_wanted(row: MemberRow, comp: ComplimentaryAccess | None, reasons: list[str]) -> bool:
    """Whether to give (or lengthen) complimentary access; never shortens what is here."""
    if not row.complimentary:
        return False
    until = row.complimentary_until
    if until is not None and until <= utcnow():
        reasons.append(f"complimentary access ended {until:%Y-%m-%d}: not given")
        return False
    if comp is not None and (comp.until is None or (until is not None and until <= comp.until)):
        return False
    reasons.append(f"complimentary access{f' until {until:%Y-%m-%d}' if until else ''}")
    return True


def decide(row: MemberRow, ctx: Context, members: dict[str, Member]) -> Decision:
    """What this line would do, in words, without changing anything."""
    email, skip = screen(row, ctx)
    outcome = Outcome(row.line, email or row.email, Action.SKIP)
    decision = Decision(row, email, outcome)
    if skip:
        outcome.reasons.append(skip)
        return decision
    member = members.get(email)
    reasons = outcome.reasons
    if member is None:
        outcome.action = Action.CREATE
        decision.linkable = True
        decision.name = _name(row, reasons)
        decision.consent = row.subscribed
        if not row.subscribed:
            reasons.append(f"{row.source_state} in {ctx.source}: no digest consent")
        decision.tags = _topics(row, ctx, reasons)
        decision.comp = _comp_wanted(row, None, reasons)
        return decision
    decision.member = member
    user, pref = member.user, member.pref
    if user.is_admin:
        reasons.append("an admin's account: left alone")
        return decision
    if pref is not None and pref.suppressed_at is not None:
        reasons.append("suppressed here (bounces or an admin's choice)")
        return decision
    decision.linkable = True
    changes = []
    if row.name and not user.display_name:
        decision.name = _name(row, reasons)
        if decision.name:
            changes.append("name")
    if row.subscribed:
        if pref is not None and pref.unsubscribed_at is not None:
            reasons.append(f"unsubscribed here on {pref.unsubscribed_at:%Y-%m-%d}: kept so")
        elif user.digest_consent_at is None:
            decision.consent = True
            changes.append("digest consent")
    elif user.digest_consent_at is not None and (pref is None or pref.unsubscribed_at is None):
        reasons.append(f"{row.source_state} in {ctx.source}, subscribed here: not changed")
    confirmed = user.is_confirmed
    if not confirmed:
        # Whoever registered the address may not own it: nothing paid goes to the account.
        reasons.append(
            "not confirmed here: left to the reader's own confirmation, without "
            "complimentary access or a Stripe customer until then"
        )
        decision.stripe = False
    wanted = _topics(row, ctx, reasons)
    following = pref.tags if pref is not None else []
    # A reader with no preference row yet gets every topic (preferences' default).
    follows_all = pref.follow_all if pref is not None else True
    if wanted and follows_all and not decision.consent:
        # Their own choice of "everything" stands; one consenting now takes the file's.
        reasons.append("follows every topic already")
    else:
        decision.tags = [t for t in wanted if t not in following]
        if decision.tags:
            changes.append("topics " + ", ".join(t.name for t in decision.tags))
    decision.comp = confirmed and _comp_wanted(row, member.comp, reasons)
    if changes or decision.comp:
        outcome.action = Action.UPDATE
        if changes:
            reasons.insert(0, "adds " + "; ".join(changes))
    else:
        reasons.insert(0, "already a member: nothing to change")
    return decision


def _create(decision: Decision) -> User:
    row, now = decision.row, utcnow()
    consent_at = (row.consent_at or now) if decision.consent else None
    user = User(
        email=decision.email,
        password_hash=NO_PASSWORD,
        role=ROLE_READER,
        display_name=decision.name,
        created_at=row.created_at or now,
        # The source confirmed the address; no confirmation mail goes.
        confirmed_at=consent_at or row.created_at or now,
        digest_consent_at=consent_at,
    )
    pref = DigestPreference(
        user=user,
        frequency=DEFAULT_FREQUENCY if decision.consent else Frequency.OFF,
        follow_all=not decision.tags,
        tags=list(decision.tags),
        # Stories from the import on, not the whole archive.
        covered_until=now,
        unsubscribed_at=None if decision.consent else now,
    )
    db.session.add_all([user, pref])
    return user


def _update(decision: Decision) -> User:
    member = decision.member
    assert member is not None
    user, now = member.user, utcnow()
    if decision.name:
        user.display_name = decision.name
    pref = member.pref
    if pref is None:
        # As preferences make it on first need: the consented frequency, or off.
        chosen = user.digest_frequency or DEFAULT_FREQUENCY
        frequency = chosen if user.digest_consent_at else Frequency.OFF
        pref = DigestPreference(user=user, frequency=frequency, covered_until=now)
        db.session.add(pref)
        member.pref = pref
    if decision.consent:
        user.digest_consent_at = decision.row.consent_at or now
        if pref.frequency == Frequency.OFF:
            pref.frequency = user.digest_frequency or DEFAULT_FREQUENCY
        pref.covered_until = now
    if decision.tags:
        pref.tags = [*pref.tags, *decision.tags] if not pref.follow_all else decision.tags
        pref.follow_all = False
    return user


def _give_comp(user: User, decision: Decision, ctx: Context) -> None:
    comp = decision.member.comp if decision.member else None
    if comp is None:
        comp = ComplimentaryAccess(user=user, note=f"imported from {ctx.source}")
        db.session.add(comp)
    comp.until = decision.row.complimentary_until


def link_stripe(user: User, row: MemberRow) -> tuple[str | None, bool]:
    """Link the member's Stripe customer (named in the file, else found by email): a note
    for the report, and whether a customer was linked."""
    if not gateway.is_configured():
        if row.stripe_customer_id:
            return "payments are not set up here: Stripe customer not linked", False
        return None, False
    known = set(
        db.session.scalars(select(Customer.stripe_customer_id).where(Customer.user_id == user.id))
    )
    wanted = row.stripe_customer_id
    if wanted in known or (wanted is None and known):
        return None, False
    try:
        if wanted is not None:
            gateway.customer_email(wanted)
        else:
            wanted = gateway.find_customer_by_email(user.email)
            if wanted is None:
                return None, False
    except gateway.MissingObjectError:
        return f"Stripe has no customer {wanted}: not linked", False
    except gateway.GatewayError as error:
        return f"Stripe customer not linked: {error}", False
    owner = user_for_customer(wanted)
    if owner is not None and owner.id != user.id:
        return f"Stripe customer {wanted} is {owner.email}'s here: not linked", False
    if owner is None:
        db.session.add(Customer(user=user, stripe_customer_id=wanted))
    return f"Stripe customer {wanted} linked", True


def apply(decision: Decision, ctx: Context) -> Outcome:
    """Make the line's changes (the caller commits); the outcome, with Stripe's note."""
    outcome = decision.outcome
    if not decision.linkable:
        return outcome
    if outcome.action == Action.CREATE:
        user = _create(decision)
    elif outcome.action == Action.UPDATE:
        user = _update(decision)
    else:
        assert decision.member is not None
        user = decision.member.user
    if decision.comp:
        _give_comp(user, decision, ctx)
    db.session.flush()
    note, linked = link_stripe(user, decision.row) if decision.stripe else (None, False)
    if note:
        outcome.reasons.append(note)
    if linked and outcome.action == Action.SKIP:
        outcome.action = Action.UPDATE
        outcome.reasons[0] = "adds the Stripe customer"
    return outcome

"""Account rules: registration, confirmation, login, password reset, changes."""

from __future__ import annotations

import functools
import hashlib
import secrets

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from limits import parse as parse_limit
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from shop.accounts import sessions
from shop.accounts.models import ROLE_READER, User, password_hash_method
from shop.clock import utcnow
from shop.errors import RuleError
from shop.extensions import db, limiter
from shop.mail import MailUnavailableError, send_email
from shop.urls import external_url, safe_next

MIN_PASSWORD_LENGTH = 10

# What a reader may pick when opting in to the digest at registration. The newsletter
# (a floor above) owns the full list and checks that these stay among its own.
DIGEST_FREQUENCIES = ("daily", "weekly", "instant")

SALT_CONFIRM = "accounts.confirm"
SALT_RESET = "accounts.reset"
SALT_EMAIL_CHANGE = "accounts.email-change"

NON_ASCII_LOCAL_PART = (
    "Use an address with only Latin letters, digits and punctuation before the @: "
    "we cannot deliver mail to other characters there yet."
)


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash of a random password, made on first use: importing this module hashes nothing."""
    return generate_password_hash(secrets.token_hex(16), method=method)


class AccountError(RuleError):
    """An account rule was broken."""


def normalise_email(email: str) -> str:
    """Trim and lower-case an address, so one person cannot hold two accounts.

    An internationalised domain is kept in its Unicode form whichever way it was typed
    ("xn--bcher-kva.example" and "BÜCHER.example" are both "bücher.example").
    """
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not domain or (domain.isascii() and "xn--" not in domain):
        return email
    try:
        valid = validate_email(email, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return email  # the form reports it; a lookup with the typed form finds nothing
    return f"{local}@{valid.domain.lower()}"


def address_problem(email: str) -> str | None:
    """Why mail could not reach this address, in the reader's words; None when it can.

    Mail relays without SMTPUTF8 refuse non-ASCII before the @, so such an address
    could never receive its confirmation link. A non-ASCII domain is fine: it has an
    ASCII (IDNA) form that every relay takes.
    """
    local = email.strip().rpartition("@")[0]
    if local and not local.isascii():
        return NON_ASCII_LOCAL_PART
    try:
        validate_email(email.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return "Invalid email address."
    return None


def check_address(email: str) -> None:
    """Raise AccountError (on the email field) when mail could not reach the address."""
    problem = address_problem(email)
    if problem:
        raise AccountError(problem, "email")


def mail_allowed(kind: str, address: str, setting: str) -> bool:
    """Count one mail of ``kind`` to ``address``; False once the setting's limit is reached.

    Counted in the rate limiter's storage (Redis in production), so every worker shares
    the count. The callers stay silent past the limit, so the answer a visitor sees
    cannot tell an existing account from a missing one.
    """
    if not limiter.enabled:
        return True
    item = parse_limit(current_app.config[setting])
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    try:
        return limiter.limiter.hit(item, prefix, "mail", kind, normalise_email(address))
    except Exception:  # noqa: BLE001  (a storage outage must not stop account mail)
        current_app.logger.exception("Mail rate limit storage failed; sending anyway")
        return True


def check_password_rules(password: str, email: str) -> None:
    """Raise AccountError when a password is too short or is the email itself."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"Use at least {MIN_PASSWORD_LENGTH} characters for your password.", "password"
        )
    if password.strip().lower() == normalise_email(email):
        raise AccountError("Your password cannot be your email address.", "password")


NAME_MAX = 80


def clean_display_name(text: str | None, required: bool = False) -> str | None:
    """A name to show publicly, trimmed; None when left empty (AccountError if required)."""
    name = " ".join((text or "").split())
    if not name:
        if required:
            raise AccountError("Write the name to show with your comments.", "display_name")
        return None
    if len(name) > NAME_MAX:
        raise AccountError(f"Keep your name under {NAME_MAX} characters.", "display_name")
    if not name.isprintable() or "@" in name:
        raise AccountError(
            "Use a name, not an email address, and no special characters.", "display_name"
        )
    return name


def set_display_name(user: User, text: str | None) -> None:
    """Change the name shown on the reader's comments and in their mail."""
    user.display_name = clean_display_name(text)
    db.session.commit()


def find_user_by_email(email: str) -> User | None:
    """Look an account up by address, ignoring case."""
    return db.session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _load_token(salt: str, token: str, max_age_setting: str, what: str) -> dict:
    """Verify a signed token; AccountError says whether it expired or was never good."""
    try:
        data = _serializer(salt).loads(token, max_age=current_app.config[max_age_setting])
    except SignatureExpired as exc:
        raise AccountError(f"This {what} has expired. Ask for a new one.") from exc
    except BadSignature as exc:
        raise AccountError(f"This {what} is not valid.") from exc
    if not isinstance(data, dict):
        raise AccountError(f"This {what} is not valid.")
    return data


def send_account_mail(to: str, subject: str, template: str, **ctx) -> None:
    """Send one account mail; a relay that is down becomes an AccountError in words."""
    try:
        send_email(to, subject, template, **ctx)
    except MailUnavailableError as exc:
        raise AccountError(str(exc)) from exc


def _mail_link(to: str, subject: str, template: str, endpoint: str, token: str, **ctx) -> None:
    """Mail a message whose point is one signed link back to the site."""
    send_account_mail(to, subject, template, link=external_url(endpoint, token=token), **ctx)


def _password_fingerprint(user: User) -> str:
    # Tying reset tokens to the current hash makes each one single-use:
    # once the password changes, every earlier link stops working.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def register(
    email: str,
    password: str,
    digest_consent: bool = False,
    digest_frequency: str = "weekly",
    next_url: str | None = None,
    display_name: str | None = None,
) -> User | None:
    """Register an address: a new account gets a confirmation link, a taken one a warning.

    Both cases do the same work (one password hash, one mail) and give the caller
    nothing to tell them apart by but the return value, which views must not show:
    the new account, or None when the address already had one.
    """
    email = normalise_email(email)
    check_address(email)
    check_password_rules(password, email)
    name = clean_display_name(display_name)
    if digest_consent and digest_frequency not in DIGEST_FREQUENCIES:
        raise AccountError("Choose how often you want the digest.", "digest_frequency")
    user = User(email=email, role=ROLE_READER, display_name=name)
    # Hashed before the lookup, so that a taken address costs as much as a new one.
    user.set_password(password)
    if find_user_by_email(email) is not None:
        _mail_taken_address(email)
        return None
    if digest_consent:
        # The newsletter reads both when it first makes the reader's preference.
        user.digest_consent_at = utcnow()
        user.digest_frequency = digest_frequency
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # A parallel registration of the same address won the unique index.
        db.session.rollback()
        _mail_taken_address(email)
        return None
    # Counted apart from the warnings below, which parallel requests for the same
    # address may send first: the new account's own link must not be the one dropped.
    if mail_allowed("confirm", email, "REGISTER_RATE_LIMIT_ADDRESS"):
        send_confirmation(user, next_url=next_url)
    return user


def _mail_taken_address(email: str) -> None:
    """Tell an account's owner that someone tried to register their address."""
    if not mail_allowed("taken", email, "REGISTER_RATE_LIMIT_ADDRESS"):
        return
    send_account_mail(
        email,
        "You already have an account",
        "register_taken",
        login_link=external_url("accounts.login"),
        reset_link=external_url("accounts.forgot_password"),
    )


def send_confirmation(user: User, next_url: str | None = None) -> None:
    """Mail a signed, expiring link that confirms the reader's address and logs them in."""
    data = {"id": user.id, "email": user.email, "fp": _password_fingerprint(user)}
    if safe_next(next_url):
        data["next"] = next_url
    token = _serializer(SALT_CONFIRM).dumps(data)
    _mail_link(user.email, "Confirm your email address", "confirm", "accounts.confirm", token)


def confirm_email(token: str) -> tuple[User, bool, str | None]:
    """Confirm the address a token was issued for.

    Returns the account, whether the link may log the reader in, and where to go
    next. Only the first use logs in, and only while the password is the one the
    link was mailed under: an old link in a mailbox is not a lasting key.
    """
    data = _load_token(SALT_CONFIRM, token, "CONFIRM_TOKEN_MAX_AGE", "confirmation link")
    user = db.session.get(User, data.get("id"))
    if user is None or user.email != data.get("email"):
        raise AccountError("This confirmation link is not valid.")
    may_log_in = user.confirmed_at is None and data.get("fp") == _password_fingerprint(user)
    if user.confirmed_at is None:
        user.confirmed_at = utcnow()
        db.session.commit()
    return user, may_log_in, safe_next(data.get("next"))


def authenticate(email: str, password: str) -> User:
    """Return the account for these credentials, or raise AccountError."""
    user = find_user_by_email(email)
    if user is None:
        # Hash anyway, so the answer takes as long whether or not the account exists.
        check_password_hash(_dummy_hash(password_hash_method()), password)
        raise AccountError("That email and password do not match an account.")
    if not user.has_password:
        # No hash to check: hash anyway, so the answer takes as long as for the others.
        check_password_hash(_dummy_hash(password_hash_method()), password)
        raise AccountError("That email and password do not match an account.")
    if not user.check_password(password):
        raise AccountError("That email and password do not match an account.")
    return user


def request_password_reset(email: str) -> None:
    """Mail a reset link if the account exists; say nothing either way.

    Past ``RESET_RATE_LIMIT_ADDRESS`` no more links go to that address, silently, so
    that neither the reader's inbox can be flooded nor the limit reveal the account.
    """
    user = find_user_by_email(email)
    if user is None:
        return
    if not mail_allowed("reset", user.email, "RESET_RATE_LIMIT_ADDRESS"):
        return
    token = _serializer(SALT_RESET).dumps({"id": user.id, "fp": _password_fingerprint(user)})
    _mail_link(user.email, "Reset your password", "reset", "accounts.reset_password", token)


def user_for_reset_token(token: str) -> User:
    """Return the account a reset token is good for, or raise AccountError."""
    data = _load_token(SALT_RESET, token, "RESET_TOKEN_MAX_AGE", "reset link")
    user = db.session.get(User, data.get("id"))
    if user is None or data.get("fp") != _password_fingerprint(user):
        raise AccountError("This reset link has already been used or is not valid.")
    return user


def reset_password(token: str, password: str) -> User:
    """Set a new password through a reset link, which then stops working.

    Every device is logged out and every pending email change dies with the old
    password (change links carry its fingerprint): whoever held the account before
    the reset keeps nothing.
    """
    user = user_for_reset_token(token)
    set_new_password(user, password)
    sessions.end_other_sessions(user)
    # The link reached the reader's inbox, which proves the address too.
    if user.confirmed_at is None:
        user.confirmed_at = utcnow()
    db.session.commit()
    return user


def set_new_password(user: User, password: str) -> None:
    """Apply the password rules, store the hash and end other sessions."""
    check_password_rules(password, user.email)
    user.set_password(password)
    user.session_version += 1


def change_password(user: User, current_password: str | None, new_password: str) -> None:
    """Change a logged-in reader's password; other devices and pending changes end.

    A member who signed in by mailed link and never set a password sets one without it.
    """
    if user.has_password and not user.check_password(current_password or ""):
        raise AccountError("Your current password is not right.", "current_password")
    set_new_password(user, new_password)
    sessions.end_other_sessions(user, keep=user.login_token)
    db.session.commit()


def request_email_change(user: User, new_email: str, password: str | None) -> None:
    """Mail a confirmation link to the new address; the change waits for it.

    An account with no password (it signs in by mailed link) is proven by its session.
    """
    new_email = normalise_email(new_email)
    check_address(new_email)
    if user.has_password and not user.check_password(password or ""):
        raise AccountError("Your password is not right.", "password")
    if new_email == user.email:
        raise AccountError("That is already your email address.", "email")
    if find_user_by_email(new_email) is not None:
        raise AccountError("Another account already uses that email address.", "email")
    # Tied to the password and the session version: a reset or a password change (the
    # owner taking the account back) kills every change link asked for before it.
    token = _serializer(SALT_EMAIL_CHANGE).dumps(
        {
            "id": user.id,
            "old": user.email,
            "new": new_email,
            "fp": _password_fingerprint(user),
            "sv": user.session_version,
        }
    )
    _mail_link(
        new_email,
        "Confirm your new email address",
        "change_email",
        "accounts.confirm_email_change",
        token,
        new_email=new_email,
    )


def confirm_email_change(token: str) -> User:
    """Move an account to the address a change token was mailed to."""
    data = _load_token(SALT_EMAIL_CHANGE, token, "CONFIRM_TOKEN_MAX_AGE", "link")
    user = db.session.get(User, data.get("id"))
    if (
        user is None
        or user.email != data.get("old")
        or data.get("fp") != _password_fingerprint(user)
        or data.get("sv") != user.session_version
    ):
        raise AccountError("This link has already been used or is not valid.")
    if find_user_by_email(str(data.get("new", ""))) is not None:
        raise AccountError("Another account already uses that email address.")
    user.email = str(data["new"])
    user.confirmed_at = utcnow()
    db.session.commit()
    return user


def resend_confirmation(user: User) -> None:
    """Mail a new confirmation link to a reader who has not confirmed yet (the back office)."""
    if user.is_confirmed:
        raise AccountError(f"{user.email} is already confirmed.")
    send_confirmation(user)

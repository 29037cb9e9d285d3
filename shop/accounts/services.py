"""Account rules: registration, confirmation, login, password reset, changes."""

from __future__ import annotations

import hashlib
import secrets

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from shop.accounts.models import ROLE_ADMIN, ROLE_READER, User
from shop.errors import RuleError
from shop.extensions import db
from shop.mail import send_email
from shop.timeutil import utcnow
from shop.urls import external_url

MIN_PASSWORD_LENGTH = 10

# What a reader may pick when opting in to the digest at registration. The newsletter
# (a floor above) owns the full list and checks that these stay among its own.
DIGEST_FREQUENCIES = ("daily", "weekly", "instant")

SALT_CONFIRM = "accounts.confirm"
SALT_RESET = "accounts.reset"
SALT_EMAIL_CHANGE = "accounts.email-change"

_DUMMY_HASH = generate_password_hash(secrets.token_hex(16), method="scrypt")


class AccountError(RuleError):
    """An account rule was broken."""


def normalise_email(email: str) -> str:
    """Trim and lower-case an address, so one person cannot hold two accounts."""
    return email.strip().lower()


def check_password_rules(password: str, email: str) -> None:
    """Raise AccountError when a password is too short or is the email itself."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"Use at least {MIN_PASSWORD_LENGTH} characters for your password.", "password"
        )
    if password.strip().lower() == normalise_email(email):
        raise AccountError("Your password cannot be your email address.", "password")


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


def _mail_link(to: str, subject: str, template: str, endpoint: str, token: str, **ctx) -> None:
    """Mail a message whose point is one signed link back to the site."""
    send_email(to, subject, template, link=external_url(endpoint, token=token), **ctx)


def _password_fingerprint(user: User) -> str:
    # Tying reset tokens to the current hash makes each one single-use:
    # once the password changes, every earlier link stops working.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def register(
    email: str, password: str, digest_consent: bool = False, digest_frequency: str = "weekly"
) -> User:
    """Create a reader account, with their digest consent if given; mail the confirmation."""
    email = normalise_email(email)
    check_password_rules(password, email)
    if digest_consent and digest_frequency not in DIGEST_FREQUENCIES:
        raise AccountError("Choose how often you want the digest.", "digest_frequency")
    if find_user_by_email(email) is not None:
        raise AccountError("An account with this email already exists. Log in instead.", "email")
    user = User(email=email, role=ROLE_READER)
    user.set_password(password)
    if digest_consent:
        # The newsletter reads both when it first makes the reader's preference.
        user.digest_consent_at = utcnow()
        user.digest_frequency = digest_frequency
    db.session.add(user)
    db.session.commit()
    send_confirmation(user)
    return user


def send_confirmation(user: User) -> None:
    """Mail a signed, expiring link that confirms the reader's address."""
    token = _serializer(SALT_CONFIRM).dumps({"id": user.id, "email": user.email})
    _mail_link(user.email, "Confirm your email address", "confirm", "accounts.confirm", token)


def confirm_email(token: str) -> User:
    """Confirm the address a token was issued for."""
    data = _load_token(SALT_CONFIRM, token, "CONFIRM_TOKEN_MAX_AGE", "confirmation link")
    user = db.session.get(User, data.get("id"))
    if user is None or user.email != data.get("email"):
        raise AccountError("This confirmation link is not valid.")
    if user.confirmed_at is None:
        user.confirmed_at = utcnow()
        db.session.commit()
    return user


def authenticate(email: str, password: str) -> User:
    """Return the account for these credentials, or raise AccountError."""
    user = find_user_by_email(email)
    if user is None:
        # Hash anyway, so the answer takes as long whether or not the account exists.
        check_password_hash(_DUMMY_HASH, password)
        raise AccountError("That email and password do not match an account.")
    if not user.check_password(password):
        raise AccountError("That email and password do not match an account.")
    return user


def request_password_reset(email: str) -> None:
    """Mail a reset link if the account exists; say nothing either way."""
    user = find_user_by_email(email)
    if user is None:
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
    """Set a new password through a reset link, which then stops working."""
    user = user_for_reset_token(token)
    set_new_password(user, password)
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


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change a logged-in reader's password after checking the current one."""
    if not user.check_password(current_password):
        raise AccountError("Your current password is not right.", "current_password")
    set_new_password(user, new_password)
    db.session.commit()


def request_email_change(user: User, new_email: str, password: str) -> None:
    """Mail a confirmation link to the new address; the change waits for it."""
    new_email = normalise_email(new_email)
    if not user.check_password(password):
        raise AccountError("Your password is not right.", "password")
    if new_email == user.email:
        raise AccountError("That is already your email address.", "email")
    if find_user_by_email(new_email) is not None:
        raise AccountError("Another account already uses that email address.", "email")
    token = _serializer(SALT_EMAIL_CHANGE).dumps(
        {"id": user.id, "old": user.email, "new": new_email}
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
    if user is None or user.email != data.get("old"):
        raise AccountError("This link has already been used or is not valid.")
    if find_user_by_email(str(data.get("new", ""))) is not None:
        raise AccountError("Another account already uses that email address.")
    user.email = str(data["new"])
    user.confirmed_at = utcnow()
    db.session.commit()
    return user


def create_admin(email: str, password: str) -> tuple[User, bool]:
    """Create an admin, or promote and re-password an existing account."""
    email = normalise_email(email)
    check_password_rules(password, email)
    user = find_user_by_email(email)
    created = user is None
    if user is None:
        user = User(email=email)
        db.session.add(user)
    user.role = ROLE_ADMIN
    user.set_password(password)
    if user.confirmed_at is None:
        user.confirmed_at = utcnow()
    db.session.commit()
    return user, created


def generate_password() -> str:
    """A random password good enough for a first login."""
    return secrets.token_urlsafe(12)

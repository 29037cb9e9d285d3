"""The operators' accounts: an admin made or promoted from the command line, and the
demo's first password. Readers' accounts are ``services.py``'s.
"""

from __future__ import annotations

import secrets

from shop.accounts import sessions
from shop.accounts.models import ROLE_ADMIN, User
from shop.accounts.services import (
    NON_ASCII_LOCAL_PART,
    AccountError,
    check_password_rules,
    find_user_by_email,
    normalise_email,
    set_new_password,
)
from shop.clock import utcnow
from shop.extensions import db


def create_admin(email: str, password: str) -> tuple[User, bool]:
    """Create an admin, or promote and re-password an existing account."""
    email = normalise_email(email)
    # Not the full syntax check: operators may use local names such as admin@localhost.
    if not email.rpartition("@")[0].isascii():
        raise AccountError(NON_ASCII_LOCAL_PART, "email")
    check_password_rules(password, email)
    user = find_user_by_email(email)
    created = user is None
    if user is None:
        user = User(email=email)
        db.session.add(user)
    user.role = ROLE_ADMIN
    if created:
        user.set_password(password)
    else:
        # A new password for an existing account ends its sessions, as any change does.
        set_new_password(user, password)
        sessions.end_other_sessions(user)
    if user.confirmed_at is None:
        user.confirmed_at = utcnow()
    db.session.commit()
    return user, created


def generate_password() -> str:
    """A random password good enough for a first login."""
    return secrets.token_urlsafe(12)

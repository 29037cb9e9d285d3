"""The reader account."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from shop.clock import utcnow
from shop.extensions import Model

ROLE_READER = "reader"
ROLE_ADMIN = "admin"
DEFAULT_HASH_METHOD = "scrypt"


def password_hash_method() -> str:
    """The werkzeug method new password hashes use: ``PASSWORD_HASH_METHOD``, else scrypt."""
    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_METHOD") or DEFAULT_HASH_METHOD
    return DEFAULT_HASH_METHOD


class User(UserMixin, Model):
    """A person with a login: a reader, or an admin who runs the publication."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=ROLE_READER)
    display_name: Mapped[str | None] = mapped_column(String(80))
    confirmed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Consent to the email digest, given at registration or in preferences (None: never).
    digest_consent_at: Mapped[datetime | None]
    digest_frequency: Mapped[str | None] = mapped_column(String(8))  # chosen at registration
    # Bumped on password change so that other sessions and remember-me cookies end.
    session_version: Mapped[int] = mapped_column(default=1)

    # The token of the login session this object was loaded for (not a column): set by
    # shop.accounts.sessions, read by get_id when Flask-Login writes the cookies. Typed by a
    # cast, not an annotation: the ORM would take an annotated attribute for a column.
    login_token = cast("str | None", None)

    def set_password(self, password: str) -> None:
        """Store a hash of the password (scrypt unless ``PASSWORD_HASH_METHOD`` says otherwise)."""
        self.password_hash = generate_password_hash(password, method=password_hash_method())

    def check_password(self, password: str) -> bool:
        """Tell whether the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        """Tell whether this account may use the back office."""
        return self.role == ROLE_ADMIN

    @property
    def is_confirmed(self) -> bool:
        """Tell whether the reader has confirmed their email address."""
        return self.confirmed_at is not None

    @property
    def name(self) -> str:
        """The name shown on bylines and comments."""
        return self.display_name or self.email.split("@", 1)[0]

    def get_id(self) -> str:
        """Flask-Login's session id: the user id, the session version and the login token."""
        return f"{self.id}:{self.session_version}:{self.login_token or ''}"

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class LoginSession(Model):
    """One device's login; its token rides in the session and remember-me cookies.

    Logging out deletes the row, so a copied cookie stops working at once; a password
    change or reset deletes the reader's other rows.
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Only a SHA-256 of the token is stored: a copy of the database opens no session.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<LoginSession {self.id} of user {self.user_id}>"

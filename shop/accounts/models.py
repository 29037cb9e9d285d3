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

# A password hash no password matches: an account that signs in by mailed link only.
NO_PASSWORD = "!no-password"  # noqa: S105  (not a password: a hash nothing matches)
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

    def clear_password(self) -> None:
        """Leave the account without a password: it signs in by mailed link."""
        self.password_hash = NO_PASSWORD

    @property
    def has_password(self) -> bool:
        """Whether the reader has set a password (members who subscribed by email have not)."""
        return not self.password_hash.startswith("!")

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
        """The name the reader chose, for bylines, comments and greetings ("" if none).

        Never a piece of the email address: that is the reader's, not a public name.
        """
        return self.display_name or ""

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


# What a mailed link is for: signing in, or confirming an email-only subscription.
LINK_SIGN_IN = "sign_in"
LINK_SUBSCRIBE = "subscribe"


class MailedLink(Model):
    """A single-use link mailed to an address: it signs in, or confirms a subscription.

    Only a SHA-256 of the link's token is stored, so a copy of the database opens nothing;
    ``used_at`` is set by one conditional UPDATE, so a link works once however often it is
    opened or sent.
    """

    __tablename__ = "mailed_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(254), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Where to go once it is used (a path on this site), and the topic a subscriber chose.
    next_url: Mapped[str | None] = mapped_column(String(500))
    topic: Mapped[str | None] = mapped_column(String(140))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<MailedLink {self.purpose} {self.id}>"

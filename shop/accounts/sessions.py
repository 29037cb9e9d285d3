"""Login sessions, one per device, that the server can end: logout means logged out."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from flask_login import login_user
from sqlalchemy import delete, select

from shop.accounts.models import LoginSession, User
from shop.clock import utcnow
from shop.extensions import db

# A reader rarely has more devices than this; older logins beyond it are ended, so
# that logging in again and again (a script, a shared computer) cannot grow the table.
MAX_SESSIONS_PER_USER = 50


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User) -> str:
    """Open a login session for ``user`` on this device; return its token (also on user)."""
    token = secrets.token_urlsafe(32)
    db.session.add(LoginSession(user_id=user.id, token_hash=_hash(token)))
    db.session.flush()
    _prune(user)
    db.session.commit()
    user.login_token = token
    return token


def log_in(user: User, remember: bool = False) -> None:
    """Open a login session for this device and hand its id to Flask-Login."""
    start_session(user)
    login_user(user, remember=remember)


def _prune(user: User) -> None:
    """Forget sessions older than a remember-me cookie can live, and the surplus."""
    lifetime = current_app.config.get("REMEMBER_COOKIE_DURATION") or timedelta(days=365)
    if not isinstance(lifetime, timedelta):
        lifetime = timedelta(seconds=int(lifetime))
    db.session.execute(
        delete(LoginSession).where(
            LoginSession.user_id == user.id, LoginSession.created_at < utcnow() - lifetime
        )
    )
    surplus = db.session.scalars(
        select(LoginSession.id)
        .where(LoginSession.user_id == user.id)
        .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
        .offset(MAX_SESSIONS_PER_USER)
    ).all()
    if surplus:
        db.session.execute(delete(LoginSession).where(LoginSession.id.in_(surplus)))


def load_session_user(session_id: str) -> User | None:
    """The user of a cookie's session id ("user:version:token"), if that login still lives."""
    user_id, _, rest = session_id.partition(":")
    version, _, token = rest.partition(":")
    if not user_id.isdigit() or not version.isdigit() or not token:
        # Includes ids from before login sessions ("user:version"): log in again.
        return None
    found = db.session.execute(
        select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(User.id == int(user_id), LoginSession.token_hash == _hash(token))
    ).scalar_one_or_none()
    if found is None or str(found.session_version) != version:
        return None
    found.login_token = token
    return found


def end_session(user: User) -> None:
    """Log this device out for good: its cookies, copied or not, open nothing again."""
    if user.login_token:
        db.session.execute(
            delete(LoginSession).where(LoginSession.token_hash == _hash(user.login_token))
        )
        db.session.commit()
    user.login_token = None


def end_other_sessions(user: User, keep: str | None = None) -> None:
    """Log every device out but the one holding ``keep`` (all of them without it).

    The caller commits, with the change (a new password) that called for it.
    """
    query = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep:
        query = query.where(LoginSession.token_hash != _hash(keep))
    db.session.execute(query)

"""Signed unsubscribe tokens: they need no login and never expire."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from shop.errors import RuleError
from shop.urls import external_url

SALT = "newsletter.unsubscribe"


class TokenError(RuleError):
    """An unsubscribe token that is tampered with or was not made here."""


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def unsubscribe_token(user_id: int) -> str:
    """The token in a reader's unsubscribe links."""
    return _serializer().dumps({"u": user_id})


def user_id_from_token(token: str) -> int:
    """The reader a token was made for; TokenError when it was not made by us."""
    try:
        data = _serializer().loads(token)
    except BadSignature as exc:
        raise TokenError("This unsubscribe link is not valid.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        raise TokenError("This unsubscribe link is not valid.")
    return data["u"]


def unsubscribe_url(user_id: int) -> str:
    """The absolute one-click unsubscribe URL for a reader."""
    return external_url("readers.unsubscribe", token=unsubscribe_token(user_id))

"""The signed cookie that names an anonymous cart: only our own tokens are believed."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

CART_COOKIE = "cart"
CART_COOKIE_SALT = "broadsheet.store.cart"  # kept: changing it would forget every cart
CART_COOKIE_MAX_AGE = 30 * 24 * 3600  # seconds


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=CART_COOKIE_SALT)


def sign_cart_token(token: str) -> str:
    """The cookie value that carries an anonymous cart's token."""
    return _serializer().dumps(token)


def token_from_cookie(cookie_value: str | None) -> str | None:
    """The token in a signed cookie, or None if it is missing, forged or malformed."""
    if not cookie_value or len(cookie_value) > 200:
        return None
    try:
        token = _serializer().loads(cookie_value)
    except BadSignature:
        return None
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        return None
    return token

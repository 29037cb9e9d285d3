"""Accounts: registration, confirmation, login, password reset."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from shop.accounts import views  # noqa: E402,F401  (routes register on import)

"""Newsletter: digest preferences, the delivery ledger, sending and unsubscribing."""

from flask import Blueprint

bp = Blueprint("newsletter", __name__)

from shop.newsletter import views  # noqa: E402,F401  (routes register on import)

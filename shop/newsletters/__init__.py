"""Newsletters: compose, audience, send, schedule and the public archive.

The blueprint lives here; ``shop.newsletters.views`` adds its routes when the factory imports it.
"""

from flask import Blueprint

bp = Blueprint("newsletters", __name__)

"""Readers' mail settings pages: preferences, the digest preview, unsubscribe.

The blueprint lives here; ``shop.readers.views`` adds its routes when the factory imports it.
"""

from flask import Blueprint

bp = Blueprint("readers", __name__)

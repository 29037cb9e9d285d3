"""Articles: pages, tag pages, comments, feeds and the sitemap."""

from flask import Blueprint

bp = Blueprint("articles", __name__)

from shop.articles import views  # noqa: E402,F401  (routes register on import)

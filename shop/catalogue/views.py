"""The catalogue page, and the ``money`` filter every page and email uses: thin views."""

from __future__ import annotations

from flask import Blueprint, render_template

from shop import money as money_
from shop.catalogue import services

bp = Blueprint("catalogue", __name__)


@bp.app_template_filter("money")
def money(amount: int | None, currency: str | None = None) -> str:
    """Minor units with the currency: 1200 -> $12.00 (usd), €12.00, £12.00, CHF 12.00."""
    return money_.format_money(amount, currency)


@bp.route("/shop")
def catalogue():
    """The catalogue: plans, then one-off items."""
    products = [p for p in services.active_products() if services.is_on_sale(p)]
    return render_template(
        "catalogue/shop.html",
        plans=[p for p in products if p.is_plan],
        items=[p for p in products if not p.is_plan],
        max_quantity=services.max_quantity,
        low_stock=services.LOW_STOCK,
        trial_words=services.trial_words,
    )

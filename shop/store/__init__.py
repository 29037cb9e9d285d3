"""The store: the cart widget now; the catalogue, cart and checkout come next."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint

bp = Blueprint("store", __name__)


@dataclass(frozen=True)
class CartSummary:
    """What the cart widget shows on every page."""

    count: int = 0
    subtotal: int = 0  # minor units, in the publication's currency

    @property
    def is_empty(self) -> bool:
        """Whether the cart holds nothing."""
        return self.count == 0


@bp.app_context_processor
def cart_widget() -> dict[str, CartSummary]:
    """Feed the cart widget in the page header of every page."""
    return {"cart": CartSummary()}

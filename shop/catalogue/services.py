"""The shelf: which products are on sale, in what order, and how many one line may hold.

The catalogue never talks to Stripe: billing pushes products from the admin's save hook.
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from shop import money
from shop.catalogue.models import KIND_PLAN, Price, Product
from shop.errors import RuleError
from shop.extensions import db

MAX_QUANTITY = 99  # per cart line: more is a typo or a reseller
LOW_STOCK = 10  # the catalogue says "n left" at or below this


class CatalogueError(RuleError):
    """A catalogue rule was broken."""


def _catalogue_order():
    plans_first = case((Product.kind == KIND_PLAN, 0), else_=1)
    return (plans_first, func.lower(Product.name), Product.id)


def active_products() -> list[Product]:
    """Products on the shelf: plans first, then items, each by name."""
    query = (
        select(Product)
        .where(Product.active.is_(True))
        .options(selectinload(Product.prices))
        .order_by(*_catalogue_order())
    )
    return list(db.session.scalars(query))


def all_products() -> list[Product]:
    """Every product, active or not, for the back office."""
    query = select(Product).options(selectinload(Product.prices)).order_by(*_catalogue_order())
    return list(db.session.scalars(query))


def get_product(slug: str) -> Product | None:
    """The product with this slug."""
    return db.session.scalar(select(Product).where(Product.slug == slug))


def product_by_id(product_id: int) -> Product | None:
    """The product with this id."""
    return db.session.get(Product, product_id)


def sale_problem(product: Product) -> str | None:
    """Why the product cannot go into a cart now, or None if it can (stock aside)."""
    if not product.active:
        return f"“{product.name}” is no longer on sale."
    price = product.price
    if price is None:
        return f"“{product.name}” has no price yet, so it cannot be bought."
    shop_currency = money.currency()
    if price.currency.lower() != shop_currency:
        return (
            f"“{product.name}” is priced in {price.currency.upper()}, but this shop sells in "
            f"{shop_currency.upper()}: mixed currencies cannot be paid together."
        )
    return None


def is_on_sale(product: Product) -> bool:
    """Whether the product is active and has a price in the shop's currency."""
    return sale_problem(product) is None


def plans_on_sale() -> list[Product]:
    """Every plan on sale, as the paywall offers them: monthly first, then the cheapest."""
    plans = [p for p in active_products() if p.is_plan and is_on_sale(p)]
    return sorted(plans, key=_offer_rank)


def _offer_rank(plan: Product) -> tuple[bool, int, int]:
    """Monthly plans first, then the cheapest, then the oldest."""
    price = plan.price
    assert price is not None  # plans on sale have a price
    return (price.interval != "month", price.amount, plan.id)


def price_words(price: Price) -> str:
    """A price in running text: "$8 a month", "$80 a year", "$25" for a one-off."""
    amount = money.format_money_short(price.amount, price.currency)
    return f"{amount} a {price.interval}" if price.interval else amount


def trial_words(product: Product, trial_days: int | None = None) -> str | None:
    """A plan's free trial in words, "14 days free, then $8 a month"; None without one.

    ``trial_days`` is the trial a reader would get (default: the plan's own).
    """
    days = product.trial_days if trial_days is None else trial_days
    price = product.price
    if not product.is_plan or not days or price is None:
        return None
    return f"{days} day{'s' if days != 1 else ''} free, then {price_words(price)}"


def yearly_saving(plan: Product, monthly: Product | None) -> int | None:
    """What a yearly plan saves against twelve months of ``monthly``, in minor units.

    None when ``plan`` is not yearly, there is no monthly plan in the same currency, or
    the yearly plan saves nothing.
    """
    price, month = plan.price, monthly.price if monthly is not None else None
    if price is None or month is None or price.interval != "year" or month.interval != "month":
        return None
    if price.currency.lower() != month.currency.lower():
        return None
    saving = 12 * month.amount - price.amount
    return saving if saving > 0 else None


def max_quantity(product: Product) -> int:
    """The most one cart line may hold: 1 for plans, else the stock left, at most 99."""
    if product.is_plan:
        return 1
    if product.stock is None:
        return MAX_QUANTITY
    return max(0, min(MAX_QUANTITY, product.stock))

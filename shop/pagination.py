"""One page of a list: reading it from a SELECT, the ``?page=`` argument, and its links."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import abort, request
from sqlalchemy import Select, func, select

from shop.extensions import db

# No list has a million pages, while an offset far past that makes some databases fail
# instead of returning nothing.
MAX_PAGE = 1_000_000
NO_SUCH_PAGE = "There is no such page."


@dataclass
class Page:
    """One page of a list, with what pagination links need."""

    items: list
    page: int
    per_page: int
    total: int
    extra: dict = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        """Whether a newer page exists."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether an older page exists."""
        return self.page < self.pages


def paginate(
    statement: Select,
    page: int,
    per_page: int,
    *,
    count: Select | None = None,
    rows: bool = False,
) -> Page:
    """One page of a SELECT's results and the total it matches.

    ``count`` is a SELECT of the total, for a list whose own SELECT joins more than its
    filters need; by default the statement itself is counted. Items are the first column
    of each row (an entity, usually), or whole rows with ``rows=True``.
    """
    if count is None:
        count = select(func.count()).select_from(statement.order_by(None).subquery())
    result = Page(items=[], page=page, per_page=per_page, total=db.session.scalar(count) or 0)
    if page > result.pages:
        # Past the end: the view 404s, so no rows are read, and no offset is sent that is
        # too large for the database to take.
        return result
    limited = statement.limit(per_page).offset((page - 1) * per_page)
    if rows:
        result.items = list(db.session.execute(limited).all())
    else:
        result.items = list(db.session.scalars(limited))
    return result


def page_arg() -> int:
    """The ``?page=`` number; anything but a positive whole number is a 404."""
    raw = request.args.get("page", "1")
    # isdigit() alone lets "²" through to int().
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        abort(404, description=NO_SUCH_PAGE)
    return int(raw)


def check_page_exists(page: Page) -> None:
    """404 for a page past the end of its list (an empty list still has page 1)."""
    if page.page > page.pages:
        abort(404, description=NO_SUCH_PAGE)

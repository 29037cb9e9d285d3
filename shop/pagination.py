"""One page of a list: what every paginated list and its links share."""

from __future__ import annotations

from dataclasses import dataclass, field


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

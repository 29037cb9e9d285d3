"""The background-job seam: features register jobs here; they run in-process for now.

A lower floor that must set off work elsewhere enqueues a job by name, so it never
imports the code that does it. With no broker configured a job runs at once, in
the caller's process, after the caller's transaction has committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_jobs: dict[str, Callable[..., Any]] = {}


def job(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a named background job."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        _jobs[name] = func
        return func

    return register


def enqueue(name: str, **kwargs: Any) -> Any:
    """Run the named job (in-process in the embedded default)."""
    try:
        func = _jobs[name]
    except KeyError as exc:
        raise LookupError(f"no background job named {name!r}") from exc
    return func(**kwargs)

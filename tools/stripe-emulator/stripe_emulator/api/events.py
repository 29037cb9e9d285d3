"""Events: ``/v1/events``."""

from __future__ import annotations

import copy

from ..common import LIST_PARAMS, type_matches
from ..errors import missing
from ..params import (
    STR,
    STR_LIST,
    as_list,
    as_str,
    check,
)
from ..store import Store


class Events(Store):
    """Reading and listing the events every change records."""

    def retrieve_event(self, params: dict, object_id: str) -> dict:
        """GET /v1/events/{id}"""
        check(params, {})
        event = self._event_index.get(object_id)
        if event is None:
            raise missing("event", object_id)
        return copy.deepcopy(event)

    def list_events(self, params: dict) -> dict:
        """GET /v1/events (newest first; ``type`` may end in ``*``; ``types[]``)."""
        check(params, {"type": STR, "types": STR_LIST, **LIST_PARAMS})
        kind = as_str(params.get("type"), "type")
        kinds = as_list(params.get("types"), "types")
        items = [
            copy.deepcopy(e)
            for e in reversed(self._events)
            if type_matches(e["type"], kind) and (not kinds or e["type"] in kinds)
        ]
        return self._page(items, "/v1/events", params, copies=True)

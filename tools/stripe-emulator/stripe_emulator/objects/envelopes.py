"""What wraps the objects: the list envelope and events; every object's ``livemode``."""

from __future__ import annotations

from typing import Any

from ..shapes import blank, fill

# Test mode only: nothing the emulator makes is ever live.
LIVEMODE = False


def list_object(data: list[dict], url: str, has_more: bool = False) -> dict[str, Any]:
    """Stripe's list envelope."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def event(
    *,
    object_id: str,
    now: int,
    event_type: str,
    api_version: str,
    data_object: dict,
    previous_attributes: dict | None,
    pending_webhooks: int,
    request_id: str | None,
    idempotency_key: str | None,
) -> dict:
    """An event: ``data.object`` is the object as it was when the event happened."""
    data: dict[str, Any] = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return fill(
        blank("event"),
        id=object_id,
        object="event",
        api_version=api_version,
        created=now,
        data=data,
        livemode=LIVEMODE,
        pending_webhooks=pending_webhooks,
        request={"id": request_id, "idempotency_key": idempotency_key},
        type=event_type,
    )

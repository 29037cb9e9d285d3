"""The state file: the emulator's state as JSON, written atomically and checked when read."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from .common import API_VERSION

STATE_FORMAT = 1


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write the state to ``path`` atomically (a temporary file in its folder, then a rename).

    A file that cannot be written is a warning, not an error: the emulator goes on in memory
    and tries again on the next change.
    """
    text = json.dumps(state, separators=(",", ":"))
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
        temp = None
    except OSError as exc:
        warn(f"could not save the state to {path} ({exc}); it is kept in memory only")
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def read_state(path: Path) -> dict[str, Any] | None:
    """The state in ``path``, checked; ``None`` when there is none or it cannot be read.

    An unreadable file (corrupt, or of another API version) is a warning: the emulator starts
    empty and overwrites the file on the next change.
    """
    if not path.exists():
        return None
    try:
        return parse_state(path.read_text("utf-8"))
    except (OSError, ValueError, TypeError) as exc:
        warn(
            f"could not load the state file {path} ({exc}); starting empty, and the file "
            "will be overwritten on the next change"
        )
        return None


def warn(message: str) -> None:
    """One warning line on stderr: the emulator goes on."""
    print(f"stripe_emulator: warning: {message}", file=sys.stderr, flush=True)


def parse_state(text: str) -> dict[str, Any]:
    """A state file's JSON, checked enough that the emulator can run on it (else ValueError)."""
    state = json.loads(text)

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"not an emulator state file: {what}")

    def mapping(value: Any, what: str) -> dict:
        need(isinstance(value, dict), f"{what} is not an object")
        return value

    mapping(state, "the top level")
    need(state.get("format") == STATE_FORMAT, f"format is not {STATE_FORMAT}")
    if state.get("api_version") != API_VERSION:
        raise ValueError(
            f"it holds objects of API version {state.get('api_version')!r}, not {API_VERSION}"
        )
    need(isinstance(state.get("portal_configuration"), str), "portal_configuration")
    objects_ = mapping(state.get("objects"), "objects")
    for object_id, obj in objects_.items():
        mapping(obj, f"objects.{object_id}")
        need(obj.get("id") == object_id and isinstance(obj.get("object"), str), object_id)
    for object_type, ids in mapping(state.get("ids"), "ids").items():
        need(isinstance(ids, list), f"ids.{object_type} is not a list")
        need(
            all(objects_.get(i, {}).get("object") == object_type for i in ids),
            f"ids.{object_type} names objects it does not hold",
        )
    for session_id, extra in mapping(state.get("checkout"), "checkout").items():
        need(
            isinstance(objects_.get(session_id), dict) and isinstance(extra, dict),
            f"checkout.{session_id}",
        )
    events = state.get("events")
    need(isinstance(events, list), "events is not a list")
    need(
        all(isinstance(e, dict) and isinstance(e.get("id"), str) for e in events),
        "an event without an id",
    )
    for key, saved in mapping(state.get("idempotency"), "idempotency").items():
        mapping(saved, f"idempotency.{key}")
        need(
            isinstance(saved.get("fingerprint"), str)
            and isinstance(saved.get("status"), int)
            and isinstance(saved.get("body"), str)
            and isinstance(saved.get("request_id"), str),
            f"idempotency.{key}",
        )
    return state

"""Stripe's form encoding: bracketed keys to nested dicts and lists, checked against a schema.

stripe-python sends ``line_items[0][price]=price_x&metadata[order_id]=7&expand[0]=invoice``
as ``application/x-www-form-urlencoded`` (in the body of a POST, the query string otherwise).
:func:`parse_pairs` turns those pairs into ``{"line_items": [{"price": "price_x"}], ...}``;
:func:`check` refuses parameters a schema does not name, as Stripe does; the ``as_*``
helpers read one value with Stripe's error messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .errors import EmulatorError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")

STR = "str"
METADATA = "metadata"
STR_LIST = ["str"]
ANY = "any"

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500


def split_key(key: str) -> list[str]:
    """``"a[b][0]"`` -> ``["a", "b", "0"]``; ``"a[]"`` -> ``["a", ""]``."""
    match = _KEY.match(key)
    if not match:
        raise EmulatorError(f"Invalid parameter name: {key!r}", param=key)
    return [match.group(1), *_PART.findall(match.group(2))]


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested dicts and lists from decoded ``(key, value)`` form pairs, in their order."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = split_key(key)
        node = root
        for index, part in enumerate(parts):
            name = str(len(node)) if part == "" else part
            if index == len(parts) - 1:
                if isinstance(node.get(name), dict):
                    raise EmulatorError(f"Invalid parameter: {key} is also an object", param=key)
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise EmulatorError(f"Invalid parameter: {key} is also a value", param=key)
                node = child
    return _arrays(root, "")


def _arrays(node: Any, name: str) -> Any:
    if not isinstance(node, dict):
        return node
    out = {key: _arrays(value, f"{name}[{key}]" if name else key) for key, value in node.items()}
    if name.endswith("metadata") or not out or not all(key.isdigit() for key in out):
        return out
    by_index = {int(key): value for key, value in out.items()}
    if sorted(by_index) != list(range(len(by_index))):
        raise EmulatorError(
            f"Invalid array: the indices of {name} must run 0, 1, 2, ... without gaps",
            param=name,
        )
    return [by_index[index] for index in range(len(by_index))]


def check(params: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> None:
    """Refuse parameters the schema does not name, or of the wrong kind (value/object/list)."""
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in schema:
            raise EmulatorError(f"Received unknown parameter: {name}", param=name)
        _check_value(value, schema[key], name)


def _check_value(value: Any, spec: Any, name: str) -> None:
    if spec == ANY:
        return
    if spec == STR:
        if not isinstance(value, str):
            raise EmulatorError(f"Invalid {name}: expected a single value", param=name)
    elif spec == METADATA:
        as_metadata(value, name)
    elif isinstance(spec, dict):
        if value == "":
            return
        if not isinstance(value, dict):
            raise EmulatorError(f"Invalid {name}: expected an object", param=name)
        check(value, spec, name)
    elif isinstance(spec, list):
        if value == "":
            return
        if not isinstance(value, list):
            raise EmulatorError(f"Invalid {name}: expected an array", param=name)
        for index, item in enumerate(value):
            _check_value(item, spec[0], f"{name}[{index}]")


def as_str(value: Any, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
    """A string parameter; ``None`` when absent (or an error when ``required``)."""
    if value is None or value == "":
        if required:
            raise EmulatorError(
                f"Missing required param: {name}.", param=name, code="parameter_missing"
            )
        return None
    if not isinstance(value, str):
        raise EmulatorError(f"Invalid {name}: expected a string", param=name)
    if len(value) > max_length:
        raise EmulatorError(f"Invalid {name}: must be at most {max_length} characters", param=name)
    return value


def as_int(
    value: Any, name: str, *, required: bool = False, minimum: int | None = None
) -> int | None:
    """An integer parameter (``"42"``); ``None`` when absent."""
    if value is None or value == "":
        if required:
            raise EmulatorError(
                f"Missing required param: {name}.", param=name, code="parameter_missing"
            )
        return None
    if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value)):
        raise EmulatorError(
            f"Invalid integer: {value}", param=name, code="parameter_invalid_integer"
        )
    number = int(value)
    if minimum is not None and number < minimum:
        raise EmulatorError(
            f"Invalid {name}: must be greater than or equal to {minimum}",
            param=name,
            code="parameter_invalid_integer",
        )
    return number


def as_bool(value: Any, name: str) -> bool | None:
    """A boolean parameter (``"true"``/``"false"``); ``None`` when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise EmulatorError(f"Invalid boolean: {value}", param=name)


def as_metadata(value: Any, name: str = "metadata", current: dict | None = None) -> dict[str, str]:
    """Metadata after an update: ``""`` clears it all, a key set to ``""`` is removed."""
    result = dict(current or {})
    if value is None:
        return result
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise EmulatorError(f"Invalid {name}: expected an object of keys and values", param=name)
    for key, item in value.items():
        if not isinstance(item, str):
            raise EmulatorError(f"Invalid {name}[{key}]: expected a string", param=f"{name}[{key}]")
        if len(key) > MAX_METADATA_KEY:
            raise EmulatorError(
                f"Metadata keys can have up to {MAX_METADATA_KEY} characters: {key!r}",
                param=f"{name}[{key}]",
            )
        if len(item) > MAX_METADATA_VALUE:
            raise EmulatorError(
                f"Metadata values can have up to {MAX_METADATA_VALUE} characters",
                param=f"{name}[{key}]",
            )
        if item == "":
            result.pop(key, None)
        else:
            result[key] = item
    if len(result) > MAX_METADATA_KEYS:
        raise EmulatorError(f"Metadata can have up to {MAX_METADATA_KEYS} keys", param=name)
    return result


def as_list(value: Any, name: str) -> list:
    """A list parameter (``expand[0]=...``); ``[]`` when absent."""
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise EmulatorError(f"Invalid {name}: expected an array", param=name)
    return value

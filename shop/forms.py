"""Form helpers every feature shares."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, current_app, session
from flask_wtf import FlaskForm
from wtforms import IntegerField

from shop.errors import RuleError

F = TypeVar("F", bound=Callable[..., Any])

MAX_ROW_ID = 2**31 - 1  # the largest value of a 32-bit INTEGER column

# ASCII digits only: int() also takes "٣", "1_000", " 7 " and "+7", and float() "1e9999".
_INTEGER = re.compile(r"-?[0-9]{1,10}")


# The attribute on a view that names the setting of its larger body limit (edge.py reads it).
BODY_LIMIT_SETTING = "body_limit_setting"
BODY_LIMIT_EXTRA = "body_limit_extra"


def larger_body(setting: str, extra: int = 0) -> Callable[[F], F]:
    """Let one back-office view take a body up to the named setting's bytes (and ``extra``
    for the form's other fields), past MAX_CONTENT_LENGTH (an upload), from an admin; every
    other route keeps the small limit."""

    def mark(view: F) -> F:
        setattr(view, BODY_LIMIT_SETTING, setting)
        setattr(view, BODY_LIMIT_EXTRA, extra)
        return view

    return mark


def session_has_forms_token() -> bool:
    """Whether this session's forms carry a CSRF token: it holds one, or a login."""
    return current_app.config["WTF_CSRF_FIELD_NAME"] in session or "_user_id" in session


def token_meta() -> dict[str, bool]:
    """A form's meta for a page a reader with no session sees: build no CSRF token for them.

    Building one would start a session for good. The edge checks every POST before any
    view (this session's token, or for a reader with none the browser's Sec-Fetch-Site or
    Origin: shop/edge.py), so a form without its own token check loses nothing.
    """
    return {} if session_has_forms_token() else {"csrf": False}


class ActionForm(FlaskForm):
    """A button that changes state: just the CSRF token."""


def show_error(form: FlaskForm, error: RuleError) -> None:
    """Show a service's error beside its field, or above the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, str(error)]
    else:
        form.form_errors.append(str(error))


def require_action() -> None:
    """A state-changing button must carry a valid CSRF token; 400 otherwise."""
    if not ActionForm().validate_on_submit():
        abort(400, description="The form expired or was not sent from this site.")


def parse_whole_number(raw: object, minimum: int = 0, maximum: int = MAX_ROW_ID) -> int | None:
    """A number from outside (form, query string) in [minimum, maximum], or None."""
    # Anything past a 32-bit column would make PostgreSQL raise instead of finding nothing.
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _INTEGER.fullmatch(raw):
        value = int(raw)
    else:
        return None
    return value if minimum <= value <= maximum else None


def parse_row_id(raw: object) -> int | None:
    """A database id from outside (1 to MAX_ROW_ID, ASCII digits), or None."""
    return parse_whole_number(raw, minimum=1)


def row_id(value: object) -> int:
    """WTForms ``coerce`` for an id: ValueError for anything a database id cannot be."""
    parsed = parse_row_id(value)
    if parsed is None:
        raise ValueError("Not a valid id.")
    return parsed


def column_int(value: object) -> int:
    """WTForms ``coerce`` for a number whose range the service checks (a weekday, say).

    ASCII digits with an optional minus, within a 32-bit column: "-1" or "7" reach the
    service, which names the rule; "٣", "1e9999" or 2**63 are the field's own error.
    """
    parsed = parse_whole_number(value, minimum=-MAX_ROW_ID)
    if parsed is None:
        raise ValueError("Not a whole number.")
    return parsed


class WholeNumberField(IntegerField):
    """An IntegerField that takes ASCII digits only, 0 to MAX_ROW_ID (a column's range)."""

    minimum = 0

    def process_formdata(self, valuelist: list[str]) -> None:
        """Read the posted text; out-of-range or odd digits are the field's error."""
        if not valuelist:
            return
        raw = valuelist[0].strip()
        if raw == "":
            self.data = None
            return
        parsed = parse_whole_number(raw, minimum=self.minimum)
        if parsed is None:
            self.data = None
            raise ValueError(f"Enter a whole number from {self.minimum} to {MAX_ROW_ID:,}.")
        self.data = parsed


class RowIdField(WholeNumberField):
    """A posted database id (hidden fields, choices by id)."""

    minimum = 1

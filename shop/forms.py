"""Form helpers every feature shares."""

from __future__ import annotations

from flask import abort
from flask_wtf import FlaskForm

from shop.errors import RuleError


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

"""The back office's import form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from shop.members.formats import AUTO, FORMAT_NAMES, MAILCHIMP_STATUSES


class ImportForm(FlaskForm):
    """A CSV file of members, and what exported it."""

    file = FileField("CSV file", validators=[FileRequired("Choose the CSV file to import.")])
    format = SelectField(
        "Exported by",
        choices=[
            SelectChoice(AUTO, "Tell from the file's header"),
            *(SelectChoice(k, v) for k, v in FORMAT_NAMES.items()),
        ],
        default=AUTO,
    )
    status = SelectField(
        "Mailchimp status (a Mailchimp file without a status column)",
        choices=[
            SelectChoice("", "Subscribed, or as the file says"),
            *(SelectChoice(s, s) for s in MAILCHIMP_STATUSES),
        ],
        default="",
    )

"""Compose and schedule forms for newsletters: field shapes only; the rules live in services."""

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from shop.articles.forms import CheckboxListField
from shop.forms import row_id
from shop.newsletters.models import Audience
from shop.newsletters.services import AUDIENCE_LABELS


class NewsletterForm(FlaskForm):
    """Compose a newsletter: the service checks the rules."""

    subject = StringField("Subject")
    body_markdown = TextAreaField("Text", render_kw={"rows": 16})
    audience = RadioField(
        "Who receives it",
        choices=[SelectChoice(key, label) for key, label in AUDIENCE_LABELS.items()],
        default=Audience.ALL,
        validate_choice=False,
    )
    tag_ids = CheckboxListField(
        "Tags whose followers receive it", coerce=row_id, validate_choice=False
    )


class ScheduleForm(FlaskForm):
    """When to send a newsletter, on the publication's clock."""

    send_at = DateTimeLocalField("Send at", format="%Y-%m-%dT%H:%M", validators=[Optional()])

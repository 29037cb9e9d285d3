"""The reader's mail preferences form: field shapes only; the rules live in the services."""

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from shop.accounts.forms import EMAIL_FIELD
from shop.articles.forms import CheckboxListField
from shop.forms import column_int, row_id
from shop.preferences.models import Frequency
from shop.preferences.services import WEEKDAYS

FREQUENCY_CHOICES = [
    SelectChoice(Frequency.INSTANT, "Instant: as soon as a story is published"),
    SelectChoice(Frequency.DAILY, "Daily"),
    SelectChoice(Frequency.WEEKLY, "Weekly"),
    SelectChoice(Frequency.OFF, "Off"),
]


# Everything, or only the ticked topics: one choice, so that a tick can never be
# silently outweighed by an "Everything" left on.
STORIES_ALL = "all"
STORIES_TOPICS = "topics"
STORIES_CHOICES = [
    SelectChoice(STORIES_ALL, "Everything, including topics added later"),
    SelectChoice(STORIES_TOPICS, "Only the topics I tick"),
]


class PreferencesForm(FlaskForm):
    """Which stories, how often, and a pause."""

    stories = RadioField("Which stories", choices=STORIES_CHOICES, validate_choice=False)
    # The service checks that the topics exist, and says so in its own words.
    tag_ids = CheckboxListField("Topics", coerce=row_id, validate_choice=False)
    frequency = RadioField("How often", choices=FREQUENCY_CHOICES, validate_choice=False)
    weekday = SelectField(
        "Day of the weekly digest",
        choices=[SelectChoice(i, name) for i, name in enumerate(WEEKDAYS)],
        coerce=column_int,
        validate_choice=False,
    )
    paused_until = DateField("Pause until", validators=[Optional()])


class SubscribeForm(FlaskForm):
    """Subscribe with an email address alone; ``topic`` is the tag page it was on."""

    email = EmailField("Email address", validators=EMAIL_FIELD)
    topic = HiddenField(validators=[Optional(), Length(max=140)])

"""Billing forms: field shapes only; the rules live in the services."""

from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from shop.forms import row_id


class GiftForm(FlaskForm):
    """Give a plan's period to someone: who, a message, and when it is mailed."""

    product_id = SelectField("What to give", coerce=row_id, validate_choice=False)
    giver_name = StringField(
        "From (your name, as they will see it)",
        validators=[Length(max=80, message="Keep your name under 80 characters.")],
    )
    recipient_name = StringField(
        "Their name", validators=[Length(max=80, message="Keep the name under 80 characters.")]
    )
    recipient_email = EmailField(
        "Their email address", validators=[Length(max=254, message="That address is too long.")]
    )
    message = TextAreaField(
        "A message (optional)",
        validators=[Optional(), Length(max=500, message="Keep the message under 500 characters.")],
    )
    send_on = DateField("Send it on", validators=[Optional()])

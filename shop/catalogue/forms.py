"""Product form for the back office: field shapes only; the rules (and the price's
parsing) live in shop.catalogue.admin."""

from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from shop.forms import WholeNumberField
from shop.media.forms import PictureForm

KIND_CHOICES = [
    SelectChoice("plan", "Plan (a recurring subscription)"),
    SelectChoice("item", "One-off item"),
]

INTERVAL_CHOICES = [
    SelectChoice("", "One-off (items)"),
    SelectChoice("month", "Every month (plans)"),
    SelectChoice("year", "Every year (plans)"),
]


class ProductForm(PictureForm):
    """Create or edit a product and its price."""

    name = StringField(
        "Name",
        validators=[DataRequired(message="Give the product a name."), Length(max=120)],
    )
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    kind = RadioField("Kind", choices=KIND_CHOICES, default="item")
    active = BooleanField("On sale in the shop", default=True)
    needs_shipping = BooleanField("Posted to the buyer")
    stock = WholeNumberField(
        "Stock",
        validators=[
            Optional(),
            NumberRange(min=0, message="Stock cannot be negative."),
        ],
    )
    amount = StringField(
        "Price",
        validators=[
            DataRequired(message="Give the product a price (0 for free)."),
            Length(max=40, message="Write the price as a number such as 12 or 12.50."),
        ],
    )
    interval = SelectField("Billing", choices=INTERVAL_CHOICES, default="")
    # The range is checked in shop.catalogue.admin, with a message that names Stripe's limit.
    trial_days = WholeNumberField("Free trial (days)", validators=[Optional()])

"""Article, tag and comment forms: field shapes only."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateTimeLocalField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from shop.articles.models import EMAIL_AUDIENCE_LABELS
from shop.forms import row_id
from shop.media.forms import PictureForm

ACCESS_CHOICES = [
    SelectChoice("public", "Everyone"),
    SelectChoice("members", "Members (any confirmed account)"),
    SelectChoice("paid", "Paying subscribers"),
]


COMMENTS_FROM_CHOICES = [
    SelectChoice("members", "Members (any confirmed account)"),
    SelectChoice("paying", "Paying subscribers"),
    SelectChoice("off", "Nobody: comments are closed"),
]


class CommentForm(FlaskForm):
    """Leave a reply. ``website`` is a honeypot that people never see."""

    body = TextAreaField(
        "Comment",
        validators=[
            DataRequired(message="Write something before posting."),
            Length(max=5000, message="Keep comments under 5,000 characters."),
        ],
    )
    website = StringField("Leave this field empty")
    # Shown only to readers who have not chosen a name yet; it is saved on their account.
    display_name = StringField(
        "Your name (optional)",
        validators=[Optional(), Length(max=80, message="Keep your name under 80 characters.")],
    )
    # The comment a reply answers; checked by the rule, not here.
    parent_id = HiddenField()


class EditCommentForm(FlaskForm):
    """Change the text of one's own recent comment."""

    body = TextAreaField(
        "Your comment",
        validators=[
            DataRequired(message="Write something before saving."),
            Length(max=5000, message="Keep comments under 5,000 characters."),
        ],
    )


class CheckboxListField(SelectMultipleField):
    """Several checkboxes for one multi-valued field."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ArticleForm(PictureForm):
    """Write or edit an article."""

    title = StringField(
        "Title", validators=[DataRequired(message="Give the article a title."), Length(max=200)]
    )
    summary = TextAreaField("Summary", validators=[Optional(), Length(max=1000)])
    body_markdown = TextAreaField("Body (Markdown)", validators=[Optional()])
    access = RadioField("Who can read it", choices=ACCESS_CHOICES, default="public")
    tag_ids = CheckboxListField("Tags", coerce=row_id, validate_choice=True)
    comments_from = SelectField("Who may comment", choices=COMMENTS_FROM_CHOICES, default="members")
    publish_at = DateTimeLocalField(
        "Publish at (UTC, leave empty for now)",
        format="%Y-%m-%dT%H:%M",
        validators=[Optional()],
    )
    # Read only by "Publish and email"; the rule (and its message) is the service's.
    email_audience = SelectField(
        "Email it to",
        choices=[SelectChoice(value, label) for value, label in EMAIL_AUDIENCE_LABELS.items()],
        default="all",
        validate_choice=False,
    )


class BodyPictureForm(FlaskForm):
    """Upload a picture to place in an article's body."""

    picture = FileField("Picture for the body")
    alt = StringField(
        "Describe the picture",
        validators=[
            DataRequired(message="Describe the picture for readers who cannot see it."),
            Length(max=300),
        ],
    )


class TagForm(FlaskForm):
    """Create or rename a tag."""

    name = StringField(
        "Name", validators=[DataRequired(message="Give the tag a name."), Length(max=64)]
    )
    description = TextAreaField("Description", validators=[Optional(), Length(max=500)])

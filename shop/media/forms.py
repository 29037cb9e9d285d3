"""The fields of a form that carries one picture (an article's, a product's)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import Length, Optional


class PictureForm(FlaskForm):
    """A form with a picture: the file, its alt text, removing it, and one kept."""

    image = FileField("Picture", render_kw={"accept": "image/jpeg,image/png,image/webp,image/gif"})
    image_alt = StringField(
        "Describe the picture (alt text)", validators=[Optional(), Length(max=300)]
    )
    remove_image = BooleanField("Remove the picture")
    # A picture uploaded with a form that was then refused: kept, not uploaded again.
    pending_image_id = HiddenField()

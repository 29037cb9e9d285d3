"""Account forms: field shapes only; the rules live in services."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, StopValidation

from shop.accounts.services import address_problem


class DeliverableEmail:
    """An address mail can reach: no non-ASCII before the @ (an IDN domain is fine)."""

    def __call__(self, form, field) -> None:
        """Stop validation with the reason the address cannot be used."""
        problem = address_problem(field.data or "")
        if problem:
            raise StopValidation(problem)


EMAIL_FIELD = [
    DataRequired(message="Enter your email address."),
    DeliverableEmail(),
    Length(max=254),
]
PASSWORD_FIELD = [DataRequired(message="Enter a password."), Length(max=200)]
NAME_FIELD = [Optional(), Length(max=80, message="Keep your name under 80 characters.")]

DIGEST_FREQUENCY_CHOICES = [
    SelectChoice("daily", "Daily"),
    SelectChoice("weekly", "Weekly"),
    SelectChoice("instant", "Instant: as soon as a story is published"),
]


class RegisterForm(FlaskForm):
    """Sign up with an email and a password, and opt in to the digest if wished."""

    email = EmailField("Email", validators=EMAIL_FIELD)
    password = PasswordField("Password", validators=PASSWORD_FIELD)
    display_name = StringField("Your name", validators=NAME_FIELD)
    digest = BooleanField("Email me a digest of new stories", default=False)
    # Only read when ``digest`` is ticked; the service checks the value then.
    digest_frequency = SelectField(
        "How often", choices=DIGEST_FREQUENCY_CHOICES, default="weekly", validate_choice=False
    )


class LoginForm(FlaskForm):
    """Log in."""

    email = EmailField("Email", validators=EMAIL_FIELD)
    password = PasswordField("Password", validators=PASSWORD_FIELD)
    remember = BooleanField("Keep me logged in on this device")


class SignInLinkForm(FlaskForm):
    """Ask for a mailed sign-in link instead of typing a password."""

    # Its own name: the login form beside it on the page has an "email" field too.
    sign_in_email = EmailField("Email address", validators=EMAIL_FIELD)


class ForgotPasswordForm(FlaskForm):
    """Ask for a password reset link."""

    email = EmailField("Email", validators=EMAIL_FIELD)


class ResetPasswordForm(FlaskForm):
    """Choose a new password through a reset link."""

    password = PasswordField("New password", validators=PASSWORD_FIELD)


class ChangePasswordForm(FlaskForm):
    """Change the password while logged in."""

    current_password = PasswordField("Current password", validators=PASSWORD_FIELD)
    new_password = PasswordField("New password", validators=PASSWORD_FIELD)


class SetPasswordForm(FlaskForm):
    """Set a first password, for a member who has signed in by mailed link only."""

    new_password = PasswordField("New password", validators=PASSWORD_FIELD)


class ChangeEmailForm(FlaskForm):
    """Move the account to another address, confirmed by mail."""

    email = EmailField("New email", validators=EMAIL_FIELD)
    password = PasswordField("Your password", validators=PASSWORD_FIELD)


class ChangeEmailWithoutPasswordForm(FlaskForm):
    """Move an account that has no password to another address, confirmed by mail."""

    email = EmailField("New email", validators=EMAIL_FIELD)


class NameForm(FlaskForm):
    """The name shown on the reader's comments and in their mail."""

    display_name = StringField("Your name", validators=NAME_FIELD)

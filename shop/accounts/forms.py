"""Account forms: field shapes only; the rules live in services."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, StopValidation

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

DIGEST_FREQUENCY_CHOICES = [
    SelectChoice("daily", "Daily"),
    SelectChoice("weekly", "Weekly"),
    SelectChoice("instant", "Instant: as soon as a story is published"),
]


class RegisterForm(FlaskForm):
    """Sign up with an email and a password, and opt in to the digest if wished."""

    email = EmailField("Email", validators=EMAIL_FIELD)
    password = PasswordField("Password", validators=PASSWORD_FIELD)
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


class ChangeEmailForm(FlaskForm):
    """Move the account to another address, confirmed by mail."""

    email = EmailField("New email", validators=EMAIL_FIELD)
    password = PasswordField("Your password", validators=PASSWORD_FIELD)

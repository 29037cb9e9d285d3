"""Account pages: thin views over shop.accounts.services."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from shop.accounts import bp, services
from shop.accounts.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
)
from shop.billing import services as billing_services
from shop.extensions import limiter
from shop.forms import ActionForm, show_error
from shop.urls import is_safe_next


def _next_url(default: str = "articles.index") -> str:
    """Where to go after logging in: ``next`` if it stays on this site."""
    target = request.args.get("next") or request.form.get("next")
    if is_safe_next(target):
        return target
    return url_for(default)


def _login_account_key() -> str:
    """Rate-limit key for one account: the address being tried."""
    return "login:" + services.normalise_email(request.form.get("email", ""))


def _ip_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT_IP"]


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(
    _ip_limit,
    methods=["POST"],
    error_message="Too many attempts from your network. Wait a minute and try again.",
)
def register():
    """Create an account and mail a confirmation link."""
    if current_user.is_authenticated:
        return redirect(url_for("articles.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register(
                form.email.data,
                form.password.data,
                digest_consent=bool(form.digest.data),
                digest_frequency=form.digest_frequency.data,
            )
        except services.AccountError as error:
            show_error(form, error)
        else:
            login_user(user)
            flash(
                f"Welcome! We sent a confirmation link to {user.email}. "
                "Open it to confirm your address.",
                "success",
            )
            return redirect(_next_url())
    return render_template("accounts/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    _ip_limit,
    methods=["POST"],
    error_message="Too many login attempts from your network. Wait a minute and try again.",
)
@limiter.limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT_ACCOUNT"],
    key_func=_login_account_key,
    methods=["POST"],
    error_message="Too many login attempts for this account. Wait a minute and try again.",
)
def login():
    """Log in with email and password, optionally remembered on this device."""
    if current_user.is_authenticated:
        return redirect(_next_url())
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.AccountError as error:
            show_error(form, error)
        else:
            login_user(user, remember=form.remember.data)
            flash("You are logged in.", "success")
            return redirect(_next_url())
    return render_template("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out (POST only, with a CSRF token, so a link cannot log anyone out)."""
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("articles.index"))


@bp.route("/confirm/<token>")
def confirm(token: str):
    """Confirm an address through the mailed link."""
    try:
        services.confirm_email(token)
    except services.AccountError as error:
        flash(str(error), "error")
        return redirect(url_for("accounts.account") if current_user.is_authenticated else "/")
    flash("Your email address is confirmed. Thank you!", "success")
    return redirect(url_for("accounts.account") if current_user.is_authenticated else "/")


@bp.route("/confirm/resend", methods=["POST"])
@login_required
def resend_confirmation():
    """Mail the confirmation link again."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if current_user.is_confirmed:
        flash("Your email address is already confirmed.", "info")
    else:
        services.send_confirmation(current_user)
        flash(f"We sent a new confirmation link to {current_user.email}.", "success")
    return redirect(url_for("accounts.account"))


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(
    _ip_limit,
    methods=["POST"],
    error_message="Too many attempts from your network. Wait a minute and try again.",
)
def forgot_password():
    """Ask for a reset link; the answer is the same whether the address exists or not."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        flash(
            "If an account exists for that address, we have sent it a link "
            "to reset the password. The link works once, within an hour.",
            "info",
        )
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password through a mailed, single-use link."""
    try:
        services.user_for_reset_token(token)
    except services.AccountError as error:
        flash(str(error), "error")
        return redirect(url_for("accounts.forgot_password"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.reset_password(token, form.password.data)
        except services.AccountError as error:
            show_error(form, error)
        else:
            login_user(user)
            flash("Your password is changed and you are logged in.", "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/reset.html", form=form)


@bp.route("/account")
@login_required
def account():
    """The reader's account page."""
    return render_template(
        "accounts/account.html",
        action_form=ActionForm(),
        billing=billing_services.overview(current_user),
    )


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change the password, which ends the reader's other sessions."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        except services.AccountError as error:
            show_error(form, error)
        else:
            # The session version moved on; log in again on this device.
            login_user(current_user._get_current_object())
            flash("Your password is changed.", "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/change_password.html", form=form)


@bp.route("/account/email", methods=["GET", "POST"])
@login_required
def change_email():
    """Ask to move the account to a new address, confirmed through a mailed link."""
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            services.request_email_change(current_user, form.email.data, form.password.data)
        except services.AccountError as error:
            show_error(form, error)
        else:
            flash(
                f"We sent a link to {services.normalise_email(form.email.data)}. "
                "Open it to finish the change.",
                "success",
            )
            return redirect(url_for("accounts.account"))
    return render_template("accounts/change_email.html", form=form)


@bp.route("/account/email/confirm/<token>")
def confirm_email_change(token: str):
    """Finish an email change through the link mailed to the new address."""
    try:
        user = services.confirm_email_change(token)
    except services.AccountError as error:
        flash(str(error), "error")
    else:
        flash(f"Your email address is now {user.email}.", "success")
    return redirect(url_for("accounts.account") if current_user.is_authenticated else "/")

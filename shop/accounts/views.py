"""Account pages: thin views over shop.accounts.services."""

from __future__ import annotations

import contextlib

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from shop.accounts import links, services, sessions
from shop.accounts.forms import (
    ChangeEmailForm,
    ChangeEmailWithoutPasswordForm,
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    NameForm,
    RegisterForm,
    ResetPasswordForm,
    SetPasswordForm,
    SignInLinkForm,
)
from shop.extensions import limiter
from shop.forms import ActionForm, show_error
from shop.urls import safe_next

# The account page itself ("/account") is added by shop.billing.views: it shows the
# reader's plan and orders, which accounts must not know about.
bp = Blueprint("accounts", __name__)


def _requested_next() -> str | None:
    """The ``next`` of this request, if it is a path on this site."""
    return safe_next(request.args.get("next") or request.form.get("next"))


def _next_url(default: str = "articles.index") -> str:
    """Where to go after logging in: ``next`` if it stays on this site."""
    return _requested_next() or url_for(default)


_log_in = sessions.log_in


def _login_account_key() -> str:
    """Rate-limit key for one account: the address being tried."""
    return "login:" + services.normalise_email(request.form.get("email", ""))


def _email_change_account_key() -> str:
    """Rate-limit key for email changes asked by one account."""
    return f"email-change:account:{getattr(current_user, 'id', 'anonymous')}"


def _email_change_target_key() -> str:
    """Rate-limit key for email changes towards one address, from any account."""
    return "email-change:to:" + services.normalise_email(request.form.get("email", ""))


def _ip_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT_IP"]


def _email_change_limit() -> str:
    return current_app.config["EMAIL_CHANGE_RATE_LIMIT"]


# The session key naming the address this browser registered, until its link is opened.
REGISTERED_IN_THIS_BROWSER = "registered_email"


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(
    _ip_limit,
    methods=["POST"],
    error_message="Too many attempts from your network. Wait a minute and try again.",
)
def register():
    """Register an address; the mailed link confirms it and logs the reader in."""
    if current_user.is_authenticated:
        return redirect(url_for("articles.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            services.register(
                form.email.data,
                form.password.data,
                digest_consent=bool(form.digest.data),
                digest_frequency=form.digest_frequency.data,
                next_url=_requested_next(),
                display_name=form.display_name.data,
            )
        except services.AccountError as error:
            show_error(form, error)
        else:
            # The confirmation link logs in only the browser that asked for it; opened
            # anywhere else it confirms and asks for a login. Otherwise anyone could mail
            # a victim the link of an account they control and log the victim into it.
            session[REGISTERED_IN_THIS_BROWSER] = services.normalise_email(form.email.data)
            # One answer whether the address was new or taken (its owner got a mail
            # instead), so that the form cannot tell who has an account here.
            flash(
                f"Check your inbox: we sent a message to "
                f"{services.normalise_email(form.email.data)}. "
                "Open the link in it to confirm your address and log in.",
                "success",
            )
            return redirect(url_for("accounts.check_inbox"))
    return render_template("accounts/register.html", form=form)


@bp.route("/register/check-inbox")
def check_inbox():
    """Where registration leads: the link to open is in the reader's inbox."""
    return render_template("accounts/check_inbox.html")


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
            _log_in(user, remember=bool(form.remember.data))
            flash("You are logged in.", "success")
            return redirect(_next_url())
    link_form = SignInLinkForm(formdata=None)
    return render_template("accounts/login.html", form=form, link_form=link_form)


@bp.route("/login/link", methods=["POST"])
@limiter.limit(
    _ip_limit,
    error_message="Too many attempts from your network. Wait a minute and try again.",
)
def request_sign_in_link():
    """Mail a single-use sign-in link; the same answer whether or not the account exists."""
    if current_user.is_authenticated:
        return redirect(_next_url())
    form = SignInLinkForm()
    if form.validate_on_submit():
        try:
            email = links.request_sign_in_link(form.sign_in_email.data, _requested_next())
        except services.AccountError as error:
            show_error(form, error)
        else:
            return render_template(
                "accounts/link_sent.html", email=email, minutes=links.sign_in_minutes()
            )
    return render_template("accounts/login.html", form=LoginForm(formdata=None), link_form=form)


@bp.route("/signin/<token>", methods=["GET", "POST"])
def sign_in_link(token: str):
    """A mailed sign-in link: GET shows who it signs in, the button (POST) uses it up."""
    form = ActionForm()
    try:
        link = links.peek(token, links.LINK_SIGN_IN)
    except services.AccountError as error:
        return render_template("accounts/sign_in_link.html", problem=str(error), form=form), 410
    if request.method == "POST" and form.validate_on_submit():
        try:
            user, next_url = links.sign_in_with(token)
        except services.AccountError as error:
            return render_template("accounts/sign_in_link.html", problem=str(error), form=form), 410
        if current_user.is_authenticated:
            logout_user()
        _log_in(user)
        flash("You are logged in.", "success")
        return redirect(next_url or url_for("articles.index"))
    return render_template("accounts/sign_in_link.html", email=link.email, form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out (POST only, with a CSRF token, so a link cannot log anyone out)."""
    if current_user.is_authenticated:
        # Server-side: a copy of this device's cookies opens nothing any more.
        sessions.end_session(current_user)
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("articles.index"))


@bp.route("/confirm/<token>")
def confirm(token: str):
    """Confirm an address through the mailed link; its first use logs the reader in."""
    try:
        user, may_log_in, next_url = services.confirm_email(token)
    except services.AccountError as error:
        flash(str(error), "error")
        return redirect(url_for("accounts.account") if current_user.is_authenticated else "/")
    asked_here = session.pop(REGISTERED_IN_THIS_BROWSER, None) == user.email
    if may_log_in and asked_here and not current_user.is_authenticated:
        _log_in(user)
        flash("Your email address is confirmed and you are logged in. Welcome!", "success")
    elif not current_user.is_authenticated:
        flash("Your email address is confirmed. Log in to continue.", "success")
        return redirect(
            url_for("accounts.login", next=next_url) if next_url else url_for("accounts.login")
        )
    else:
        flash("Your email address is confirmed. Thank you!", "success")
    if next_url:
        return redirect(next_url)
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
    elif not services.mail_allowed("confirm", current_user.email, "REGISTER_RATE_LIMIT_ADDRESS"):
        flash(
            f"We have already sent several links to {current_user.email} in the last hour. "
            "Look in your inbox (and spam folder), or try again later.",
            "error",
        )
    else:
        try:
            services.send_confirmation(current_user)
        except services.AccountError as error:
            flash(str(error), "error")
        else:
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
        # A relay that failed is logged by the mailer. Saying so here would tell that the
        # address has an account, so the answer stays the same.
        with contextlib.suppress(services.AccountError):
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
            # Whoever was logged in on this browser before, it is now this account.
            if current_user.is_authenticated:
                sessions.end_session(current_user)
                logout_user()
            _log_in(user)
            flash("Your password is changed and you are logged in.", "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/reset.html", form=form)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change the password (or set a first one), which ends the reader's other sessions."""
    has_password = current_user.has_password
    form = ChangePasswordForm() if has_password else SetPasswordForm()
    if form.validate_on_submit():
        current = form.current_password.data if has_password else None
        try:
            services.change_password(current_user, current, form.new_password.data)
        except services.AccountError as error:
            show_error(form, error)
        else:
            # The session version moved on; log in again on this device, in the same
            # login session, and keep it remembered if it was.
            remembered = request.cookies.get(
                current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
            )
            login_user(current_user._get_current_object(), remember=bool(remembered))
            flash(
                "Your password is changed." if has_password else "Your password is set.", "success"
            )
            return redirect(url_for("accounts.account"))
    return render_template("accounts/change_password.html", form=form, has_password=has_password)


@bp.route("/account/email", methods=["GET", "POST"])
@login_required
@limiter.limit(
    _email_change_limit,
    key_func=_email_change_account_key,
    methods=["POST"],
    error_message="Too many email changes asked for this account. Try again later.",
)
@limiter.limit(
    _email_change_limit,
    key_func=_email_change_target_key,
    methods=["POST"],
    error_message="Too many email changes asked for that address. Try again later.",
)
def change_email():
    """Ask to move the account to a new address, confirmed through a mailed link."""
    form = ChangeEmailForm() if current_user.has_password else ChangeEmailWithoutPasswordForm()
    if form.validate_on_submit():
        password = form.password.data if isinstance(form, ChangeEmailForm) else None
        try:
            services.request_email_change(current_user, form.email.data, password)
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


@bp.route("/account/name", methods=["GET", "POST"])
@login_required
def change_name():
    """The name shown on the reader's comments and in their mail."""
    form = NameForm(obj=current_user)
    if form.validate_on_submit():
        try:
            services.set_display_name(current_user, form.display_name.data)
        except services.AccountError as error:
            show_error(form, error)
        else:
            flash("Your name is saved.", "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/change_name.html", form=form)

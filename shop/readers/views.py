"""The reader's mail settings: digest preferences, the next digest's preview and the
unsubscribe link. Thin views."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, logout_user

from shop.accounts import sessions
from shop.articles.services import all_tags
from shop.digests.runs import preview_for
from shop.errors import RuleError
from shop.extensions import csrf, limiter
from shop.forms import ActionForm, require_action, show_error, token_meta
from shop.preferences import services as preferences
from shop.preferences.models import DigestPreference
from shop.preferences.tokens import TokenError, user_id_from_token
from shop.readers import subscribe as subscription
from shop.readers.forms import STORIES_ALL, STORIES_TOPICS, PreferencesForm, SubscribeForm

bp = Blueprint("readers", __name__)

# The preview is our own rendered email: its inline styles may apply, nothing may run.
PREVIEW_POLICY = (
    "default-src 'none'; img-src 'self' https: data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

NO_STORIES = "No new stories for your next digest yet."


def _preview(user):
    """The reader's next digest: (preview or None, message when there is none)."""
    preview = preview_for(user)
    return preview, None if preview is not None else NO_STORIES


def _form(pref: DigestPreference) -> PreferencesForm:
    form = PreferencesForm(obj=pref)
    if request.method == "GET":
        form.stories.data = STORIES_ALL if pref.follow_all else STORIES_TOPICS
        form.tag_ids.data = [t.id for t in pref.tags]
        # An old pause that has run out is not offered again (it would be refused).
        paused = preferences.is_paused(pref, preferences.local_today())
        form.paused_until.data = pref.paused_until if paused else None
    form.tag_ids.choices = [(t.id, t.name) for t in all_tags()]
    return form


def _picked_topic(form: PreferencesForm):
    """A topic named by ``?topic=`` (a subscribe box, a sign-in link): ticked, not saved."""
    if request.method != "GET":
        return None
    try:
        topic = subscription.topic_named(request.args.get("topic") or None)
    except RuleError:
        return None
    if topic is not None:
        form.stories.data = STORIES_TOPICS
        form.tag_ids.data = sorted({*(form.tag_ids.data or []), topic.id})
    return topic


def _input(form: PreferencesForm) -> preferences.PreferenceInput:
    return preferences.PreferenceInput(
        frequency=form.frequency.data or "",
        weekday=form.weekday.data if form.weekday.data is not None else -1,
        # None when neither was chosen (a hand-made request): the service says so.
        follow_all={STORIES_ALL: True, STORIES_TOPICS: False}.get(form.stories.data or ""),
        tag_ids=list(form.tag_ids.data or []),
        paused_until=form.paused_until.data,
    )


@bp.route("/account/preferences", methods=["GET", "POST"], endpoint="preferences")
@login_required
def preferences_page():
    """Followed tags, digest frequency and pause."""
    user = current_user._get_current_object()
    if not user.is_confirmed:
        # Nothing can be saved before the address is proven to be the reader's.
        status = 403 if request.method == "POST" else 200
        return render_template(
            "newsletter/preferences.html",
            unconfirmed=True,
            pref=preferences.get_preference(user, create=False),
            action_form=ActionForm(),
        ), status
    pref = preferences.get_preference(user)
    form = _form(pref)
    picked = _picked_topic(form)
    if form.validate_on_submit():
        try:
            preferences.save_preferences(user, _input(form))
        except RuleError as error:
            show_error(form, error)
        else:
            flash("Your email preferences are saved.", "success")
            return redirect(url_for("readers.preferences"))
    preview, preview_message = _preview(user)
    return render_template(
        "newsletter/preferences.html",
        unconfirmed=False,
        pref=pref,
        form=form,
        action_form=ActionForm(),
        mailable=preferences.is_mailable(pref),
        paused=preferences.is_paused(pref, preferences.local_today()),
        weekdays=preferences.WEEKDAYS,
        preview=preview,
        preview_message=preview_message,
        picked=picked,
    )


@bp.route("/account/preferences/resubscribe", methods=["POST"])
@login_required
def resubscribe():
    """Undo an unsubscribe."""
    require_action()
    try:
        preferences.resubscribe(current_user._get_current_object())
    except RuleError as error:
        flash(str(error), "error")
    else:
        flash("You are subscribed again. Welcome back!", "success")
    return redirect(url_for("readers.preferences"))


@bp.route("/account/preferences/preview")
@login_required
def preview():
    """The reader's next digest as the email it will be."""
    found, message = _preview(current_user._get_current_object())
    if found is None:
        abort(404, description=message)
    response = make_response(found.html)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058: mail clients POST with no session and no CSRF token
@limiter.exempt
def unsubscribe(token: str):
    """GET: a page with one button. POST: RFC 8058 one-click, done at once."""
    try:
        if request.method == "GET":
            user = preferences.user_for_token(token)
        else:
            # The body is "List-Unsubscribe=One-Click", from a mail client or our button.
            user = preferences.unsubscribe(user_id_from_token(token), request.args.get("m"))
    except TokenError as error:
        abort(400, description=str(error))
    if request.method == "GET":
        pref = preferences.get_preference(user, create=False)
        return render_template(
            "newsletter/unsubscribe.html",
            token=token,
            mail_token=request.args.get("m"),
            already=pref is not None and pref.unsubscribed_at is not None,
        )
    return render_template("newsletter/unsubscribed.html")


def _ip_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT_IP"]


@bp.route("/subscribe", methods=["GET", "POST"])
@limiter.limit(
    _ip_limit,
    methods=["POST"],
    error_message="Too many attempts from your network. Wait a minute and try again.",
)
def subscribe():
    """Subscribe with an email address; the mailed link confirms it (double opt-in)."""
    form = SubscribeForm(topic=request.args.get("topic", ""), meta=token_meta())
    if form.validate_on_submit():
        try:
            email = subscription.request_subscription(form.email.data, form.topic.data or None)
        except RuleError as error:
            show_error(form, error)
        else:
            return render_template("newsletter/subscribe_sent.html", email=email)
    status = 400 if request.method == "POST" else 200
    try:
        topic = subscription.topic_named(form.topic.data or None)
    except RuleError:
        topic = None
    return render_template("newsletter/subscribe.html", form=form, topic=topic), status


@bp.route("/subscribe/confirm/<token>", methods=["GET", "POST"])
def confirm_subscription(token: str):
    """The mailed confirmation: GET shows the address, the button (POST) subscribes."""
    form = ActionForm()
    try:
        email, topic = subscription.pending_subscription(token)
    except RuleError as error:
        return render_template("newsletter/subscribe_confirm.html", problem=str(error)), 410
    if request.method == "POST" and form.validate_on_submit():
        try:
            confirmed = subscription.confirm_subscription(token)
        except RuleError as error:
            return render_template("newsletter/subscribe_confirm.html", problem=str(error)), 410
        if current_user.is_authenticated:
            logout_user()
        sessions.log_in(confirmed.user)
        if confirmed.new:
            what = f"stories about {topic.name}" if topic else "every new story"
            flash(
                f"You are subscribed: a weekly email of {what}. Choose more topics or "
                "another day and frequency below, any time.",
                "success",
            )
        else:
            flash("You are logged in. Choose your stories below.", "success")
        return redirect(confirmed.landing)
    return render_template("newsletter/subscribe_confirm.html", email=email, topic=topic, form=form)


@bp.route("/tags/<slug>/follow", methods=["POST"])
@login_required
def follow_topic(slug: str):
    """Add a topic to the reader's digest from its page."""
    require_action()
    user = current_user._get_current_object()
    if not user.is_confirmed:
        flash("Confirm your email address first: we sent you a link.", "error")
        return redirect(url_for("articles.tag", slug=slug))
    try:
        tag, outcome = subscription.follow(user, slug)
    except RuleError as error:
        abort(404, description=str(error))
    flash(outcome.message, "success" if outcome.changed else "warning")
    if outcome.see_preferences:
        return redirect(url_for("readers.preferences", topic=tag.slug))
    return redirect(url_for("articles.tag", slug=tag.slug))

"""Back-office pages for newsletters: compose, preview, test, send or schedule, progress."""

from __future__ import annotations

from flask import flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from shop import clock
from shop.admin.blueprint import bp
from shop.articles.services import all_tags
from shop.audit import services as audit
from shop.extensions import db
from shop.forms import ActionForm, require_action, show_error
from shop.newsletters import archive, message, sending
from shop.newsletters import services as service
from shop.newsletters.forms import NewsletterForm, ScheduleForm
from shop.newsletters.models import Audience, Newsletter
from shop.pagination import check_page_exists, page_arg
from shop.readers.views import PREVIEW_POLICY


def _form(newsletter: Newsletter | None = None) -> NewsletterForm:
    form = NewsletterForm(obj=newsletter)
    form.tag_ids.choices = [(t.id, t.name) for t in all_tags()]
    if newsletter is not None and request.method == "GET":
        form.tag_ids.data = [t.id for t in newsletter.tags]
    return form


def _input(form: NewsletterForm) -> service.NewsletterInput:
    audience = form.audience.data or ""
    return service.NewsletterInput(
        subject=form.subject.data or "",
        body_markdown=form.body_markdown.data or "",
        audience=audience,
        tag_ids=list(form.tag_ids.data or []) if audience == Audience.TAGS else [],
    )


def _after_save(newsletter: Newsletter, verb: str):
    audit.note(
        f"{verb} newsletter “{newsletter.subject}”",
        f"newsletter {newsletter.id}",
        subject=newsletter.subject,
        audience=newsletter.audience,
        tags=[t.name for t in newsletter.tags],
    )
    if request.form.get("action") == "preview":
        return redirect(url_for(".newsletter_preview", newsletter_id=newsletter.id))
    flash("Saved.", "success")
    return redirect(url_for(".newsletter_edit", newsletter_id=newsletter.id))


@bp.route("/newsletters")
def newsletters_list():
    """Every newsletter: drafts and scheduled first, then what went out."""
    page = archive.admin_newsletters(page_arg())
    check_page_exists(page)
    return render_template("admin/newsletters.html", page=page, labels=service.AUDIENCE_LABELS)


@bp.route("/newsletters/new", methods=["GET", "POST"])
def newsletter_new():
    """Compose a newsletter."""
    form = _form()
    if form.validate_on_submit():
        try:
            newsletter = service.create_newsletter(current_user, _input(form))
        except service.NewsletterError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            return _after_save(newsletter, "Wrote")
    return render_template("admin/newsletter_form.html", form=form, newsletter=None)


@bp.route("/newsletters/<int:newsletter_id>", methods=["GET", "POST"])
def newsletter_edit(newsletter_id: int):
    """Edit a draft; from here it is previewed, tested, sent or scheduled."""
    newsletter = db.get_or_404(Newsletter, newsletter_id)
    if not newsletter.editable:
        return redirect(url_for(".newsletter_progress", newsletter_id=newsletter.id))
    form = _form(newsletter)
    if form.validate_on_submit():
        try:
            service.update_newsletter(newsletter, _input(form))
        except service.NewsletterError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            return _after_save(newsletter, "Edited")
    return render_template(
        "admin/newsletter_form.html",
        form=form,
        newsletter=newsletter,
        schedule_form=ScheduleForm(),
        action_form=ActionForm(),
        audience_size=service.audience_size(newsletter),
        zone=clock.zone().key,
    )


@bp.route("/newsletters/<int:newsletter_id>/preview")
def newsletter_preview(newsletter_id: int):
    """The newsletter as the email the editor would receive."""
    newsletter = db.get_or_404(Newsletter, newsletter_id)
    response = make_response(message.preview_html(newsletter, current_user))
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/newsletters/<int:newsletter_id>/test", methods=["POST"])
def newsletter_test(newsletter_id: int):
    """Send a test copy to the editor's own address."""
    require_action()
    newsletter = db.get_or_404(Newsletter, newsletter_id)
    try:
        message.send_test(newsletter, current_user)
    except service.NewsletterError as error:
        flash(str(error), "error")
    else:
        audit.note(f"Sent a test of “{newsletter.subject}” to {current_user.email}")
        flash(f"A test is on its way to {current_user.email}.", "success")
    return redirect(url_for(".newsletter_edit", newsletter_id=newsletter.id))


@bp.route("/newsletters/<int:newsletter_id>/send", methods=["POST"])
def newsletter_send(newsletter_id: int):
    """Queue the newsletter for its audience now; the progress page follows the sending."""
    require_action()
    newsletter = db.get_or_404(Newsletter, newsletter_id)
    try:
        # Returns at once: the sending runs on a worker or in a thread, never in here.
        sending.queue_send(newsletter)
    except service.NewsletterError as error:
        flash(str(error), "error")
    else:
        audit.note(
            f"Sent newsletter “{newsletter.subject}”",
            recipients=service.audience_size(newsletter),
        )
    return redirect(url_for(".newsletter_progress", newsletter_id=newsletter.id), 303)


@bp.route("/newsletters/<int:newsletter_id>/schedule", methods=["POST"])
def newsletter_schedule(newsletter_id: int):
    """Schedule the newsletter for a time on the publication's clock."""
    newsletter = db.get_or_404(Newsletter, newsletter_id)
    form = ScheduleForm()
    if not form.validate_on_submit() or form.send_at.data is None:
        flash("Choose a date and time to send it, like 2026-12-01 07:00.", "error")
    else:
        try:
            sending.schedule_at(newsletter, form.send_at.data)
        except service.NewsletterError as error:
            flash(str(error), "error")
        else:
            scheduled_at = newsletter.scheduled_at
            assert scheduled_at is not None  # schedule_at has just set it
            when = clock.local_now(scheduled_at)
            audit.note(
                f"Scheduled newsletter “{newsletter.subject}”", send_at=f"{when:%Y-%m-%d %H:%M %Z}"
            )
            flash(
                f"Scheduled for {clock.format_day(when)}, {when:%H:%M} ({clock.zone().key}).",
                "success",
            )
    return redirect(url_for(".newsletter_edit", newsletter_id=newsletter.id))


@bp.route("/newsletters/<int:newsletter_id>/unschedule", methods=["POST"])
def newsletter_unschedule(newsletter_id: int):
    """Take a scheduled newsletter back to draft."""
    require_action()
    newsletter = db.get_or_404(Newsletter, newsletter_id)
    try:
        sending.unschedule(newsletter)
    except service.NewsletterError as error:
        flash(str(error), "error")
    else:
        audit.note(f"Unscheduled newsletter “{newsletter.subject}”")
        flash("It is a draft again.", "success")
    return redirect(url_for(".newsletter_edit", newsletter_id=newsletter.id))


@bp.route("/newsletters/<int:newsletter_id>/delete", methods=["POST"])
def newsletter_delete(newsletter_id: int):
    """Delete a newsletter that has not gone out."""
    require_action()
    newsletter = db.get_or_404(Newsletter, newsletter_id)
    subject = newsletter.subject
    try:
        service.delete_newsletter(newsletter)
    except service.NewsletterError as error:
        flash(str(error), "error")
        return redirect(url_for(".newsletter_progress", newsletter_id=newsletter.id))
    audit.note(f"Deleted newsletter “{subject}”")
    flash("Deleted.", "success")
    return redirect(url_for(".newsletters_list"))


@bp.route("/newsletters/<int:newsletter_id>/progress")
def newsletter_progress(newsletter_id: int):
    """How far sending has got: a page, or JSON for the page's live updates."""
    newsletter = db.get_or_404(Newsletter, newsletter_id)
    progress = sending.progress(newsletter)
    if request.accept_mimetypes.best == "application/json":
        response = jsonify(progress.as_dict())
        response.headers["Cache-Control"] = "no-store"
        return response
    return render_template(
        "admin/newsletter_progress.html",
        newsletter=newsletter,
        progress=progress,
        labels=service.AUDIENCE_LABELS,
        local_now=clock.local_now,
    )

"""Back-office pages for importing and exporting members: upload, the dry run, the import's
progress, and the CSV and JSON exports."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from shop.admin.blueprint import bp
from shop.admin.exports import csv_response
from shop.audit import services as audit
from shop.background import QueueUnavailableError, enqueue_background
from shop.clock import utcnow
from shop.extensions import db
from shop.forms import ActionForm, larger_body, require_action, show_error
from shop.members import exporting, formats, importing
from shop.members.forms import ImportForm
from shop.members.models import ImportStatus, MemberImport
from shop.pagination import page_arg

LINES_PER_PAGE = 100


@bp.route("/subscribers/import", methods=["GET", "POST"])
@larger_body("MEMBER_IMPORT_MAX_BYTES")
def members_import():
    """Upload a CSV of members; it is read and checked, and nothing changes yet."""
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            item = importing.prepare(
                upload.read(),
                upload.filename or "members.csv",
                form.format.data,
                form.status.data or None,
                created_by_id=current_user.id,
            )
        except formats.ImportFileError as error:
            show_error(form, error)
        else:
            return redirect(url_for(".members_import_job", import_id=item.id))
    recent = db.session.scalars(
        select(MemberImport).order_by(MemberImport.id.desc()).limit(10)
    ).all()
    return render_template(
        "admin/members_import.html",
        form=form,
        recent=recent,
        max_mb=current_app.config["MEMBER_IMPORT_MAX_BYTES"] // (1024 * 1024),
    )


def _import_or_404(import_id: int) -> MemberImport:
    return db.get_or_404(MemberImport, import_id, description="There is no such import.")


@bp.route("/subscribers/import/<int:import_id>")
def members_import_job(import_id: int):
    """The dry run of an uploaded file; once started, the import's progress (or JSON)."""
    item = _import_or_404(import_id)
    if request.accept_mimetypes.best == "application/json":
        response = jsonify(progress(item))
        response.headers["Cache-Control"] = "no-store"
        return response
    if item.status == ImportStatus.PLANNED:
        result = importing.dry_run(item)
        page = page_arg()
        pages = max(1, -(-len(result.outcomes) // LINES_PER_PAGE))
        if page > pages:
            abort(404, description="There is no such page of this dry run.")
        lines = result.outcomes[(page - 1) * LINES_PER_PAGE : page * LINES_PER_PAGE]
        return render_template(
            "admin/members_dry_run.html",
            item=item,
            result=result,
            lines=lines,
            page=page,
            pages=pages,
            action_form=ActionForm(),
        )
    mapping, _ = formats.read(item.content, item.format)
    return render_template(
        "admin/members_import_progress.html",
        item=item,
        mapping=mapping,
        figures=progress(item),
        report=importing.report(item),
        can_go_on=importing.can_go_on(item),
        action_form=ActionForm(),
    )


def progress(item: MemberImport) -> dict:
    """The import's figures, as the progress page and its JSON twin show them."""
    return {
        "status": item.status,
        "sent": item.done_rows,
        "total": item.total,
        "percent": item.percent,
        "created": item.created,
        "updated": item.updated,
        "skipped": item.skipped,
        "finished": item.status in (ImportStatus.DONE, ImportStatus.FAILED),
    }


@bp.route("/subscribers/import/<int:import_id>/run", methods=["POST"])
def members_import_run(import_id: int):
    """Start the import (or go on with a stopped one); the progress page follows it."""
    require_action()
    item = _import_or_404(import_id)
    try:
        importing.queue(item)
        enqueue_background(importing.IMPORT_JOB, import_id=item.id)
    except importing.MemberImportError as error:
        flash(str(error), "error")
    except QueueUnavailableError:
        item.status = ImportStatus.FAILED
        item.error = "The job queue could not be reached."
        db.session.commit()
        flash("The import could not be started: the job queue is down. Try again.", "error")
    else:
        audit.note(f"Imported members from {item.filename}", f"import {item.id}")
    return redirect(url_for(".members_import_job", import_id=item.id), 303)


@bp.route("/subscribers/export.csv")
def members_export_csv() -> Response:
    """Every member as CSV, in the columns the import reads."""
    filename = f"members-{utcnow():%Y-%m-%d}.csv"
    return csv_response(filename, exporting.EXPORT_COLUMNS, exporting.csv_rows())


@bp.route("/subscribers/export.json")
def members_export_json() -> Response:
    """Every member as JSON, in the columns the import reads."""
    response = Response(stream_with_context(exporting.json_chunks()), mimetype="application/json")
    filename = f"members-{utcnow():%Y-%m-%d}.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response

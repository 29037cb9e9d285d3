"""Back-office pages for the delivery ledger: runs, their deliveries, retrying failures."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from shop.admin.blueprint import bp
from shop.audit import services as audit
from shop.forms import ActionForm, require_action
from shop.pagination import check_page_exists, page_arg
from shop.reports import engagement
from shop.reports import runs as service
from shop.sending.models import Run


def _run_or_404(run_id: int) -> Run:
    return service.get_run(run_id) or abort(404, description="There is no such run.")


@bp.route("/runs")
def runs_list():
    """Every digest, notice and newsletter run, newest first, with its counts."""
    kind = request.args.get("kind") or None
    state = request.args.get("state") or None
    query = request.args.get("q", "")
    number = page_arg()
    try:
        page = service.runs_page(number, kind=kind, state=state, query=query)
    except service.RunsError as error:
        abort(404, description=str(error))
    check_page_exists(page)
    return render_template(
        "admin/runs.html",
        page=page,
        kind=kind,
        state=state,
        query=query.strip(),
        kinds=service.KINDS,
        states=service.STATES,
    )


@bp.route("/runs/<int:run_id>")
def run_detail(run_id: int):
    """One run: its counts and its deliveries, by status."""
    run = _run_or_404(run_id)
    status = request.args.get("status") or None
    query = request.args.get("q", "")
    number = page_arg()
    try:
        deliveries = service.deliveries_page(run, number, status=status, query=query)
    except service.RunsError as error:
        abort(404, description=str(error))
    check_page_exists(deliveries)
    counts = service.counts(run)
    return render_template(
        "admin/run.html",
        run=run,
        counts=counts,
        figures=engagement.run_figures(run.id, counts.sent, counts.bounced),
        links=engagement.link_clicks(run.id),
        retryable=service.retryable_count(run.id),
        newsletter=service.newsletter_of(run),
        story=service.story_of(run),
        deliveries=deliveries,
        status=status,
        query=query.strip(),
        statuses=service.DELIVERY_STATUSES,
        action_form=ActionForm(),
    )


@bp.route("/runs/<int:run_id>/retry", methods=["POST"])
def run_retry(run_id: int):
    """Send a run's failed deliveries again; sent and bounced ones are left alone."""
    require_action()
    run = _run_or_404(run_id)
    queued = service.retry_failed(run.id)
    if queued:
        summary = f"Retried {queued} failed {_plural(queued)} of run {run.id}"
        audit.note(summary, f"run {run.id}", queued=queued)
        flash(
            f"{queued} failed {_plural(queued)} queued again; they go out in the background.",
            "success",
        )
    elif service.counts(run).failed:
        flash(
            "None of the failed deliveries can be retried: their readers have since "
            "unsubscribed, paused their mail or been suppressed.",
            "error",
        )
    else:
        flash("This run has no failed deliveries to retry.", "error")
    return redirect(url_for(".run_detail", run_id=run.id))


def _plural(n: int) -> str:
    return "delivery" if n == 1 else "deliveries"

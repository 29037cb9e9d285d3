"""Back-office pages for the local outbox: the messages written while no relay is set."""

from __future__ import annotations

from flask import abort, current_app, make_response, render_template

from shop.admin.blueprint import bp
from shop.mail import outbox
from shop.pagination import check_page_exists, page_arg
from shop.readers.views import PREVIEW_POLICY

HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"]
NO_SUCH_MESSAGE = "There is no such message in the outbox."


@bp.route("/outbox")
def outbox_list():
    """The outbox's messages, newest first."""
    page = outbox.outbox_messages(page_arg())
    check_page_exists(page)
    return render_template(
        "admin/outbox.html", page=page, relay=bool(current_app.config.get("MAIL_SERVER"))
    )


@bp.route("/outbox/<name>")
def outbox_show(name: str):
    """One message's headers and text; its HTML is only linked, never inlined here."""
    message = outbox.outbox_message(name)
    if message is None:
        abort(404, description=NO_SUCH_MESSAGE)
    text, html = outbox.message_bodies(message)
    return render_template(
        "admin/outbox_message.html",
        name=name,
        headers=outbox.message_headers(message, HEADERS),
        text=text,
        has_html=html is not None,
    )


@bp.route("/outbox/<name>/html")
def outbox_html(name: str):
    """A message's HTML part on its own, under a policy that runs and sends nothing."""
    message = outbox.outbox_message(name)
    if message is None:
        abort(404, description=NO_SUCH_MESSAGE)
    _, html = outbox.message_bodies(message)
    if html is None:
        abort(404, description="This message has no HTML part.")
    response = make_response(html)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["Cache-Control"] = "private, no-store"
    return response

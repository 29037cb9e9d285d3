"""The audit log: admin changes are recorded with who, what and when; refusals are not."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from shop.audit.models import AuditEntry
from shop.extensions import db
from tests.factories import TagFactory, UserFactory


@pytest.fixture
def editor(client, auth, admin):
    """The client, logged in as an admin."""
    auth.login(admin.email)
    return client


def _entries() -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_a_change_is_recorded_with_who_what_and_when(editor, auth, admin):
    """Writing a newsletter leaves one entry naming the admin, the record and the values."""
    tag = TagFactory(name="Climate")
    response = auth.post(
        "/admin/newsletters/new",
        {
            "subject": "Spring issue",
            "body_markdown": "Hello.",
            "audience": "tags",
            "tag_ids": str(tag.id),
        },
        token_from="/admin/newsletters/new",
    )
    assert response.status_code == 302
    [entry] = _entries()
    assert entry.actor_email == admin.email and entry.actor_id == admin.id
    assert entry.action == "newsletter_new"
    assert entry.summary == "Wrote newsletter “Spring issue”"
    assert entry.target.startswith("newsletter ")
    changes = json.loads(entry.changes)
    assert changes == {"subject": "Spring issue", "audience": "tags", "tags": ["Climate"]}
    assert entry.created_at is not None

    page = editor.get("/admin/audit").get_data(as_text=True)
    assert "Wrote newsletter “Spring issue”" in page
    assert admin.email in page


def test_form_fields_are_recorded_without_secrets(editor, auth):
    """A view without its own note logs its form's fields, never the CSRF token."""
    response = auth.post(
        "/admin/tags", {"name": "Economy", "description": "Money"}, token_from="/admin/tags"
    )
    assert response.status_code == 302
    [entry] = _entries()
    assert entry.action == "tags_list"
    changes = json.loads(entry.changes)
    assert changes["name"] == "Economy"
    assert "csrf_token" not in changes


def test_refused_actions_are_not_recorded(editor, auth):
    """A form sent back with an error, or an error flash, changed nothing: no entry."""
    refused = auth.post(
        "/admin/newsletters/new",
        {"subject": "", "body_markdown": "x", "audience": "all"},
        token_from="/admin/newsletters/new",
    )
    assert refused.status_code == 200
    reader = UserFactory(email="gone@example.org")
    # Unscheduling a draft is refused with an error flash.
    from shop.newsletters import services as newsletters

    draft = newsletters.create_newsletter(
        reader, newsletters.NewsletterInput("Draft", "Text.", "all")
    )
    response = auth.post(
        f"/admin/newsletters/{draft.id}/unschedule",
        token_from=f"/admin/newsletters/{draft.id}",
    )
    assert response.status_code == 302
    assert _entries() == []


def test_the_log_is_searchable_and_filtered(editor, auth):
    """Search by text, filter by action; unknown actions and pages are 404s."""
    auth.post("/admin/tags", {"name": "Economy"}, token_from="/admin/tags")
    auth.post(
        "/admin/newsletters/new",
        {"subject": "Winter issue", "body_markdown": "Hi.", "audience": "all"},
        token_from="/admin/newsletters/new",
    )
    assert len(_entries()) == 2
    only_newsletters = editor.get("/admin/audit?action=newsletter_new").get_data(as_text=True)
    assert "Winter issue" in only_newsletters and "Economy" not in only_newsletters
    searched = editor.get("/admin/audit?q=winter").get_data(as_text=True)
    assert "Winter issue" in searched and "Economy" not in searched
    assert editor.get("/admin/audit?action=drop_tables").status_code == 404
    assert editor.get("/admin/audit?page=9").status_code == 404
    assert editor.get("/admin/audit?page=-1").status_code == 404

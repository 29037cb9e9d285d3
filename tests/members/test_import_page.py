"""The back office's import page: upload, the detected format and columns, the dry run line
by line, the import with its progress, the exports, and files it refuses."""

from __future__ import annotations

import html
import io
import re

import pytest

from shop.accounts.models import User
from shop.extensions import db
from shop.members import importing, rules
from shop.members.models import MemberImport
from tests.factories import TagFactory
from tests.members.helpers import GHOST, SUBSTACK, emails
from tests.support import csrf_token


@pytest.fixture
def app_config(app_config):
    """The import runs in the request, so that the test sees it done."""
    app_config["JOBS_IN_BACKGROUND"] = False
    return app_config


@pytest.fixture
def editor(client, auth, admin):
    """The admin, logged in."""
    auth.login("editor@example.org")
    return client


def upload(client, content: bytes, filename: str = "members.csv", **fields):
    token = csrf_token(client, "/admin/subscribers/import")
    data = {"csrf_token": token, "file": (io.BytesIO(content), filename), **fields}
    return client.post("/admin/subscribers/import", data=data, content_type="multipart/form-data")


def text(response) -> str:
    """The page's words, without tags, one space between them."""
    words = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(words).split())


def test_upload_shows_the_dry_run_then_imports(editor, mailbox):
    TagFactory(name="Climate")
    response = upload(editor, GHOST.read_bytes(), "ghost_export.csv")
    assert response.status_code == 302
    page = editor.get(response.headers["Location"])
    body = text(page)
    assert "Found: Ghost members export" in body
    assert "subscribed_to_emails digest consent (yes or no)" in body
    assert "tiers ignored" in body
    assert "Dry run: 5 would be created, 0 updated and 4 skipped" in body
    assert "2 ada.byron@example.org create topic not found: Books" in body
    assert "5 ada.byron@example.org skip duplicate of line 2" in body
    assert "duplicate of line 2" in body and "deleted in Ghost" in body
    assert "Import 5 members" in body
    assert emails() == {"editor@example.org"}

    item = db.session.scalar(db.select(MemberImport))
    token = csrf_token(editor, page.request.path)
    run = editor.post(f"/admin/subscribers/import/{item.id}/run", data={"csrf_token": token})
    assert run.status_code == 303
    finished = editor.get(run.headers["Location"])
    assert '<progress max="9" value="9"' in finished.get_data(as_text=True)
    done = text(finished)
    assert "done : 9 of 9 lines ( 100 %)" in done
    assert "Lines skipped or with a note" in done and "topic not found: Books" in done
    progress = editor.get(run.headers["Location"], headers={"Accept": "application/json"})
    assert progress.json == {
        "status": "done", "sent": 9, "total": 9, "percent": 100, "created": 5,
        "updated": 0, "skipped": 4, "finished": True,
    }  # fmt: skip
    assert "ada.byron@example.org" in emails()
    listing = text(editor.get("/admin/subscribers?q=ada.byron"))
    assert "ada.byron@example.org" in listing
    assert mailbox.messages == []
    again = editor.post(f"/admin/subscribers/import/{item.id}/run", data={"csrf_token": token})
    assert "already been imported" in text(editor.get(again.headers["Location"]))


def test_a_file_it_cannot_read_is_refused_on_the_form(editor):
    response = upload(editor, b"order,amount\n1,2\n")
    assert response.status_code == 200
    assert "We could not tell what exported this file" in text(response)
    response = upload(editor, "email\nzo\xeb@example.org\n".encode("latin-1"))
    assert "not UTF-8 text" in text(response)
    token = csrf_token(editor, "/admin/subscribers/import")
    response = editor.post("/admin/subscribers/import", data={"csrf_token": token})
    assert "Choose the CSV file to import." in text(response)
    assert db.session.scalar(db.select(MemberImport)) is None


def test_the_upload_may_be_larger_than_other_forms_but_not_past_its_own_limit(app, editor):
    app.config["MAX_CONTENT_LENGTH"] = 2000
    app.config["MEMBER_IMPORT_MAX_BYTES"] = 50_000
    rows = "".join(f"member{n}@example.org,Member {n},\n" for n in range(200))
    big = ("email,name,tags\n" + rows).encode()
    assert 2000 < len(big) < 50_000
    response = upload(editor, big, "big.csv")
    assert response.status_code == 302, text(response)[:500]
    assert "200 would be created" in text(editor.get(response.headers["Location"]))
    app.config["MEMBER_IMPORT_MAX_BYTES"] = 3000
    assert upload(editor, big, "big.csv").status_code == 413
    # Every other form keeps the small limit.
    token = csrf_token(editor, "/admin/subscribers/import")
    response = editor.post("/admin/tags", data={"csrf_token": token, "name": "x" * 3000})
    assert response.status_code == 413
    # And a visitor who is not an admin cannot make the server read the larger body.
    app.config["MEMBER_IMPORT_MAX_BYTES"] = 50_000
    visitor = app.test_client()
    data = {"file": (io.BytesIO(big), "big.csv")}
    sent = visitor.post("/admin/subscribers/import", data=data, content_type="multipart/form-data")
    assert sent.status_code == 413


def test_the_mailchimp_status_and_forced_format_are_taken_from_the_form(editor):
    response = upload(editor, SUBSTACK.read_bytes(), "substack.csv", format="ghost")
    assert "needs a column “subscribed_to_emails”" not in text(response)
    assert response.status_code == 302
    page = text(editor.get(response.headers["Location"]))
    assert "Found: Ghost members export" in page


def test_exports_from_the_subscribers_page(editor, runner):
    assert runner.invoke(args=["members", "import", str(SUBSTACK)]).exit_code == 0
    listing = editor.get("/admin/subscribers").get_data(as_text=True)
    assert 'href="/admin/subscribers/import"' in listing
    assert 'href="/admin/subscribers/export.json"' in listing
    csv_response = editor.get("/admin/subscribers/export.csv")
    assert csv_response.status_code == 200
    lines = csv_response.get_data(as_text=True).splitlines()
    assert lines[0] == (
        "email,name,tags,subscribed,consent_at,complimentary,complimentary_until,"
        "stripe_customer_id,created_at"
    )
    assert any(line.startswith("comp.reader@example.com,,,yes,") for line in lines)
    json_response = editor.get("/admin/subscribers/export.json")
    assert json_response.headers["Content-Disposition"].startswith("attachment;")
    assert {r["email"] for r in json_response.json} >= {"comp.reader@example.com"}


def test_a_reader_cannot_import(client, auth, reader):
    auth.login("reader@example.org")
    assert client.get("/admin/subscribers/import").status_code == 403
    assert client.get("/admin/subscribers/export.csv").status_code == 403


def test_a_stopped_import_can_be_taken_up_again_from_its_page(editor, app, monkeypatch):
    app.config["MEMBER_IMPORT_CHUNK"] = 3
    item = importing.prepare(GHOST.read_bytes(), "ghost_export.csv")
    real_apply, calls = rules.apply, {"n": 0}

    def crash_on_the_fifth_line(decision, ctx):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("the machine went down")
        return real_apply(decision, ctx)

    monkeypatch.setattr(rules, "apply", crash_on_the_fifth_line)
    path = f"/admin/subscribers/import/{item.id}"
    token = csrf_token(editor, path)
    stopped = editor.post(f"{path}/run", data={"csrf_token": token})
    page = text(editor.get(stopped.headers["Location"]))
    assert "The import stopped: Stopped after line 4: RuntimeError" in page
    assert "going on starts from line 5" in page
    monkeypatch.setattr(rules, "apply", real_apply)
    editor.post(f"{path}/run", data={"csrf_token": csrf_token(editor, path)})
    assert "done : 9 of 9 lines ( 100 %)" in text(editor.get(path))
    assert len(emails()) == 6  # the five members and the editor


def test_the_account_page_says_complimentary_access(runner, client, auth):
    assert runner.invoke(args=["members", "import", str(SUBSTACK)]).exit_code == 0
    reader = db.session.scalar(db.select(User).where(User.email == "comp.reader@example.com"))
    reader.set_password("correct horse battery")
    db.session.commit()
    auth.login("comp.reader@example.com")
    page = text(client.get("/account"))
    assert "Complimentary access, until" in page and "You have no plan" not in page


def test_the_subscriber_page_shows_complimentary_access(editor, runner):
    assert runner.invoke(args=["members", "import", str(SUBSTACK)]).exit_code == 0
    reader = db.session.scalar(db.select(User).where(User.email == "comp.reader@example.com"))
    page = text(editor.get(f"/admin/subscribers/{reader.id}"))
    assert "Complimentary access until 31 December 2027" in page
    assert "(imported from Substack)" in page

"""``flask members export`` and the back office's export: CSV and JSON in the columns the
import reads, so that an export imported elsewhere gives the same members."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import delete, select

from shop.accounts.models import User
from shop.billing.models import ComplimentaryAccess, Customer
from shop.extensions import db
from shop.members.exporting import EXPORT_COLUMNS
from shop.preferences.models import DigestPreference, preference_tags
from tests.factories import TagFactory, UserFactory
from tests.members.helpers import GHOST, SUBSTACK


@pytest.fixture
def members(runner):
    """The Ghost and Substack samples imported, and one Stripe customer."""
    TagFactory(name="Climate")
    TagFactory(name="Books")
    assert runner.invoke(args=["members", "import", str(GHOST)]).exit_code == 0
    assert runner.invoke(args=["members", "import", str(SUBSTACK)]).exit_code == 0
    user = db.session.scalar(select(User).where(User.email == "paying.member@example.com"))
    db.session.add(Customer(user_id=user.id, stripe_customer_id="cus_Exported01"))
    db.session.commit()


def snapshot() -> list[dict]:
    """What an export shows of every member, in a comparable form."""
    db.session.expire_all()
    from shop.members.exporting import members

    return [{k: v for k, v in m.items()} for m in members()]


def forget_everyone() -> None:
    for table in (preference_tags, DigestPreference.__table__, ComplimentaryAccess.__table__,
                  Customer.__table__, User.__table__):  # fmt: skip
        db.session.execute(delete(table))
    db.session.commit()


def test_csv_export_imported_again_gives_the_same_members(runner, members, tmp_path):
    UserFactory(email="editor@example.org", role="admin")
    before = snapshot()
    out = tmp_path / "members.csv"
    result = runner.invoke(args=["members", "export", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == EXPORT_COLUMNS
    assert "editor@example.org" not in {r["email"] for r in rows}
    ada = next(r for r in rows if r["email"] == "ada.byron@example.org")
    assert ada["tags"] == "climate, books" or ada["tags"] == "books, climate"
    assert ada["subscribed"] == "yes" and ada["consent_at"] == "2023-03-14T09:26:53Z"
    comp = next(r for r in rows if r["email"] == "comp.reader@example.com")
    assert comp["complimentary"] == "yes" and comp["complimentary_until"] == "2027-12-31T00:00:00Z"
    forget_everyone()
    again = runner.invoke(args=["members", "import", str(out)])
    assert again.exit_code == 0, again.output
    assert "Format: Plain list" in again.output
    # Without Stripe here the customer cannot be checked, so it is reported, not linked.
    assert "payments are not set up here: Stripe customer not linked" in again.output
    after = snapshot()
    for row in before:
        if row["email"] == "paying.member@example.com":
            row["stripe_customer_id"] = None
    assert sorted(after, key=lambda r: r["email"]) == sorted(before, key=lambda r: r["email"])


def test_json_export(runner, members):
    result = runner.invoke(args=["members", "export", "--format", "json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert list(records[0]) == EXPORT_COLUMNS
    paying = next(r for r in records if r["email"] == "paying.member@example.com")
    assert paying["stripe_customer_id"] == "cus_Exported01"
    quiet = next(r for r in records if r["email"] == "quiet.reader@example.com")
    assert quiet["subscribed"] is False and quiet["tags"] == ["books"]

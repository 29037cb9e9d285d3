"""``flask members import``: the sample Ghost, Substack and Mailchimp exports, the dry run,
each reason a line is skipped, re-importing, and going on after a crash."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from shop.accounts.models import User
from shop.billing.access import has_paid_access
from shop.billing.models import ComplimentaryAccess
from shop.extensions import db
from shop.members import importing, rules
from shop.members.models import ImportStatus, MemberImport
from shop.preferences.models import Frequency
from tests.factories import TagFactory, UserFactory
from tests.members.helpers import GHOST, MAILCHIMP, SUBSTACK, emails, member, preference


@pytest.fixture
def topics(app):
    """The topics the sample files' labels name (Gardening and Music are not here)."""
    return {"climate": TagFactory(name="Climate"), "books": TagFactory(name="Books")}


def test_ghost_dry_run_shows_the_mapping_and_each_line_and_changes_nothing(runner, topics, mailbox):
    result = runner.invoke(args=["members", "import", str(GHOST), "--dry-run"])
    out = result.output
    assert result.exit_code == 0, out
    assert "Format: Ghost members export" in out
    assert "subscribed_to_emails -> digest consent (yes or no)" in out
    assert "labels -> followed topics" in out
    assert "id: ignored" in out and "tiers: ignored" in out
    assert "line 2: create ada.byron@example.org" in out
    assert "line 3: skip zoë ørsted <zoe@example.org> (invalid:" in out
    assert "line 5: skip ada.byron@example.org (duplicate of line 2)" in out
    assert (
        "line 6: create quiet.reader@example.com (unsubscribed in Ghost: no digest consent)" in out
    )
    assert "topic not found: Gardening" in out
    assert "line 9: skip not-an-address (invalid: Invalid email address.)" in out
    assert "line 10: skip gone@example.com (deleted in Ghost)" in out
    assert "Dry run: 5 would be created, 0 updated, 4 skipped. Nothing was changed." in out
    assert emails() == set()
    assert db.session.scalar(select(func.count(MemberImport.id))) == 0
    assert mailbox.messages == []


def test_ghost_import_keeps_consent_dates_topics_and_comp_and_mails_nobody(runner, topics, mailbox):
    result = runner.invoke(args=["members", "import", str(GHOST)])
    assert result.exit_code == 0, result.output
    assert "Imported ghost_export.csv: 5 created, 0 updated, 4 skipped." in result.output
    assert emails() == {
        "ada.byron@example.org",
        "bjorn@example.net",
        "quiet.reader@example.com",
        "friend.of.the.paper@example.com",
        "paying.member@example.com",
    }
    ada = member("ada.byron@example.org")
    assert ada.display_name == "Ada Byron"
    assert ada.digest_consent_at == datetime(2023, 3, 14, 9, 26, 53)
    assert ada.created_at == datetime(2023, 3, 14, 9, 26, 53)
    assert ada.is_confirmed and not ada.has_password
    pref = preference(ada)
    assert pref.frequency == Frequency.WEEKLY and not pref.follow_all
    assert {t.name for t in pref.tags} == {"Climate", "Books"}
    assert member("bjorn@example.net").display_name == "Björn Ængström"
    quiet = member("quiet.reader@example.com")
    assert quiet.digest_consent_at is None
    assert preference(quiet).frequency == Frequency.OFF
    friend = member("friend.of.the.paper@example.com")
    comp = db.session.scalar(
        select(ComplimentaryAccess).where(ComplimentaryAccess.user_id == friend.id)
    )
    assert comp is not None and comp.until is None
    assert has_paid_access(friend) and not has_paid_access(ada)
    # No Stripe here: the customer id is reported, not linked.
    assert "payments are not set up here: Stripe customer not linked" in result.output
    assert mailbox.messages == []


def test_substack_import(runner, mailbox):
    result = runner.invoke(args=["members", "import", str(SUBSTACK)])
    out = result.output
    assert result.exit_code == 0, out
    assert "Format: Substack subscriber export" in out
    assert "active_subscription: ignored" in out
    assert "plan -> complimentary access (plan “comp”)" in out
    assert "Imported substack_export.csv: 5 created, 0 updated, 3 skipped." in out
    assert "line 7: skip lena.kowalski@example.org (duplicate of line 2)" in out
    assert "line 8: skip broken@ (invalid: Invalid email address.)" in out
    assert "line 9: skip ünïcode@example.org (invalid: Use an address with only Latin" in out
    assert (
        "line 5: create lapsed.comp@example.com (complimentary access ended 2024-01-31: not given)"
        in out
    )
    comp_reader = member("comp.reader@example.com")
    comp = db.session.scalar(
        select(ComplimentaryAccess).where(ComplimentaryAccess.user_id == comp_reader.id)
    )
    assert comp.until == datetime(2027, 12, 31)
    assert has_paid_access(comp_reader)
    assert not has_paid_access(member("lapsed.comp@example.com"))
    off = member("off.email@example.net")
    assert off.digest_consent_at is None
    assert member("lena.kowalski@example.org").digest_consent_at == datetime(
        2022, 11, 3, 18, 22, 41
    )
    assert mailbox.messages == []


def test_mailchimp_import_takes_the_confirm_time_and_a_status_option(runner, topics):
    result = runner.invoke(args=["members", "import", str(MAILCHIMP), "--status", "unsubscribed"])
    out = result.output
    assert result.exit_code == 0, out
    assert "Format: Mailchimp audience export" in out
    assert "First Name -> name (first part)" in out and "LEID: ignored" in out
    assert "unsubscribed in Mailchimp: no digest consent" in out
    amelie = member("amelie.poulain@example.fr")
    assert amelie.display_name == "Amélie Poulain"
    assert amelie.digest_consent_at is None


def test_mailchimp_subscribed_file(runner, topics):
    result = runner.invoke(args=["members", "import", str(MAILCHIMP)])
    assert result.exit_code == 0, result.output
    amelie = member("amelie.poulain@example.fr")
    assert amelie.digest_consent_at == datetime(2021, 5, 1, 10, 5)
    assert {t.name for t in preference(amelie).tags} == {"Books", "Climate"}
    # No confirmation time: the opt-in time is the consent's date.
    assert member("missing.confirm@example.com").digest_consent_at == datetime(2021, 7, 1, 12)
    assert "topic not found: Music" in result.output


def test_importing_the_same_file_again_changes_nothing_and_duplicates_nobody(runner, topics):
    assert runner.invoke(args=["members", "import", str(GHOST)]).exit_code == 0
    again = runner.invoke(args=["members", "import", str(GHOST)])
    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 9 skipped" in again.output
    assert "already a member: nothing to change" in again.output
    assert db.session.scalar(select(func.count(User.id))) == 5


def test_an_existing_member_gains_what_they_lack_and_loses_nothing(runner, topics, tmp_path):
    gardening = TagFactory(name="Gardening")
    local = UserFactory(email="ada.byron@example.org", display_name=None)
    unsubscribed = UserFactory(email="bjorn@example.net", digest_consent_at=datetime(2024, 1, 1))
    kept = UserFactory(email="quiet.reader@example.com", digest_consent_at=datetime(2024, 2, 2))
    admin = UserFactory(email="friend.of.the.paper@example.com", role="admin")
    suppressed = UserFactory(email="paying.member@example.com")
    from shop.preferences.services import get_preference, unsubscribe
    from shop.preferences.suppression import suppress

    unsubscribe(unsubscribed.id)
    suppress(suppressed)
    result = runner.invoke(args=["members", "import", str(GHOST)])
    out = result.output
    assert result.exit_code == 0, out
    assert "line 2: update ada.byron@example.org (adds name; digest consent; topics" in out
    assert "unsubscribed here on" in out and "kept so" in out
    assert "unsubscribed in Ghost, subscribed here: not changed" in out
    assert "an admin's account: left alone" in out
    assert "suppressed here" in out
    ada = member("ada.byron@example.org")
    assert ada.display_name == "Ada Byron" and ada.digest_consent_at == datetime(
        2023, 3, 14, 9, 26, 53
    )
    assert get_preference(member("bjorn@example.net")).unsubscribed_at is not None
    assert member("quiet.reader@example.com").digest_consent_at == datetime(2024, 2, 2)
    assert member("friend.of.the.paper@example.com").display_name is None
    assert gardening is not None and kept and admin and local


def test_an_unconfirmed_account_here_is_not_confirmed_nor_given_paid_access(runner):
    UserFactory(email="ada.byron@example.org", confirmed_at=None)
    registered = UserFactory(email="friend.of.the.paper@example.com", confirmed_at=None)
    result = runner.invoke(args=["members", "import", str(GHOST)])
    assert "not confirmed here: left to the reader's own confirmation" in result.output
    assert not member("ada.byron@example.org").is_confirmed
    # Whoever registered the address here gets no complimentary access from the file.
    assert not has_paid_access(member(registered.email))


def test_a_file_that_is_not_a_members_export_is_refused_clearly(runner, tmp_path):
    bad = tmp_path / "orders.csv"
    bad.write_text("order,amount\n1,2\n")
    result = runner.invoke(args=["members", "import", str(bad)])
    assert result.exit_code == 1
    assert "We could not tell what exported this file" in result.output
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("email,name\nzoe@example.org,Zo\xeb\n".encode("latin-1"))
    result = runner.invoke(args=["members", "import", str(latin1)])
    assert "not UTF-8 text" in result.output
    forced = runner.invoke(args=["members", "import", str(GHOST), "--format", "mailchimp"])
    assert "needs a column “email address”" in forced.output


def test_a_bad_cell_skips_its_line_only(runner, tmp_path):
    plain = tmp_path / "list.csv"
    plain.write_text(
        "email,name,subscribed,created_at\n"
        "one@example.org,One,maybe,\n"
        "two@example.org,Two,yes,last tuesday\n"
        "three@example.org,Three,no,2024-05-06\n"
    )
    result = runner.invoke(args=["members", "import", str(plain)])
    assert (
        "line 2: skip one@example.org (invalid: subscribed: “maybe” is neither yes nor no)"
        in result.output
    )
    assert (
        "line 3: skip two@example.org (invalid: created_at: “last tuesday” is not a date)"
        in result.output
    )
    assert emails() == {"three@example.org"}


@pytest.mark.real_commits
def test_an_import_that_crashed_goes_on_from_its_last_chunk(runner, app, monkeypatch, topics):
    app.config["MEMBER_IMPORT_CHUNK"] = 3
    real_apply = rules.apply
    calls = {"n": 0}

    def crash_on_the_fifth_line(decision, ctx):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("the machine went down")
        return real_apply(decision, ctx)

    monkeypatch.setattr(rules, "apply", crash_on_the_fifth_line)
    crashed = runner.invoke(args=["members", "import", str(GHOST)])
    assert crashed.exit_code == 1
    assert "The import stopped: RuntimeError" in crashed.output
    item = db.session.scalar(select(MemberImport))
    assert item.status == ImportStatus.FAILED and item.done_rows == 3
    assert len(emails()) == 2  # the first chunk: Ada and Björn (Zoë's line is invalid)

    monkeypatch.setattr(rules, "apply", real_apply)
    resumed = runner.invoke(args=["members", "import", str(GHOST)])
    assert resumed.exit_code == 0, resumed.output
    assert "Going on from line 5" in resumed.output
    assert "line 5: skip ada.byron@example.org (duplicate of line 2)" in resumed.output
    assert "5 created, 0 updated, 4 skipped" in resumed.output
    assert db.session.scalar(select(func.count(User.id))) == 5
    assert db.session.scalar(select(func.count(MemberImport.id))) == 1


def test_a_dead_runner_is_taken_over_but_a_live_one_is_not(app):
    item = importing.prepare(GHOST.read_bytes(), "ghost_export.csv")
    item.status = ImportStatus.RUNNING
    db.session.commit()
    with pytest.raises(importing.MemberImportError, match="Another process"):
        importing.run_import(item.id)
    item.updated_at = datetime(2020, 1, 1)
    db.session.commit()
    assert importing.run_import(item.id).status == ImportStatus.DONE


def test_topics_for_a_consenting_reader_with_no_preference_row_leave_everything(runner, topics):
    UserFactory(email="ada.byron@example.org", digest_consent_at=datetime(2024, 1, 1),
                digest_frequency="daily")  # fmt: skip
    result = runner.invoke(args=["members", "import", str(GHOST)])
    assert "follows every topic already" in result.output
    pref = preference(member("ada.byron@example.org"))
    assert pref is None or (pref.follow_all and pref.frequency == Frequency.DAILY)


def test_a_reader_consenting_now_takes_the_files_topics(runner, topics):
    UserFactory(email="ada.byron@example.org")
    runner.invoke(args=["members", "import", str(GHOST)])
    pref = preference(member("ada.byron@example.org"))
    assert not pref.follow_all and {t.name for t in pref.tags} == {"Climate", "Books"}
    assert pref.frequency == Frequency.WEEKLY


def test_the_file_is_not_kept_once_imported_and_an_unimported_one_goes_in_a_week(runner, app):
    from datetime import timedelta

    from shop.clock import utcnow
    from shop.scheduler import tick

    assert runner.invoke(args=["members", "import", str(GHOST)]).exit_code == 0
    done = db.session.scalar(select(MemberImport))
    assert done.content == GHOST.read_text().splitlines(keepends=True)[0]
    checked, done_id = importing.prepare(GHOST.read_bytes(), "again.csv").id, done.id
    tick(utcnow() + timedelta(days=6))
    assert db.session.get(MemberImport, checked) is not None
    tick(utcnow() + timedelta(days=8))
    db.session.expire_all()
    assert db.session.get(MemberImport, checked) is None
    assert db.session.get(MemberImport, done_id) is not None


def test_an_account_made_meanwhile_skips_its_line_only(runner, monkeypatch):
    UserFactory(email="bjorn@example.net")
    real_load = rules.load_members

    def as_if_not_yet_made(emails):
        return {e: m for e, m in real_load(emails).items() if e != "bjorn@example.net"}

    monkeypatch.setattr(rules, "load_members", as_if_not_yet_made)
    result = runner.invoke(args=["members", "import", str(GHOST)])
    assert result.exit_code == 0, result.output
    assert (
        "line 4: skip bjorn@example.net (could not be saved: another account took the "
        "address meanwhile)" in result.output
    )
    assert "4 created, 0 updated, 5 skipped" in result.output
    assert db.session.scalar(select(func.count(User.id))) == 5

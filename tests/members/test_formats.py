"""Reading the files: which format a header is, what each column becomes, and each cell."""

from __future__ import annotations

from datetime import datetime

import pytest

from shop.members import formats
from shop.members.formats import ImportFileError, detect, parse_tags, parse_time, read, rows


def test_each_export_is_told_apart_by_its_header():
    assert detect(["id", "email", "name", "subscribed_to_emails", "labels"]).format == "ghost"
    assert detect(["email", "active_subscription", "expiry", "plan"]).format == "substack"
    assert detect(["Email Address", "First Name", "TAGS"]).format == "mailchimp"
    assert detect([" Email ", "Name", "Tags"]).format == "plain"
    with pytest.raises(ImportFileError, match="could not tell"):
        detect(["address", "who"])


def test_the_mapping_names_each_column_or_says_it_is_ignored():
    mapping = detect(["Email Address", "First Name", "Last Name", "LEID", "TAGS", "CONFIRM_TIME"])
    assert mapping.format_name == "Mailchimp audience export"
    assert mapping.table() == [
        ("Email Address", "email address"),
        ("First Name", "name (first part)"),
        ("Last Name", "name (last part)"),
        ("LEID", None),
        ("TAGS", "followed topics"),
        ("CONFIRM_TIME", "consent date"),
    ]
    assert mapping.ignored == ["LEID"]
    # A column named twice is read once: the second is ignored, not a second meaning.
    assert detect(["email", "name", "email"]).ignored == ["email"]


def test_a_format_asked_for_must_fit_the_file():
    with pytest.raises(ImportFileError, match="needs a column “email address”"):
        detect(["email", "name"], "mailchimp")
    with pytest.raises(ImportFileError, match="Unknown format"):
        detect(["email"], "wordpress")


@pytest.mark.parametrize(
    ("cell", "tags"),
    [
        ("Climate,Books", ["Climate", "Books"]),  # Ghost
        ('"Books","Climate"', ["Books", "Climate"]),  # Mailchimp
        ("climate; books ;", ["climate", "books"]),  # plain
        ("Climate, climate", ["Climate"]),
        ("", []),
    ],
)
def test_tags_in_one_cell(cell, tags):
    assert parse_tags(cell) == tags


def test_times_are_read_as_utc():
    assert parse_time("2023-03-14T09:26:53.000Z", "x") == datetime(2023, 3, 14, 9, 26, 53)
    assert parse_time("2023-03-14T10:26:53+01:00", "x") == datetime(2023, 3, 14, 9, 26, 53)
    assert parse_time("2021-05-01 10:05:00", "x") == datetime(2021, 5, 1, 10, 5)
    assert parse_time("2024-05-06", "x") == datetime(2024, 5, 6)
    assert parse_time(" ", "x") is None
    with pytest.raises(ValueError, match="OPTIN_TIME: “yesterday” is not a date"):
        parse_time("yesterday", "OPTIN_TIME")


def test_a_byte_order_mark_windows_line_ends_and_a_cell_over_two_lines_are_read():
    data = '\ufeffemail,name\r\n"one@example.org","Ada\r\nByron"\r\n\r\ntwo@example.org,\r\n'
    mapping, records = read(formats.decode(data.encode("utf-8")))
    assert mapping.format == "plain"
    members = rows(mapping, records)
    assert [(m.line, m.email, m.name) for m in members] == [
        (2, "one@example.org", "Ada Byron"),
        (3, "two@example.org", None),
    ]


def test_a_mailchimp_status_column_and_the_unsubscribed_files_columns():
    mapping, records = read(
        "Email Address,STATUS,UNSUB_TIME,CLEAN_TIME\n"
        "a@example.org,subscribed,,\n"
        "b@example.org,,2024-01-01 00:00:00,\n"
        "c@example.org,,,2024-01-01 00:00:00\n"
        "d@example.org,pending,,\n"
        "e@example.org,archived,,\n"
    )
    a, b, c, d, e = rows(mapping, records)
    assert a.subscribed and not b.subscribed and not c.subscribed
    assert (b.source_state, c.source_state) == ("unsubscribed", "cleaned")
    assert d.source_skip == "pending in Mailchimp: the address was never confirmed"
    assert (
        e.problem == "status: “archived” is not one of subscribed, unsubscribed, cleaned, pending"
    )


def test_files_that_are_not_members_are_refused_with_a_reason():
    with pytest.raises(ImportFileError, match="empty"):
        read(" \n\n")
    with pytest.raises(ImportFileError, match="NUL"):
        read("email\na@example.org\x00\n")
    with pytest.raises(ImportFileError, match="over 10,000 characters"):
        read("email,name\na@example.org," + "x" * 10_001 + "\n")
    with pytest.raises(ImportFileError, match="not UTF-8"):
        formats.decode(b"email\n\xff\n")

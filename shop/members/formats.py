"""The CSV files members arrive in: Ghost's, Substack's and Mailchimp's exports, and a
plain list (which is also what Broadsheet exports). Which one a file is, which of its
columns mean what, and each line read into a MemberRow.

Nothing here touches the database: ``rules`` decides what each row does.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shop.errors import RuleError

GHOST = "ghost"
SUBSTACK = "substack"
MAILCHIMP = "mailchimp"
PLAIN = "plain"
FORMAT_NAMES = {
    GHOST: "Ghost members export",
    SUBSTACK: "Substack subscriber export",
    MAILCHIMP: "Mailchimp audience export",
    PLAIN: "Plain list (email, name, tags), as Broadsheet exports",
}
AUTO = "auto"
FORMAT_CHOICES = (AUTO, GHOST, SUBSTACK, MAILCHIMP, PLAIN)
# Mailchimp exports each status as a file of its own, with no status column.
MAILCHIMP_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending")

# Broadsheet's fields, in the words the mapping table shows.
FIELD_WORDS = {
    "email": "email address",
    "name": "name",
    "first_name": "name (first part)",
    "last_name": "name (last part)",
    "subscribed": "digest consent (yes or no)",
    "unsubscribed": "digest consent (unsubscribed when true)",
    "status": "digest consent (Mailchimp status)",
    "unsubscribed_at": "digest consent (unsubscribed on)",
    "cleaned_at": "digest consent (cleaned on)",
    "consent_at": "consent date",
    "optin_at": "consent date (when not confirmed)",
    "created_at": "member since",
    "deleted_at": "deleted (the line is skipped)",
    "tags": "followed topics",
    "complimentary": "complimentary access (yes or no)",
    "plan": "complimentary access (plan “comp”)",
    "complimentary_until": "complimentary access until",
    "expiry": "complimentary access until",
    "stripe_customer_id": "Stripe customer",
}

# Each format: source column (lower case) -> Broadsheet field. Other columns are ignored.
COLUMNS: dict[str, dict[str, str]] = {
    GHOST: {
        "email": "email",
        "name": "name",
        "subscribed_to_emails": "subscribed",
        "complimentary_plan": "complimentary",
        "stripe_customer_id": "stripe_customer_id",
        "created_at": "created_at",
        "deleted_at": "deleted_at",
        "labels": "tags",
    },
    SUBSTACK: {
        "email": "email",
        "email_disabled": "unsubscribed",
        "plan": "plan",
        "expiry": "expiry",
        "created_at": "created_at",
    },
    MAILCHIMP: {
        "email address": "email",
        "first name": "first_name",
        "last name": "last_name",
        "confirm_time": "consent_at",
        "optin_time": "optin_at",
        "tags": "tags",
        "status": "status",
        "unsub_time": "unsubscribed_at",
        "clean_time": "cleaned_at",
    },
    PLAIN: {
        "email": "email",
        "name": "name",
        "tags": "tags",
        "subscribed": "subscribed",
        "consent_at": "consent_at",
        "complimentary": "complimentary",
        "complimentary_until": "complimentary_until",
        "stripe_customer_id": "stripe_customer_id",
        "created_at": "created_at",
    },
}
# What tells a format apart, first match wins: Mailchimp's "Email Address", Ghost's and
# Substack's own columns, and any file with an "email" column is a plain list.
MARKERS = (
    (MAILCHIMP, {"email address"}),
    (GHOST, {"subscribed_to_emails"}),
    (GHOST, {"complimentary_plan"}),
    (SUBSTACK, {"email_disabled"}),
    (SUBSTACK, {"active_subscription"}),
    (PLAIN, {"email"}),
)
TRUE = {"true", "yes", "y", "1", "t"}
FALSE = {"false", "no", "n", "0", "f", ""}
COMP_PLANS = {"comp", "complimentary"}
MAX_FIELD = 10_000


class ImportFileError(RuleError):
    """A file that cannot be imported at all, in words for the admin."""


@dataclass
class Mapping:
    """What a file was taken for, and what each of its columns means."""

    format: str
    header: list[str]
    # header index -> field, for the columns that are read.
    fields: dict[int, str]

    @property
    def format_name(self) -> str:
        """The format in words."""
        return FORMAT_NAMES[self.format]

    def table(self) -> list[tuple[str, str | None]]:
        """(source column, Broadsheet field in words, or None when ignored), in file order."""
        return [
            (name, FIELD_WORDS[self.fields[i]] if i in self.fields else None)
            for i, name in enumerate(self.header)
        ]

    @property
    def ignored(self) -> list[str]:
        """The columns nothing is read from."""
        return [name for i, name in enumerate(self.header) if i not in self.fields]


@dataclass
class MemberRow:
    """One line of the file, read into Broadsheet's terms."""

    line: int
    email: str
    name: str | None = None
    subscribed: bool = True
    # In the source's words when not subscribed: "unsubscribed", "cleaned".
    source_state: str = "subscribed"
    consent_at: datetime | None = None
    created_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    complimentary: bool = False
    complimentary_until: datetime | None = None
    stripe_customer_id: str | None = None
    # Why the line cannot be imported as written (a bad date), or why the source says not to.
    problem: str | None = None
    source_skip: str | None = None


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without a byte-order mark), else a clear error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"The file is not UTF-8 text (byte {exc.start + 1} is not). Save it as "
            "“CSV UTF-8” and upload it again."
        ) from exc


def _records(text: str) -> list[list[str]]:
    if "\x00" in text:
        raise ImportFileError("The file holds NUL bytes: it is not a CSV file.")
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[list[str]] = []
    try:
        for record in reader:
            if any(len(cell) > MAX_FIELD for cell in record):
                raise ImportFileError(
                    f"Line {len(records) + 1} has a cell over {MAX_FIELD:,} characters."
                )
            if any(cell.strip() for cell in record):
                records.append(record)
    except csv.Error as exc:
        raise ImportFileError(f"Line {reader.line_num} cannot be read as CSV: {exc}.") from exc
    if not records:
        raise ImportFileError("The file is empty.")
    return records


def detect(header: list[str], wanted: str = AUTO) -> Mapping:
    """The format of a file with this header (or the one asked for) and its column mapping."""
    keys = [name.strip().lower() for name in header]
    if wanted == AUTO:
        found = next((fmt for fmt, marks in MARKERS if marks <= set(keys)), None)
        if found is None:
            raise ImportFileError(
                "We could not tell what exported this file: its first line must name the "
                "columns, one of them “email” (or Mailchimp's “Email Address”)."
            )
        wanted = found
    elif wanted not in COLUMNS:
        raise ImportFileError(f"Unknown format “{wanted}”.")
    columns = COLUMNS[wanted]
    fields: dict[int, str] = {}
    for index, key in enumerate(keys):
        if key in columns and columns[key] not in fields.values():
            fields[index] = columns[key]
    if "email" not in fields.values():
        email_column = next(k for k, v in columns.items() if v == "email")
        raise ImportFileError(
            f"A {FORMAT_NAMES[wanted]} needs a column “{email_column}”; this file has none."
        )
    return Mapping(wanted, [name.strip() for name in header], fields)


def read(text: str, wanted: str = AUTO) -> tuple[Mapping, list[list[str]]]:
    """The file's mapping and its lines after the header."""
    records = _records(text)
    return detect(records[0], wanted), records[1:]


def parse_bool(value: str, column: str) -> bool:
    """yes/no, true/false, 1/0; ValueError naming the column otherwise."""
    word = value.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise ValueError(f"{column}: “{value}” is neither yes nor no")


def parse_time(value: str, column: str) -> datetime | None:
    """An ISO 8601 date or time (Mailchimp's "YYYY-MM-DD HH:MM:SS" too), as naive UTC."""
    text = value.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{column}: “{value}” is not a date") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def parse_tags(value: str) -> list[str]:
    """Tags in one cell: separated by ";", or by commas (Mailchimp quotes each one)."""
    text = value.strip()
    if not text:
        return []
    parts = text.split(";") if ";" in text else next(csv.reader([text], skipinitialspace=True), [])
    seen: list[str] = []
    for part in parts:
        tag = part.strip().strip('"').strip()
        if tag and tag.lower() not in (t.lower() for t in seen):
            seen.append(tag)
    return seen


def _consent(row: MemberRow, values: dict[str, str], fmt: str) -> None:
    """Digest consent and its date, in each source's terms."""
    if fmt in (GHOST, PLAIN):
        row.subscribed = parse_bool(values.get("subscribed") or "yes", "subscribed")
    elif fmt == SUBSTACK:
        row.subscribed = not parse_bool(values.get("unsubscribed", ""), "email_disabled")
    else:
        status = values.get("status", "").strip().lower() or "subscribed"
        if values.get("cleaned_at", "").strip():
            status = "cleaned"
        elif values.get("unsubscribed_at", "").strip():
            status = "unsubscribed"
        if status not in MAILCHIMP_STATUSES:
            raise ValueError(f"status: “{status}” is not one of {', '.join(MAILCHIMP_STATUSES)}")
        if status == "pending":
            row.source_skip = "pending in Mailchimp: the address was never confirmed"
        row.subscribed = status == "subscribed"
        if not row.subscribed:
            row.source_state = status
    if not row.subscribed and row.source_state == "subscribed":
        row.source_state = "unsubscribed"
    row.created_at = parse_time(values.get("created_at", ""), "created_at")
    row.consent_at = (
        parse_time(values.get("consent_at", ""), "consent date")
        or parse_time(values.get("optin_at", ""), "OPTIN_TIME")
        or row.created_at
    )
    if row.created_at is None:
        row.created_at = row.consent_at


def _complimentary(row: MemberRow, values: dict[str, str], fmt: str) -> None:
    if fmt == SUBSTACK:
        row.complimentary = values.get("plan", "").strip().lower() in COMP_PLANS
        until = parse_time(values.get("expiry", ""), "expiry")
    else:
        row.complimentary = parse_bool(values.get("complimentary", ""), "complimentary")
        until = parse_time(values.get("complimentary_until", ""), "complimentary_until")
    if row.complimentary:
        row.complimentary_until = until


def member_row(mapping: Mapping, line: int, record: list[str], status: str | None) -> MemberRow:
    """One line of the file as a MemberRow; a cell that cannot be read sets ``problem``."""
    values = {f: record[i] for i, f in mapping.fields.items() if i < len(record)}
    if status and "status" not in values:
        values["status"] = status
    row = MemberRow(line=line, email=values.get("email", "").strip())
    try:
        name = values.get("name") or " ".join(
            part.strip() for part in (values.get("first_name"), values.get("last_name")) if part
        )
        row.name = " ".join(name.split()) or None
        row.tags = parse_tags(values.get("tags", ""))
        row.stripe_customer_id = values.get("stripe_customer_id", "").strip() or None
        _consent(row, values, mapping.format)
        _complimentary(row, values, mapping.format)
        if values.get("deleted_at", "").strip():
            row.source_skip = "deleted in Ghost"
    except ValueError as exc:
        row.problem = str(exc)
    return row


def rows(mapping: Mapping, records: list[list[str]], status: str | None = None) -> list[MemberRow]:
    """Every line after the header as a MemberRow; line 1 is the header, as a spreadsheet
    numbers it."""
    return [member_row(mapping, n, record, status) for n, record in enumerate(records, start=2)]

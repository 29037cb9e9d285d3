"""Flask commands: create-admin, demo, stripe, digest, tick, dkim-record and members."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask, current_app
from sqlalchemy import select

from shop import clock, scheduler
from shop.accounts import admins
from shop.accounts import services as accounts
from shop.admin.exports import csv_chunks
from shop.articles.models import Article
from shop.background import broker_configured
from shop.billing import gateway
from shop.billing.catalogue import sync_all
from shop.demo import load_demo
from shop.digests import runs as digest
from shop.errors import RuleError
from shop.extensions import db
from shop.mail.dkim import configured_signer
from shop.members import exporting, formats, importing
from shop.members.rules import Action
from shop.sending import dispatch as jobs

if TYPE_CHECKING:
    # What click.progressbar returns; click imports it the same way for its own types.
    from click._termui_impl import ProgressBar


def register(app: Flask) -> None:
    """Attach the commands to the app."""
    app.cli.add_command(create_admin_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(stripe_group)
    app.cli.add_command(digest_group)
    app.cli.add_command(tick_command)
    app.cli.add_command(dkim_record_command)
    app.cli.add_command(members_group)


@click.command("create-admin")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The admin's password (prompted for when left out).",
)
def create_admin_command(email: str, password: str) -> None:
    """Create an admin account, or make an existing account an admin."""
    try:
        user, created = admins.create_admin(email, password)
    except accounts.AccountError as error:
        raise click.BadParameter(str(error), param_hint="password or EMAIL") from error
    verb = "Created" if created else "Updated"
    click.echo(f"{verb} admin {user.email}.")


@click.command("demo")
@click.option("--admin-email", default="admin@example.com", show_default=True)
def demo_command(admin_email: str) -> None:
    """Load the demo publication; running it again changes nothing."""
    result = load_demo(admin_email)
    if result.admin_password:
        click.echo("")
        click.echo("  Demo admin created. Log in at /login with:")
        click.echo(f"    email:    {result.admin_email}")
        click.echo(f"    password: {result.admin_password}")
        click.echo("  (shown once; run `flask --app wsgi create-admin EMAIL` to set another)")
        click.echo("")
    else:
        click.echo(f"Demo admin {result.admin_email} already exists; its password is unchanged.")
    click.echo(
        f"Demo content added: {result.articles_created} articles, {result.tags_created} tags, "
        f"{result.comments_created} comments, {result.products_created} products, "
        f"{result.history_readers} demo readers with six months of history, "
        f"{result.posted_orders} posted orders, {result.gifts} gifts and "
        f"{result.pictures} pictures (drawn here)."
    )


@click.group("stripe")
def stripe_group() -> None:
    """Stripe commands."""


@stripe_group.command("sync")
def stripe_sync_command() -> None:
    """Push the whole catalogue (products and prices) to Stripe."""

    if not gateway.is_configured():
        raise click.ClickException("STRIPE_SECRET_KEY is not set: there is no Stripe to sync to.")
    try:
        count = sync_all()
    except gateway.GatewayError as error:
        raise click.ClickException(f"Stripe refused the sync: {error}") from error
    click.echo(f"Pushed {count} products to Stripe.")


# The failed deliveries' reasons a `digest send` prints; the run page lists them all.
SHOWN_ERRORS = 10


@click.group("digest")
def digest_group() -> None:
    """Email digests."""


@digest_group.command("send")
@click.option(
    "--frequency",
    # Values, not members: click matches Enum members by name ("DAILY"), not by value.
    type=click.Choice([f.value for f in digest.DIGEST_FREQUENCIES]),
    required=True,
    help="Which digest.",
)
@click.option("--date", "day", default=None, help="The local day (YYYY-MM-DD); today if left out.")
@click.option("--dry-run", is_flag=True, help="List who would get which articles; send nothing.")
def digest_send_command(frequency: str, day: str | None, dry_run: bool) -> None:
    """Send (or resume) the digest of a frequency for a day (with a broker, on the workers)."""

    try:
        when = clock.parse_day(day) if day else None
        if dry_run:
            result = digest.run_digest(frequency, when, dry_run=True)
            titles = _titles({a for plan in result.plans for a in plan.article_ids})
            for plan in result.plans:
                names = "; ".join(titles[a] for a in plan.article_ids)
                click.echo(f"{plan.email}: {len(plan.article_ids)} ({names})")
            click.echo(
                f"Dry run: {result.planned} would get the digest, {result.skipped} have nothing "
                "new. Nothing was sent."
            )
            return
        bar: ProgressBar[int] | None = None

        def planned(total: int) -> None:
            nonlocal bar
            bar = click.progressbar(length=max(total, 1), label="Sending", file=None)
            bar.__enter__()

        def progress(n: int) -> None:
            if bar is not None:
                bar.update(n)

        stopped = False
        try:
            result = digest.run_digest(
                frequency, when, progress=progress, on_planned=planned, wait=True
            )
            if broker_configured():
                stopped = not _watch(result, progress)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    except RuleError as error:
        raise click.ClickException(str(error)) from error
    except Exception as error:
        # A failed message is in the ledger and does not get here; this is the run itself.
        current_app.logger.exception("digest send --frequency %s stopped", frequency)
        raise click.ClickException(
            f"Sending stopped: {type(error).__name__}: {error}. What was sent is recorded; "
            "run this command again to go on."
        ) from error
    run = result.run
    assert run is not None  # only a dry run has no run, and it returned above
    if stopped:
        click.echo(
            f"Stopped watching; the Celery workers go on sending run {run.id} "
            f"({run.period}). Run this command again to watch it."
        )
        return
    s = result.summary
    click.echo(
        f"{frequency} digest {run.period}: sent {s.sent}, skipped {s.skipped}, "
        f"failed {s.failed}, bounced {s.bounced}, retrying {s.retried}; "
        f"{s.rate:.0f} messages/s."
    )
    # Failed deliveries are in the ledger (the back office's run page); say why here too.
    for message in s.errors[:SHOWN_ERRORS]:
        click.echo(f"  {message}", err=True)
    if len(s.errors) > SHOWN_ERRORS:
        click.echo(f"  ... and {len(s.errors) - SHOWN_ERRORS} more", err=True)


def _watch(result, progress) -> bool:
    """Follow a run that the Celery workers send; False if stopped with Ctrl-C."""

    def stalled(seconds: float) -> None:
        click.echo(
            f"\nNothing was sent for {seconds:.0f} s (a retry's backoff or a dead worker's "
            "lease can take that long). Are the Celery workers running? "
            "(celery -A shop.celery_worker worker; see docs/deploy.md)",
            err=True,
        )

    try:
        watched = jobs.watch_run(result.run.id, progress=progress, stalled=stalled)
    except KeyboardInterrupt:
        return False
    # The same summary line as a send in this process, counted from the ledger.
    watched.skipped += result.summary.skipped
    result.summary = watched
    return True


def _titles(article_ids: set[int]) -> dict[int, str]:

    if not article_ids:
        return {}
    return dict(
        db.session.execute(
            select(Article.id, Article.title).where(Article.id.in_(article_ids))
        ).all()
    )


@click.command("tick")
def tick_command() -> None:
    """Do all time-based work now (digests, instant notices, newsletters); safe to repeat."""

    result = scheduler.tick()
    if broker_configured():
        # The workers send; this process only planned the runs and handed them over.
        click.echo(
            f"tick: due digests, instant notices and {result.newsletters} newsletters "
            "handed to the workers."
        )
    else:
        done = ", ".join(f"{k} {v}" for k, v in result.digests.items()) or "none due"
        click.echo(
            f"tick: digests sent: {done}; instant notices sent: {result.instant}; "
            f"newsletters started: {result.newsletters}."
        )
    if result.errors:
        # Everything else was done; cron and monitoring still learn that something failed.
        count = len(result.errors)
        click.echo(f"tick: {count} {'step' if count == 1 else 'steps'} failed:", err=True)
        for error in result.errors:
            click.echo(f"  {error}", err=True)
        raise click.exceptions.Exit(1)


@click.command("dkim-record")
def dkim_record_command() -> None:
    """Print the DNS TXT record that publishes the configured DKIM key."""
    signer = configured_signer()
    if signer is None:
        click.echo("No DKIM key is set: set DKIM_PRIVATE_KEY_FILE, DKIM_DOMAIN and DKIM_SELECTOR.")
        raise click.exceptions.Exit(1)
    click.echo(f'{signer.dns_name()}. IN TXT "{signer.dns_record()}"')


# --- members ---------------------------------------------------------------------------

SHOWN_LINES = 50  # lines of the report the command prints, unless --all-lines


@click.group("members")
def members_group() -> None:
    """Import and export members."""


def _show_mapping(mapping: formats.Mapping) -> None:
    click.echo(f"Format: {mapping.format_name}")
    for column, field in mapping.table():
        click.echo(f"  {column} -> {field}" if field else f"  {column}: ignored")


def _show_lines(outcomes: list[dict], limit: int) -> None:
    for o in outcomes[:limit]:
        reasons = "; ".join(o["reasons"])
        click.echo(
            f"  line {o['line']}: {o['action']} {o['email']}" + (f" ({reasons})" if reasons else "")
        )
    if len(outcomes) > limit:
        click.echo(f"  ... and {len(outcomes) - limit} more lines")


@members_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what each line would do; change nothing.")
@click.option(
    "--format", "wanted", type=click.Choice(formats.FORMAT_CHOICES), default=formats.AUTO,
    show_default=True, help="What exported the file (told from its header when auto).",
)  # fmt: skip
@click.option(
    "--status", type=click.Choice(formats.MAILCHIMP_STATUSES), default=None,
    help="A Mailchimp file's status when it has no status column (Mailchimp exports "
    "subscribed, unsubscribed and cleaned members as separate files).",
)  # fmt: skip
@click.option("--all-lines", is_flag=True, help="Show every line, not the first 50.")
def import_command(file: Path, dry_run: bool, wanted: str, status: str | None, all_lines: bool):
    """Import members from a Ghost, Substack, Mailchimp or plain CSV file."""
    limit = sys.maxsize if all_lines else SHOWN_LINES
    try:
        item = importing.prepare(file.read_bytes(), file.name, wanted, status, keep=not dry_run)
        if dry_run:
            result = importing.dry_run(item)
            _show_mapping(result.mapping)
            _show_lines([o.as_dict() for o in result.outcomes], limit)
            c = result.counts
            click.echo(
                f"Dry run: {c[Action.CREATE]} would be created, {c[Action.UPDATE]} updated, "
                f"{c[Action.SKIP]} skipped. Nothing was changed."
            )
            return
        mapping, _ = formats.read(item.content, item.format)
        _show_mapping(mapping)
        if item.done_rows:
            click.echo(f"Going on from line {item.done_rows + 2} (import {item.id}).")
        with click.progressbar(length=item.total, label="Importing") as bar:
            item = importing.run_import(item.id, progress=bar.update)
    except RuleError as error:
        raise click.ClickException(str(error)) from error
    except Exception as error:
        current_app.logger.exception("members import %s stopped", file)
        raise click.ClickException(
            f"The import stopped: {type(error).__name__}: {error}. The chunks before it are "
            "saved; run this command again to go on."
        ) from error
    _show_lines(importing.report(item), limit)
    click.echo(
        f"Imported {item.filename}: {item.created} created, {item.updated} updated, "
        f"{item.skipped} skipped."
    )


@members_group.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write to this file (standard output when left out).",
)  # fmt: skip
def export_command(fmt: str, output: Path | None) -> None:
    """Export every member in the columns `members import` reads."""
    header = exporting.EXPORT_COLUMNS
    chunks = exporting.json_chunks() if fmt == "json" else csv_chunks(header, exporting.csv_rows())
    if output is None:
        for chunk in chunks:
            click.echo(chunk, nl=False)
        return
    with output.open("w", encoding="utf-8", newline="") as out:
        for chunk in chunks:
            out.write(chunk)
    click.echo(f"Members written to {output}.", err=True)

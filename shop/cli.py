"""Flask commands: create-admin and demo."""

from __future__ import annotations

import click
from flask import Flask

from shop.accounts import services as accounts


def register(app: Flask) -> None:
    """Attach the commands to the app."""
    app.cli.add_command(create_admin_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(stripe_group)


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
        user, created = accounts.create_admin(email, password)
    except accounts.AccountError as error:
        raise click.BadParameter(str(error), param_hint="password or EMAIL") from error
    verb = "Created" if created else "Updated"
    click.echo(f"{verb} admin {user.email}.")


@click.command("demo")
@click.option("--admin-email", default="admin@example.com", show_default=True)
def demo_command(admin_email: str) -> None:
    """Load the demo publication; running it again changes nothing."""
    from shop.demo import load_demo

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
        f"Demo content: {result.articles_created} articles, {result.tags_created} tags and "
        f"{result.comments_created} comments and {result.products_created} products added."
    )


@click.group("stripe")
def stripe_group() -> None:
    """Stripe commands."""


@stripe_group.command("sync")
def stripe_sync_command() -> None:
    """Push the whole catalogue (products and prices) to Stripe."""
    from shop.billing import gateway
    from shop.billing.catalogue import sync_all

    if not gateway.is_configured():
        raise click.ClickException("STRIPE_SECRET_KEY is not set: there is no Stripe to sync to.")
    try:
        count = sync_all()
    except gateway.GatewayError as error:
        raise click.ClickException(f"Stripe refused the sync: {error}") from error
    click.echo(f"Pushed {count} products to Stripe.")

"""Imported members are linked to their Stripe customers: the one the file names, checked
with Stripe, else one Stripe finds by the address; Stripe's failure for one line is noted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.billing import gateway
from shop.billing.models import Customer
from shop.extensions import db
from tests.members.helpers import GHOST, member
from tests.support import use_emulator


@pytest.fixture
def app_config(app_config, emulator_server):
    """The app talks to the Stripe emulator."""
    return use_emulator(app_config, emulator_server)


def customers_of(email: str) -> list[str]:
    user = member(email)
    return list(
        db.session.scalars(select(Customer.stripe_customer_id).where(Customer.user_id == user.id))
    )


def test_customers_are_linked_by_id_or_found_by_email(app, runner, tmp_path):
    by_email = gateway.create_customer(
        "ada.byron@example.org", 0, idempotency_key="import-test-ada"
    )
    named = gateway.create_customer("grace@example.com", 0, idempotency_key="import-test-grace")
    ghost = tmp_path / "ghost.csv"
    ghost.write_text(
        GHOST.read_text().replace("cus_GhostPaying01", named)
        + "6389a1f0c1a2b3001d000010,nobody@example.com,Not In Stripe,,true,false,"
        "cus_DoesNotExist,2023-12-01T09:00:00.000Z,,,Free\n"
    )
    result = runner.invoke(args=["members", "import", str(ghost)])
    out = result.output
    assert result.exit_code == 0, out
    assert f"Stripe customer {named} linked" in out
    assert f"Stripe customer {by_email} linked" in out
    assert "Stripe has no customer cus_DoesNotExist: not linked" in out
    assert customers_of("paying.member@example.com") == [named]
    assert customers_of("ada.byron@example.org") == [by_email]
    assert customers_of("bjorn@example.net") == []
    assert customers_of("nobody@example.com") == []


def test_stripe_down_for_a_line_is_noted_and_the_import_goes_on(app, runner, monkeypatch):
    def down(email):
        raise gateway.GatewayError("We could not reach the payment provider.")

    monkeypatch.setattr(gateway, "find_customer_by_email", down)
    result = runner.invoke(args=["members", "import", str(GHOST)])
    assert result.exit_code == 0, result.output
    assert "Stripe customer not linked: We could not reach the payment provider." in result.output
    assert "5 created" in result.output


def test_no_stripe_customer_is_linked_to_an_account_nobody_confirmed(app, runner):
    from tests.factories import UserFactory

    UserFactory(email="ada.byron@example.org", confirmed_at=None)
    gateway.create_customer("ada.byron@example.org", 0, idempotency_key="import-test-ada-2")
    result = runner.invoke(args=["members", "import", str(GHOST)])
    assert result.exit_code == 0, result.output
    # The billing portal of someone else's customer must not open for whoever registered.
    assert customers_of("ada.byron@example.org") == []

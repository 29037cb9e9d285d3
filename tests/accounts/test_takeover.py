"""A pending email change cannot take back an account after its owner reset the password."""

from __future__ import annotations

from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from tests.billing import conftest as billing
from tests.billing.conftest import Shopper, order_for
from tests.support import AuthActions, csrf_token, link_in, path_of

# The billing tests' fixtures, for the victim's payment through the Stripe emulator.
app_config = billing.app_config
emulator = billing.emulator
catalogue = billing.catalogue

VICTIM = "victim@example.org"
ATTACKER = "attacker@example.net"
ATTACKER_PASSWORD = "attacker's own password"
VICTIM_PASSWORD = "the victim's new password"


def _account(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def test_an_old_email_change_link_cannot_steal_the_account_after_a_reset(
    app, mailbox, catalogue, emulator
):
    # The attacker registers the victim's address and, logged in, asks to move it.
    registering = app.test_client()
    token = csrf_token(registering, "/register")
    registering.post(
        "/register",
        data={"email": VICTIM, "password": ATTACKER_PASSWORD, "csrf_token": token},
    )
    attacker = AuthActions(app.test_client())
    assert attacker.login(VICTIM, ATTACKER_PASSWORD).status_code == 302
    response = attacker.post("/account/email", {"email": ATTACKER, "password": ATTACKER_PASSWORD})
    assert response.status_code == 302
    stolen_link = path_of(link_in(mailbox.last_to(ATTACKER), "/account/email/confirm/"))

    # The victim resets the password by mail, is logged in, and pays.
    victim = AuthActions(app.test_client())
    token = csrf_token(victim.client, "/reset")
    victim.client.post("/reset", data={"email": VICTIM, "csrf_token": token})
    reset = path_of(link_in(mailbox.last_to(VICTIM), "/reset/"))
    token = csrf_token(victim.client, reset)
    victim.client.post(reset, data={"password": VICTIM_PASSWORD, "csrf_token": token})
    shopper = Shopper(victim.client, victim)
    shopper.add(catalogue["annual"])
    session_id = shopper.session_id(shopper.checkout())
    emulator.pay(session_id)
    order = order_for(session_id)
    assert order.status == "paid"

    # Later, with no login, the attacker opens the old link: it is dead.
    response = app.test_client().get(stolen_link, follow_redirects=True)
    assert "already been used or is not valid" in response.get_data(as_text=True)
    account = _account(VICTIM)
    assert account is not None and account.id == order.user_id
    assert _account(ATTACKER) is None
    assert account.check_password(VICTIM_PASSWORD)
    # The attacker's session ended with the reset, and their password no longer works.
    assert attacker.client.get("/account").status_code == 302
    assert attacker.login(VICTIM, ATTACKER_PASSWORD).status_code == 200
    assert attacker.login(ATTACKER, ATTACKER_PASSWORD).status_code == 200
    assert victim.client.get("/account").status_code == 200

"""The public pages' forms work for a reader with no session, sent from this site."""

from __future__ import annotations

import re

from tests.factories import make_product

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
EMPTY_TOKEN = re.compile(r'name="csrf_token" value=""')


def test_the_shops_add_button_works_without_a_session(client, app):
    bag = make_product("Tote bag", 1500)
    page = client.get("/shop")
    assert EMPTY_TOKEN.search(page.get_data(as_text=True))
    added = client.post(
        "/cart/add", data={"product_id": str(bag.id), "quantity": "1"}, headers=SAME_ORIGIN
    )
    assert added.status_code == 303
    cart = client.get("/cart")
    assert "Tote bag" in cart.get_data(as_text=True)


def test_an_older_browser_is_trusted_by_its_origin_header(client, mailbox):
    home = client.get("/")
    assert EMPTY_TOKEN.search(home.get_data(as_text=True))
    sent = client.post(
        "/subscribe",
        data={"email": "new.reader@example.org"},
        headers={"Origin": "http://localhost"},
    )
    assert sent.status_code == 200
    assert [m["To"] for m in mailbox.messages] == ["new.reader@example.org"]
    # Subscribing leaves no session behind: the reader's next pages are everyone's.
    assert client.get_cookie("session") is None
    assert "Set-Cookie" not in client.get("/subscribe").headers


def test_the_same_form_from_another_site_is_refused(client, mailbox):
    refused = client.post(
        "/subscribe",
        data={"email": "new.reader@example.org"},
        headers={"Origin": "https://evil.example"},
    )
    assert refused.status_code == 400
    assert "did not come from this site" in refused.get_data(as_text=True)
    assert mailbox.messages == []

"""The signed unsubscribe link: a page on GET, RFC 8058 one-click on POST."""

from __future__ import annotations

import re

from itsdangerous import URLSafeSerializer

from shop.clock import utcnow
from shop.extensions import db
from shop.preferences import services as preferences
from shop.preferences.tokens import SALT, unsubscribe_token, unsubscribe_url
from tests.factories import UserFactory
from tests.newsletter.helpers import preference_of
from tests.support import path_of

ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


def one_click(client, path: str):
    """POST as a mail client does: the RFC 8058 body, no cookies, no CSRF token."""
    return client.post(path, data=ONE_CLICK, content_type=FORM)


def tampered(token: str) -> str:
    """The token with the first character of its signature changed."""
    at = token.rindex(".") + 1
    swap = "A" if token[at] != "A" else "B"
    return token[:at] + swap + token[at + 1 :]


def test_the_link_is_absolute_and_opens_a_page_with_one_button(client, reader):
    url = unsubscribe_url(reader.id)
    assert url.startswith("http://localhost/unsubscribe/")
    response = client.get(path_of(url))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    main = html.split("<main", 1)[1].split("</main>", 1)[0]
    assert main.count("<button") == 1  # one button: no second click to guess at
    assert ">Unsubscribe</button>" in html
    assert re.search(r'<input type="hidden" name="List-Unsubscribe" value="One-Click">', html)
    assert '<a href="/account/preferences">Change what you receive instead</a>' in html
    # Opening the link (or a mail scanner fetching it) changes nothing.
    assert preference_of("reader@example.org") is None


def test_one_click_unsubscribes_without_cookies_or_csrf(app, reader):
    client = app.test_client()
    before = utcnow()
    response = one_click(client, f"/unsubscribe/{unsubscribe_token(reader.id)}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "You are unsubscribed" in html
    assert '<a href="/account/preferences">Resubscribe in your email preferences</a>' in html
    pref = preference_of("reader@example.org")
    assert pref.unsubscribed_at is not None and pref.unsubscribed_at >= before.replace(
        microsecond=0
    )
    assert not preferences.is_mailable(pref)


def test_one_click_again_still_answers_200_and_keeps_the_first_time(app, reader):
    client = app.test_client()
    path = f"/unsubscribe/{unsubscribe_token(reader.id)}"
    assert one_click(client, path).status_code == 200
    first = preference_of("reader@example.org").unsubscribed_at
    response = one_click(client, path)
    assert response.status_code == 200
    assert "You are unsubscribed" in response.get_data(as_text=True)
    assert preference_of("reader@example.org").unsubscribed_at == first
    # The page now says so, and still offers the button.
    html = client.get(path).get_data(as_text=True)
    assert "already unsubscribed" in html


def test_the_pages_own_button_unsubscribes(client, reader):
    path = f"/unsubscribe/{unsubscribe_token(reader.id)}"
    html = client.get(path).get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1)
    assert action == path
    response = client.post(action, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert preference_of("reader@example.org").unsubscribed_at is not None


def test_a_tampered_token_is_refused_and_changes_nothing(app, reader):
    client = app.test_client()
    path = f"/unsubscribe/{tampered(unsubscribe_token(reader.id))}"
    for response in (client.get(path), one_click(client, path)):
        assert response.status_code == 400
        assert "This unsubscribe link is not valid." in response.get_data(as_text=True)
    assert preference_of("reader@example.org") is None


def test_a_token_signed_with_another_key_is_refused(app, reader):
    forged = URLSafeSerializer("another-secret-key", salt=SALT).dumps({"u": reader.id})
    client = app.test_client()
    response = one_click(client, f"/unsubscribe/{forged}")
    assert response.status_code == 400
    assert client.get(f"/unsubscribe/{forged}").status_code == 400
    assert preference_of("reader@example.org") is None


def test_a_token_for_a_deleted_account_is_refused(app):
    reader = UserFactory()
    token = unsubscribe_token(reader.id)
    db.session.delete(reader)
    db.session.commit()
    client = app.test_client()
    assert one_click(client, f"/unsubscribe/{token}").status_code == 400
    assert client.get(f"/unsubscribe/{token}").status_code == 400


def test_a_token_of_the_wrong_shape_is_refused(app, reader):
    token = URLSafeSerializer(app.config["SECRET_KEY"], salt=SALT).dumps({"u": "1"})
    assert one_click(app.test_client(), f"/unsubscribe/{token}").status_code == 400


def test_unsubscribing_works_for_a_reader_logged_in_as_someone_else(client, auth, reader):
    UserFactory(email="other@example.org")
    auth.login("other@example.org")
    assert one_click(client, f"/unsubscribe/{unsubscribe_token(reader.id)}").status_code == 200
    assert preference_of("reader@example.org").unsubscribed_at is not None
    assert preference_of("other@example.org") is None


def test_resubscribing_from_the_preferences_clears_it(client, auth):
    reader = UserFactory(email="back@example.org", digest_consent_at=utcnow())
    assert one_click(client, f"/unsubscribe/{unsubscribe_token(reader.id)}").status_code == 200
    assert preference_of("back@example.org").unsubscribed_at is not None

    auth.login("back@example.org")
    html = client.get("/account/preferences").get_data(as_text=True)
    assert "You are unsubscribed" in html
    response = auth.post("/account/preferences/resubscribe", token_from="/account/preferences")
    assert response.status_code == 302
    pref = preference_of("back@example.org")
    assert pref.unsubscribed_at is None
    assert preferences.is_mailable(pref)

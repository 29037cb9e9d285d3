"""Subscribing with an email alone (double opt-in), and following a topic from its page."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.extensions import db
from shop.preferences.models import DigestPreference
from tests.factories import TagFactory, UserFactory
from tests.support import AuthActions, csrf_token, link_in, path_of, text_of

CSRF_VALUE = re.compile(r'(?<=name="csrf_token" type="hidden" value=")[^"]+')
CONFIRM = "/subscribe/confirm/"


def _subscribe(client, email: str, topic: str = "", page: str = "/"):
    token = csrf_token(client, page)
    return client.post("/subscribe", data={"email": email, "topic": topic, "csrf_token": token})


def _press(client, path: str):
    token = CSRF_VALUE.search(client.get(path).get_data(as_text=True)).group(0)
    return client.post(path, data={"csrf_token": token})


def _user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def _pref(user: User) -> DigestPreference | None:
    return db.session.scalar(select(DigestPreference).where(DigestPreference.user_id == user.id))


def test_the_box_is_on_the_home_article_and_tag_pages_for_visitors(client):
    from tests.factories import ArticleFactory

    climate = TagFactory(name="Climate")
    ArticleFactory(title="Glaciers", tags=[climate])
    for path in ("/", "/articles/glaciers", "/tags/climate"):
        page = client.get(path).get_data(as_text=True)
        assert "Get the stories you choose, by email" in page, path
    tag_page = client.get("/tags/climate").get_data(as_text=True)
    assert 'name="topic" value="climate"' in tag_page
    assert "New stories about Climate" in tag_page


def test_subscribing_from_a_tag_page_makes_a_member_who_follows_that_tag(client, mailbox):
    TagFactory(name="Climate")
    TagFactory(name="Courts")
    response = _subscribe(client, "New.Reader@Example.org", topic="climate", page="/tags/climate")
    assert response.status_code == 200
    assert "We sent a message to new.reader@example.org" in response.get_data(as_text=True)
    assert _user("new.reader@example.org") is None  # nothing is made before the link

    message = mailbox.last_to("new.reader@example.org")
    assert message["Subject"] == "Confirm your subscription to Broadsheet"
    assert "for stories about Climate" in text_of(message)
    path = path_of(link_in(message, CONFIRM))
    page = client.get(path).get_data(as_text=True)
    assert "Subscribe <strong>new.reader@example.org</strong>" in page
    assert _user("new.reader@example.org") is None  # opening it (a mail scanner) makes nothing

    response = _press(client, path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/preferences")
    user = _user("new.reader@example.org")
    assert user.is_confirmed and user.digest_consent_at is not None
    assert not user.has_password
    pref = _pref(user)
    assert (pref.frequency, pref.follow_all, [t.name for t in pref.tags]) == (
        "weekly",
        False,
        ["Climate"],
    )
    page = client.get("/account/preferences").get_data(as_text=True)
    assert "You are subscribed: a weekly email of stories about Climate." in page
    assert re.search(r'<input[^>]*checked[^>]*value="topics"|value="topics"[^>]*checked', page)

    # The link worked once.
    again = client.get(path)
    assert again.status_code == 410 and "already been used" in again.get_data(as_text=True)


def test_subscribing_from_the_home_page_follows_everything(client, mailbox):
    _subscribe(client, "everything@example.org")
    _press(client, path_of(link_in(mailbox.last_to("everything@example.org"), CONFIRM)))
    pref = _pref(_user("everything@example.org"))
    assert pref.follow_all is True and pref.tags == []


def test_an_address_with_an_account_gets_a_sign_in_link_to_its_preferences(client, reader, mailbox):
    TagFactory(name="Climate")
    before = _subscribe(client, "nobody@example.org").get_data(as_text=True)
    after = _subscribe(client, "reader@example.org", topic="climate").get_data(as_text=True)
    strip = lambda html: CSRF_VALUE.sub("", html.split("<main", 1)[1])  # noqa: E731
    assert strip(before).replace("nobody@", "X@") == strip(after).replace("reader@", "X@")

    message = mailbox.last_to("reader@example.org")
    assert "You already have an account" in text_of(message)
    response = _press(client, path_of(link_in(message, "/signin/")))
    assert response.headers["Location"].endswith("/account/preferences?topic=climate")
    page = client.get("/account/preferences?topic=climate").get_data(as_text=True)
    assert "We ticked Climate for you below" in page
    # Ticked on the page, not saved behind the reader's back.
    assert _pref(_user("reader@example.org")) is None or _pref(reader).follow_all is True


def test_a_bad_address_or_topic_is_refused_in_words(client, mailbox):
    response = _subscribe(client, "not an address")
    assert response.status_code == 400
    assert "Invalid email address." in response.get_data(as_text=True)
    response = _subscribe(client, "someone@example.org", topic="no-such-topic")
    assert response.status_code == 400
    assert "That topic no longer exists" in response.get_data(as_text=True)
    assert mailbox.handler.messages == []


def test_an_address_that_registered_meanwhile_keeps_its_account(client, mailbox):
    _subscribe(client, "racer@example.org")
    path = path_of(link_in(mailbox.last_to("racer@example.org"), CONFIRM))
    UserFactory(email="racer@example.org", confirmed_at=None)
    _press(client, path)
    user = _user("racer@example.org")
    assert user.has_password and user.is_confirmed
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_following_a_topic_adds_it_without_changing_everything_or_off(app, client, mailbox):
    TagFactory(name="Climate")
    courts = TagFactory(name="Courts")
    member = UserFactory(email="member@example.org")
    auth = AuthActions(client)
    auth.login("member@example.org")
    from shop.preferences import services as preferences

    preferences.save_preferences(
        member, preferences.PreferenceInput("daily", 0, False, [courts.id])
    )

    def follow(slug: str):
        token = csrf_token(client, f"/tags/{slug}")
        return client.post(
            f"/tags/{slug}/follow", data={"csrf_token": token}, follow_redirects=True
        )

    page = follow("climate").get_data(as_text=True)
    assert "You follow Climate now" in page
    pref = _pref(_user("member@example.org"))
    assert sorted(t.name for t in pref.tags) == ["Climate", "Courts"] and pref.frequency == "daily"
    assert "You already follow Climate." in follow("climate").get_data(as_text=True)

    preferences.save_preferences(member, preferences.PreferenceInput("daily", 0, True, []))
    page = follow("courts").get_data(as_text=True)
    assert "already has every topic" in page
    assert _pref(_user("member@example.org")).follow_all is True

    preferences.save_preferences(member, preferences.PreferenceInput("off", 0, False, [courts.id]))
    response = follow("climate")
    page = response.get_data(as_text=True)
    assert "Your digest is off" in page and "We ticked Climate for you below" in page
    pref = _pref(_user("member@example.org"))
    assert pref.frequency == "off" and [t.name for t in pref.tags] == ["Courts"]

    assert (
        client.post(
            "/tags/nothing/follow", data={"csrf_token": csrf_token(client, "/")}
        ).status_code
        == 404
    )


def test_following_needs_a_login(client):
    TagFactory(name="Climate")
    assert "Follow this topic" not in client.get("/tags/climate").get_data(as_text=True)
    token = csrf_token(client, "/tags/climate")
    response = client.post("/tags/climate/follow", data={"csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]

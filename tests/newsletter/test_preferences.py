"""Digest preferences: defaults, the rules, consent, resubscribing, registration, preview."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from shop.accounts import services as account_services
from shop.clock import utcnow
from shop.extensions import db
from shop.preferences import services as preferences
from shop.preferences.models import Frequency
from shop.preferences.services import PreferenceError, PreferenceInput
from tests.factories import TagFactory, UserFactory
from tests.newsletter.helpers import (
    FakePreview,
    preference_of,
    use_preview,
    user,
)
from tests.support import csrf_token

PAGE = "/account/preferences"


def save(auth, **fields):
    """Submit the preferences form with these fields (only the ticked topics, unless told)."""
    data = {"stories": "topics", "frequency": "weekly", "weekday": "0", "paused_until": ""}
    data.update(fields)
    return auth.post(PAGE, data, token_from=PAGE)


def checked(html: str, name: str, value: str) -> bool:
    """Whether the input ``name``=``value`` is rendered checked."""
    for tag in re.findall(r"<input[^>]*>", html):
        if f'name="{name}"' in tag and f'value="{value}"' in tag:
            return "checked" in tag
    raise AssertionError(f"no input {name}={value}")


# --- defaults --------------------------------------------------------------------


def test_the_page_needs_a_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_without_consent_the_preference_starts_off(client, auth, reader):
    auth.login("reader@example.org")
    before = utcnow()
    html = client.get(PAGE).get_data(as_text=True)
    assert checked(html, "frequency", "off")
    assert checked(html, "stories", "all") and not checked(html, "stories", "topics")
    assert "You get no digests" in html
    pref = preference_of("reader@example.org")
    assert pref.frequency == "off" and pref.follow_all and pref.tags == []
    assert pref.covered_until >= before - timedelta(seconds=1)
    assert not preferences.is_mailable(pref)
    assert user("reader@example.org").digest_consent_at is None


def test_with_consent_the_preference_starts_weekly(client, auth):
    UserFactory(email="keen@example.org", digest_consent_at=utcnow())
    auth.login("keen@example.org")
    html = client.get(PAGE).get_data(as_text=True)
    assert checked(html, "frequency", "weekly")
    pref = preference_of("keen@example.org")
    assert pref.frequency == "weekly"
    assert preferences.is_mailable(pref)


def test_the_frequency_chosen_at_registration_is_used(app):
    reader = UserFactory(digest_consent_at=utcnow(), digest_frequency="daily")
    assert preferences.get_preference(reader).frequency == "daily"


def test_get_preference_without_create_makes_nothing(app, reader):
    assert preferences.get_preference(reader, create=False) is None
    made = preferences.get_preference(reader)
    assert preferences.get_preference(reader, create=False).id == made.id


def test_the_account_page_links_to_the_preferences(client, auth, reader):
    auth.login("reader@example.org")
    html = client.get("/account").get_data(as_text=True)
    assert f'<a href="{PAGE}">Email preferences</a>' in html


# --- saving and its rules --------------------------------------------------------


def test_saving_records_consent_with_its_time(client, auth, reader):
    climate, _ = TagFactory(name="Climate"), TagFactory(name="Courts")
    auth.login("reader@example.org")
    before = utcnow()
    response = save(auth, frequency="weekly", weekday="2", tag_ids=[str(climate.id)])
    after = utcnow()
    assert response.status_code == 302 and response.headers["Location"] == PAGE
    pref = preference_of("reader@example.org")
    assert (pref.frequency, pref.weekday, pref.follow_all) == ("weekly", 2, False)
    assert [t.name for t in pref.tags] == ["Climate"]
    consent = user("reader@example.org").digest_consent_at
    assert before - timedelta(seconds=1) <= consent <= after + timedelta(seconds=1)
    assert preferences.is_mailable(pref)

    html = client.get(PAGE).get_data(as_text=True)
    assert "Your email preferences are saved" in html
    assert "You get a weekly digest on Wednesdays" in html
    assert checked(html, "tag_ids", str(climate.id))
    assert checked(html, "stories", "topics") and not checked(html, "stories", "all")


def test_a_topic_ticked_under_everything_is_kept_for_later_and_everything_is_sent(
    client, auth, reader
):
    """Everything or only the ticked topics is one choice: the choice decides, not the ticks."""
    climate = TagFactory(name="Climate")
    auth.login("reader@example.org")
    assert save(auth, stories="all", tag_ids=[str(climate.id)]).status_code == 302
    pref = preference_of("reader@example.org")
    assert pref.follow_all and [t.name for t in pref.tags] == ["Climate"]

    assert save(auth, stories="topics", tag_ids=[str(climate.id)]).status_code == 302
    pref = preference_of("reader@example.org")
    assert not pref.follow_all and [t.name for t in pref.tags] == ["Climate"]


@pytest.mark.parametrize("stories", [None, "", "some"])
def test_preferences_without_a_choice_of_stories_are_refused_and_change_nothing(
    client, auth, reader, stories
):
    climate = TagFactory(name="Climate")
    auth.login("reader@example.org")
    fields = {"frequency": "daily", "tag_ids": [str(climate.id)]}
    data = {"weekday": "0", "paused_until": "", **fields}
    if stories is not None:
        data["stories"] = stories
    response = auth.post(PAGE, data, token_from=PAGE)
    assert response.status_code == 200
    assert "Choose everything, or only the topics you tick." in response.get_data(as_text=True)
    pref = preference_of("reader@example.org")
    assert pref.frequency == "off" and pref.follow_all and pref.tags == []


def test_consent_is_recorded_once_and_kept_when_turned_off(client, auth):
    given = utcnow() - timedelta(days=30)
    UserFactory(email="long@example.org", digest_consent_at=given)
    auth.login("long@example.org")
    save(auth, frequency="daily", stories="all")
    assert user("long@example.org").digest_consent_at == given

    assert save(auth, frequency="off", stories="all").status_code == 302
    pref = preference_of("long@example.org")
    assert pref.frequency == "off"
    assert user("long@example.org").digest_consent_at == given  # kept, on record
    assert not preferences.is_mailable(pref)  # but nothing is sent


def test_no_topics_and_not_everything_is_refused_with_input_kept(client, auth, reader):
    TagFactory(name="Climate")
    auth.login("reader@example.org")
    pause = (preferences.local_today() + timedelta(days=3)).isoformat()
    response = save(auth, frequency="daily", weekday="4", paused_until=pause)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(
        r'<p class="error" id="stories-error">Choose at least one tag, or follow everything',
        html,
    )
    assert 'aria-describedby="stories-error"' in html
    assert checked(html, "frequency", "daily")
    assert re.search(r'<option selected value="4">|<option value="4" selected', html)
    assert f'value="{pause}"' in html
    assert preference_of("reader@example.org").frequency == "off"  # nothing saved
    assert user("reader@example.org").digest_consent_at is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"frequency": "hourly"}, "frequency", "Choose how often"),
        ({"frequency": ""}, "frequency", "Choose how often"),
        ({"weekday": "7"}, "weekday", "Choose a day of the week"),
        ({"weekday": "-1"}, "weekday", "Choose a day of the week"),
        ({"paused_until": "yesterday"}, "paused_until", "Not a valid date"),
    ],
)
def test_bad_values_are_shown_beside_their_field(client, auth, reader, fields, field, message):
    auth.login("reader@example.org")
    response = save(auth, stories="all", **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(rf'<p class="error" id="{field}-error">{message}', html), html
    assert user("reader@example.org").digest_consent_at is None


def test_a_pause_must_start_today_or_later_and_last_at_most_a_year(client, auth, reader):
    auth.login("reader@example.org")
    today = preferences.local_today()
    response = save(auth, stories="all", paused_until=(today - timedelta(days=1)).isoformat())
    assert "Choose today or a later date" in response.get_data(as_text=True)
    response = save(auth, stories="all", paused_until=(today + timedelta(days=367)).isoformat())
    assert "at most a year" in response.get_data(as_text=True)
    assert preference_of("reader@example.org").paused_until is None

    assert save(auth, stories="all", paused_until=today.isoformat()).status_code == 302
    pref = preference_of("reader@example.org")
    assert pref.paused_until == today
    assert preferences.is_paused(pref, today)
    assert not preferences.is_paused(pref, today + timedelta(days=1))
    html = client.get(PAGE).get_data(as_text=True)
    assert "paused until" in html

    # Emptying the date ends the pause.
    assert save(auth, stories="all", paused_until="").status_code == 302
    assert preference_of("reader@example.org").paused_until is None


def test_a_pause_that_has_run_out_is_not_offered_again(client, auth, reader):
    pref = preferences.get_preference(reader)
    pref.paused_until = preferences.local_today() - timedelta(days=5)
    db.session.commit()
    auth.login("reader@example.org")
    html = client.get(PAGE).get_data(as_text=True)
    assert re.search(r'<input[^>]*name="paused_until"[^>]*value=""', html)
    assert save(auth, stories="all").status_code == 302


def test_a_topic_that_does_not_exist_is_refused(client, auth, reader):
    tag = TagFactory(name="Climate")
    auth.login("reader@example.org")
    response = save(auth, tag_ids=[str(tag.id), str(tag.id + 1000)])
    assert "no longer exists" in response.get_data(as_text=True)
    assert preference_of("reader@example.org").tags == []


def test_everything_keeps_the_chosen_topics(app, reader):
    tag = TagFactory(name="Climate")
    data = PreferenceInput("weekly", 0, follow_all=True, tag_ids=[tag.id])
    pref = preferences.save_preferences(reader, data)
    assert pref.follow_all and [t.id for t in pref.tags] == [tag.id]


def test_the_service_refuses_what_the_form_cannot_send(app, reader):
    with pytest.raises(PreferenceError) as error:
        preferences.save_preferences(reader, PreferenceInput("weekly", 9, True))
    assert error.value.field == "weekday"


# --- unconfirmed readers ---------------------------------------------------------


def test_an_unconfirmed_reader_is_asked_to_confirm_and_cannot_save(client, auth, mailbox):
    UserFactory(email="new@example.org", confirmed_at=None)
    auth.login("new@example.org")
    response = client.get(PAGE)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Confirm your address first" in html
    assert "Send the link again" in html
    assert ">Save</button>" not in html
    assert preference_of("new@example.org") is None

    # A form posted anyway (an old tab, a crafted request) changes nothing.
    token = csrf_token(client, PAGE)
    response = client.post(
        PAGE, data={"frequency": "daily", "weekday": "0", "stories": "all", "csrf_token": token}
    )
    assert response.status_code == 403
    assert preference_of("new@example.org") is None
    assert user("new@example.org").digest_consent_at is None

    # The resend button works from here.
    response = client.post("/confirm/resend", data={"csrf_token": token})
    assert response.status_code == 302
    assert len(mailbox.to("new@example.org")) == 1


def test_the_service_refuses_unconfirmed_readers_too(app):
    reader = UserFactory(confirmed_at=None)
    with pytest.raises(PreferenceError, match="Confirm your email"):
        preferences.save_preferences(reader, PreferenceInput("daily", 0, True))
    with pytest.raises(PreferenceError, match="Confirm your email"):
        preferences.resubscribe(reader)


# --- unsubscribed readers --------------------------------------------------------


def test_an_unsubscribed_reader_sees_a_notice_and_can_resubscribe(client, auth):
    reader = UserFactory(email="gone@example.org", digest_consent_at=utcnow())
    preferences.unsubscribe(reader.id)
    auth.login("gone@example.org")
    html = client.get(PAGE).get_data(as_text=True)
    assert "You are unsubscribed" in html
    assert ">Resubscribe</button>" in html
    assert not preferences.is_mailable(preference_of("gone@example.org"))

    response = auth.post("/account/preferences/resubscribe", token_from=PAGE)
    assert response.status_code == 302 and response.headers["Location"] == PAGE
    pref = preference_of("gone@example.org")
    assert pref.unsubscribed_at is None
    assert preferences.is_mailable(pref)
    html = client.get(PAGE).get_data(as_text=True)
    assert "You are subscribed again" in html
    assert ">Resubscribe</button>" not in html


def test_resubscribe_needs_a_csrf_token(client, auth, reader):
    preferences.unsubscribe(reader.id)
    auth.login("reader@example.org")
    response = client.post("/account/preferences/resubscribe")
    assert response.status_code == 400
    assert preference_of("reader@example.org").unsubscribed_at is not None


def test_resubscribing_from_off_turns_the_chosen_frequency_on(app):
    reader = UserFactory()  # never consented: the preference is "off"
    preferences.unsubscribe(reader.id)
    pref = preferences.resubscribe(reader)
    assert pref.frequency == "weekly" and pref.unsubscribed_at is None
    assert reader.digest_consent_at is not None
    assert preferences.is_mailable(pref)


def test_choosing_a_frequency_resubscribes_and_starts_afresh(client, auth, reader):
    preferences.unsubscribe(reader.id)
    pref = preferences.get_preference(reader)
    pref.covered_until = utcnow() - timedelta(days=200)
    db.session.commit()
    auth.login("reader@example.org")
    start = utcnow()
    assert save(auth, frequency="daily", stories="all").status_code == 302
    pref = preference_of("reader@example.org")
    assert pref.unsubscribed_at is None and pref.frequency == "daily"
    # Months of stories from while they were away are not mailed in one go.
    assert pref.covered_until >= start - timedelta(seconds=1)


def test_choosing_off_does_not_resubscribe(client, auth, reader):
    preferences.unsubscribe(reader.id)
    auth.login("reader@example.org")
    assert save(auth, frequency="off", stories="all").status_code == 302
    assert preference_of("reader@example.org").unsubscribed_at is not None


def test_consenting_readers_without_a_row_get_one(app):
    given = utcnow() - timedelta(days=2)
    keen = UserFactory(digest_consent_at=given, digest_frequency="daily")
    UserFactory()  # no consent: no row
    had = UserFactory(digest_consent_at=given)
    preferences.get_preference(had)
    assert preferences.create_missing_preferences() == 1
    pref = preferences.get_preference(keen, create=False)
    assert (pref.frequency, pref.follow_all, pref.covered_until) == ("daily", True, given)
    assert preferences.create_missing_preferences() == 0


# --- who may be mailed ------------------------------------------------------------


def test_is_mailable_needs_every_condition(app):
    reader = UserFactory(digest_consent_at=utcnow())
    pref = preferences.get_preference(reader)
    assert preferences.is_mailable(pref)
    for attribute, value in [
        ("frequency", "off"),
        ("suppressed_at", utcnow()),
        ("unsubscribed_at", utcnow()),
    ]:
        original = getattr(pref, attribute)
        setattr(pref, attribute, value)
        assert not preferences.is_mailable(pref), attribute
        setattr(pref, attribute, original)
    reader.confirmed_at = None
    assert not preferences.is_mailable(pref)
    reader.confirmed_at, reader.digest_consent_at = utcnow(), None
    assert not preferences.is_mailable(pref)


# --- registration -----------------------------------------------------------------


def register(client, email: str, **fields):
    token = csrf_token(client, "/register")
    data = {"email": email, "password": "correct horse battery", "csrf_token": token, **fields}
    return client.post("/register", data=data)


def test_the_registration_form_asks_for_consent_unticked(client):
    html = client.get("/register").get_data(as_text=True)
    box = re.search(r'<input[^>]*name="digest"[^>]*>', html).group(0)
    assert 'type="checkbox"' in box and "checked" not in box
    assert '<label for="digest">Email me a digest of new stories</label>' in html
    assert '<label for="digest_frequency">How often</label>' in html
    assert re.search(r'<option selected value="weekly">|<option value="weekly" selected', html)


def test_registering_with_consent_records_it_and_the_frequency(client):
    before = utcnow()
    response = register(client, "yes@example.org", digest="y", digest_frequency="daily")
    assert response.status_code == 302
    reader = user("yes@example.org")
    assert reader.digest_consent_at >= before - timedelta(seconds=1)
    assert reader.digest_frequency == "daily"
    assert preferences.get_preference(reader).frequency == "daily"


def test_registering_without_consent_records_none(client):
    response = register(client, "no@example.org", digest_frequency="daily")
    assert response.status_code == 302
    reader = user("no@example.org")
    assert reader.digest_consent_at is None
    assert preferences.get_preference(reader).frequency == "off"


def test_registering_with_consent_and_a_bad_frequency_is_refused(client):
    response = register(client, "odd@example.org", digest="y", digest_frequency="off")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'<p class="error" id="digest_frequency-error">Choose how often', html)
    assert user("odd@example.org") is None


def test_the_registration_frequencies_are_newsletter_frequencies():
    assert set(account_services.DIGEST_FREQUENCIES) <= set(Frequency) - {Frequency.OFF}


def test_record_consent_at_registration(app):
    reader = UserFactory()
    pref = preferences.record_consent_at_registration(reader, True, "instant")
    assert pref.frequency == "instant"
    assert reader.digest_consent_at is not None and reader.digest_frequency == "instant"
    other = UserFactory()
    assert preferences.record_consent_at_registration(other, False).frequency == "off"
    assert other.digest_consent_at is None
    with pytest.raises(PreferenceError):
        preferences.record_consent_at_registration(UserFactory(), True, "off")


# --- the preview of the next digest ------------------------------------------------


def test_the_next_digest_is_previewed(client, auth, reader, monkeypatch):
    html_email = "<!doctype html><html><body><h1>Your week</h1></body></html>"
    use_preview(monkeypatch, FakePreview("Your week: 3 stories", html_email, 3, "Sent Monday."))
    auth.login("reader@example.org")
    html = client.get(PAGE).get_data(as_text=True)
    assert "Your next digest" in html
    assert "Your week: 3 stories" in html
    assert "3 stories. Sent Monday." in html
    assert '<a href="/account/preferences/preview">Open the preview</a>' in html

    response = client.get("/account/preferences/preview")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert response.get_data(as_text=True) == html_email
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "no-store" in response.headers["Cache-Control"]


def test_no_stories_for_the_next_digest(client, auth, reader, monkeypatch):
    use_preview(monkeypatch, None)
    auth.login("reader@example.org")
    html = client.get(PAGE).get_data(as_text=True)
    assert "No new stories for your next digest yet." in html
    assert "Open the preview" not in html
    response = client.get("/account/preferences/preview")
    assert response.status_code == 404
    assert "No new stories" in response.get_data(as_text=True)

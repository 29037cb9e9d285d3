"""A logged-in reader's pages: kept bodies shared by readers of one kind, each reader's
own header, cart, notices and CSRF token filled in, and nothing of one reader ever shown
to another."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, timedelta

import pytest
from sqlalchemy import delete, event, select, update

from shop import caching, create_app
from shop.accounts.models import LoginSession, User
from shop.articles.comments import add_comment
from shop.articles.models import Article
from shop.billing.models import ComplimentaryAccess
from shop.catalogue.models import KIND_PLAN
from shop.clock import utcnow
from shop.extensions import db
from shop.pagecache import personal
from tests.factories import AdminFactory, ArticleFactory, UserFactory, make_product
from tests.http.test_page_cache import REDIS_URL, redis_is_up
from tests.support import AuthActions

CACHE = "X-Page-Cache"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def text_of(response) -> str:
    """The page as a reader reads it."""
    return response.get_data(as_text=True)


def tokens(response) -> set[str]:
    """The CSRF tokens in a page's forms."""
    return set(TOKEN.findall(text_of(response)))


def logged_in(app, mailbox, email: str, factory=UserFactory):
    """A new browser, logged in through the real form as a new reader."""
    factory(email=email)
    browser = app.test_client()
    AuthActions(browser, mailbox).login(email)
    return browser


@pytest.fixture
def two_readers(app, mailbox):
    """Two confirmed readers of the same kind, each in a browser of their own."""
    return logged_in(app, mailbox, "ada@example.org"), logged_in(app, mailbox, "bo@example.org")


def account(email: str) -> User:
    """The reader with this address."""
    return db.session.scalars(select(User).filter_by(email=email)).one()


def add_to_cart(browser, product, page: str = "/"):
    """Put a product in the cart through the form, with the token of a page's forms."""
    token = next(iter(tokens(browser.get(page))))
    return browser.post(
        "/cart/add",
        data={"product_id": str(product.id), "next": page, "csrf_token": token},
        headers=SAME_ORIGIN,
    )


def count_statements():
    """A list that grows by one for each SQL statement sent from now on."""
    sent: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


def test_readers_of_one_kind_share_the_body_but_not_their_tokens(app, two_readers):
    story = ArticleFactory(title="Glaciers retreat")
    ada, bo = two_readers
    first = ada.get(f"/articles/{story.slug}")
    second = bo.get(f"/articles/{story.slug}")
    assert (first.headers[CACHE], second.headers[CACHE]) == ("miss", "hit")
    assert "Log out" in text_of(second) and "Leave a Reply" in text_of(second)
    assert second.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in second.headers
    ada_tokens, bo_tokens = tokens(first), tokens(second)
    assert ada_tokens and bo_tokens and not ada_tokens & bo_tokens
    assert "hole" not in "".join(bo_tokens)
    # Bo's form, taken from the kept page, posts as Bo; Ada's token is no good to Bo.
    refused = bo.post(
        f"/articles/{story.slug}/comments",
        data={"body": "Not mine to send.", "csrf_token": ada_tokens.pop()},
    )
    assert refused.status_code == 400
    posted = bo.post(
        f"/articles/{story.slug}/comments",
        data={"body": "A fair point, well made.", "csrf_token": bo_tokens.pop()},
        follow_redirects=True,
    )
    assert posted.status_code == 200
    assert "A fair point, well made." in text_of(posted)


def test_a_kept_page_costs_a_logged_in_reader_no_statement(app, two_readers):
    ArticleFactory(title="Glaciers retreat")
    ada, _ = two_readers
    assert ada.get("/").headers[CACHE] == "miss"
    sent = count_statements()
    again = ada.get("/")
    assert again.headers[CACHE] == "hit"
    assert "Log out" in text_of(again)
    assert sent == []


def test_the_cart_widget_is_each_readers_own(app, two_readers):
    bag = make_product("Tote bag", 1500)
    ArticleFactory(title="Glaciers retreat")
    ada, bo = two_readers
    bo.get("/")
    assert add_to_cart(ada, bag).status_code == 303
    mine = ada.get("/")
    assert "Added to your cart." in text_of(mine)
    assert "Cart: 1 item" in text_of(mine)
    theirs = bo.get("/")
    assert theirs.headers[CACHE] == "hit"
    assert "Your cart is currently empty!" in text_of(theirs)
    assert "Added to your cart." not in text_of(theirs)
    # The notice is shown once.
    assert "Added to your cart." not in text_of(ada.get("/"))


def test_the_cart_page_is_kept_for_its_reader_until_the_cart_changes(app, two_readers):
    bag, mug = make_product("Tote bag", 1500), make_product("Mug", 900)
    ada, bo = two_readers
    add_to_cart(ada, bag, "/cart")
    ada.get("/cart")
    kept = ada.get("/cart")
    assert kept.headers[CACHE] == "hit"
    assert "Tote bag" in text_of(kept)
    assert "Tote bag" not in text_of(bo.get("/cart"))
    add_to_cart(ada, mug, "/cart")
    after = ada.get("/cart")
    assert "Mug" in text_of(after) and "Tote bag" in text_of(after)
    mug.name = "Enamel mug"
    db.session.commit()
    assert "Enamel mug" in text_of(ada.get("/cart"))


def test_a_login_ended_elsewhere_is_logged_out_on_public_pages(app, two_readers):
    ArticleFactory(title="Glaciers retreat")
    ada, _ = two_readers
    assert "Log out" in text_of(ada.get("/"))
    assert ada.get("/").headers[CACHE] == "hit"
    # "Log out everywhere", or the same login ended on another device.
    db.session.execute(delete(LoginSession))
    db.session.commit()
    page = ada.get("/")
    assert "Log out" not in text_of(page)
    assert "Log in" in text_of(page)


def test_paid_access_given_and_lapsing_changes_the_story_at_once(app, mailbox, monkeypatch):
    story = ArticleFactory(title="Inside the mine", access="paid")
    ada = logged_in(app, mailbox, "ada@example.org")
    assert "This story is for subscribers" in text_of(ada.get(f"/articles/{story.slug}"))
    user = account("ada@example.org")
    ends = utcnow() + timedelta(hours=1)
    db.session.add(ComplimentaryAccess(user_id=user.id, until=ends))
    db.session.commit()
    readable = ada.get(f"/articles/{story.slug}")
    assert "This story is for subscribers" not in text_of(readable)
    assert ada.get(f"/articles/{story.slug}").headers[CACHE] == "hit"
    # An hour later the access has run out: no write happens, the card knew its end.
    later = ends + timedelta(minutes=1)
    monkeypatch.setattr("shop.billing.access.utcnow", lambda: later)
    monkeypatch.setattr(personal.time, "time", lambda: later.replace(tzinfo=UTC).timestamp())
    assert "This story is for subscribers" in text_of(ada.get(f"/articles/{story.slug}"))


def test_a_readers_own_recent_comment_is_editable_by_them_alone(app, two_readers):
    story = ArticleFactory(title="Glaciers retreat")
    ada, bo = two_readers
    bo.get(f"/articles/{story.slug}")
    add_comment(story, account("ada@example.org"), "My first thought.")
    mine, theirs = ada.get(f"/articles/{story.slug}"), bo.get(f"/articles/{story.slug}")
    assert "My first thought." in text_of(mine) and "My first thought." in text_of(theirs)
    assert "Save changes" in text_of(mine)
    assert "Save changes" not in text_of(theirs)


def test_an_admins_page_is_never_a_readers(app, mailbox, two_readers):
    story = ArticleFactory(title="Glaciers retreat")
    add_comment(story, UserFactory(), "A reader's remark.")
    editor = logged_in(app, mailbox, "editor@example.org", AdminFactory)
    assert "Hide" in text_of(editor.get(f"/articles/{story.slug}"))
    ada, _ = two_readers
    page = ada.get(f"/articles/{story.slug}")
    assert "Back office" not in text_of(page)
    assert ">Hide<" not in text_of(page)


def test_the_paywalls_offers_are_never_kept_for_a_reader(app, mailbox):
    make_product("Monthly", 500, kind=KIND_PLAN, interval="month")
    story = ArticleFactory(title="Inside the mine", access="paid")
    ada = logged_in(app, mailbox, "ada@example.org")
    for _ in range(2):
        page = ada.get(f"/articles/{story.slug}")
        assert "This story is for subscribers" in text_of(page)
        assert page.headers.get(CACHE) != "hit"


def test_a_bulk_update_empties_the_kept_pages(app, two_readers):
    story = ArticleFactory(title="Glaciers retreat")
    ada, _ = two_readers
    ada.get("/")
    db.session.execute(update(Article).where(Article.id == story.id).values(title="Rivers rise"))
    db.session.commit()
    assert "Rivers rise" in text_of(ada.get("/"))


def test_no_marker_of_a_hole_reaches_a_reader(app, two_readers):
    story = ArticleFactory(title="Glaciers retreat")
    ada, bo = two_readers
    pages = [
        text_of(ada.get(f"/articles/{story.slug}")),
        text_of(bo.get(f"/articles/{story.slug}")),
    ]
    pages += [text_of(ada.get("/")), text_of(bo.get("/"))]
    for name in (personal.NAV, personal.CART, personal.FLASHES, personal.CSRF):
        marker = caching.hole_marker(name)
        assert not any(marker in page for page in pages)


def test_a_held_comment_shows_to_its_author_alone(app, two_readers):
    story = ArticleFactory(title="Glaciers retreat")
    ada, bo = two_readers
    bo.get(f"/articles/{story.slug}")
    author = account("ada@example.org")
    comment = add_comment(story, author, "Waiting for the editor.")
    comment.held = True
    comment.created_at = utcnow() - timedelta(days=2)  # long past its edit window
    db.session.commit()
    assert "Waiting for the editor." in text_of(ada.get(f"/articles/{story.slug}"))
    assert "Waiting for the editor." not in text_of(bo.get(f"/articles/{story.slug}"))


@pytest.mark.real_commits  # another app: its own connections
def test_a_readers_own_change_shows_whichever_worker_answers(app, app_config, mailbox):
    bag = make_product("Tote bag", 1500)
    ArticleFactory(title="Glaciers retreat")
    ada = logged_in(app, mailbox, "ada@example.org")
    # Another gunicorn worker: the same database, an in-process cache of its own.
    there = create_app(dict(app_config)).test_client()

    def same_browser() -> None:
        there.set_cookie("session", ada.get_cookie("session").value)

    same_browser()
    assert "Your cart is currently empty!" in text_of(there.get("/"))
    assert there.get("/").headers[CACHE] == "hit"
    add_to_cart(ada, bag)  # answered by the first worker, whose bump the other never sees
    same_browser()
    assert "Cart: 1 item" in text_of(there.get("/"))


@pytest.mark.real_commits  # two apps of their own: their own connections
@pytest.mark.skipif(not redis_is_up(), reason="needs Redis on 127.0.0.1:6379")
def test_with_redis_a_login_ended_on_one_worker_ends_on_the_other_at_once(app, app_config, mailbox):
    settings = {
        **app_config,
        "PAGE_CACHE": "redis",
        "PAGE_CACHE_REDIS_URL": REDIS_URL,
        "PAGE_CACHE_PREFIX": f"broadsheet-test-{uuid.uuid4().hex}:",
    }
    one, two = create_app(dict(settings)), create_app(dict(settings))
    try:
        with one.app_context():
            UserFactory(email="ada@example.org")
            ArticleFactory(title="Glaciers retreat")
        here, there = one.test_client(), two.test_client()
        AuthActions(here, mailbox).login("ada@example.org")
        there.set_cookie("session", here.get_cookie("session").value)
        assert "Log out" in text_of(there.get("/"))
        assert there.get("/").headers[CACHE] == "hit"
        with one.app_context():
            db.session.execute(delete(LoginSession))  # logged out everywhere, on worker one
            db.session.commit()
        assert "Log in" in text_of(there.get("/"))
    finally:
        with one.app_context():
            caching.clear()

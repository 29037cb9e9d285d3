"""Hostile input through every form, URL parameter and query parameter: never a 500.

Each hostile value goes into one field (or one URL part) at a time, the others valid.
A failure names the endpoint, the field and the payload. Also checked: no redirect
leaves the site, no control character is stored, and stored markup comes back escaped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
from flask import url_for
from sqlalchemy import String, Text, select
from werkzeug.exceptions import HTTPException

from shop.extensions import db
from tests.security.conftest import World
from tests.security.corpus import (
    BUTTONS,
    FORMS,
    NOT_FORMS,
    ONE_FIELD_AT_A_TIME,
    PAYLOADS,
    QUERY_PARAMS,
    RAW_SEGMENTS,
    URL_PAYLOADS,
)
from tests.support import committed_rows, csrf_token

SHOP = Path(__file__).resolve().parents[2] / "shop"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Walked last: they change the password, use up the reset link or delete the comment.
FORMS_LAST = ["accounts.change_password", "accounts.reset_password", "admin.comment_delete"]
BLUEPRINTS = [
    "accounts",
    "admin",
    "articles",
    "billing",
    "cart",
    "catalogue",
    "newsletters",
    "readers",
]


@pytest.fixture
def app_config(app_config):
    """No rate limits: every hostile value must reach the view, not a 429."""
    app_config["RATELIMIT_ENABLED"] = False
    app_config["JOBS_IN_BACKGROUND"] = False
    return app_config


class Clients:
    """One logged-in test client per role, made on first use, with its CSRF token."""

    def __init__(self, app, world: World) -> None:
        self.app, self.world, self.clients = app, world, {}

    def fresh(self):
        """(client, token) for a new anonymous visitor: a login or sign-up keeps nobody in."""
        client = self.app.test_client()
        return client, csrf_token(client, "/login")

    def get(self, role: str):
        """(client, token) for the role."""
        if role not in self.clients:
            client = self.app.test_client()
            self.world.login(client, role)
            page = "/login" if role == "anonymous" else "/account/password"
            self.clients[role] = (client, csrf_token(client, page))
        return self.clients[role]


def _url(app, endpoint: str, world: World, **query) -> str:
    rule = next(iter(app.url_map.iter_rules(endpoint=endpoint)))
    values = {a: world.ids.get(f"{a}:{endpoint}", world.ids.get(a)) for a in rule.arguments}
    with app.test_request_context():
        return url_for(endpoint, **values, **query)


def problem(response) -> str | None:
    """What is wrong with a response to hostile input, or None."""
    if response.status_code >= 500:
        return f"answered {response.status_code}"
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location", "")
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost") or location.startswith(("//", "/\\")):
            return f"redirected off the site to {location!r}"
    return None


def stored_control_characters() -> list[str]:
    """Every text column value holding a control character (tab, CR and LF are fine)."""
    found = []
    db.session.expire_all()
    with committed_rows(db) as conn:
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            if not columns:
                continue
            for row in conn.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, str) and CONTROL.search(value):
                        found.append(f"{table.name}.{column.name} = {value[:40]!r}")
    return found


def form_cases(blueprint: str) -> list[str]:
    """The form endpoints of one blueprint, in walking order."""
    names = sorted(e for e in FORMS if e.split(".")[0] == blueprint)
    return [e for e in names if e not in FORMS_LAST] + [e for e in FORMS_LAST if e in names]


def test_every_post_endpoint_is_in_the_corpus(app):
    """A new POST route fails here until its fields (or its lack of them) are listed."""
    posts = {r.endpoint for r in app.url_map.iter_rules() if "POST" in (r.methods or set())}
    listed = set(FORMS) | BUTTONS | NOT_FORMS
    assert not posts - listed, f"POST endpoints missing from the corpus: {sorted(posts - listed)}"
    assert not listed - posts, f"corpus entries for no route: {sorted(listed - posts)}"
    assert not BUTTONS & set(FORMS)
    assert {e.split(".")[0] for e in FORMS} <= set(BLUEPRINTS)


def test_every_query_parameter_read_is_in_the_corpus():
    """Each ``args.get("name")`` in the code is fuzzed on at least one endpoint."""
    read = set()
    for path in SHOP.rglob("*.py"):
        read |= set(re.findall(r"args\.get\(\s*[\"'](\w+)[\"']", path.read_text()))
    fuzzed = {name for names in QUERY_PARAMS.values() for name in names}
    assert read, "found no request.args reads: the pattern is out of date"
    assert read <= fuzzed, f"query parameters read but never fuzzed: {sorted(read - fuzzed)}"


class _Forms(HTMLParser):
    """Collect (action, field names) of the POST forms on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, set[str]]] = []
        self._open: tuple[str, set[str]] | None = None

    def handle_starttag(self, tag, attrs):
        """Open a form, or add a named field to the open one."""
        attr = dict(attrs)
        if tag == "form" and (attr.get("method") or "").lower() == "post":
            self._open = (attr.get("action") or "", set())
            self.forms.append(self._open)
        elif tag in ("input", "textarea", "select", "button") and self._open and attr.get("name"):
            self._open[1].add(attr["name"])

    def handle_endtag(self, tag):
        """Close the form."""
        if tag == "form":
            self._open = None


def test_the_pages_forms_post_only_listed_fields(app, world):
    """Every field of every POST form on the site's pages is in the corpus for its endpoint."""
    clients = Clients(app, world)
    reader, _ = clients.get("reader")
    token = csrf_token(reader, "/account/password")
    reader.post("/cart/add", data={"product_id": world.ids["plan_id"], "csrf_token": token})
    adapter = app.url_map.bind("localhost")
    pages = [(role, _url(app, e, world)) for role, e in _page_endpoints(app)]
    unknown = []
    for role, url in pages:
        client = reader if role == "reader" else clients.get(role)[0]
        parser = _Forms()
        parser.feed(client.get(url).get_data(as_text=True))
        for action, fields in parser.forms:
            path = urlsplit(action).path or urlsplit(url).path
            try:
                endpoint, _ = adapter.match(path, method="POST")
            except HTTPException:
                continue  # a form that leaves the site (Stripe's pages)
            known = set(FORMS.get(endpoint, ("", {}))[1]) | {"csrf_token"}
            unknown += [f"{url}: {endpoint} posts {name!r}" for name in fields - known]
    assert not unknown, "fields missing from tests/security/corpus.py:\n" + "\n".join(unknown)


# Files, not pages: nothing in them to read for forms.
NOT_PAGES = ("static", "articles.favicon", "media.media_file")


def _page_endpoints(app) -> list[tuple[str, str]]:
    """(role, endpoint) of every GET page with forms worth reading."""
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint in NOT_PAGES:
            continue
        if rule.endpoint in ("accounts.confirm", "accounts.confirm_email_change"):
            continue  # they use up their link and only redirect
        if rule.endpoint in ("tracking.pixel", "tracking.click"):
            continue  # an image, and a redirect: no page, no form
        if rule.endpoint.startswith("admin."):
            found.append(("admin", rule.endpoint))
        elif rule.endpoint in ("accounts.login", "accounts.register", "accounts.reset_password"):
            found.append(("anonymous", rule.endpoint))
        else:
            found.append(("reader", rule.endpoint))
    return found


@pytest.mark.parametrize("blueprint", BLUEPRINTS)
def test_forms_survive_hostile_values(app, world, blueprint):
    """Each field of each form, given each hostile value, is answered without a 500."""
    clients = Clients(app, world)
    failures = []
    for endpoint in form_cases(blueprint):
        role, fields = FORMS[endpoint]
        url = _url(app, endpoint, world)
        valid = {k: v.format(**world.ids) for k, v in fields.items()}
        for name, value in PAYLOADS:
            if name in ONE_FIELD_AT_A_TIME:
                cases = [(field, {**valid, field: value}) for field in fields]
            else:
                cases = [("every field", dict.fromkeys(fields, value))]
            for where, data in cases:
                client, token = clients.fresh() if role == "anonymous" else clients.get(role)
                response = client.post(url, data={**data, "csrf_token": token})
                if wrong := problem(response):
                    failures.append(f"POST {url} {where}=<{name}>: {wrong}")
    stored = stored_control_characters()
    assert not failures, "\n".join(failures)
    assert not stored, "control characters were stored:\n" + "\n".join(stored)


def _rules_with_arguments(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        if rule.arguments and rule.endpoint != "static":
            yield rule


def _path_with(rule, world: World, arg: str, raw: str) -> str:
    """The rule's path with ``raw`` as the value of ``arg`` and real values elsewhere."""

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name == arg:
            return raw
        value = world.ids.get(f"{name}:{rule.endpoint}", world.ids.get(name))
        return quote(str(value), safe="")

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", fill, rule.rule)


def test_url_parameters_survive_hostile_values(app, world):
    """Every URL part of every rule, for each hostile value, answers without a 500."""
    clients = Clients(app, world)
    failures = []
    for rule in _rules_with_arguments(app):
        role = "admin" if rule.endpoint.startswith("admin.") else "reader"
        client, token = clients.get(role)
        methods = (rule.methods or set()) & {"GET", "POST"}
        for arg in rule.arguments:
            values = [(n, quote(v, safe="")) for n, v in PAYLOADS if n in URL_PAYLOADS] + [
                (f"raw {s}", s) for s in RAW_SEGMENTS
            ]
            for name, raw in values:
                path = _path_with(rule, world, arg, raw)
                for method in sorted(methods):
                    data = {"csrf_token": token} if method == "POST" else None
                    response = client.open(path, method=method, data=data)
                    if wrong := problem(response):
                        where = f"{method} {rule.rule} {arg}=<{name}> ({path[:80]})"
                        failures.append(f"{where}: {wrong}")
    assert not failures, "\n".join(failures)


def test_query_parameters_survive_hostile_values(app, world):
    """Every query parameter the views read, for each hostile value, answers without a 500."""
    clients = Clients(app, world)
    failures = []
    for endpoint, params in QUERY_PARAMS.items():
        role = "admin" if endpoint.startswith("admin.") else "reader"
        if endpoint in ("accounts.login", "accounts.register"):
            role = "anonymous"
        client, _ = clients.get(role)
        base = _url(app, endpoint, world)
        for param in params:
            for name, value in PAYLOADS:
                if name not in URL_PAYLOADS:
                    continue
                url = f"{base}?{urlencode({param: value})}"
                if wrong := problem(client.get(url)):
                    failures.append(f"GET {base}?{param}=<{name}>: {wrong}")
    assert not failures, "\n".join(failures)


MARKUP = '<script>alert("xss")</script>"><img src=x onerror=alert(1)>'
RAW_MARKERS = ("<script>alert(", "<img src=x onerror")
ESCAPED = "&lt;script&gt;alert("

# (endpoint, role, field, the pages that show what was stored)
SHOWN = [
    ("articles.add_comment", "reader", "body", ["/articles/{slug}", "/admin/comments"]),
    ("admin.tags_list", "admin", "name", ["/admin/tags", "/articles/{slug}"]),
    ("admin.article_edit", "admin", "title", ["/admin/articles", "/articles/{slug}"]),
    ("admin.article_edit", "admin", "summary", ["/", "/articles/{slug}"]),
    ("admin.product_edit", "admin", "name", ["/admin/products", "/shop"]),
    ("admin.product_edit", "admin", "description", ["/shop"]),
    ("admin.newsletter_edit", "admin", "subject", ["/admin/newsletters"]),
    ("admin.shipping_rate_add", "admin", "name", ["/admin/shipping"]),
]


def test_stored_markup_comes_back_escaped(app, world):
    """Markup saved through a form is shown as text on the pages that show it."""
    clients = Clients(app, world)
    failures = []
    for endpoint, role, field, pages in SHOWN:
        client, token = clients.get(role)
        values = {k: v.format(**world.ids) for k, v in FORMS[endpoint][1].items()}
        if endpoint == "admin.article_edit":
            # The public article: the walked one stays a draft, the public one is shown.
            with app.test_request_context():
                url = url_for(endpoint, article_id=world.ids["public_article_id"])
            values.update(title="A public story")
        else:
            url = _url(app, endpoint, world)
        response = client.post(url, data={**values, field: MARKUP, "csrf_token": token})
        assert response.status_code in (200, 302), (endpoint, response.status_code)
        seen = False
        for page in pages:
            html = clients.get("admin" if page.startswith("/admin") else "reader")[0].get(
                page.format(**world.ids)
            )
            text = html.get_data(as_text=True)
            if any(marker in text for marker in RAW_MARKERS):
                failures.append(f"{endpoint} {field}: raw markup on {page}")
            seen = seen or ESCAPED in text
        if not seen:
            failures.append(f"{endpoint} {field}: not shown (escaped) on any of {pages}")
    assert not failures, "\n".join(failures)

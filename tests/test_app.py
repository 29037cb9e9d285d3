"""The factory, settings, health check, error pages and the cart widget."""

from __future__ import annotations

import pytest

from shop import create_app
from shop.config import ConfigError, load_settings, normalise_database_url


def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_says_when_database_is_down(app_config, tmp_path, mailbox):
    app_config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    app = create_app(app_config)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"


def test_every_page_shows_the_empty_cart_widget(client):
    for path in ["/", "/login", "/register", "/no-such-page"]:
        html = client.get(path).get_data(as_text=True)
        assert "Your cart is currently empty!" in html, path


def test_production_refuses_to_start_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.setenv("BROADSHEET_INSTANCE", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # keep a developer's .env out of this
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_development_key_is_generated_once_and_kept(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("BROADSHEET_INSTANCE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    first = create_app({"DEBUG": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    # DEBUG passed as config is applied after the check, so use testing for the second.
    second = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32
    assert (tmp_path / "secret_key").read_text().strip() == first.config["SECRET_KEY"]


def test_embedded_defaults_use_sqlite_in_instance_and_local_outbox(tmp_path):
    settings = load_settings(str(tmp_path), environ={})
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/broadsheet.db"
    assert settings["MAIL_SERVER"] == ""
    assert settings["MAIL_OUTBOX_DIR"] == f"{tmp_path}/outbox"
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://"
    assert settings["WTF_CSRF_TIME_LIMIT"] is None


def test_settings_come_from_the_environment(tmp_path):
    settings = load_settings(
        str(tmp_path),
        environ={
            "DATABASE_URL": "postgres://u@db/x",
            "PROXY_HOPS": "2",
            "MAIL_USE_TLS": "true",
            "CURRENCY": "EUR",
        },
    )
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/x"
    assert settings["PROXY_HOPS"] == 2
    assert settings["MAIL_USE_TLS"] is True
    assert settings["CURRENCY"] == "eur"


def test_links_follow_the_port_served_unless_site_url_is_set(tmp_path):
    assert load_settings(str(tmp_path), environ={})["SITE_URL"] == "http://127.0.0.1:5000"
    served = load_settings(str(tmp_path), environ={"PORT": "5401"})
    assert served["SITE_URL"] == "http://127.0.0.1:5401"
    flask_run = load_settings(str(tmp_path), environ={"FLASK_RUN_PORT": "5402"})
    assert flask_run["SITE_URL"] == "http://127.0.0.1:5402"
    public = load_settings(
        str(tmp_path), environ={"PORT": "5401", "SITE_URL": "https://news.example.org/"}
    )
    assert public["SITE_URL"] == "https://news.example.org"


@pytest.mark.parametrize(
    ("port", "message"),
    [("fifty", "PORT must be a whole number"), ("70000", "PORT must be a port number")],
)
def test_a_bad_port_is_a_clear_error(tmp_path, port, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(str(tmp_path), environ={"PORT": port})


def test_a_mistyped_number_setting_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="PROXY_HOPS must be a whole number"):
        load_settings(str(tmp_path), environ={"PROXY_HOPS": "two"})


def test_normalise_database_url_leaves_sqlite_alone():
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_404_page_is_in_the_site_look(client):
    response = client.get("/articles/does-not-exist")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<h1>Page not found</h1>" in html
    assert 'class="site-header"' in html


# Adds a route, which only an app that has served nothing may do.
@pytest.mark.own_app
def test_500_page_is_in_the_site_look(app, client):
    @app.route("/boom")
    def boom():
        raise RuntimeError("kaput")

    response = client.get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html
    assert "kaput" not in html


def test_favicon_and_css_are_served_locally(client):
    html = client.get("/").get_data(as_text=True)
    assert "http://" not in html.split("<body")[0].replace('href="http://localhost', "")
    assert client.get("/static/img/favicon.svg").status_code == 200
    assert client.get("/static/css/site.css").status_code == 200


def test_pages_send_security_headers(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_cookies_are_secure_when_the_site_is_https(tmp_path):
    https = load_settings(str(tmp_path), environ={"SITE_URL": "https://news.example/"})
    assert https["SITE_URL"] == "https://news.example"
    assert https["SESSION_COOKIE_SECURE"] and https["REMEMBER_COOKIE_SECURE"]
    plain = load_settings(str(tmp_path), environ={})
    assert not plain["SESSION_COOKIE_SECURE"]


def test_ids_too_large_for_the_database_are_404s(client, auth, admin):
    """An id past a 32-bit integer matches no route, instead of making the database fail."""
    auth.login(admin.email)
    huge = "99999999999999999999"
    for path in (
        f"/admin/articles/{huge}",
        f"/admin/newsletters/{huge}/progress",
        f"/admin/runs/{huge}",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get("/admin/articles/2147483647").status_code == 404


def test_odd_page_numbers_are_404s(client):
    """Superscript digits, zero, negatives and absurdly large pages: 404, never a 500."""
    for page in ("%C2%B2", "0", "-1", "abc", "99999999999999999999"):
        assert client.get(f"/?page={page}").status_code == 404, page
        assert client.get(f"/newsletters?page={page}").status_code == 404, page

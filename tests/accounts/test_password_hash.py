"""Production hashes passwords with scrypt; only the test suite's settings choose a cheap hash."""

from __future__ import annotations

from shop import create_app
from shop.accounts.models import DEFAULT_HASH_METHOD, User
from shop.config import load_settings


def test_the_default_password_hash_is_scrypt(tmp_path):
    assert DEFAULT_HASH_METHOD == "scrypt"
    assert load_settings(str(tmp_path), environ={})["PASSWORD_HASH_METHOD"] == "scrypt"
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x" * 32})
    app.config.pop("PASSWORD_HASH_METHOD")  # an app with no setting at all still uses scrypt
    user = User()
    with app.app_context():
        user.set_password("correct horse battery")
        assert user.password_hash.startswith("scrypt:")
        assert user.check_password("correct horse battery")
    user.set_password("outside an app")
    assert user.password_hash.startswith("scrypt:")


def test_an_app_built_from_the_environment_hashes_with_scrypt(tmp_path, monkeypatch):
    monkeypatch.delenv("PASSWORD_HASH_METHOD", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x" * 32})
    assert app.config["PASSWORD_HASH_METHOD"] == "scrypt"
    with app.app_context():
        user = User()
        user.set_password("correct horse battery")
    assert user.password_hash.startswith("scrypt:")


def test_the_suite_hashes_test_accounts_cheaply(app, reader):
    assert app.config["PASSWORD_HASH_METHOD"] == "pbkdf2:sha256:1"
    assert reader.password_hash.startswith("pbkdf2:sha256:1$")

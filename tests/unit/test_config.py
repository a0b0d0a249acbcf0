"""Config.from_env and the factory: refuses to start on missing or malformed settings."""

from __future__ import annotations

import pytest

from credsvc import create_app
from credsvc.config import Config, ConfigError
from tests.conftest import TEST_ENV


def test_factory_builds_app_from_env():
    app = create_app(dict(TEST_ENV))
    services = app.extensions["credsvc"]
    assert services.directus.base_url == TEST_ENV["DIRECTUS_URL"]
    assert services.keyring.active_key_id == "k0"
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


@pytest.mark.parametrize(
    "name",
    [
        "DIRECTUS_URL",
        "DIRECTUS_TOKEN",
        "DIRECTUS_SECRET",
        "RBAC_SYNC_SECRET",
        "CREDENTIALS_ENCRYPTION_KEY",
    ],
)
def test_missing_required_variable_is_named(name):
    env = dict(TEST_ENV)
    del env[name]
    with pytest.raises(ConfigError, match=name):
        Config.from_env(env)


@pytest.mark.parametrize(
    "name, value",
    [
        ("DIRECTUS_URL", "directus:8055"),
        ("CREDENTIALS_ENCRYPTION_KEY", "00" * 31),
        ("CREDENTIALS_ENCRYPTION_KEY", "not-a-key"),
        ("RBAC_SYNC_SECRET", "short"),
        ("DIRECTUS_SECRET", "short"),
        ("MAX_CONTENT_LENGTH", "lots"),
        ("DIRECTUS_TIMEOUT_READ", "-1"),
        ("RBAC_SYNC_SECRET_PREVIOUS", "short"),
    ],
)
def test_malformed_variable_is_named(name, value):
    env = dict(TEST_ENV, **{name: value})
    with pytest.raises(ConfigError, match=name):
        Config.from_env(env)


def test_previous_sync_secret_is_accepted_in_config():
    config = Config.from_env(dict(TEST_ENV, RBAC_SYNC_SECRET_PREVIOUS="previous-secret-0123456789"))
    assert config.rbac_sync_secrets == (
        TEST_ENV["RBAC_SYNC_SECRET"].encode(),
        b"previous-secret-0123456789",
    )


def test_base64_key_is_accepted():
    config = Config.from_env(
        dict(TEST_ENV, CREDENTIALS_ENCRYPTION_KEY="ERERERERERERERERERERERERERERERERERERERERERE=")
    )
    assert config.keyring.key_ids == ["k0"]

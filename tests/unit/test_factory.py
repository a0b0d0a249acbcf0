"""create_app wires what credsvc.resources builds from a Config (plain data); tests replace any
of the built services by name; the `flask` commands build their clients the same way."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest
import requests

from credsvc import create_app, resources
from credsvc.cli import operator_directus
from credsvc.config import KEY_VARIABLES, Config, name_settings
from credsvc.crypto import Keyring, Sealer, TransitClient, keyring_from_settings
from credsvc.directus import DirectusClient
from credsvc.services.audit import AuditTrail
from credsvc.services.sessions import LiveSessions
from credsvc.webhooks import Events, WebhookSender
from tests.conftest import TEST_ENV

TRANSIT = {
    "CREDENTIALS_TRANSIT_ADDR": "http://127.0.0.1:8200",
    "CREDENTIALS_TRANSIT_TOKEN": "transit-token-for-factory-tests",
    "CREDENTIALS_TRANSIT_KEY": "credsvc",
    "CREDENTIALS_TRANSIT_MOUNT": "kv-transit",
    "CREDENTIALS_KEYS": "bao1:transit",
    "CREDENTIALS_ACTIVE_KEY": "k0",
}
LIVE = (requests.Session, DirectusClient, TransitClient, Keyring, Sealer)


def live_objects(value, path="config"):
    """Where a client, session or keyring sits inside `value` (a Config), if anywhere."""
    if isinstance(value, LIVE):
        return [path]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            found
            for f in dataclasses.fields(value)
            for found in live_objects(getattr(value, f.name), f"{path}.{f.name}")
        ]
    if isinstance(value, tuple | list):
        return [found for i, v in enumerate(value) for found in live_objects(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("extra", [{}, TRANSIT], ids=["local", "transit"])
def test_the_config_is_plain_data(extra):
    config = Config.from_env({**TEST_ENV, **extra})
    assert live_objects(config) == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.mode = "worker"  # type: ignore[misc]
    assert Config.from_env({**TEST_ENV, **extra}) == config  # values compare as values


def test_the_factory_builds_each_service_from_the_config():
    env = {
        **TEST_ENV,
        **TRANSIT,
        "DIRECTUS_TIMEOUT_CONNECT": "0.7",
        "DIRECTUS_TIMEOUT_READ": "4",
        "SESSION_CHECK_CACHE_SECONDS": "9",
        "WEBHOOK_URL": "https://hooks.example.com/credsvc",
        "WEBHOOK_SECRET": "webhook-secret-for-factory-tests-0123",
    }
    app = create_app(env)
    services = app.extensions["credsvc"]
    assert services.config == Config.from_env(env)
    directus = services.directus
    assert (directus.base_url, directus.timeout) == (TEST_ENV["DIRECTUS_URL"], (0.7, 4.0))
    assert directus.session.headers["Authorization"] == f"Bearer {TEST_ENV['DIRECTUS_TOKEN']}"
    assert directus.observer is not None  # the app's metrics see every call
    ring = services.keyring
    assert ring.key_ids == ["k0", "bao1"] and ring.active_key_id == "k0"
    transit = ring._keys["bao1"].client
    assert transit.base == "http://127.0.0.1:8200/v1/kv-transit" and transit.key_name == "credsvc"
    assert transit.session.headers["X-Vault-Token"] == TRANSIT["CREDENTIALS_TRANSIT_TOKEN"]
    assert isinstance(services.sessions, LiveSessions) and services.sessions.ttl == 9
    assert isinstance(services.audit, AuditTrail)
    assert isinstance(services.events, WebhookSender)


def test_each_app_gets_its_own_clients():
    first, second = (create_app(dict(TEST_ENV)).extensions["credsvc"] for _ in range(2))
    assert first.directus is not second.directus
    assert first.directus.session is not second.directus.session
    assert first.keyring is not second.keyring


def test_the_factory_takes_a_config_instead_of_the_environment():
    config = Config.from_env({**TEST_ENV, "CREDSVC_MODE": "worker", "DIRECTUS_SECRET": ""})
    app = create_app({"DIRECTUS_URL": "not read"}, config=config)
    assert app.extensions["credsvc"].config is config
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert "/api/end-user-credentials/reveal" in rules  # worker routes
    assert "/v1/end-users/<end_user_id>/credentials" not in rules


def test_given_services_replace_the_built_ones():
    ring = keyring_from_settings("22" * 32)
    directus = DirectusClient("http://other.test", "other-token")
    events = Events()
    app = create_app(dict(TEST_ENV), keyring=ring, directus=directus, events=events)
    services = app.extensions["credsvc"]
    assert services.keyring is ring and services.directus is directus
    assert services.events is events
    assert services.audit.directus is directus  # built on the given client


def test_an_unknown_service_is_refused():
    with pytest.raises(TypeError, match="no such service: keyrings"):
        create_app(dict(TEST_ENV), keyrings=None)


def test_the_operator_commands_build_their_client_the_same_way():
    env = {**TEST_ENV, "DIRECTUS_OPERATOR_TOKEN": "operator-token-for-factory-tests"}
    app = create_app(env)
    operator = operator_directus(app)
    assert operator is not app.extensions["credsvc"].directus
    assert operator.base_url == TEST_ENV["DIRECTUS_URL"]
    assert operator.timeout == app.extensions["credsvc"].directus.timeout
    assert operator.session.headers["Authorization"] == "Bearer operator-token-for-factory-tests"
    assert operator_directus(app) is operator  # one per app
    without = create_app(dict(TEST_ENV))
    assert operator_directus(without) is without.extensions["credsvc"].directus


def test_ingest_mode_builds_a_sealer_and_no_transit_client():
    from credsvc.crypto import generate_keypair, generate_signing_pair

    public, signing = generate_keypair()[1], generate_signing_pair()[0]
    config = Config.from_env(
        {
            "DIRECTUS_URL": TEST_ENV["DIRECTUS_URL"],
            "DIRECTUS_TOKEN": TEST_ENV["DIRECTUS_TOKEN"],
            "CREDSVC_MODE": "ingest",
            "CREDENTIALS_INGEST_PUBLIC_KEY": public,
            "CREDENTIALS_INGEST_SIGNING_KEY": signing,
        }
    )
    assert resources.transit_client(config) is None
    assert isinstance(resources.build_keyring(config), Sealer)


# -- the crypto package knows no environment variable --------------------------------------

CRYPTO = Path(__file__).resolve().parents[2] / "credsvc" / "crypto"


@pytest.mark.parametrize("path", sorted(CRYPTO.glob("*.py")), ids=lambda p: p.name)
def test_nothing_under_crypto_reads_or_names_an_environment_variable(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"environ|getenv|\bCREDENTIALS_\w+|\bCREDSVC_\w+", text)


def test_every_keyring_setting_has_its_variable():
    keywords = set(inspect.signature(keyring_from_settings).parameters)
    assert keywords == set(KEY_VARIABLES)
    named = name_settings("`active` and `min_decrypt`; `keys rewrap` and `unknown` stay")
    assert named == (
        "CREDENTIALS_ACTIVE_KEY and CREDENTIALS_MIN_DECRYPT_KEY; `keys rewrap` and `unknown` stay"
    )


def test_startup_warnings_are_data_that_names_the_variable():
    assert Config.from_env(dict(TEST_ENV)).warnings == ()
    [warning] = Config.from_env({**TEST_ENV, "CREDENTIALS_WRITE_FORMAT": "legacy"}).warnings
    assert warning.startswith("CREDENTIALS_WRITE_FORMAT=legacy: new values are written")
    assert "`write_format`" not in warning and "`keys rewrap`" in warning  # a command stays

"""Config.from_env and the factory: refuses to start on missing or malformed settings."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from credsvc import create_app
from credsvc.config import MODES, Config, ConfigError
from credsvc.crypto import generate_keypair, generate_signing_pair
from credsvc.resources import build_keyring
from tests.conftest import TEST_ENV
from tests.unit.test_callers import mode_env


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
    [caller] = config.callers
    assert caller.name == "rbac-sync" and caller.secrets == (
        TEST_ENV["RBAC_SYNC_SECRET"].encode(),
        b"previous-secret-0123456789",
    )


# -- DIRECTUS_SECRET: optional where user tokens are served, refused where they are not -------


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_starts_without_the_directus_secret(mode):
    env = mode_env(mode)
    env.pop("DIRECTUS_SECRET", None)
    app = create_app(env)
    assert app.extensions["credsvc"].config.directus_secret == ""


def test_the_full_mode_keeps_a_given_directus_secret():
    env = dict(mode_env("full"), DIRECTUS_SECRET=TEST_ENV["DIRECTUS_SECRET"])
    assert Config.from_env(env).directus_secret == TEST_ENV["DIRECTUS_SECRET"]


@pytest.mark.parametrize("mode", ["worker", "ingest"])
def test_a_worker_or_ingest_process_is_refused_the_directus_secret(mode):
    env = dict(mode_env(mode), DIRECTUS_SECRET=TEST_ENV["DIRECTUS_SECRET"])
    with pytest.raises(ConfigError) as refused:
        Config.from_env(env)
    message = str(refused.value)
    assert message.startswith(f"CREDSVC_MODE={mode} must not be given DIRECTUS_SECRET: ")
    assert "mint Directus access tokens" in message and "\n" not in message
    assert TEST_ENV["DIRECTUS_SECRET"] not in message


def test_base64_key_is_accepted():
    config = Config.from_env(
        dict(TEST_ENV, CREDENTIALS_ENCRYPTION_KEY="ERERERERERERERERERERERERERERERERERERERERERE=")
    )
    assert build_keyring(config).key_ids == ["k0"]


# -- no secret in a startup error, nor in the config's repr --------------------------------

KEY_A = bytes(range(100, 132)).hex()  # CREDENTIALS_ENCRYPTION_KEY
KEY_B = bytes(range(140, 172))  # CREDENTIALS_KEYS k1, configured as base64
KEY_B_B64 = base64.b64encode(KEY_B).decode()
INGEST_PRIVATE, INGEST_PUBLIC = generate_keypair()
SIGNING_PRIVATE, VERIFY_PUBLIC = generate_signing_pair()
SECRET_SETTINGS = {
    "DIRECTUS_URL": "http://svc:url-SECRET-pass-6d2f@directus.test:8055",
    "DIRECTUS_TOKEN": "dt-SECRET-token-7f3a9c1e5b",
    "DIRECTUS_SECRET": "ds-SECRET-signing-2b8d4f6a0c1e3b5d",
    "DIRECTUS_OPERATOR_TOKEN": "op-SECRET-operator-1a2b3c4d5e",
    "RBAC_SYNC_SECRET": "rs-SECRET-sync-9e7c5a3b1d0f",
    "RBAC_SYNC_SECRET_PREVIOUS": "rp-SECRET-previous-8d6b4f2a0e",
    "CREDENTIALS_ENCRYPTION_KEY": KEY_A,
    "CREDENTIALS_KEYS": f"k1:{KEY_B_B64}",
    "CREDENTIALS_TRANSIT_ADDR": "http://127.0.0.1:8200",
    "CREDENTIALS_TRANSIT_TOKEN": "hvs.SECRET-transit-token-4c2e",
    "CREDENTIALS_TRANSIT_KEY": "credsvc",
    "CREDENTIALS_INGEST_PRIVATE_KEY": INGEST_PRIVATE,
    "CREDENTIALS_INGEST_VERIFY_KEY": VERIFY_PUBLIC,
}
# A legacy key derivation's name and iteration count are settings, not secrets.
PUBLIC_VALUES = {"http://127.0.0.1:8200", "credsvc", VERIFY_PUBLIC, "pbkdf2-sha256", "1000"}


def secret_forms(value: str) -> set[str]:
    """The value, its key material in every encoding, and a chunk of it (a partial quote)."""
    forms = {value, value.lower(), value.upper()}
    forms |= {value.encode().hex(), base64.b64encode(value.encode()).decode()}
    if len(value) >= 24:
        forms.add(value[4:20])
    try:
        raw = bytes.fromhex(value) if len(value) == 64 else base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if len(raw) == 32:
        b64 = base64.b64encode(raw).decode()
        forms |= {
            raw.hex(),
            raw.hex().upper(),
            b64,
            b64.rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
        }
    return forms


def secrets_in(env: dict[str, str]) -> set[str]:
    values = {v for k, v in env.items() if k in SECRET_SETTINGS or k.endswith("_SECRET")}
    values |= {v for k, v in env.items() if "KEY" in k or "TOKEN" in k}
    values -= PUBLIC_VALUES
    values.add(PASTED)  # whichever variable it was pasted into
    return {form for value in values if value for form in secret_forms(value)}


def assert_no_secret(text: str, env: dict[str, str]) -> None:
    leaked = sorted(form for form in secrets_in(env) if form in text)
    assert not leaked, f"{leaked} in {text!r}"


PASTED = "ps-SECRET-pasted-3e5c7a9b1d2f"  # a secret written into the wrong variable
STARTUP_ERRORS = {
    "key in the id position": {"CREDENTIALS_KEYS": f"{KEY_A}:k1"},
    "base64 key in the id position": {"CREDENTIALS_KEYS": f"k1:{KEY_B_B64},{KEY_B_B64}:k2"},
    "key without an id": {"CREDENTIALS_KEYS": KEY_A},
    "key as id of a transit entry": {
        "CREDENTIALS_KEYS": f"{KEY_A}:transit",
        "CREDENTIALS_TRANSIT_ADDR": "",
        "CREDENTIALS_TRANSIT_TOKEN": "",
        "CREDENTIALS_TRANSIT_KEY": "",
    },
    "invalid id before a valid key": {"CREDENTIALS_KEYS": f"k1:{KEY_B_B64},key one:{KEY_A}"},
    "truncated key": {"CREDENTIALS_KEYS": f"k1:{KEY_A[:-2]}"},
    "key as the active id": {"CREDENTIALS_ACTIVE_KEY": KEY_A},
    "key as the minimum id": {"CREDENTIALS_MIN_DECRYPT_KEY": KEY_B_B64},
    "malformed single key": {"CREDENTIALS_ENCRYPTION_KEY": KEY_A[:-1]},
    "single key of 33 bytes": {
        "CREDENTIALS_ENCRYPTION_KEY": base64.b64encode(bytes(range(33))).decode()
    },
    "ingest key in the id position": {
        "CREDENTIALS_INGEST_PRIVATE_KEY": f"{INGEST_PRIVATE}:{generate_keypair()[0]}"
    },
    "truncated ingest key": {"CREDENTIALS_INGEST_PRIVATE_KEY": INGEST_PRIVATE[:-4]},
    "verify key under a secret id": {
        "CREDENTIALS_INGEST_VERIFY_KEY": f"{INGEST_PRIVATE}:{VERIFY_PUBLIC}"
    },
    "transit token without an address": {"CREDENTIALS_TRANSIT_ADDR": ""},
    "transit address malformed": {"CREDENTIALS_TRANSIT_ADDR": PASTED},
    "short sync secret": {"RBAC_SYNC_SECRET": "rs-SECRET-shrt"},
    "short directus secret": {"DIRECTUS_SECRET": "ds-SECRET-shrt"},
    "previous sync secret alone": {"RBAC_SYNC_SECRET": ""},
    "secret as the mode": {"CREDSVC_MODE": PASTED},
    "secret as the body limit": {"MAX_CONTENT_LENGTH": PASTED},
    "secret as a timeout": {"DIRECTUS_TIMEOUT_READ": PASTED},
    "secret as the leeway": {"JWT_LEEWAY_SECONDS": PASTED},
    "secret as the directus url": {"DIRECTUS_URL": PASTED},
    "ingest mode with a key as active transit id": {
        "CREDSVC_MODE": "ingest",
        "CREDENTIALS_ACTIVE_KEY": KEY_A,
        "CREDENTIALS_ENCRYPTION_KEY": "",
        "CREDENTIALS_KEYS": "",
        "CREDENTIALS_INGEST_PRIVATE_KEY": "",
        "CREDENTIALS_INGEST_VERIFY_KEY": "",
        "RBAC_SYNC_SECRET": "",
        "RBAC_SYNC_SECRET_PREVIOUS": "",
    },
    "ingest mode with a truncated signing key": {
        "CREDSVC_MODE": "ingest",
        "CREDENTIALS_INGEST_PUBLIC_KEY": INGEST_PUBLIC,
        "CREDENTIALS_INGEST_SIGNING_KEY": SIGNING_PRIVATE[:-3],
        "CREDENTIALS_ENCRYPTION_KEY": "",
        "CREDENTIALS_KEYS": "",
        "CREDENTIALS_INGEST_PRIVATE_KEY": "",
        "CREDENTIALS_INGEST_VERIFY_KEY": "",
        "CREDENTIALS_TRANSIT_ADDR": "",
        "CREDENTIALS_TRANSIT_TOKEN": "",
        "CREDENTIALS_TRANSIT_KEY": "",
        "RBAC_SYNC_SECRET": "",
        "RBAC_SYNC_SECRET_PREVIOUS": "",
    },
    "ingest mode given every decrypting secret": {"CREDSVC_MODE": "ingest"},
    "worker mode given the directus secret": {"CREDSVC_MODE": "worker"},
    # A derivation applies to CREDENTIALS_LEGACY_KEY only (issue 15 security review).
    "passphrase as the encryption key": {"CREDENTIALS_ENCRYPTION_KEY": PASTED},
    "derivation without the legacy key": {
        "CREDENTIALS_ENCRYPTION_KEY": PASTED,
        "CREDENTIALS_LEGACY_KEY_DERIVATION": "pbkdf2-sha256",
        "CREDENTIALS_LEGACY_KEY_SALT": "ls-SECRET-salt-2d4f6b8a",
        "CREDENTIALS_LEGACY_KEY_ITERATIONS": "1000",
    },
}


@pytest.mark.parametrize("case", sorted(STARTUP_ERRORS))
def test_no_startup_error_quotes_a_secret(case):
    env = {**SECRET_SETTINGS, **STARTUP_ERRORS[case]}
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env)
    assert_no_secret(str(caught.value), env)
    assert_no_secret(repr(caught.value), env)


def test_the_startup_errors_still_say_what_is_wrong():
    def error(**changes):
        with pytest.raises(ConfigError) as caught:
            Config.from_env({**SECRET_SETTINGS, **changes})
        return str(caught.value)

    assert error(CREDENTIALS_KEYS=f"{KEY_A}:k1").startswith("CREDENTIALS_KEYS[<64 characters>]")
    assert "CREDENTIALS_ACTIVE_KEY <64 characters> is not a configured" in error(
        CREDENTIALS_ACTIVE_KEY=KEY_A
    )
    assert "CREDENTIALS_ACTIVE_KEY k9 is not a configured key id" in error(
        CREDENTIALS_ACTIVE_KEY="k9"
    )
    assert error(MAX_CONTENT_LENGTH=PASTED) == "MAX_CONTENT_LENGTH must be an integer"


def full_config() -> tuple[Config, dict[str, str]]:
    env = {
        **SECRET_SETTINGS,
        "INTERNAL_CALLERS": "downloader",
        "INTERNAL_CALLER_DOWNLOADER_SECRET": "ic-SECRET-downloader-5f7e9d",
        "INTERNAL_CALLER_DOWNLOADER_SCOPES": "download-credentials",
    }
    return Config.from_env(env), env


def ingest_config() -> tuple[Config, dict[str, str]]:
    env = {
        "DIRECTUS_URL": SECRET_SETTINGS["DIRECTUS_URL"],
        "DIRECTUS_TOKEN": SECRET_SETTINGS["DIRECTUS_TOKEN"],
        "CREDSVC_MODE": "ingest",
        "CREDENTIALS_INGEST_PUBLIC_KEY": INGEST_PUBLIC,
        "CREDENTIALS_INGEST_SIGNING_KEY": SIGNING_PRIVATE,
    }
    return Config.from_env(env), env


@pytest.mark.parametrize("build", [full_config, ingest_config], ids=["full", "ingest"])
def test_repr_and_str_of_the_config_hold_no_secret(build):
    config, env = build()
    for text in (repr(config), str(config), f"{config}", repr([config])):
        assert_no_secret(text, env)
        assert "directus.test:8055" in text and f"mode={config.mode!r}" in text


def test_repr_shows_only_the_allowed_fields():
    """A field added to Config later stays out of repr until someone lists it."""
    config, _ = full_config()
    text = repr(config)
    allowed = {"directus_url", *Config.SHOWN_IN_REPR}
    for field in dataclasses.fields(Config):
        assert (f"{field.name}=" in text) == (field.name in allowed), field.name


EVERY_SENSITIVE_SETTING = {
    "DIRECTUS_SECRET": "directus-secret-0123456789abcdef",
    "RBAC_SYNC_SECRET": "sync-secret-0123456789abcdef",
    "INTERNAL_CALLER_PROBE_SECRET": "probe-caller-secret-0123456789",
    "CREDENTIALS_ENCRYPTION_KEY": "22" * 32,
    "CREDENTIALS_KEYS": "k1:" + "33" * 32,
    "CREDENTIALS_INGEST_PRIVATE_KEY": INGEST_PRIVATE,
}


def with_setting(env: dict[str, str], name: str) -> dict[str, str]:
    """`env` plus one sensitive setting, with what it needs to be valid on its own."""
    env = {**env, name: EVERY_SENSITIVE_SETTING[name]}
    if name.startswith("INTERNAL_CALLER_"):
        listed = [n for n in env.get("INTERNAL_CALLERS", "").split(",") if n]
        env["INTERNAL_CALLERS"] = ",".join([*listed, "probe"])
        env["INTERNAL_CALLER_PROBE_SCOPES"] = "download-credentials"
    if name == "CREDENTIALS_INGEST_PRIVATE_KEY":
        env["CREDENTIALS_INGEST_VERIFY_KEY"] = VERIFY_PUBLIC
    return env


@pytest.mark.parametrize("mode", MODES)
def test_refused_settings_are_exactly_what_the_mode_refuses(mode):
    """deploy/run.py withholds `refused_settings` from a process: each of them must really be
    refused by that mode, and every other one accepted (so the list cannot drift)."""
    from credsvc.config import refused_settings

    refused = refused_settings(mode, EVERY_SENSITIVE_SETTING)
    assert {"full": 0, "ingest": 6, "worker": 1}[mode] == len(refused)
    for name in EVERY_SENSITIVE_SETTING:
        env = with_setting(mode_env(mode), name)
        if name in refused:
            with pytest.raises(ConfigError):
                Config.from_env(env)
        else:
            assert Config.from_env(env).mode == mode, name

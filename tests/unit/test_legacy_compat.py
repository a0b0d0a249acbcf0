"""The Node service's legacy values: every encoding and IV length Node writes, the key
derivations, compatibility write mode, and `keys legacy-probe` (issue 15 items 1, 2, 4).

tests/unit/test_node_interop.py runs the same variants against Node's own `crypto`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from credsvc import create_app
from credsvc.config import (
    Config,
    ConfigError,
    keyring_from_settings,  # its errors name the variables
    refused_settings,
)
from credsvc.crypto import CryptoError, Keyring, KeyringError, aesgcm
from credsvc.crypto.legacy_keys import (
    DERIVATIONS,
    NEEDS_ITERATIONS,
    NEEDS_SALT,
    Derivation,
    parse_derivation,
)
from credsvc.model import PROFILES
from credsvc.resources import build_keyring
from credsvc.services import legacy_probe
from tests.conftest import (
    AUDIT,
    DIRECTUS,
    INTERNAL_HEADERS,
    TEST_ENV,
    env_for_mode,
    sent_audit_rows,
)
from tests.unit.test_keys_cli import COLLECTIONS, FakeDirectus

KEY = bytes(range(32))
VALUE = {"username": "creator123", "password": "sécure pass ✓"}
ROW = {"id": "9b2f8a7e-1111-4222-8333-444455556666", "user_id": "u1", "platform": "instagram"}
CTX = PROFILES.context(ROW)
PASSPHRASE = "correct horse battery staple, Node edition"
RAW32 = "0123456789abcdef0123456789abcdef"  # 32 characters: hex-looking, and valid base64


def node_style(value, key: bytes, iv_len: int, encoding: str) -> str:
    """A legacy value as a Node writer makes it, built without credsvc's writer."""
    iv = os.urandom(iv_len)
    sealed = AESGCM(key).encrypt(iv, json.dumps(value).encode(), None)
    parts = (iv, sealed[-16:], sealed[:-16])
    if encoding == "hex":
        return ":".join(p.hex() for p in parts)
    if encoding == "base64url":
        return ":".join(base64.urlsafe_b64encode(p).decode().rstrip("=") for p in parts)
    text = [base64.b64encode(p).decode() for p in parts]
    if encoding == "base64-unpadded":
        text = [t.rstrip("=") for t in text]
    return ":".join(text)


# -- reading: encodings and IV lengths ---------------------------------------------------


@pytest.mark.parametrize("encoding", aesgcm.LEGACY_ENCODINGS)
@pytest.mark.parametrize("iv_len", [12, 16, 32, 64, 128])
def test_every_node_encoding_and_iv_length_is_read(encoding, iv_len):
    token = node_style(VALUE, KEY, iv_len, encoding)
    assert aesgcm.decrypt_json(token, KEY) == VALUE
    assert Keyring([("k0", KEY)], active="k0").decrypt(token, CTX) == VALUE


@pytest.mark.parametrize("iv_len", [8, 11, 129])
def test_iv_lengths_outside_12_to_128_are_refused(iv_len):
    iv = os.urandom(iv_len)
    token = ":".join(aesgcm.b64(p) for p in (iv, os.urandom(16), b"abc"))
    with pytest.raises(CryptoError, match="IV must be 12 to 128 bytes"):
        aesgcm.decrypt_json(token, KEY)


@pytest.mark.parametrize("encoding", aesgcm.LEGACY_ENCODINGS)
def test_the_writer_spells_each_encoding_as_node_does(encoding):
    token = aesgcm.encrypt_json(VALUE, KEY, encoding)
    _, found = aesgcm.read_legacy(token)
    assert found == encoding or (encoding == "base64-unpadded" and found == "base64url")
    assert aesgcm.decrypt_json(token, KEY) == VALUE


def test_a_hex_value_is_read_as_hex_although_each_part_is_valid_base64():
    # Ambiguity: hex digits are base64 characters. The tag decides: 32 characters is hex.
    token = node_style(VALUE, KEY, 12, "hex")
    for part in token.split(":"):
        base64.b64decode(part + "=" * (-len(part) % 4), validate=True)  # valid base64 too
    assert aesgcm.legacy_encoding_of(token.split(":")) == "hex"
    assert aesgcm.decrypt_json(token, KEY) == VALUE


@pytest.mark.parametrize(
    "tag_text, other, expected",
    [
        ("A" * 22 + "==", "abcdef", "base64"),
        ("A" * 32, "abcdef", "hex"),
        ("0" * 32, "012345", "hex"),  # every part hex-looking, still decided by the tag
        ("A" * 22, "abcdef", "base64url"),  # neither alphabet marker: Node's base64url
        ("A" * 22, "ab-_ef", "base64url"),
        ("A" * 22, "ab+/ef", "base64-unpadded"),
    ],
)
def test_the_encoding_is_decided_by_the_tag_length_then_the_alphabet(tag_text, other, expected):
    assert aesgcm.legacy_encoding_of([other, tag_text, other]) == expected
    assert aesgcm.legacy_encoding_of([other, tag_text, other]) == expected  # same every time


def mixed_padding() -> str:
    iv, tag, ct = aesgcm.encrypt_json({"x": "ab"}, KEY).split(":")  # ciphertext has padding
    assert ct.endswith("=")
    return ":".join((iv, tag.rstrip("="), ct))


def replace_part(token: str, index: int, change) -> str:
    parts = token.split(":")
    parts[index] = change(parts[index])
    return ":".join(parts)


@pytest.mark.parametrize(
    "make, reason",
    [
        (mixed_padding, "ciphertext is not valid base64"),
        (lambda: replace_part(node_style(VALUE, KEY, 12, "hex"), 0, str.upper), "not valid hex"),
        (lambda: replace_part(node_style(VALUE, KEY, 12, "hex"), 2, lambda p: p[:-1]), "hex"),
        (
            lambda: replace_part(node_style(VALUE, KEY, 16, "base64url"), 0, lambda p: p + "+"),
            "base64",
        ),
        (lambda: replace_part(node_style(VALUE, KEY, 12, "base64"), 1, lambda p: p[:-4]), "tag"),
        # non-canonical unpadded: the last character carries bits that are not zero
        (lambda: replace_part(node_style({"a": 1}, KEY, 12, "base64url"), 2, _dirty), "canonical"),
        (lambda: "AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:", "empty"),
    ],
    ids=[
        "mixed-padding",
        "upper-hex",
        "odd-hex",
        "mixed-alphabet",
        "short-tag",
        "dirty-bits",
        "empty-ciphertext",
    ],
)
def test_malformed_node_values_are_clear_crypto_errors(make, reason):
    with pytest.raises(CryptoError, match=reason) as caught:
        aesgcm.decrypt_json(make(), KEY)
    assert "creator" not in str(caught.value)


def _dirty(part: str) -> str:
    """Flip the unused low bits of the last character of an unpadded base64 part."""
    assert len(part) % 4 in (2, 3)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return part[:-1] + alphabet[alphabet.index(part[-1]) ^ 1]


# -- key derivations ---------------------------------------------------------------------


def expected_key(name: str, secret: str) -> bytes:
    """Each derivation written out again from its Node one-liner (docs/ciphertext-format.md)."""
    data = secret.encode()
    return {
        "raw": lambda: data,
        "raw-prefix": lambda: data[:32],
        "sha256": lambda: hashlib.sha256(data).digest(),
        "sha256-base64-32": lambda: base64.b64encode(hashlib.sha256(data).digest())[:32],
        "sha256-hex-32": lambda: hashlib.sha256(data).hexdigest()[:32].encode("ascii"),
        "scrypt": lambda: hashlib.scrypt(data, salt=b"pepper", n=16384, r=8, p=1, dklen=32),
        "pbkdf2-sha256": lambda: hashlib.pbkdf2_hmac("sha256", data, b"pepper", 1000, 32),
        "pbkdf2-sha512": lambda: hashlib.pbkdf2_hmac("sha512", data, b"pepper", 1000, 32),
    }[name]()


@pytest.mark.parametrize("name", [d for d in DERIVATIONS if d != "auto"])
def test_each_derivation_gives_the_node_key(name):
    secret = RAW32 if name in ("raw", "raw-prefix") else PASSPHRASE
    salt = "pepper" if name in ("scrypt", "pbkdf2-sha256", "pbkdf2-sha512") else ""
    iterations = "1000" if name.startswith("pbkdf2") else ""
    derivation = parse_derivation(name, salt, iterations)
    assert derivation.derive(secret) == expected_key(name, secret)
    assert "pepper" not in repr(derivation)


def test_auto_is_todays_key_format_and_its_alias():
    assert parse_derivation("").derive(KEY.hex()) == KEY
    assert parse_derivation("hex-or-base64").derive(base64.b64encode(KEY).decode()) == KEY


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"legacy_derivation": "md5"}, "must be one of auto, raw"),
        ({"legacy_derivation": "sha256"}, "CREDENTIALS_LEGACY_KEY is not set"),
        ({"legacy_derivation": "raw", "legacy_key": " "}, "CREDENTIALS_LEGACY_KEY is not set"),
        ({"legacy_derivation": "scrypt"}, "needs CREDENTIALS_LEGACY_KEY_SALT"),
        ({"legacy_derivation": "pbkdf2-sha256", "legacy_salt": "s"}, "_ITERATIONS"),
        ({"legacy_derivation": "sha256", "legacy_salt": "s"}, "takes no salt"),
        ({"legacy_derivation": "sha256", "legacy_iterations": "5"}, "takes no iteration"),
        (
            {"legacy_derivation": "scrypt", "legacy_salt": "s", "legacy_iterations": "1000"},
            "power of two",
        ),
        (
            {"legacy_derivation": "pbkdf2-sha512", "legacy_salt": "s", "legacy_iterations": "x"},
            "must be an integer",
        ),
        ({"legacy_derivation": "raw", "legacy_key": PASSPHRASE}, "exactly 32 bytes"),
        ({"legacy_derivation": "raw-prefix", "legacy_key": "short"}, "at least 32 bytes"),
        ({"legacy_key": RAW32}, "64 hex characters or base64 of 32 bytes"),
        ({"write_format": "node"}, "CREDENTIALS_WRITE_FORMAT must be one of"),
        ({"write_format": "legacy", "legacy_encoding": "utf8"}, "CREDENTIALS_LEGACY_ENCODING"),
        (
            {"write_format": "legacy", "require_owner_binding": True},
            "CREDENTIALS_REQUIRE_OWNER_BINDING",
        ),
    ],
)
def test_misconfigurations_are_refused_with_what_was_expected(settings, message):
    with pytest.raises(KeyringError, match=message) as caught:
        keyring_from_settings(KEY.hex(), **settings)
    assert PASSPHRASE not in str(caught.value) and RAW32 not in str(caught.value)


def test_a_32_character_key_is_not_reported_as_24_bytes():
    # The old message ("got 24 bytes") described base64 of a string nobody meant as base64.
    with pytest.raises(KeyringError) as caught:
        keyring_from_settings(RAW32)
    message = str(caught.value)
    assert "24 bytes" not in message and RAW32 not in message
    assert "32 hex characters: a 64-character hex key is expected" in message
    # credsvc's own key is never derived: the Node string belongs in CREDENTIALS_LEGACY_KEY
    assert "set it as CREDENTIALS_LEGACY_KEY with CREDENTIALS_LEGACY_KEY_DERIVATION=raw" in message
    assert "flask --app wsgi keys generate" in message
    with pytest.raises(KeyringError) as caught:
        keyring_from_settings(KEY.hex(), legacy_key=RAW32)
    message = str(caught.value)
    assert message.startswith("CREDENTIALS_LEGACY_KEY must be 64 hex characters")
    assert "set CREDENTIALS_LEGACY_KEY_DERIVATION=raw" in message and RAW32 not in message
    assert "keys generate" not in message


def test_a_32_character_key_that_is_not_hex_says_its_length():
    raw = "Zx" * 16
    with pytest.raises(KeyringError) as caught:
        keyring_from_settings(raw)
    message = str(caught.value)
    assert "this value has 32 characters" in message and "32 hex characters" not in message
    assert "24 bytes" not in message and raw not in message


# -- a derivation applies to CREDENTIALS_LEGACY_KEY only (security review of issue 15) ------
# credsvc's own keys are random 32-byte keys: a passphrase-derived k0 would let anyone with a
# database dump brute-force every value, new ones included, offline (sha256/raw are unsalted).

NON_AUTO = [name for name in DERIVATIONS if name != "auto"]


def derivation_settings(name: str) -> dict[str, str]:
    """CREDENTIALS_LEGACY_KEY_DERIVATION=name with the salt / iterations it requires."""
    env = {"CREDENTIALS_LEGACY_KEY_DERIVATION": name}
    if name in NEEDS_SALT:
        env["CREDENTIALS_LEGACY_KEY_SALT"] = "pepper"
    if name in NEEDS_ITERATIONS:
        env["CREDENTIALS_LEGACY_KEY_ITERATIONS"] = "1000"
    return env


@pytest.mark.parametrize("name", NON_AUTO)
@pytest.mark.parametrize(
    "own_key",
    ["abc", PASSPHRASE, RAW32, TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"]],
    ids=["weak", "passphrase", "raw32", "random-hex"],
)
def test_a_derivation_without_a_legacy_key_is_refused_at_startup(name, own_key):
    # The reviewer's case: CREDENTIALS_ENCRYPTION_KEY=abc with sha256 used to start, and the
    # derived key became k0, the key of every new v5 value.
    env = {**TEST_ENV, "CREDENTIALS_ENCRYPTION_KEY": own_key, **derivation_settings(name)}
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env)
    [message] = caught.value.problems
    assert message.startswith(f"CREDENTIALS_LEGACY_KEY_DERIVATION={name} ")
    assert "CREDENTIALS_LEGACY_KEY is not set" in message
    assert "set CREDENTIALS_LEGACY_KEY to the Node service's key string" in message
    assert "CREDENTIALS_ENCRYPTION_KEY to a new random key" in message
    assert "flask --app wsgi keys generate" in message
    for secret in (PASSPHRASE, RAW32, TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"], "pepper"):
        assert secret not in message
    with pytest.raises(ConfigError, match="CREDENTIALS_LEGACY_KEY is not set"):
        create_app(env)


@pytest.mark.parametrize("name", ["", "auto", "hex-or-base64", " AUTO "])
def test_auto_without_a_legacy_key_is_todays_setup(name):
    # A Node service that used a proper 32-byte key: its variable is copied unchanged into
    # CREDENTIALS_ENCRYPTION_KEY, which opens its values and is the key of compatibility writes.
    own = TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"]
    env = {**TEST_ENV, "CREDENTIALS_LEGACY_KEY_DERIVATION": name}
    ring = build_keyring(Config.from_env(env))
    assert ring.decrypt(node_style(VALUE, bytes.fromhex(own), 16, "base64"), CTX) == VALUE
    compat = build_keyring(Config.from_env({**env, "CREDENTIALS_WRITE_FORMAT": "legacy"}))
    assert aesgcm.decrypt_json(compat.encrypt(VALUE, CTX), bytes.fromhex(own)) == VALUE


@pytest.mark.parametrize("name", NON_AUTO)
def test_the_encryption_key_is_never_derived(name):
    # Even with a legacy key and a derivation, credsvc's own keys keep their format: a
    # passphrase there is refused, never hashed into k0 or a CREDENTIALS_KEYS entry.
    secret = RAW32 if name in ("raw", "raw-prefix") else PASSPHRASE
    settings = {"legacy_key": secret, "legacy_derivation": name}
    settings["legacy_salt"] = derivation_settings(name).get("CREDENTIALS_LEGACY_KEY_SALT", "")
    iterations = derivation_settings(name).get("CREDENTIALS_LEGACY_KEY_ITERATIONS", "")
    settings["legacy_iterations"] = iterations
    for own, keys, variable in [
        (secret, "", "CREDENTIALS_ENCRYPTION_KEY"),
        ("", f"k1:{secret}", "CREDENTIALS_KEYS[k1]"),
    ]:
        with pytest.raises(KeyringError, match=rf"^{re.escape(variable)}") as caught:
            keyring_from_settings(own, keys=keys, **settings)
        assert secret not in str(caught.value)
    ring = keyring_from_settings(KEY.hex(), **settings)
    v5 = ring.encrypt(VALUE, CTX)
    assert v5.startswith("v5:k0:")
    assert Keyring([("k0", KEY)], active="k0").decrypt(v5, CTX) == VALUE
    node_key = parse_derivation(name, settings["legacy_salt"], iterations).derive(secret)
    with pytest.raises(CryptoError, match="authentication"):  # never under the derived key
        Keyring([("k0", node_key)], active="k0").decrypt(v5, CTX)


def test_a_passphrase_as_the_encryption_key_says_where_it_belongs():
    with pytest.raises(ConfigError) as caught:
        Config.from_env({**TEST_ENV, "CREDENTIALS_ENCRYPTION_KEY": PASSPHRASE})
    [message] = caught.value.problems
    assert message.startswith("CREDENTIALS_ENCRYPTION_KEY must be 64 hex characters")
    assert "set it as CREDENTIALS_LEGACY_KEY" in message
    assert "CREDENTIALS_ENCRYPTION_KEY to a new random key (flask --app wsgi keys generate)" in (
        message
    )
    assert PASSPHRASE not in message


def test_a_separate_legacy_key_opens_legacy_values_only():
    node_key = hashlib.sha256(PASSPHRASE.encode()).digest()
    ring = keyring_from_settings(KEY.hex(), legacy_key=PASSPHRASE, legacy_derivation="sha256")
    assert ring.decrypt(node_style(VALUE, node_key, 12, "hex"), CTX) == VALUE
    assert ring.decrypt(node_style(VALUE, KEY, 12, "base64"), CTX) == VALUE  # k0 still tried
    # v5 values are written under k0, never under the Node key
    v5 = ring.encrypt(VALUE, CTX)
    assert Keyring([("k0", KEY)], active="k0").decrypt(v5, CTX) == VALUE


def test_retired_keys_still_do_not_open_legacy_values():
    ring = keyring_from_settings(KEY.hex(), keys=f"k1:{'22' * 32}", min_decrypt="k1")
    with pytest.raises(CryptoError, match="authentication"):
        ring.decrypt(node_style(VALUE, KEY, 12, "base64"), CTX)


# -- compatibility write mode ------------------------------------------------------------


@pytest.mark.parametrize("encoding", aesgcm.LEGACY_ENCODINGS)
def test_legacy_write_mode_writes_what_node_reads(encoding):
    ring = keyring_from_settings(
        KEY.hex(), keys=f"k1:{'22' * 32}", write_format="legacy", legacy_encoding=encoding
    )
    token = ring.encrypt(VALUE, CTX)
    assert ring.format_of(token) == "legacy" and ring.needs_rewrap(token)
    written = aesgcm.read_legacy(token)[1]
    assert written == encoding or (encoding, written) == ("base64-unpadded", "base64url")
    assert aesgcm.decrypt_json(token, KEY) == VALUE  # under the Node service's key, not k1
    assert ring.decrypt(token, CTX) == VALUE
    with pytest.raises(CryptoError, match="`write_format`=legacy"):
        ring.rewrap(token, CTX)


def test_legacy_write_mode_uses_the_separate_legacy_key():
    node_key = hashlib.sha256(PASSPHRASE.encode()).digest()
    ring = keyring_from_settings(
        KEY.hex(), legacy_key=PASSPHRASE, legacy_derivation="sha256", write_format="LEGACY"
    )
    assert aesgcm.decrypt_json(ring.encrypt(VALUE, CTX), node_key) == VALUE


def test_legacy_write_mode_needs_the_node_key():
    with pytest.raises(KeyringError, match="needs the Node service's key"):
        keyring_from_settings("", keys=f"k1:{KEY.hex()}", write_format="legacy")


def test_legacy_write_mode_is_refused_in_ingest_mode_and_stripped_by_launchers():
    env = env_for_mode("ingest", CREDENTIALS_WRITE_FORMAT="legacy")
    with pytest.raises(ConfigError, match="CREDSVC_MODE=ingest cannot write"):
        Config.from_env(env)
    assert "CREDENTIALS_WRITE_FORMAT" in refused_settings("ingest", env)
    assert "CREDENTIALS_LEGACY_KEY" in refused_settings("ingest", {"CREDENTIALS_LEGACY_KEY": "x"})
    assert refused_settings("ingest", {"CREDENTIALS_WRITE_FORMAT": "versioned"}) == []


def test_legacy_write_mode_is_refused_with_owner_binding_at_startup():
    env = {**TEST_ENV, "CREDENTIALS_WRITE_FORMAT": "legacy"}
    with pytest.raises(ConfigError, match="set only one"):
        Config.from_env({**env, "CREDENTIALS_REQUIRE_OWNER_BINDING": "true"})


def test_legacy_write_mode_is_a_startup_warning(capsys):
    create_app({**TEST_ENV, "CREDENTIALS_WRITE_FORMAT": "legacy"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [warning] = [line for line in lines if "WRITE_FORMAT" in json.dumps(line)]
    assert warning["level"] == "WARNING" and "no binding" in json.dumps(warning)
    create_app(dict(TEST_ENV))
    assert "WRITE_FORMAT" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "changes",
    [
        {"CREDENTIALS_LEGACY_KEY_DERIVATION": "raw"},
        {},
        {"CREDENTIALS_LEGACY_KEY": "", "CREDENTIALS_ENCRYPTION_KEY": RAW32},
        {"CREDENTIALS_LEGACY_KEY_DERIVATION": PASSPHRASE},
        {"CREDENTIALS_LEGACY_KEY_DERIVATION": "scrypt", "CREDENTIALS_LEGACY_KEY_SALT": ""},
    ],
)
def test_startup_errors_of_the_legacy_settings_quote_no_secret(changes):
    env = {**TEST_ENV, "CREDENTIALS_LEGACY_KEY": PASSPHRASE, **changes}
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env)
    message = str(caught.value)
    assert PASSPHRASE not in message and RAW32 not in message
    assert TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"] not in message
    assert message.startswith("CREDENTIALS_")  # names the variable


# -- through the API: Node-written values are served or cleanly refused ---------------------

PS = f"{DIRECTUS}/items/platform_sessions"
PC = f"{DIRECTUS}/items/platform_connections"


@pytest.fixture
def audit_rows(directus_wire):
    call = directus_wire.post(AUDIT, json={"data": {}})
    return lambda: sent_audit_rows(call.calls)


@pytest.mark.parametrize("encoding", ["hex", "base64url"])
def test_reveal_serves_a_16_byte_iv_node_value(client, directus_wire, audit_rows, encoding):
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    row = {**ROW, "platform_username": None, "encrypted_credentials": None}
    row["encrypted_credentials"] = node_style(VALUE, key, 16, encoding)
    directus_wire.get(PC, json={"data": [row]})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": ROW["id"]}
    )
    assert response.status_code == 200 and response.get_json()["credentials"] == VALUE
    assert [r["outcome"] for r in audit_rows()] == ["ok"]


def test_a_refused_node_value_is_the_audited_decrypt_failure(client, directus_wire, audit_rows):
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    row = {**ROW, "platform_username": None}
    row["encrypted_credentials"] = node_style(VALUE, key, 8, "base64")  # 8-byte IV: refused
    directus_wire.get(PC, json={"data": [row]})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": ROW["id"]}
    )
    assert response.status_code == 409
    assert response.get_json() == {
        "success": False,
        "error": "Stored credentials could not be decrypted",
    }
    assert [r["outcome"] for r in audit_rows()] == ["decrypt_failed"]


# -- keys status and keys legacy-probe ---------------------------------------------------


@pytest.fixture
def fake(directus_wire):
    return FakeDirectus(directus_wire)


def run(env: dict, *args: str):
    return create_app({**TEST_ENV, **env}).test_cli_runner().invoke(args=["keys", *args])


def test_status_counts_rows_written_in_legacy_mode(fake):
    ring = keyring_from_settings(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"], write_format="legacy")
    for _ in range(3):
        fake.insert("platform_sessions", lambda ctx: ring.encrypt({"c": 1}, ctx))
    env = {"CREDENTIALS_WRITE_FORMAT": "legacy"}
    report = json.loads(run(env, "status", "--json").output)
    assert report["write_format"] == "legacy"
    assert report["counts"]["platform_sessions"] == {"legacy": 3}
    table = run(env, "status").output
    assert "writes: legacy three-part format" in table
    assert "keys rewrap converts them once that is switched off" in table
    refused = run(env, "rewrap")
    assert refused.exit_code != 0 and "CREDENTIALS_WRITE_FORMAT=legacy" in refused.output
    assert fake.patches == 0


def sample_file(tmp_path, values):
    path = tmp_path / "sample.txt"
    path.write_text("\n".join(values) + "\n\n")
    return str(path)


@pytest.mark.parametrize(
    "derivation, secret",
    [("sha256", PASSPHRASE), ("raw", RAW32), ("sha256-base64-32", PASSPHRASE)],
)
def test_legacy_probe_names_the_derivation_from_a_file(tmp_path, derivation, secret):
    node_key = Derivation(derivation).derive(secret)
    values = [node_style({"n": i}, node_key, (12, 16)[i % 2], "base64") for i in range(5)]
    values.append("v5:k0:AAAA:BBBB:CCCC")  # versioned: skipped
    result = run(
        {"CREDENTIALS_LEGACY_PROBE_KEY": secret},
        "legacy-probe",
        "--file",
        sample_file(tmp_path, values),
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["key_from"] == "CREDENTIALS_LEGACY_PROBE_KEY"
    assert report["opening_all"] == [derivation]
    assert report["opened"][derivation] == 5 and report["not_legacy"] == 1
    assert report["iv_lengths"] == {"12": 3, "16": 2}
    assert "scrypt" in report["not_tried"]
    for value in values:
        assert value not in result.output
    assert secret not in result.output and node_key.hex() not in result.output


def test_legacy_probe_tries_salted_derivations_with_a_salt(tmp_path):
    node_key = parse_derivation("pbkdf2-sha512", "pepper", "1000").derive(PASSPHRASE)
    path = sample_file(tmp_path, [node_style(VALUE, node_key, 16, "hex")])
    env = {"CREDENTIALS_LEGACY_PROBE_KEY": PASSPHRASE}
    result = run(env, "legacy-probe", "--file", path, "--salt", "pepper", "--iterations", "1000")
    assert result.exit_code == 0, result.output
    assert "set CREDENTIALS_LEGACY_KEY_DERIVATION=pbkdf2-sha512" in result.output
    assert "CREDENTIALS_LEGACY_KEY set to the key string tried (CREDENTIALS_LEGACY_PROBE_KEY)" in (
        result.output
    )
    assert "hex 1" in result.output and "16 bytes: 1" in result.output
    assert PASSPHRASE not in result.output and "pepper" not in result.output


def test_legacy_probe_exits_1_when_nothing_opens_everything(tmp_path):
    path = sample_file(tmp_path, [node_style(VALUE, os.urandom(32), 12, "base64"), "a:b:c"])
    result = run({"CREDENTIALS_LEGACY_PROBE_KEY": PASSPHRASE}, "legacy-probe", "--file", path)
    assert result.exit_code == 1
    assert "opened by none: 1" in result.output and "malformed: 1" in result.output
    assert "no derivation opens every value" in result.output


def test_legacy_probe_samples_directus(fake):
    # The Node key is today's CREDENTIALS_ENCRYPTION_KEY (auto); v5 rows are not sampled.
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    ring = keyring_from_settings(key.hex())
    for collection in COLLECTIONS:
        fake.insert(collection, lambda ctx: node_style(VALUE, key, 16, "base64url"))
        fake.insert(collection, lambda ctx: ring.encrypt(VALUE, ctx))
    result = run({}, "legacy-probe", "--json", "--limit", "5")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["key_from"] == "CREDENTIALS_ENCRYPTION_KEY"
    assert report["sources"] == {collection: 1 for collection in COLLECTIONS}
    assert report["opened"]["auto"] == 4 and report["opening_all"] == ["auto"]
    assert report["not_legacy"] == 0  # filtered out by Directus, never read


def test_legacy_probe_moves_a_derived_encryption_key_to_the_legacy_key(fake):
    # Node hashed the very string now in CREDENTIALS_ENCRYPTION_KEY: the probe finds sha256 and
    # says to move the string to CREDENTIALS_LEGACY_KEY (a derivation never applies to k0).
    own = TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"]
    node_key = hashlib.sha256(own.encode()).digest()
    fake.insert("platform_sessions", lambda ctx: node_style(VALUE, node_key, 12, "base64"))
    result = run({}, "legacy-probe", "--collection", "platform_sessions")
    assert result.exit_code == 0, result.output
    last = result.output.splitlines()[-1]
    assert last == (
        "set CREDENTIALS_LEGACY_KEY_DERIVATION=sha256 with CREDENTIALS_LEGACY_KEY set to the key "
        "string tried (CREDENTIALS_ENCRYPTION_KEY), and CREDENTIALS_ENCRYPTION_KEY to a new "
        "random key (flask --app wsgi keys generate)"
    )
    assert own not in result.output
    as_advised = {
        **TEST_ENV,
        "CREDENTIALS_LEGACY_KEY": own,
        "CREDENTIALS_LEGACY_KEY_DERIVATION": "sha256",
        "CREDENTIALS_ENCRYPTION_KEY": "33" * 32,
    }
    ring = build_keyring(Config.from_env(as_advised))
    assert ring.decrypt(node_style(VALUE, node_key, 16, "hex"), CTX) == VALUE
    with pytest.raises(ConfigError, match="CREDENTIALS_LEGACY_KEY is not set"):
        Config.from_env({**TEST_ENV, "CREDENTIALS_LEGACY_KEY_DERIVATION": "sha256"})


@pytest.mark.parametrize(
    "source, derivation, expected",
    [
        ("CREDENTIALS_LEGACY_KEY", "sha256", "set CREDENTIALS_LEGACY_KEY_DERIVATION=sha256"),
        (
            "CREDENTIALS_ENCRYPTION_KEY",
            "auto",
            "set CREDENTIALS_LEGACY_KEY_DERIVATION=auto (the default): "
            "CREDENTIALS_ENCRYPTION_KEY opens them as it is",
        ),
        (
            "CREDENTIALS_LEGACY_PROBE_KEY",
            "auto",
            "set CREDENTIALS_LEGACY_KEY_DERIVATION=auto with CREDENTIALS_LEGACY_KEY set to the "
            "key string tried (CREDENTIALS_LEGACY_PROBE_KEY)",
        ),
    ],
)
def test_probe_advice_never_derives_the_encryption_key(source, derivation, expected):
    assert legacy_probe.advice(source, derivation) == expected


def test_probe_counts_only():
    keys, not_tried = legacy_probe.candidate_keys(PASSPHRASE)
    assert "auto" in not_tried and "raw" in not_tried and "sha256" in keys
    assert all(PASSPHRASE not in why for why in not_tried.values())
    report = legacy_probe.probe([("x", node_style(VALUE, keys["sha256"], 12, "hex"))], keys)
    assert report.opening_all == ["sha256"]


# -- compatibility write mode: only the columns the Node service reads -------------------

# What the Node service reads (the contract, credentials-api.txt): a creator profile's
# credentials (/reveal), a download credential (/reveal-download-cred) and a platform session's
# cookies (/get-platform-session). Nothing else needs to stay readable for it.
NODE_READ = {
    ("platform_connections", "encrypted_credentials"),
    ("download_credentials", "encrypted_credentials"),
    ("platform_sessions", "encrypted_cookies"),
}


def test_the_node_service_reads_the_three_columns_of_the_contract():
    from credsvc.model import ENCRYPTED_COLUMNS

    assert {(c.collection, c.field) for c in ENCRYPTED_COLUMNS if c.node_reads} == NODE_READ


def owner_row(column) -> dict:
    return {name: f"{name}-1" for name in ("id", *column.owner_columns)}


@pytest.mark.parametrize("column_name", ["PROFILES", "DOWNLOAD_CREDENTIALS", "PLATFORM_SESSIONS",
                                         "END_USER_CREDENTIALS"])  # fmt: skip
def test_legacy_write_mode_writes_legacy_only_where_node_reads(column_name):
    from credsvc import model

    column = getattr(model, column_name)
    ring = keyring_from_settings(KEY.hex(), write_format="legacy")
    context = column.context(owner_row(column))
    token = ring.encrypt(VALUE, context)
    node_reads = (column.collection, column.field) in NODE_READ
    assert ring.format_of(token) == ("legacy" if node_reads else "v5")
    assert ring.decrypt(token, context) == VALUE
    # The same ring in versioned mode writes v5 everywhere.
    versioned = keyring_from_settings(KEY.hex())
    assert versioned.format_of(versioned.encrypt(VALUE, context)) == "v5"


def test_a_context_not_from_the_column_table_stays_owner_bound():
    from credsvc.crypto import RecordContext

    ring = keyring_from_settings(KEY.hex(), write_format="legacy")
    by_hand = RecordContext(CTX.collection, CTX.record_id, CTX.field, CTX.owner)
    assert ring.format_of(ring.encrypt(VALUE, by_hand)) == "v5"
    assert ring.format_of(ring.encrypt(VALUE, CTX)) == "legacy"


def test_a_revocation_marker_is_owner_bound_in_legacy_mode(directus_wire):
    from credsvc.model import PLATFORM_SESSIONS
    from tests.conftest import user_headers

    owner_id = "0b5e3c1a-2222-4333-8444-555566667777"
    app = create_app({**TEST_ENV, "CREDENTIALS_WRITE_FORMAT": "legacy"})
    session = {"id": ROW["id"], "user_id": owner_id, "creator_profile_id": "p1",
               "platform": "instagram", "revoked_at": None}  # fmt: skip
    directus_wire.get(f"{DIRECTUS}/items/platform_sessions", json={"data": [session]})
    profile = {"data": [{"user_id": owner_id}]}
    directus_wire.get(f"{DIRECTUS}/items/platform_connections", json=profile)
    patch = directus_wire.patch(
        f"{DIRECTUS}/items/platform_sessions/{ROW['id']}", json={"data": {}}
    )
    response = app.test_client().post(
        "/api/credentials/revoke-platform-session",
        headers=user_headers(owner_id),
        json={"id": ROW["id"]},
    )
    assert response.status_code == 200, response.get_json()
    tombstone = json.loads(patch.calls[0].request.body)["encrypted_cookies"]
    ring = app.extensions["credsvc"].keyring
    assert ring.format_of(tombstone) == "v5"
    assert ring.decrypt(tombstone, PLATFORM_SESSIONS.context(session)) == {"revoked": True}


# -- `auto` takes what Node's Buffer.from(key, 'base64') takes for a 32-byte key ---------

SLASHY = bytes([0xFB, 0xFF]) * 16  # standard base64 "+/+/...", URL-safe "-_-_..."
STD = base64.b64encode(SLASHY).decode()
URLSAFE = base64.urlsafe_b64encode(SLASHY).decode()


@pytest.mark.parametrize(
    "text",
    [STD, STD.rstrip("="), URLSAFE, URLSAFE.rstrip("="), f"  {URLSAFE.rstrip('=')}\n"],
    ids=["padded", "unpadded", "urlsafe", "urlsafe-unpadded", "surrounding-space"],
)
def test_auto_takes_unpadded_and_url_safe_base64(text):
    assert parse_derivation("auto").derive(text) == SLASHY
    ring = keyring_from_settings(KEY.hex(), legacy_key=text)
    assert ring.decrypt(node_style(VALUE, SLASHY, 16, "base64"), CTX) == VALUE


@pytest.mark.parametrize(
    "text",
    [
        STD.rstrip("=")[:-1],  # 42 characters: 31 bytes
        STD + "AAAA",  # 35 bytes
        base64.b64encode(bytes(33)).decode(),
        STD.rstrip("=") + "==",  # too much padding
        STD[:20] + "=" + STD[21:],  # padding inside
        STD[:20] + " " + STD[20:],  # a space Node would skip
        STD[:20] + "." + STD[21:],  # a character outside both alphabets
        STD[:20] + "-" + STD[21:].replace("-", "+"),  # both alphabets in one key
    ],
    ids=["31-bytes", "35-bytes", "33-bytes", "double-pad", "inner-pad", "space", "dot", "mixed"],
)
def test_auto_refuses_other_lengths_and_ambiguous_base64(text):
    with pytest.raises(KeyringError) as caught:
        keyring_from_settings(KEY.hex(), legacy_key=text)
    message = str(caught.value)
    assert message.startswith("CREDENTIALS_LEGACY_KEY must be 64 hex characters or base64 of 32")
    assert "URL-safe" in message and "padding" in message
    assert text.strip() not in message and STD[4:20] not in message


def test_sha256_hex_32_is_the_first_32_hex_characters_as_the_key():
    node_key = hashlib.sha256(PASSPHRASE.encode()).hexdigest()[:32].encode()
    ring = keyring_from_settings(
        KEY.hex(), legacy_key=PASSPHRASE, legacy_derivation="sha256-hex-32"
    )
    assert ring.decrypt(node_style(VALUE, node_key, 12, "hex"), CTX) == VALUE
    writer = keyring_from_settings(
        KEY.hex(), legacy_key=PASSPHRASE, legacy_derivation="sha256-hex-32", write_format="legacy"
    )
    assert aesgcm.decrypt_json(writer.encrypt(VALUE, CTX), node_key) == VALUE

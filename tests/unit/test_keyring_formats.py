"""v3 (sealed to an ingest public key), v4 (transit envelope) and the keyring's hardening.

tests/unit/test_crypto.py covers legacy and v2; this file adds the other formats, the fixes
made in review, and the NIST GCM decryption-failure vectors.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pytest
import responses

from credsvc.config import Config, ConfigError
from credsvc.crypto import (
    CryptoError,
    DecryptionUnavailable,
    Keyring,
    KeyringError,
    RecordContext,
    Sealer,
    TransitClient,
    TransitKey,
    aesgcm,
    decrypt_json,
    encrypt_json,
    generate_keypair,
    keyring_from_settings,
    parse_public_key,
    sealed,
    transit,
)
from credsvc.crypto.keyring import like_patterns_collide
from tests.conftest import TEST_ENV

CTX = RecordContext(
    "end_user_credentials", "0b6f3f0e-5e1a-4d7e-9a0b-3c2d1e0f9a8b", "encrypted_value"
)
MOVED = [
    RecordContext(CTX.collection, "11111111-1111-4111-8111-111111111111", CTX.field),
    RecordContext("platform_connections", CTX.record_id, CTX.field),
    RecordContext(CTX.collection, CTX.record_id, "encrypted_credentials"),
]
VALUE = {"password": "hunter2-✓", "otp_seed": "JBSWY3DPEHPK3PXP"}
SECRET_MARKERS = ("hunter2", "JBSWY3DP")


def flip_part(token: str, part: int, byte: int) -> str:
    parts = token.split(":")
    raw = bytearray(base64.b64decode(parts[part]))
    raw[byte] ^= 0x01
    parts[part] = base64.b64encode(bytes(raw)).decode()
    return ":".join(parts)


def every_flip(token: str, first_part: int):
    parts = token.split(":")
    for part in range(first_part, len(parts)):
        for byte in range(len(base64.b64decode(parts[part]))):
            yield flip_part(token, part, byte)


def assert_no_plaintext(token: str) -> None:
    blob = token.encode()
    for piece in token.split(":")[2:]:
        blob += base64.b64decode(piece)
    for marker in SECRET_MARKERS:
        assert marker.encode() not in blob


@pytest.fixture(scope="module")
def ingest_pair():
    private, public = generate_keypair()
    return private, public


@pytest.fixture
def workers(ingest_pair):
    return keyring_from_settings("22" * 32, ingest_private=ingest_pair[0])


@pytest.fixture
def sealer(ingest_pair):
    return Sealer("i1", parse_public_key(ingest_pair[1]))


# -- v3: sealed to the ingest public key --------------------------------------------------


def test_v3_shape_and_roundtrip_on_the_workers_side(sealer, workers):
    token = sealer.encrypt(VALUE, CTX)
    prefix, key_id, enc, ct = token.split(":")
    assert (prefix, key_id) == ("v3", "i1")
    assert len(base64.b64decode(enc)) == 32
    assert len(base64.b64decode(ct)) == len(aesgcm.serialize(VALUE)) + 16
    assert_no_plaintext(token)
    assert workers.key_id_of(token) == "i1"
    assert workers.decrypt(token, CTX) == VALUE


def test_v3_same_plaintext_twice_differs(sealer):
    assert sealer.encrypt(VALUE, CTX) != sealer.encrypt(VALUE, CTX)


def test_the_sealer_cannot_decrypt_even_its_own_values(sealer):
    token = sealer.encrypt(VALUE, CTX)
    for call in (lambda: sealer.decrypt(token, CTX), lambda: sealer.rewrap(token, CTX)):
        with pytest.raises(DecryptionUnavailable, match="cannot decrypt"):
            call()
    assert sealer.can_decrypt is False and "Sealer(" in repr(sealer)


@pytest.mark.parametrize("other", MOVED)
def test_v3_moved_to_another_record_or_field_is_rejected(sealer, workers, other):
    with pytest.raises(CryptoError):
        workers.decrypt(sealer.encrypt(VALUE, CTX), other)


def test_v3_every_byte_flip_is_rejected(sealer, workers):
    token = sealer.encrypt(VALUE, CTX)
    tried = 0
    for forged in every_flip(token, first_part=2):
        with pytest.raises(CryptoError):
            workers.decrypt(forged, CTX)
        tried += 1
    assert tried == 32 + len(aesgcm.serialize(VALUE)) + 16


def test_v3_other_recipient_or_key_id_is_rejected(sealer, workers):
    token = sealer.encrypt(VALUE, CTX)
    with pytest.raises(CryptoError, match="not configured"):
        workers.decrypt(token.replace("v3:i1:", "v3:i2:"), CTX)
    other_private, _ = generate_keypair()
    stranger = keyring_from_settings("22" * 32, ingest_private=other_private)
    with pytest.raises(CryptoError, match="authentication"):
        stranger.decrypt(token, CTX)


def test_v3_values_are_rewrapped_to_the_active_local_key(sealer, workers):
    token = sealer.encrypt(VALUE, CTX)
    assert workers.needs_rewrap(token)
    rewrapped = workers.rewrap(token, CTX)
    assert rewrapped.startswith("v2:k0:") and workers.decrypt(rewrapped, CTX) == VALUE


@pytest.mark.parametrize("text", ["", "abcd", base64.b64encode(b"x" * 31).decode(), "zz" * 32])
def test_ingest_keys_of_the_wrong_length_are_refused(text):
    with pytest.raises(CryptoError):
        parse_public_key(text)
    with pytest.raises((CryptoError, KeyringError)):
        keyring_from_settings("22" * 32, ingest_private=text or "=")


@pytest.mark.parametrize(
    "token",
    [
        "v3:i1:AAAA:AAAA",
        "v3:i1",
        "v3::" + "A" * 44 + ":AAAA",
        "v3:i1:" + "A" * 43 + "=:" + "A" * 24,
    ],
)
def test_malformed_v3_values_are_clean_errors(workers, token):
    with pytest.raises(CryptoError):
        workers.decrypt(token, CTX)


# -- v4: transit envelope (wire-level fake of the transit API) ----------------------------

BAO = "http://bao.test"


class FakeTransit:
    """Just enough of /v1/transit: data keys wrapped with a local AES key, decrypt on demand."""

    def __init__(self, wire, allow_decrypt=True):
        self.root = b"\x07" * 32
        self.allow_decrypt = allow_decrypt
        self.calls = []
        wire.add_callback(responses.POST, f"{BAO}/v1/transit/datakey/plaintext/credsvc",
                          callback=self.datakey)
        wire.add_callback(responses.POST, f"{BAO}/v1/transit/decrypt/credsvc",
                          callback=self.decrypt)

    def datakey(self, request):
        self.calls.append("datakey")
        data_key = bytes(range(32))[::-1] if not self.calls.count("datakey") % 2 else b"\x05" * 32
        wrapped = "vault:v1:" + aesgcm.encrypt_json(base64.b64encode(data_key).decode(), self.root)
        body = {"data": {"plaintext": base64.b64encode(data_key).decode(), "ciphertext": wrapped}}
        return 200, {}, json.dumps(body)

    def decrypt(self, request):
        self.calls.append("decrypt")
        if not self.allow_decrypt:
            return 403, {}, json.dumps({"errors": ["permission denied"]})
        wrapped = json.loads(request.body)["ciphertext"]
        try:
            plaintext = aesgcm.decrypt_json(wrapped.removeprefix("vault:v1:"), self.root)
        except CryptoError:
            return 400, {}, json.dumps({"errors": ["cipher: message authentication failed"]})
        return 200, {}, json.dumps({"data": {"plaintext": plaintext}})


@pytest.fixture
def wire():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def transit_ring(allow_decrypt=True, wire=None, **kwargs):
    key = TransitKey(TransitClient(BAO, "token", "credsvc"))
    return keyring_from_settings("33" * 32, keys="bao1:transit", transit_key=key, **kwargs)


def test_v4_roundtrip_binding_and_flips(wire):
    fake = FakeTransit(wire)
    ring = transit_ring()
    assert ring.active_key_id == "bao1" and ring.active_prefix == "v4:bao1:"
    token = ring.encrypt(VALUE, CTX)
    assert token.startswith("v4:bao1:") and ring.key_id_of(token) == "bao1"
    assert base64.b64decode(token.split(":")[2]).startswith(b"vault:v1:")
    assert_no_plaintext(token)
    assert ring.decrypt(token, CTX) == VALUE
    for other in MOVED:
        with pytest.raises(CryptoError):
            ring.decrypt(token, other)
    for forged in every_flip(token, first_part=3):
        with pytest.raises(CryptoError):
            ring.decrypt(forged, CTX)
    assert fake.calls.count("datakey") == 1


def test_v4_wrapped_key_swapped_between_records_is_rejected(wire):
    FakeTransit(wire)
    ring = transit_ring()
    first, second = ring.encrypt(VALUE, CTX), ring.encrypt(VALUE, CTX)
    a, b = first.split(":"), second.split(":")
    a[2] = b[2]
    with pytest.raises(CryptoError):
        ring.decrypt(":".join(a), CTX)


def test_v4_decrypt_denied_by_policy_is_unavailable_not_tampered(wire):
    FakeTransit(wire, allow_decrypt=False)
    ring = transit_ring()
    token = ring.encrypt(VALUE, CTX)
    with pytest.raises(DecryptionUnavailable):
        ring.decrypt(token, CTX)


def test_v4_transit_unreachable_is_unavailable():
    ring = keyring_from_settings(
        "33" * 32, keys="bao1:transit",
        transit_key=TransitKey(TransitClient("http://127.0.0.1:9", "t", "k", timeout=(0.5, 0.5))),
    )
    with pytest.raises(transit.TransitUnavailable):
        ring.encrypt(VALUE, CTX)


def test_rotation_from_local_to_transit_keeps_local_values_readable(wire):
    FakeTransit(wire)
    local = keyring_from_settings("33" * 32).encrypt(VALUE, CTX)
    legacy = encrypt_json(VALUE, b"\x33" * 32)
    ring = transit_ring()
    for stored in (local, legacy):
        assert ring.decrypt(stored, CTX) == VALUE
        assert ring.rewrap(stored, CTX).startswith("v4:bao1:")


def test_transit_marker_without_transit_settings_is_refused():
    with pytest.raises(KeyringError, match="CREDENTIALS_TRANSIT"):
        keyring_from_settings("33" * 32, keys="bao1:transit")


# -- keyring hardening found in review ----------------------------------------------------


def test_unknown_min_decrypt_key_is_a_keyring_error():
    # Used to escape as a bare ValueError from list.index().
    with pytest.raises(KeyringError, match="CREDENTIALS_MIN_DECRYPT_KEY"):
        keyring_from_settings("11" * 32, min_decrypt="nope")


def test_same_material_under_two_ids_is_refused():
    with pytest.raises(KeyringError, match="repeats"):
        keyring_from_settings("11" * 32, keys=f"k1:{'11' * 32}")


@pytest.mark.parametrize("a, b, collide", [("k1", "K1", True), ("k_1", "kx1", True),
                                           ("k1", "k2", False), ("k1", "k10", False)])
def test_key_ids_that_collide_under_sql_like_are_refused(a, b, collide):
    assert like_patterns_collide(a, b) is collide
    keys = f"{a}:{'44' * 32},{b}:{'55' * 32}"
    if collide:
        with pytest.raises(KeyringError, match="too similar"):
            keyring_from_settings("", keys=keys)
    else:
        assert keyring_from_settings("", keys=keys).key_ids == [a, b]


@pytest.mark.parametrize("key_id", ["legacy", "", "x" * 17, "a:b", "a b", "é"])
def test_bad_key_ids_are_refused(key_id):
    with pytest.raises(KeyringError):
        Keyring([(key_id, b"\x01" * 32)], active=key_id)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_keyring_refuses_wrong_key_lengths(length):
    with pytest.raises(KeyringError, match="32 bytes"):
        Keyring([("k1", b"\x01" * length)], active="k1")


@pytest.mark.parametrize("value", [math.nan, {"x": math.inf}, {1, 2}, b"bytes"])
def test_values_that_are_not_portable_json_are_refused(value):
    with pytest.raises(CryptoError):
        keyring_from_settings("11" * 32).encrypt(value, CTX)


def test_repr_names_ids_never_key_material():
    ring = keyring_from_settings("ab" * 32, keys=f"k1:{'cd' * 32}")
    text = repr(ring) + repr(Config.from_env(dict(TEST_ENV)))
    assert "k1" in repr(ring)
    for material in ("ab" * 32, "cd" * 32, "11" * 32, "abab", "\\xab"):
        assert material not in text


@pytest.mark.parametrize("bad", [None, 42, "", "v2:", "v9:k1:AAAA", "legacy"])
def test_key_id_of_rejects_unknown_shapes(bad):
    with pytest.raises(CryptoError):
        Keyring.key_id_of(bad)


def test_record_context_refuses_nul_and_empty_parts():
    for ctx in (RecordContext("a", "", "c"), RecordContext("a\x00b", "1", "c")):
        with pytest.raises(CryptoError):
            keyring_from_settings("11" * 32).encrypt(VALUE, ctx)


def test_aad_is_the_documented_bytes():
    documented = RecordContext("download_credentials", "6f1c1b1e-2d2a-4c3b-8a4d-5e6f7a8b9c0d",
                               "encrypted_credentials")
    assert aesgcm.v2_aad("k1", documented.encode()).hex()[:16] == "6372656473766300"
    assert len(aesgcm.v2_aad("k1", documented.encode())) == 93
    assert aesgcm.v2_aad("k1", CTX.encode()) == (
        b"credsvc\x00v2\x00k1\x00end_user_credentials\x00" + CTX.record_id.encode()
        + b"\x00encrypted_value"
    )
    assert sealed.v3_info("i1", "c\x00r\x00f") == b"credsvc\x00v3\x00i1\x00c\x00r\x00f"
    assert transit.v4_aad("b1", "vault:v1:xx", "c\x00r\x00f") == (
        b"credsvc\x00v4\x00b1\x00vault:v1:xx\x00c\x00r\x00f"
    )


def test_min_decrypt_key_also_applies_to_legacy_and_active_must_be_usable():
    legacy = encrypt_json(VALUE, b"\x11" * 32)
    assert keyring_from_settings("11" * 32, keys=f"k1:{'12' * 32}").decrypt(legacy, CTX) == VALUE
    strict = keyring_from_settings("11" * 32, keys=f"k1:{'12' * 32}", min_decrypt="k1")
    with pytest.raises(CryptoError):
        strict.decrypt(legacy, CTX)
    with pytest.raises(KeyringError, match="older"):
        keyring_from_settings("11" * 32, keys=f"k1:{'12' * 32}", active="k0", min_decrypt="k1")


# -- configuration of the modes -----------------------------------------------------------


def ingest_env(**extra):
    env = {k: v for k, v in TEST_ENV.items() if k != "CREDENTIALS_ENCRYPTION_KEY"}
    env.update({"CREDSVC_MODE": "ingest"}, **extra)
    return env


def test_ingest_mode_builds_a_sealer(ingest_pair):
    config = Config.from_env(ingest_env(CREDENTIALS_INGEST_PUBLIC_KEY=ingest_pair[1]))
    assert config.mode == "ingest" and isinstance(config.keyring, Sealer)


@pytest.mark.parametrize(
    "extra, message",
    [
        ({}, "CREDENTIALS_INGEST_PUBLIC_KEY"),
        ({"CREDENTIALS_INGEST_PUBLIC_KEY": "abcd"}, "CREDENTIALS_INGEST_PUBLIC_KEY"),
        ({"CREDENTIALS_ENCRYPTION_KEY": "11" * 32}, "must not be given CREDENTIALS_ENCRYPTION_KEY"),
        ({"CREDENTIALS_INGEST_PRIVATE_KEY": "AA"}, "must not be given"),
        ({"CREDENTIALS_KEYS": "k1:" + "11" * 32}, "must not be given CREDENTIALS_KEYS"),
        ({"CREDENTIALS_TRANSIT_ADDR": "http://127.0.0.1:8200"}, "CREDENTIALS_TRANSIT_TOKEN"),
        ({"CREDSVC_MODE": "decrypt-everything"}, "CREDSVC_MODE"),
    ],
)
def test_ingest_mode_refuses_unsafe_or_incomplete_settings(extra, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_env(ingest_env(**extra))


def test_worker_config_reads_ingest_private_key_and_transit(ingest_pair):
    env = dict(TEST_ENV, CREDENTIALS_INGEST_PRIVATE_KEY=ingest_pair[0],
               CREDENTIALS_TRANSIT_ADDR="http://127.0.0.1:8200",
               CREDENTIALS_TRANSIT_TOKEN="t", CREDENTIALS_TRANSIT_KEY="credsvc",
               CREDENTIALS_KEYS="bao1:transit", CREDENTIALS_ACTIVE_KEY="k0")
    config = Config.from_env(env)
    assert config.keyring.key_ids == ["k0", "bao1", "i1"]
    assert config.keyring.active_key_id == "k0"


# -- NIST GCM decryption vectors (cryptography_vectors) -----------------------------------


def nist_vectors(name: str):
    vectors = pytest.importorskip("cryptography_vectors")
    path = Path(vectors.__file__).parent / "ciphers" / "AES" / "GCM" / name
    entry: dict[str, str] = {}
    for line in path.read_text().splitlines() + [""]:
        line = line.strip()
        if line.startswith("Count"):
            entry = {}
        elif "=" in line and not line.startswith("["):
            name_, _, value = line.partition("=")
            entry[name_.strip()] = value.strip()
        elif line == "FAIL":
            entry["FAIL"] = "1"
        elif not line and "Key" in entry:
            yield entry
            entry = {}


def test_nist_gcm_decrypt_vectors_fail_entries_are_rejected():
    """Every FAIL entry of gcmDecrypt256.rsp with our IV and tag sizes (96 / 128 bits) raises
    CryptoError; every PASS entry of the same sizes decrypts to its PT (the parser is right)."""
    failed = passed = 0
    for v in nist_vectors("gcmDecrypt256.rsp"):
        key, iv, ct, aad, tag = (bytes.fromhex(v[k]) for k in ("Key", "IV", "CT", "AAD", "Tag"))
        if len(iv) != aesgcm.IV_BYTES or len(tag) != aesgcm.TAG_BYTES:
            continue
        if "FAIL" in v:
            with pytest.raises(CryptoError):
                aesgcm.open_sealed(key, iv, tag, ct, aad or None)
            if not aad:  # the same bytes as a stored legacy value: rejected there too
                token = ":".join(aesgcm.b64(x) for x in (iv, tag, ct))
                with pytest.raises(CryptoError):
                    decrypt_json(token, key)
                with pytest.raises(CryptoError):
                    Keyring([("k1", key)], active="k1").decrypt(token, CTX)
            failed += 1
        else:
            assert aesgcm.open_sealed(key, iv, tag, ct, aad or None) == bytes.fromhex(v["PT"])
            passed += 1
    print(f"NIST gcmDecrypt256 (96-bit IV, 128-bit tag): FAIL rejected={failed} PASS ok={passed}")
    assert failed > 100 and passed > 100

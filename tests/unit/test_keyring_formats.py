"""v7 (sealed to an ingest public key and signed), v6 (transit envelope), their record-bound
predecessors v3 and v4, and the keyring's hardening.

tests/unit/test_crypto.py covers legacy, v2 and v5; tests/unit/test_owner_binding.py the owner
binding of every collection and the migration switches; this file adds the other formats, the
fixes made in review, and the NIST GCM decryption-failure vectors.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import responses
from cryptography.exceptions import InvalidSignature

from credsvc.config import (
    Config,
    ConfigError,
    keyring_from_settings,  # its errors name the variables
)
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
    generate_signing_pair,
    parse_public_key,
    parse_signing_key,
    sealed,
    transit,
)
from credsvc.crypto.keyring import like_patterns_collide
from credsvc.model import DOWNLOAD_CREDENTIALS, END_USER_CREDENTIALS
from credsvc.resources import build_keyring
from tests.conftest import TEST_ENV, env_for_mode

ROW = {
    "id": "0b6f3f0e-5e1a-4d7e-9a0b-3c2d1e0f9a8b",
    "business_id": "acme",
    "end_user_hash": "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90",
    "field": "twitterCt0",
}
CTX = END_USER_CREDENTIALS.context(ROW)
MOVED = [
    replace(CTX, record_id="11111111-1111-4111-8111-111111111111"),
    replace(CTX, collection="platform_connections"),
    replace(CTX, field="encrypted_credentials"),
    END_USER_CREDENTIALS.context({**ROW, "business_id": "other"}),
    END_USER_CREDENTIALS.context({**ROW, "field": "twitterAuthToken"}),
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


# The ingest side's key pairs: X25519 (seal / open) and Ed25519 (sign / verify).
INGEST_PRIVATE, INGEST_PUBLIC = generate_keypair()
SIGNING, VERIFY = generate_signing_pair()


@pytest.fixture(scope="module")
def ingest_pair():
    return INGEST_PRIVATE, INGEST_PUBLIC


@pytest.fixture
def workers(ingest_pair):
    return keyring_from_settings("22" * 32, ingest_private=ingest_pair[0], ingest_verify=VERIFY)


@pytest.fixture
def sealer(ingest_pair):
    return Sealer("i1", parse_public_key(ingest_pair[1]), parse_signing_key(SIGNING))


# -- v7: sealed to the ingest public key, signed with the ingest signing key ---------------


def test_v7_shape_and_roundtrip_on_the_workers_side(sealer, workers):
    token = sealer.encrypt(VALUE, CTX)
    prefix, key_id, enc, ct, signature = token.split(":")
    assert (prefix, key_id) == ("v7", "i1")
    assert len(base64.b64decode(enc)) == 32
    assert len(base64.b64decode(ct)) == len(aesgcm.serialize(VALUE)) + 16
    assert len(base64.b64decode(signature)) == 64
    assert_no_plaintext(token)
    assert workers.key_id_of(token) == "i1" and workers.format_of(token) == "v7"
    assert workers.decrypt(token, CTX) == VALUE


def test_v7_signature_covers_the_documented_message(sealer):
    """docs/ciphertext-format.md: Ed25519 over info 0x00 enc ciphertext||tag, where info
    carries the key id, the record and its owner; built here by hand."""
    token = sealer.encrypt(VALUE, CTX)
    enc, ct, signature = (base64.b64decode(part) for part in token.split(":")[2:])
    info = (
        b"credsvc\x00v7\x00i1\x00end_user_credentials\x00"
        + ROW["id"].encode()
        + b'\x00encrypted_value\x00[["business_id","acme"],["end_user_hash","'
        + ROW["end_user_hash"].encode()
        + b'"],["field","twitterCt0"]]'
    )
    verify_key = sealed.parse_verify_key(VERIFY)
    verify_key.verify(signature, info + b"\x00" + enc + ct)  # raises InvalidSignature if not
    for other in (info.replace(b"acme", b"acmf"), info.replace(b"\x00i1\x00", b"\x00i2\x00")):
        with pytest.raises(InvalidSignature):
            verify_key.verify(signature, other + b"\x00" + enc + ct)


def test_v7_same_plaintext_twice_differs(sealer):
    assert sealer.encrypt(VALUE, CTX) != sealer.encrypt(VALUE, CTX)


def test_the_sealer_cannot_decrypt_even_its_own_values(sealer):
    token = sealer.encrypt(VALUE, CTX)
    for call in (lambda: sealer.decrypt(token, CTX), lambda: sealer.rewrap(token, CTX)):
        with pytest.raises(DecryptionUnavailable, match="cannot decrypt"):
            call()
    assert sealer.can_decrypt is False and "Sealer(" in repr(sealer)


@pytest.mark.parametrize("other", MOVED)
def test_v7_moved_to_another_record_field_or_owner_is_rejected(sealer, workers, other):
    token = sealer.encrypt(VALUE, CTX)
    assert workers.decrypt(token, CTX) == VALUE
    with pytest.raises(CryptoError):
        workers.decrypt(token, other)


def test_v7_every_byte_flip_is_rejected(sealer, workers):
    token = sealer.encrypt(VALUE, CTX)
    tried = 0
    for forged in every_flip(token, first_part=2):
        with pytest.raises(CryptoError):
            workers.decrypt(forged, CTX)
        tried += 1
    assert tried == 32 + len(aesgcm.serialize(VALUE)) + 16 + 64


def test_v7_other_recipient_or_key_id_is_rejected(sealer, workers):
    token = sealer.encrypt(VALUE, CTX)
    with pytest.raises(CryptoError, match="not configured"):
        workers.decrypt(token.replace("v7:i1:", "v7:i2:"), CTX)
    other_private, _ = generate_keypair()
    stranger = keyring_from_settings("22" * 32, ingest_private=other_private, ingest_verify=VERIFY)
    with pytest.raises(CryptoError, match="authentication"):
        stranger.decrypt(token, CTX)


def test_v7_values_are_rewrapped_to_the_active_local_key(sealer, workers):
    token = sealer.encrypt(VALUE, CTX)
    assert workers.needs_rewrap(token)
    rewrapped = workers.rewrap(token, CTX)
    assert rewrapped.startswith("v5:k0:") and workers.decrypt(rewrapped, CTX) == VALUE


@pytest.mark.parametrize("text", ["", "abcd", base64.b64encode(b"x" * 31).decode(), "zz" * 32])
def test_ingest_keys_of_the_wrong_length_are_refused(text):
    with pytest.raises(CryptoError):
        parse_public_key(text)
    with pytest.raises(CryptoError):
        parse_signing_key(text)
    with pytest.raises((CryptoError, KeyringError)):
        keyring_from_settings("22" * 32, ingest_private=text or "=", ingest_verify=VERIFY)
    with pytest.raises(KeyringError, match="CREDENTIALS_INGEST_VERIFY_KEY"):
        keyring_from_settings("22" * 32, ingest_private=INGEST_PRIVATE, ingest_verify=text or "=")


@pytest.mark.parametrize(
    "token",
    [
        "v3:i1:AAAA:AAAA",
        "v3:i1",
        "v3::" + "A" * 44 + ":AAAA",
        "v3:i1:" + "A" * 43 + "=:" + "A" * 24,
        "v7:i1:AAAA:AAAA:AAAA",
        "v7:i1",
        "v7:i1:" + "A" * 43 + "=:" + "A" * 24,  # no signature
        "v7:i1:" + "A" * 43 + "=:" + "A" * 24 + ":" + "A" * 84,  # signature of 63 bytes
        "v7::" + "A" * 43 + "=:" + "A" * 24 + ":" + "A" * 86 + "==",
    ],
)
def test_malformed_sealed_values_are_clean_errors(workers, token):
    permissive = keyring_from_settings(
        "22" * 32, ingest_private=INGEST_PRIVATE, ingest_verify=VERIFY, accept_unsigned_ingest=True
    )
    for ring in (workers, permissive):
        with pytest.raises(CryptoError):
            ring.decrypt(token, CTX)


# -- v4: transit envelope (wire-level fake of the transit API) ----------------------------

BAO = "http://bao.test"


class FakeTransit:
    """Just enough of /v1/transit: data keys wrapped with a local AES key, decrypt on demand."""

    def __init__(self, wire, allow_decrypt=True):
        self.root = b"\x07" * 32
        self.allow_decrypt = allow_decrypt
        self.calls = []
        wire.add_callback(
            responses.POST, f"{BAO}/v1/transit/datakey/plaintext/credsvc", callback=self.datakey
        )
        wire.add_callback(
            responses.POST, f"{BAO}/v1/transit/decrypt/credsvc", callback=self.decrypt
        )

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


def transit_ring(**kwargs):
    key = TransitKey(TransitClient(BAO, "token", "credsvc"))
    return keyring_from_settings("33" * 32, keys="bao1:transit", transit_key=key, **kwargs)


def test_v6_roundtrip_binding_and_flips(wire):
    fake = FakeTransit(wire)
    ring = transit_ring()
    assert ring.active_key_id == "bao1" and ring.active_prefix == "v6:bao1:"
    token = ring.encrypt(VALUE, CTX)
    assert token.startswith("v6:bao1:") and ring.key_id_of(token) == "bao1"
    assert base64.b64decode(token.split(":")[2]).startswith(b"vault:v1:")
    assert_no_plaintext(token)
    assert ring.decrypt(token, CTX) == VALUE
    for other in MOVED:
        with pytest.raises(CryptoError):
            ring.decrypt(token, other)
    tried = 0
    for forged in every_flip(token, first_part=3):  # iv, tag, ciphertext
        with pytest.raises(CryptoError):
            ring.decrypt(forged, CTX)
        tried += 1
    assert tried == 12 + 16 + len(aesgcm.serialize(VALUE))
    assert fake.calls.count("datakey") == 1


def test_v4_written_before_owner_binding_is_still_read_and_bound_to_its_record(wire):
    FakeTransit(wire)
    ring = transit_ring()
    transit_key = TransitKey(TransitClient(BAO, "token", "credsvc"))
    token = transit_key.encrypt(VALUE, "bao1", CTX.encode(), fmt="v4")
    assert token.startswith("v4:bao1:") and ring.format_of(token) == "v4"
    assert ring.decrypt(token, CTX) == VALUE
    for other in MOVED[:3]:  # the record, not the owner: v4 never bound the owner
        with pytest.raises(CryptoError):
            ring.decrypt(token, other)
    assert ring.needs_rewrap(token)
    rewrapped = ring.rewrap(token, CTX)
    assert rewrapped.startswith("v6:bao1:") and ring.decrypt(rewrapped, CTX) == VALUE
    with pytest.raises(CryptoError):
        ring.decrypt(rewrapped, MOVED[3])


def test_v6_wrapped_key_swapped_between_records_is_rejected(wire):
    FakeTransit(wire)
    ring = transit_ring()
    first, second = ring.encrypt(VALUE, CTX), ring.encrypt(VALUE, CTX)
    a, b = first.split(":"), second.split(":")
    a[2] = b[2]
    with pytest.raises(CryptoError):
        ring.decrypt(":".join(a), CTX)


def test_v6_decrypt_denied_by_policy_is_unavailable_not_tampered(wire):
    FakeTransit(wire, allow_decrypt=False)
    ring = transit_ring()
    token = ring.encrypt(VALUE, CTX)
    with pytest.raises(DecryptionUnavailable):
        ring.decrypt(token, CTX)


def test_v6_transit_unreachable_is_unavailable():
    ring = keyring_from_settings(
        "33" * 32,
        keys="bao1:transit",
        transit_key=TransitKey(TransitClient("http://127.0.0.1:9", "t", "k", timeout=(0.5, 0.5))),
    )
    with pytest.raises(transit.TransitUnavailable):
        ring.encrypt(VALUE, CTX)


def test_rotation_from_local_to_transit_keeps_local_values_readable(wire):
    FakeTransit(wire)
    local = keyring_from_settings("33" * 32).encrypt(VALUE, CTX)
    local_v2 = aesgcm.encrypt_v2(VALUE, "k0", b"\x33" * 32, CTX.encode(), fmt="v2")
    legacy = encrypt_json(VALUE, b"\x33" * 32)
    ring = transit_ring()
    assert local.startswith("v5:k0:")
    for stored in (local, local_v2, legacy):
        assert ring.decrypt(stored, CTX) == VALUE
        assert ring.rewrap(stored, CTX).startswith("v6:bao1:")


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


@pytest.mark.parametrize(
    "a, b, collide",
    [("k1", "K1", True), ("k_1", "kx1", True), ("k1", "k2", False), ("k1", "k10", False)],
)
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
    documented = RecordContext(
        "download_credentials", "6f1c1b1e-2d2a-4c3b-8a4d-5e6f7a8b9c0d", "encrypted_credentials"
    )
    assert aesgcm.v2_aad("k1", documented.encode()).hex()[:16] == "6372656473766300"
    assert len(aesgcm.v2_aad("k1", documented.encode())) == 93
    assert aesgcm.v2_aad("k1", CTX.encode()) == (
        b"credsvc\x00v2\x00k1\x00end_user_credentials\x00"
        + CTX.record_id.encode()
        + b"\x00encrypted_value"
    )
    assert sealed.v3_info("i1", "c\x00r\x00f") == b"credsvc\x00v3\x00i1\x00c\x00r\x00f"
    assert transit.v4_aad("b1", "vault:v1:xx", "c\x00r\x00f") == (
        b"credsvc\x00v4\x00b1\x00vault:v1:xx\x00c\x00r\x00f"
    )


def test_v5_aad_is_the_documented_bytes():
    """docs/ciphertext-format.md: the v2 bytes, then NUL and the owner columns as compact
    ASCII JSON pairs in the model's order. Written out by hand, not computed."""
    row = {
        "id": "6f1c1b1e-2d2a-4c3b-8a4d-5e6f7a8b9c0d",
        "user_id": "3a0e1f2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
        "creator_profile_id": "7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d0e",
        "platform": "youtube",
        "auth_type": "password",
        "username": "not part of the binding",
    }
    documented = (
        b"credsvc\x00v5\x00k1\x00download_credentials\x00"
        b"6f1c1b1e-2d2a-4c3b-8a4d-5e6f7a8b9c0d\x00encrypted_credentials\x00"
        b'[["user_id","3a0e1f2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"],'
        b'["creator_profile_id","7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d0e"],'
        b'["platform","youtube"],["auth_type","password"]]'
    )
    context = DOWNLOAD_CREDENTIALS.context(row)
    assert aesgcm.v2_aad("k1", context.encode(owner_bound=True), "v5") == documented
    # ... and it is what the keyring really binds a v5 value to: the value opens with these
    # bytes as associated data and nothing else.
    key = bytes(range(32))
    token = Keyring([("k1", key)], active="k1").encrypt(VALUE, context)
    fmt, key_id, iv, tag, ciphertext = token.split(":")
    assert (fmt, key_id) == ("v5", "k1")
    raw = [base64.b64decode(part) for part in (iv, tag, ciphertext)]
    assert json.loads(aesgcm.open_sealed(key, *raw, documented)) == VALUE
    with pytest.raises(CryptoError):
        aesgcm.open_sealed(key, *raw, documented.replace(b"youtube", b"YouTube"))
    # v6 and v7 put the same owner-bound context where v4 and v3 put the record.
    bound = context.encode(owner_bound=True)
    assert transit.v4_aad("b1", "vault:v1:xx", bound, "v6") == (
        b"credsvc\x00v6\x00b1\x00vault:v1:xx\x00" + documented.split(b"\x00", 3)[3]
    )
    assert sealed.v3_info("i1", bound, "v7") == (
        b"credsvc\x00v7\x00i1\x00" + documented.split(b"\x00", 3)[3]
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
    return env_for_mode("ingest", **extra)


def test_ingest_mode_builds_a_sealer(ingest_pair, workers):
    config = Config.from_env(
        ingest_env(
            CREDENTIALS_INGEST_PUBLIC_KEY=ingest_pair[1], CREDENTIALS_INGEST_SIGNING_KEY=SIGNING
        )
    )
    sealer = build_keyring(config)
    assert config.mode == "ingest" and isinstance(sealer, Sealer)
    token = sealer.encrypt(VALUE, CTX)
    assert token.startswith("v7:i1:") and workers.decrypt(token, CTX) == VALUE


@pytest.mark.parametrize(
    "extra, message",
    [
        ({}, "CREDENTIALS_INGEST_PUBLIC_KEY"),
        ({"CREDENTIALS_INGEST_SIGNING_KEY": SIGNING}, "CREDENTIALS_INGEST_PUBLIC_KEY"),
        (
            {"CREDENTIALS_INGEST_PUBLIC_KEY": "abcd", "CREDENTIALS_INGEST_SIGNING_KEY": SIGNING},
            "CREDENTIALS_INGEST_PUBLIC_KEY",
        ),
        ({"CREDENTIALS_INGEST_PUBLIC_KEY": INGEST_PUBLIC}, "CREDENTIALS_INGEST_SIGNING_KEY"),
        (
            {"CREDENTIALS_INGEST_PUBLIC_KEY": INGEST_PUBLIC, "CREDENTIALS_INGEST_SIGNING_KEY": "a"},
            "_SIGNING_KEY",
        ),
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
    env = dict(
        TEST_ENV,
        CREDENTIALS_INGEST_PRIVATE_KEY=ingest_pair[0],
        CREDENTIALS_INGEST_VERIFY_KEY=VERIFY,
        CREDENTIALS_TRANSIT_ADDR="http://127.0.0.1:8200",
        CREDENTIALS_TRANSIT_TOKEN="t",
        CREDENTIALS_TRANSIT_KEY="credsvc",
        CREDENTIALS_KEYS="bao1:transit",
        CREDENTIALS_ACTIVE_KEY="k0",
    )
    config = Config.from_env(env)
    ring = build_keyring(config)
    assert ring.key_ids == ["k0", "bao1", "i1"]
    assert ring.active_key_id == "k0"


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

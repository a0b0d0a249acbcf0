"""The crypto module: formats, strict parsing, tampering, keyring, Node compatibility."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import replace

import pytest

from credsvc.config import keyring_from_settings  # its errors name the variables
from credsvc.crypto import (
    CryptoError,
    Keyring,
    KeyringError,
    aesgcm,
    decrypt_json,
    encrypt_json,
    parse_key,
)
from credsvc.model import PROFILES

KEY = bytes(range(32))
ROW = {
    "id": "9b2f8a7e-1111-4222-8333-444455556666",
    "user_id": "5d1c0b7a-2222-4333-8444-555566667777",
    "platform": "instagram",
}
CTX = PROFILES.context(ROW)
VALUE = {"username": "creator123", "password": "sécure pass ✓", "n": [1, 2, None]}


def test_legacy_roundtrip_and_shape():
    token = encrypt_json(VALUE, KEY)
    iv, tag, ciphertext = token.split(":")
    assert len(base64.b64decode(iv)) == 12 and len(base64.b64decode(tag)) == 16
    assert "creator123" not in token and "password" not in token
    assert decrypt_json(token, KEY) == VALUE


def test_same_plaintext_twice_differs():
    assert encrypt_json(VALUE, KEY) != encrypt_json(VALUE, KEY)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a:b",
        "a:b:c:d",
        "!!!:AAAAAAAAAAAAAAAAAAAAAA==:AAAA",
        "AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:AAAA",  # well-formed, fails authentication
        "AAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:AAAA",  # 15-byte IV
        "AAAAAAAAAAAAAAAA:AAAA:AAAA",
    ],
)
def test_malformed_legacy_values_are_clean_errors(token):
    with pytest.raises(CryptoError):
        decrypt_json(token, KEY)


def test_non_canonical_base64_is_rejected():
    iv, tag, ciphertext = encrypt_json(VALUE, KEY).split(":")
    assert tag.endswith("==")
    with pytest.raises(CryptoError, match="base64"):
        decrypt_json(":".join((iv, tag.rstrip("="), ciphertext)), KEY)


def flip(token: str, part: int, byte: int) -> str:
    parts = token.split(":")
    raw = bytearray(base64.b64decode(parts[part]))
    raw[byte] ^= 0x01
    parts[part] = base64.b64encode(bytes(raw)).decode()
    return ":".join(parts)


# What a flip battery must cover: every byte of the IV (12), the tag (16) and the ciphertext (as
# long as the compact JSON plaintext), counted here without asking the code under test.
SEALED_BYTES = 12 + 16 + len(json.dumps(VALUE, separators=(",", ":"), ensure_ascii=False).encode())


def accepted_flips(token: str, first_part: int, decrypt) -> tuple[int, list[tuple[int, int]]]:
    """Flip one bit of every byte of every base64 part from `first_part` on and decrypt each
    forgery; returns how many were tried and where the accepted ones were flipped."""
    tried, accepted = 0, []
    parts = token.split(":")
    for part in range(first_part, len(parts)):
        for byte in range(len(base64.b64decode(parts[part]))):
            tried += 1
            try:
                decrypt(flip(token, part, byte))
            except CryptoError:
                continue
            accepted.append((part, byte))
    return tried, accepted


def test_every_single_byte_flip_is_rejected_legacy():
    token = encrypt_json(VALUE, KEY)
    tried, accepted = accepted_flips(token, 0, lambda forged: decrypt_json(forged, KEY))
    print(f"legacy byte flips tried={tried} accepted={len(accepted)} {accepted or ''}")
    assert tried == SEALED_BYTES
    assert accepted == []


def test_wrong_key_is_rejected():
    with pytest.raises(CryptoError):
        decrypt_json(encrypt_json(VALUE, KEY), os.urandom(32))


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_wrong_key_lengths_refused(length):
    with pytest.raises(CryptoError):
        encrypt_json(VALUE, b"k" * length)
    with pytest.raises(CryptoError):
        parse_key(base64.b64encode(b"k" * length).decode())


def test_parse_key_accepts_hex_and_base64():
    assert parse_key(KEY.hex()) == KEY
    assert parse_key(base64.b64encode(KEY).decode()) == KEY


# -- keyring / v5 (and v2, its record-bound predecessor) ----------------------------------


def ring(*ids: str, active: str | None = None, min_decrypt: str = "") -> Keyring:
    keys = [(key_id, bytes([i]) * 32) for i, key_id in enumerate(ids, start=1)]
    return Keyring(keys, active=active or ids[-1], min_decrypt=min_decrypt)


def written_as(fmt: str, keyring: Keyring, key_id: str = "k1") -> str:
    """VALUE under `key_id` of a `ring(...)`: "v5" as the keyring writes it now, "v2" as it
    was written before owner binding (record-bound only)."""
    if fmt == "v5":
        assert keyring.active_key_id == key_id
        return keyring.encrypt(VALUE, CTX)
    key = bytes([keyring.key_ids.index(key_id) + 1]) * 32
    return aesgcm.encrypt_v2(VALUE, key_id, key, CTX.encode(), fmt="v2")


MOVED = [
    replace(CTX, record_id="00000000-0000-4000-8000-000000000000"),
    replace(CTX, collection="download_credentials"),
    replace(CTX, field="encrypted_cookies"),
]


def test_v5_names_key_and_is_bound_to_record_and_owner():
    keyring = ring("k1")
    token = keyring.encrypt(VALUE, CTX)
    assert token.startswith("v5:k1:")
    assert keyring.decrypt(token, CTX) == VALUE
    relabelled = [
        PROFILES.context({**ROW, "user_id": "00000000-0000-4000-8000-000000000001"}),
        PROFILES.context({**ROW, "platform": "youtube"}),
    ]
    for other in MOVED + relabelled:
        with pytest.raises(CryptoError):
            keyring.decrypt(token, other)


def test_v2_is_still_read_and_bound_to_its_record():
    keyring = ring("k1")
    token = written_as("v2", keyring)
    assert token.startswith("v2:k1:") and keyring.key_id_of(token) == "k1"
    assert keyring.decrypt(token, CTX) == VALUE
    for other in MOVED:
        with pytest.raises(CryptoError):
            keyring.decrypt(token, other)


@pytest.mark.parametrize("fmt", ["v5", "v2"])
def test_every_byte_flip_rejected(fmt):
    keyring = ring("k1")
    token = written_as(fmt, keyring)
    assert token.startswith(f"{fmt}:k1:")
    tried, accepted = accepted_flips(token, 2, lambda forged: keyring.decrypt(forged, CTX))
    print(f"{fmt} byte flips tried={tried} accepted={len(accepted)} {accepted or ''}")
    assert tried == SEALED_BYTES
    assert accepted == []


@pytest.mark.parametrize("fmt", ["v5", "v2"])
def test_key_id_swap_is_rejected(fmt):
    keyring = ring("k1", "k2", active="k1")
    token = written_as(fmt, keyring)
    assert keyring.decrypt(token, CTX) == VALUE
    with pytest.raises(CryptoError):
        keyring.decrypt(token.replace(f"{fmt}:k1:", f"{fmt}:k2:"), CTX)


def test_rotation_keeps_old_records_readable():
    old = ring("k1")
    token = old.encrypt(VALUE, CTX)
    legacy = encrypt_json(VALUE, bytes([1]) * 32)
    new = ring("k1", "k2")
    assert new.decrypt(token, CTX) == VALUE
    assert new.decrypt(legacy, CTX) == VALUE
    assert new.key_id_of(token) == "k1" and new.key_id_of(legacy) == "legacy"
    rewrapped = new.rewrap(token, CTX)
    assert new.key_id_of(rewrapped) == "k2" and not new.needs_rewrap(rewrapped)
    assert new.decrypt(rewrapped, CTX) == VALUE


def test_min_decrypt_key_makes_old_keys_unusable():
    token = ring("k1").encrypt(VALUE, CTX)
    legacy = encrypt_json(VALUE, bytes([1]) * 32)
    strict = ring("k1", "k2", min_decrypt="k2")
    for stored in (token, legacy):
        with pytest.raises(CryptoError):
            strict.decrypt(stored, CTX)


def test_keyring_settings():
    single = keyring_from_settings(KEY.hex())
    assert single.key_ids == ["k0"] and single.active_key_id == "k0"
    combined = keyring_from_settings(KEY.hex(), keys=f"k1:{os.urandom(32).hex()}")
    assert combined.key_ids == ["k0", "k1"] and combined.active_key_id == "k1"
    with pytest.raises(KeyringError, match="CREDENTIALS_ENCRYPTION_KEY"):
        keyring_from_settings("")
    with pytest.raises(KeyringError, match="CREDENTIALS_ENCRYPTION_KEY"):
        keyring_from_settings("abcd")
    with pytest.raises(KeyringError, match="CREDENTIALS_ACTIVE_KEY"):
        keyring_from_settings(KEY.hex(), active="nope")
    with pytest.raises(KeyringError, match="twice"):
        keyring_from_settings(KEY.hex(), keys=f"k0:{KEY.hex()}")


# Compatibility with the Node utility, against Node itself: tests/unit/test_node_interop.py.


@pytest.mark.parametrize("key_id", ["k1\n", "k1\r\n", "\nk1"])
def test_key_ids_with_a_newline_are_refused(key_id):
    # KEY_ID_PATTERN ended in `$`, which also matches before a trailing newline.
    with pytest.raises(CryptoError):
        aesgcm.check_key_id(key_id)
    with pytest.raises(KeyringError, match="invalid key id"):
        Keyring([(key_id, KEY)], active=key_id)
    assert aesgcm.KEY_ID_PATTERN.match(key_id) is None  # safe even where .match is used

"""Encrypt-only ingest: values sealed to an X25519 public key with HPKE (RFC 9180).

A process that holds only the public key can seal but never open; the workers hold the
private key. The construction is HPKE base mode, single-shot, with the suite

    KEM  DHKEM(X25519, HKDF-SHA256)   (0x0020)
    KDF  HKDF-SHA256                  (0x0001)
    AEAD AES-256-GCM                  (0x0002)

from `cryptography.hazmat.primitives.hpke`. The record binding goes into HPKE's `info`
(RFC 9180 section 8.1: single-shot users put their associated data there).

Format (docs/ciphertext-format.md):
    "v3" ":" recipient_key_id ":" base64(enc) ":" base64(ciphertext || tag)
    enc = the 32-byte ephemeral X25519 public key;
    info = b"credsvc\\0v3\\0<key_id>\\0<collection>\\0<record_id>\\0<field>"

Keys are the raw 32-byte X25519 keys, as 64 hex characters or standard base64.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from credsvc.crypto import aesgcm
from credsvc.crypto.aesgcm import CryptoError, DecryptionUnavailable, parse_key

V3_PREFIX = "v3"
ENC_BYTES = 32
TAG_BYTES = 16
SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
RAW = serialization.Encoding.Raw


def parse_public_key(text: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(parse_key(text, "X25519 public key"))


def parse_private_key(text: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(parse_key(text, "X25519 private key"))


def generate_keypair() -> tuple[str, str]:
    """A fresh (private, public) pair, each as base64 of the raw 32 bytes."""
    private = X25519PrivateKey.generate()
    public = private.public_key()
    private_raw = private.private_bytes(
        RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public_raw = public.public_bytes(RAW, serialization.PublicFormat.Raw)
    return aesgcm.b64(private_raw), aesgcm.b64(public_raw)


def is_v3(token: str) -> bool:
    return isinstance(token, str) and token.startswith(V3_PREFIX + ":")


def v3_info(key_id: str, context: str) -> bytes:
    return aesgcm.aad(V3_PREFIX, key_id, context)


def seal_v3(value: Any, key_id: str, public_key: X25519PublicKey, context: str) -> str:
    aesgcm.check_key_id(key_id)
    blob = SUITE.encrypt(aesgcm.serialize(value), public_key, info=v3_info(key_id, context))
    enc, sealed = blob[:ENC_BYTES], blob[ENC_BYTES:]
    return ":".join((V3_PREFIX, key_id, aesgcm.b64(enc), aesgcm.b64(sealed)))


def split_v3(token: str) -> tuple[str, bytes, bytes]:
    if not isinstance(token, str):
        raise CryptoError("malformed ciphertext: not a string")
    parts = token.split(":")
    if len(parts) != 4 or parts[0] != V3_PREFIX:
        raise CryptoError("malformed ciphertext: expected 'v3:key_id:enc:ciphertext'")
    if not aesgcm.KEY_ID_PATTERN.match(parts[1]):
        raise CryptoError("malformed ciphertext: invalid key id")
    enc = aesgcm.unb64(parts[2], "encapsulated key", ENC_BYTES)
    sealed = aesgcm.unb64(parts[3], "ciphertext")
    if len(sealed) < TAG_BYTES:
        raise CryptoError("malformed ciphertext: shorter than the tag")
    return parts[1], enc, sealed


def open_v3(token: str, private_key: X25519PrivateKey, context: str) -> Any:
    key_id, enc, sealed = split_v3(token)
    try:
        plaintext = SUITE.decrypt(enc + sealed, private_key, info=v3_info(key_id, context))
    except (InvalidTag, ValueError):
        raise CryptoError(
            "ciphertext failed authentication (tampered, moved, or wrong key)"
        ) from None
    return aesgcm.deserialize(plaintext)


class Sealer:
    """The ingest side's keyring: encrypts (`v3`, to a public key) and can decrypt nothing.

    It has the write half of `Keyring`'s interface, so the services that store credentials
    take either. Every decrypting call raises `DecryptionUnavailable` (HTTP 503).
    """

    can_decrypt = False

    def __init__(self, key_id: str, public_key: X25519PublicKey):
        aesgcm.check_key_id(key_id)
        self.active_key_id = key_id
        self._public_key = public_key

    def __repr__(self) -> str:
        return f"Sealer(recipient={self.active_key_id!r})"

    @property
    def key_ids(self) -> list[str]:
        return [self.active_key_id]

    def encrypt(self, value: Any, context) -> str:
        """Seal a JSON value to the recipient public key, bound to `context`."""
        return seal_v3(value, self.active_key_id, self._public_key, context.encode())

    def decrypt(self, token: str, context) -> Any:
        raise DecryptionUnavailable(DecryptionUnavailable.public_message)

    def rewrap(self, token: str, context) -> str:
        raise DecryptionUnavailable(DecryptionUnavailable.public_message)

    @staticmethod
    def key_id_of(token: str) -> str:
        from credsvc.crypto.keyring import Keyring

        return Keyring.key_id_of(token)

    def needs_rewrap(self, token: str) -> bool:
        return False

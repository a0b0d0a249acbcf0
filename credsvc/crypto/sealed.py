"""Encrypt-only ingest: values sealed to an X25519 public key with HPKE (RFC 9180), signed.

A process that holds only the public key can seal but never open; the workers hold the
private key. Sealing alone is not authentication: anyone with the public key (it is not a
secret) and write access to a row could seal a value of their choosing. So every value the
ingest side writes (`v7`) is also signed with the ingest host's Ed25519 signing key, and the
workers verify it with the matching verify key before opening anything. The unsigned earlier
generation (`v3`) is refused unless the keyring's `accept_unsigned_ingest` is set (a migration
switch: rewrap them, then switch it off).

The construction is HPKE base mode, single-shot, with the suite

    KEM  DHKEM(X25519, HKDF-SHA256)   (0x0020)
    KDF  HKDF-SHA256                  (0x0001)
    AEAD AES-256-GCM                  (0x0002)

from `cryptography.hazmat.primitives.hpke`. The record binding goes into HPKE's `info`
(RFC 9180 section 8.1: single-shot users put their associated data there).

Formats (docs/ciphertext-format.md):
    "v7" ":" key_id ":" base64(enc) ":" base64(ciphertext || tag) ":" base64(signature)
    info = b"credsvc\\0v7\\0<key_id>\\0<context>" (record and owner columns)
    signature = Ed25519(signing key, info || 0x00 || enc || ciphertext || tag)
    "v3" ":" key_id ":" base64(enc) ":" base64(ciphertext || tag)       (unsigned, read only)
    info = b"credsvc\\0v3\\0<key_id>\\0<collection>\\0<record_id>\\0<field>"
    enc = the 32-byte ephemeral X25519 public key.

Keys are the raw 32-byte X25519 / Ed25519 keys, as 64 hex characters or standard base64.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from credsvc.crypto import aesgcm
from credsvc.crypto.aesgcm import CryptoError, DecryptionUnavailable, parse_key

V3_PREFIX = "v3"  # unsigned, record-bound (read only, behind a switch)
V7_PREFIX = "v7"  # signed, record- and owner-bound (every ingest write)
SEALED_PREFIXES = (V3_PREFIX, V7_PREFIX)
ENC_BYTES = 32
TAG_BYTES = 16
SIGNATURE_BYTES = 64
SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
RAW = serialization.Encoding.Raw


def parse_public_key(text: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(parse_key(text, "X25519 public key"))


def parse_private_key(text: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(parse_key(text, "X25519 private key"))


def parse_signing_key(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(parse_key(text, "Ed25519 signing key"))


def parse_verify_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(parse_key(text, "Ed25519 verify key"))


def _raw_pair(private: X25519PrivateKey | Ed25519PrivateKey) -> tuple[str, str]:
    private_raw = private.private_bytes(
        RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public_raw = private.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)
    return aesgcm.b64(private_raw), aesgcm.b64(public_raw)


def generate_keypair() -> tuple[str, str]:
    """A fresh X25519 (private, public) pair, each as base64 of the raw 32 bytes."""
    return _raw_pair(X25519PrivateKey.generate())


def generate_signing_pair() -> tuple[str, str]:
    """A fresh Ed25519 (signing, verify) pair, each as base64 of the raw 32 bytes."""
    return _raw_pair(Ed25519PrivateKey.generate())


def is_v3(token: str) -> bool:
    """A sealed value, either generation (v3 or v7)."""
    return isinstance(token, str) and token.split(":", 1)[0] in SEALED_PREFIXES


def v3_info(key_id: str, context: str, fmt: str = V3_PREFIX) -> bytes:
    return aesgcm.aad(fmt, key_id, context)


def _signed_message(info: bytes, enc: bytes, sealed: bytes) -> bytes:
    # info is NUL-free (aesgcm.aad refuses NUL in its parts) and enc has a fixed length, so
    # this encoding is unambiguous.
    return info + b"\x00" + enc + sealed


def seal_v7(
    value: Any,
    key_id: str,
    public_key: X25519PublicKey,
    signing_key: Ed25519PrivateKey,
    context: str,
) -> str:
    aesgcm.check_key_id(key_id)
    info = v3_info(key_id, context, V7_PREFIX)
    blob = SUITE.encrypt(aesgcm.serialize(value), public_key, info=info)
    enc, sealed = blob[:ENC_BYTES], blob[ENC_BYTES:]
    signature = signing_key.sign(_signed_message(info, enc, sealed))
    return ":".join((V7_PREFIX, key_id, *map(aesgcm.b64, (enc, sealed, signature))))


def open_v7(
    token: str, private_key: X25519PrivateKey, verify_key: Ed25519PublicKey, context: str
) -> Any:
    """Verify the ingest signature, then open; a bad signature never reaches HPKE."""
    key_id, enc, sealed, signature = split_v7(token)
    info = v3_info(key_id, context, V7_PREFIX)
    try:
        verify_key.verify(signature, _signed_message(info, enc, sealed))
    except InvalidSignature:
        raise CryptoError(
            "ciphertext failed authentication (not signed by the ingest key, moved, or tampered)"
        ) from None
    return _open(enc, sealed, private_key, info)


def split_v7(token: str) -> tuple[str, bytes, bytes, bytes]:
    if not isinstance(token, str):
        raise CryptoError("malformed ciphertext: not a string")
    parts = token.split(":")
    if len(parts) != 5 or parts[0] != V7_PREFIX:
        raise CryptoError("malformed ciphertext: expected 'v7:key_id:enc:ciphertext:signature'")
    key_id, enc, sealed = _sealed_parts(parts[1:4])
    signature = aesgcm.unb64(parts[4], "signature", SIGNATURE_BYTES)
    return key_id, enc, sealed, signature


def _sealed_parts(parts: list[str]) -> tuple[str, bytes, bytes]:
    if not aesgcm.KEY_ID_PATTERN.fullmatch(parts[0]):
        raise CryptoError("malformed ciphertext: invalid key id")
    enc = aesgcm.unb64(parts[1], "encapsulated key", ENC_BYTES)
    sealed = aesgcm.unb64(parts[2], "ciphertext")
    if len(sealed) < TAG_BYTES:
        raise CryptoError("malformed ciphertext: shorter than the tag")
    return parts[0], enc, sealed


def _open(enc: bytes, sealed: bytes, private_key: X25519PrivateKey, info: bytes) -> Any:
    try:
        plaintext = SUITE.decrypt(enc + sealed, private_key, info=info)
    except (InvalidTag, ValueError):
        raise CryptoError(
            "ciphertext failed authentication (tampered, moved, or wrong key)"
        ) from None
    return aesgcm.deserialize(plaintext)


def seal_v3(value: Any, key_id: str, public_key: X25519PublicKey, context: str) -> str:
    """The unsigned earlier generation: what anyone holding the public key can produce
    (tests and migration tooling; the service never writes it)."""
    aesgcm.check_key_id(key_id)
    blob = SUITE.encrypt(aesgcm.serialize(value), public_key, info=v3_info(key_id, context))
    enc, sealed = blob[:ENC_BYTES], blob[ENC_BYTES:]
    return ":".join((V3_PREFIX, key_id, aesgcm.b64(enc), aesgcm.b64(sealed)))


def split_v3(token: str) -> tuple[str, bytes, bytes]:
    if not isinstance(token, str):
        raise CryptoError("malformed ciphertext: not a string")
    if token.startswith(V7_PREFIX + ":"):
        return split_v7(token)[:3]
    parts = token.split(":")
    if len(parts) != 4 or parts[0] != V3_PREFIX:
        raise CryptoError("malformed ciphertext: expected 'v3:key_id:enc:ciphertext'")
    return _sealed_parts(parts[1:])


def open_v3(token: str, private_key: X25519PrivateKey, context: str) -> Any:
    """Open an unsigned v3 value (only behind the keyring's `accept_unsigned_ingest`)."""
    if not token.startswith(V3_PREFIX + ":"):
        raise CryptoError("malformed ciphertext: not a v3 value")
    key_id, enc, sealed = split_v3(token)
    return _open(enc, sealed, private_key, v3_info(key_id, context))


class Sealer:
    """The ingest side's keyring: encrypts (`v7`: sealed to a public key, signed) and can
    decrypt nothing.

    It has the write half of `Keyring`'s interface, so the services that store credentials
    take either. Every decrypting call raises `DecryptionUnavailable` (HTTP 503).
    """

    can_decrypt = False

    def __init__(self, key_id: str, public_key: X25519PublicKey, signing_key: Ed25519PrivateKey):
        aesgcm.check_key_id(key_id)
        self.active_key_id = key_id
        self._public_key = public_key
        self._signing_key = signing_key

    def __repr__(self) -> str:
        return f"Sealer(recipient={self.active_key_id!r})"

    @property
    def key_ids(self) -> list[str]:
        return [self.active_key_id]

    def encrypt(self, value: Any, context) -> str:
        """Seal a JSON value to the recipient public key and sign it, bound to `context`."""
        return seal_v7(
            value,
            self.active_key_id,
            self._public_key,
            self._signing_key,
            context.encode(owner_bound=True),
        )

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

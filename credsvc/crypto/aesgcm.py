"""AES-256-GCM over JSON values, in the two local-key formats credsvc reads.

Legacy (written by the Node utility `server/utils/credentialsCrypto.js`, readable forever):
    base64(iv) ":" base64(authTag) ":" base64(ciphertext)
    standard padded base64, 12-byte IV, 16-byte tag, no associated data.

Versioned (docs/ciphertext-format.md specifies them):
    "v5" ":" key_id ":" base64(iv) ":" base64(authTag) ":" base64(ciphertext)
    every new write under a local key; associated data binds the value to its key id, its
    record and the record's owner columns (`RecordContext.encode(owner_bound=True)`).
    "v2": the same layout, bound to the record but not to its owner (read, never written).

The other formats (`v3` sealed to an ingest public key, `v4` transit envelope) live in
`credsvc.crypto.sealed` and `credsvc.crypto.transit`; they reuse the helpers here.

Parsing is strict; every failure raises `CryptoError` with a message that never contains key
material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
IV_BYTES = 12
TAG_BYTES = 16
V2_PREFIX = "v2"  # record-bound (read only)
V5_PREFIX = "v5"  # record- and owner-bound (every new local-key write)
LOCAL_PREFIXES = (V2_PREFIX, V5_PREFIX)
KEY_ID_PATTERN = re.compile(r"\A[A-Za-z0-9_-]{1,16}\Z")  # \Z: `$` would allow a trailing "\n"
AAD_DOMAIN = b"credsvc"


class CryptoError(ValueError):
    """A value could not be encrypted or decrypted (malformed, tampered, or wrong key)."""


class DecryptionUnavailable(CryptoError):
    """This process holds no key that may decrypt (ingest mode, or a key service said no).

    Not a statement about the stored value: the HTTP layer answers 503, not 500.
    """

    public_message = "This deployment cannot decrypt"


def parse_key(text: str, what: str = "key") -> bytes:
    """Decode a 32-byte key given as 64 hex characters or as standard base64."""
    text = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"{what} must be 64 hex characters or base64 of 32 bytes") from None
    if len(key) != KEY_BYTES:
        raise CryptoError(f"{what} must be 32 bytes (64 hex characters), got {len(key)} bytes")
    return key


def check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise CryptoError("AES-256-GCM needs a 32-byte key")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(part: str, what: str, length: int | None = None) -> bytes:
    """Strict, canonical, padded standard base64 (one encoding per value: no malleability)."""
    try:
        data = base64.b64decode(part, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"malformed ciphertext: {what} is not valid base64") from None
    if b64(data) != part:
        raise CryptoError(f"malformed ciphertext: {what} is not canonical base64")
    if length is not None and len(data) != length:
        raise CryptoError(f"malformed ciphertext: {what} must be {length} bytes")
    return data


def serialize(value: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and Infinity are refused (the Node side cannot parse them)."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CryptoError(f"value is not JSON-serializable: {type(exc).__name__}") from None
    return text.encode("utf-8")


def deserialize(plaintext: bytes) -> Any:
    try:
        return json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CryptoError("decrypted value is not UTF-8 JSON") from None


def seal(key: bytes, plaintext: bytes, aad: bytes | None) -> tuple[bytes, bytes, bytes]:
    """AES-256-GCM with a fresh random 96-bit IV; returns (iv, tag, ciphertext)."""
    check_key(key)
    iv = os.urandom(IV_BYTES)
    sealed = AESGCM(key).encrypt(iv, plaintext, aad)
    return iv, sealed[-TAG_BYTES:], sealed[:-TAG_BYTES]


def open_sealed(key: bytes, iv: bytes, tag: bytes, ciphertext: bytes, aad: bytes | None) -> bytes:
    """Authenticate and decrypt; any failure is one CryptoError that says nothing more."""
    check_key(key)
    if len(iv) != IV_BYTES or len(tag) != TAG_BYTES:
        raise CryptoError("malformed ciphertext: IV must be 12 bytes and tag 16 bytes")
    try:
        return AESGCM(key).decrypt(iv, ciphertext + tag, aad)
    except InvalidTag:
        raise CryptoError(
            "ciphertext failed authentication (tampered, moved, or wrong key)"
        ) from None


def _open(key: bytes, iv: bytes, tag: bytes, ciphertext: bytes, aad: bytes | None) -> Any:
    return deserialize(open_sealed(key, iv, tag, ciphertext, aad))


def aad(fmt: str, key_id: str, context: str, *extra: str) -> bytes:
    """Associated data, NUL-separated: b"credsvc", the format tag, the key id, any `extra`
    parts (the v4 wrapped data key), then `context` (`RecordContext.encode()`, itself
    "collection NUL record_id NUL field").

    No part may contain NUL (key ids cannot; `RecordContext.encode` refuses NUL in its parts),
    so the encoding is injective: two different contexts never give the same bytes.
    """
    if any("\x00" in part for part in (fmt, key_id, *extra)):
        raise CryptoError("associated data parts must be NUL-free")
    parts = (fmt, key_id, *extra, context)
    return b"\x00".join((AAD_DOMAIN, *(part.encode("utf-8") for part in parts)))


def check_key_id(key_id: str) -> None:
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise CryptoError("key id must be 1-16 characters of A-Z a-z 0-9 _ -")


# -- legacy three-part format ------------------------------------------------------------


def encrypt_json(value: Any, key: bytes) -> str:
    """Encrypt a JSON value into the legacy `iv:authTag:ciphertext` format (tests, tooling)."""
    iv, tag, ciphertext = seal(key, serialize(value), None)
    return ":".join((b64(iv), b64(tag), b64(ciphertext)))


def split_legacy(token: str) -> tuple[bytes, bytes, bytes]:
    if not isinstance(token, str):
        raise CryptoError("malformed ciphertext: not a string")
    parts = token.split(":")
    if len(parts) != 3:
        raise CryptoError("malformed ciphertext: expected 3 ':'-separated parts")
    iv = unb64(parts[0], "IV", IV_BYTES)
    tag = unb64(parts[1], "auth tag", TAG_BYTES)
    ciphertext = unb64(parts[2], "ciphertext")
    return iv, tag, ciphertext


def decrypt_json(token: str, key: bytes) -> Any:
    """Decrypt a legacy `iv:authTag:ciphertext` value."""
    return _open(key, *split_legacy(token), None)


# -- versioned, record-bound formats (v2, and v5 which also binds the owner) --------------


def is_v2(token: str) -> bool:
    """A local-key versioned value, either generation (v2 or v5)."""
    return isinstance(token, str) and token.split(":", 1)[0] in LOCAL_PREFIXES


def v2_aad(key_id: str, context: str, fmt: str = V2_PREFIX) -> bytes:
    """b"credsvc\\0<fmt>\\0<key_id>\\0<context>" (context: `RecordContext.encode`)."""
    return aad(fmt, key_id, context)


def encrypt_v2(value: Any, key_id: str, key: bytes, context: str, fmt: str = V2_PREFIX) -> str:
    check_key_id(key_id)
    if fmt not in LOCAL_PREFIXES:
        raise CryptoError("unknown local-key format")
    iv, tag, ciphertext = seal(key, serialize(value), v2_aad(key_id, context, fmt))
    return ":".join((fmt, key_id, b64(iv), b64(tag), b64(ciphertext)))


def split_v2(token: str) -> tuple[str, bytes, bytes, bytes]:
    if not isinstance(token, str):
        raise CryptoError("malformed ciphertext: not a string")
    parts = token.split(":")
    if len(parts) != 5 or parts[0] not in LOCAL_PREFIXES:
        raise CryptoError("malformed ciphertext: expected 'v5:key_id:iv:tag:ciphertext'")
    if not KEY_ID_PATTERN.fullmatch(parts[1]):
        raise CryptoError("malformed ciphertext: invalid key id")
    iv = unb64(parts[2], "IV", IV_BYTES)
    tag = unb64(parts[3], "auth tag", TAG_BYTES)
    ciphertext = unb64(parts[4], "ciphertext")
    return parts[1], iv, tag, ciphertext


def decrypt_v2(token: str, key: bytes, context: str) -> Any:
    """Decrypt a v2 or v5 value; `context` must be encoded for the token's generation."""
    key_id, iv, tag, ciphertext = split_v2(token)
    return _open(key, iv, tag, ciphertext, v2_aad(key_id, context, token[:2]))

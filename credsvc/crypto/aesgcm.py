"""AES-256-GCM over JSON values, in the two on-disk formats credsvc reads.

Legacy (written by the Node utility `server/utils/credentialsCrypto.js`, readable forever):
    base64(iv) ":" base64(authTag) ":" base64(ciphertext)
    standard padded base64, 12-byte IV, 16-byte tag, no associated data.

Versioned (every new write; specified byte for byte in docs/ciphertext-format.md):
    "v2" ":" key_id ":" base64(iv) ":" base64(authTag) ":" base64(ciphertext)
    with associated data binding the value to its key id and record (see `v2_aad`).

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
V2_PREFIX = "v2"
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class CryptoError(ValueError):
    """A value could not be encrypted or decrypted (malformed, tampered, or wrong key)."""


def parse_key(text: str) -> bytes:
    """Decode a 32-byte key given as 64 hex characters or as standard base64."""
    text = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("key must be 64 hex characters or base64 of 32 bytes") from None
    if len(key) != KEY_BYTES:
        raise CryptoError(f"key must be 32 bytes (64 hex characters), got {len(key)} bytes")
    return key


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise CryptoError("AES-256-GCM needs a 32-byte key")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(part: str, what: str, length: int | None = None) -> bytes:
    try:
        data = base64.b64decode(part, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"malformed ciphertext: {what} is not valid base64") from None
    if _b64(data) != part:
        raise CryptoError(f"malformed ciphertext: {what} is not canonical base64")
    if length is not None and len(data) != length:
        raise CryptoError(f"malformed ciphertext: {what} must be {length} bytes")
    return data


def _serialize(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _seal(key: bytes, plaintext: bytes, aad: bytes | None) -> tuple[bytes, bytes, bytes]:
    _check_key(key)
    iv = os.urandom(IV_BYTES)
    sealed = AESGCM(key).encrypt(iv, plaintext, aad)
    return iv, sealed[-TAG_BYTES:], sealed[:-TAG_BYTES]


def _open(key: bytes, iv: bytes, tag: bytes, ciphertext: bytes, aad: bytes | None) -> Any:
    _check_key(key)
    try:
        plaintext = AESGCM(key).decrypt(iv, ciphertext + tag, aad)
    except InvalidTag:
        raise CryptoError(
            "ciphertext failed authentication (tampered, moved, or wrong key)"
        ) from None
    try:
        return json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CryptoError("decrypted value is not UTF-8 JSON") from None


# -- legacy three-part format ------------------------------------------------------------


def encrypt_json(value: Any, key: bytes) -> str:
    """Encrypt a JSON value into the legacy `iv:authTag:ciphertext` format."""
    iv, tag, ciphertext = _seal(key, _serialize(value), None)
    return ":".join((_b64(iv), _b64(tag), _b64(ciphertext)))


def split_legacy(token: str) -> tuple[bytes, bytes, bytes]:
    if not isinstance(token, str):
        raise CryptoError("malformed ciphertext: not a string")
    parts = token.split(":")
    if len(parts) != 3:
        raise CryptoError("malformed ciphertext: expected 3 ':'-separated parts")
    iv = _unb64(parts[0], "IV", IV_BYTES)
    tag = _unb64(parts[1], "auth tag", TAG_BYTES)
    ciphertext = _unb64(parts[2], "ciphertext")
    return iv, tag, ciphertext


def decrypt_json(token: str, key: bytes) -> Any:
    """Decrypt a legacy `iv:authTag:ciphertext` value."""
    return _open(key, *split_legacy(token), None)


# -- versioned, record-bound format -------------------------------------------------------


def is_v2(token: str) -> bool:
    return isinstance(token, str) and token.startswith(V2_PREFIX + ":")


def v2_aad(key_id: str, context: str) -> bytes:
    """Associated data: the format tag, the key id and the record context, NUL-separated."""
    return b"\x00".join((b"credsvc", V2_PREFIX.encode(), key_id.encode(), context.encode()))


def encrypt_v2(value: Any, key_id: str, key: bytes, context: str) -> str:
    if not KEY_ID_PATTERN.match(key_id):
        raise CryptoError("key id must be 1-16 characters of A-Z a-z 0-9 _ -")
    iv, tag, ciphertext = _seal(key, _serialize(value), v2_aad(key_id, context))
    return ":".join((V2_PREFIX, key_id, _b64(iv), _b64(tag), _b64(ciphertext)))


def split_v2(token: str) -> tuple[str, bytes, bytes, bytes]:
    parts = token.split(":")
    if len(parts) != 5 or parts[0] != V2_PREFIX:
        raise CryptoError("malformed ciphertext: expected 'v2:key_id:iv:tag:ciphertext'")
    if not KEY_ID_PATTERN.match(parts[1]):
        raise CryptoError("malformed ciphertext: invalid key id")
    iv = _unb64(parts[2], "IV", IV_BYTES)
    tag = _unb64(parts[3], "auth tag", TAG_BYTES)
    ciphertext = _unb64(parts[4], "ciphertext")
    return parts[1], iv, tag, ciphertext


def decrypt_v2(token: str, key: bytes, context: str) -> Any:
    key_id, iv, tag, ciphertext = split_v2(token)
    return _open(key, iv, tag, ciphertext, v2_aad(key_id, context))

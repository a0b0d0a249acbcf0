"""AES-256-GCM over JSON values, in the two local-key formats credsvc reads.

Legacy (written by the Node utility `server/utils/credentialsCrypto.js`, readable forever):
    enc(iv) ":" enc(authTag) ":" enc(ciphertext)
    no associated data; a 16-byte tag; an IV of 12 to 128 bytes (Node code uses 12 or 16);
    enc is one of the encodings Node's `Buffer.toString` writes (LEGACY_ENCODINGS), the same
    for all three parts, told apart by the tag's length (`legacy_encoding_of`). credsvc writes
    it only in compatibility mode (`write_format`=legacy), with a 12-byte IV.

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
    # Callers put the variable's name before the message; "key" alone adds nothing to it.
    named = "" if what == "key" else f"{what}: "
    if re.fullmatch(r"[0-9a-fA-F]+", text):
        # Hex of the wrong length; an even length is also valid base64 of other bytes, which
        # would make the message about a byte count the operator never typed.
        raise CryptoError(
            f"{named}{len(text)} hex characters: a 64-character hex key is expected "
            "(or base64 of 32 bytes)"
        )
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"{what} must be 64 hex characters or base64 of 32 bytes") from None
    if len(key) != KEY_BYTES:
        raise CryptoError(
            f"{named}base64 of {len(key)} bytes: base64 of 32 bytes (44 characters) is "
            "expected, or 64 hex characters"
        )
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

# How a Node writer may have spelled the three parts (`Buffer.toString(encoding)`): padded
# standard base64 (Node's "base64"), unpadded URL-safe ("base64url"), standard base64 with the
# padding stripped, and lowercase "hex". The first is what the Node utility wrote by default.
LEGACY_ENCODINGS = ("base64", "base64url", "base64-unpadded", "hex")
# The tag (16 bytes) has a different length in each family, so it alone tells them apart:
# a hex value's parts are also valid base64 text, but its tag is 32 characters, never 24 or 22.
_TAG_TEXT_LENGTH = {24: "base64", 22: "base64url", 32: "hex"}
LEGACY_IV_MIN, LEGACY_IV_MAX = 12, 128  # GCM takes any length; below 96 bits nobody should
_HEX = re.compile(r"\A(?:[0-9a-f]{2})+\Z")
_B64URL = re.compile(r"\A[A-Za-z0-9_-]+\Z")
_B64_UNPADDED = re.compile(r"\A[A-Za-z0-9+/]+\Z")


def legacy_encoding_of(parts: list[str]) -> str:
    """The encoding of a legacy value's three parts, decided by the tag part's length alone
    (24 characters: padded base64; 22: unpadded, base64url unless `+` or `/` occur in the
    value; 32: hex). Deterministic: the same text always gets the same answer."""
    family = _TAG_TEXT_LENGTH.get(len(parts[1]))
    if family is None:
        raise CryptoError(
            "malformed ciphertext: the auth tag must be 16 bytes (24 base64 characters, "
            "22 unpadded or base64url, or 32 hex)"
        )
    if family == "base64url" and any(c in part for part in parts for c in "+/"):
        return "base64-unpadded"
    return family


def encode_part(data: bytes, encoding: str) -> str:
    if encoding == "base64":
        return b64(data)
    if encoding == "hex":
        return data.hex()
    if encoding == "base64url":
        return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
    if encoding == "base64-unpadded":
        return b64(data).rstrip("=")
    raise CryptoError(f"unknown legacy encoding; expected one of {', '.join(LEGACY_ENCODINGS)}")


def decode_part(part: str, what: str, encoding: str) -> bytes:
    """Strict and canonical in `encoding`: each byte string has exactly one spelling."""
    if encoding == "base64":
        return unb64(part, what)
    pattern = {"hex": _HEX, "base64url": _B64URL, "base64-unpadded": _B64_UNPADDED}[encoding]
    if not pattern.fullmatch(part) or (encoding != "hex" and len(part) % 4 == 1):
        raise CryptoError(f"malformed ciphertext: {what} is not valid {encoding}")
    if encoding == "hex":
        return bytes.fromhex(part)
    padded = part + "=" * (-len(part) % 4)
    decode = base64.urlsafe_b64decode if encoding == "base64url" else base64.b64decode
    data = decode(padded)
    if encode_part(data, encoding) != part:
        raise CryptoError(f"malformed ciphertext: {what} is not canonical {encoding}")
    return data


def read_legacy(token: str) -> tuple[tuple[bytes, bytes, bytes], str]:
    """((iv, tag, ciphertext), encoding) of a legacy value; CryptoError says what is wrong."""
    if not isinstance(token, str):
        raise CryptoError("malformed ciphertext: not a string")
    parts = token.split(":")
    if len(parts) != 3:
        raise CryptoError("malformed ciphertext: expected 3 ':'-separated parts")
    if not all(parts):
        raise CryptoError("malformed ciphertext: an empty part")
    encoding = legacy_encoding_of(parts)
    iv = decode_part(parts[0], "IV", encoding)
    tag = decode_part(parts[1], "auth tag", encoding)
    ciphertext = decode_part(parts[2], "ciphertext", encoding)
    if not LEGACY_IV_MIN <= len(iv) <= LEGACY_IV_MAX:
        raise CryptoError(
            f"malformed ciphertext: the IV must be {LEGACY_IV_MIN} to {LEGACY_IV_MAX} bytes"
        )
    if len(tag) != TAG_BYTES:
        raise CryptoError(f"malformed ciphertext: the auth tag must be {TAG_BYTES} bytes")
    return (iv, tag, ciphertext), encoding


def split_legacy(token: str) -> tuple[bytes, bytes, bytes]:
    return read_legacy(token)[0]


def open_legacy(key: bytes, iv: bytes, tag: bytes, ciphertext: bytes) -> bytes:
    """Authenticate and decrypt a legacy value's parts (any IV length `read_legacy` admits)."""
    check_key(key)
    if not LEGACY_IV_MIN <= len(iv) <= LEGACY_IV_MAX or len(tag) != TAG_BYTES:
        raise CryptoError("malformed ciphertext: IV or tag of the wrong length")
    try:
        return AESGCM(key).decrypt(iv, ciphertext + tag, None)
    except InvalidTag:
        raise CryptoError(
            "ciphertext failed authentication (tampered, moved, or wrong key)"
        ) from None


def encrypt_json(value: Any, key: bytes, encoding: str = "base64") -> str:
    """Encrypt a JSON value into the legacy `iv:authTag:ciphertext` format, 12-byte IV, in
    `encoding` (compatibility write mode, tests, tooling)."""
    if encoding not in LEGACY_ENCODINGS:
        raise CryptoError(f"unknown legacy encoding; expected one of {', '.join(LEGACY_ENCODINGS)}")
    iv, tag, ciphertext = seal(key, serialize(value), None)
    return ":".join(encode_part(part, encoding) for part in (iv, tag, ciphertext))


def decrypt_json(token: str, key: bytes) -> Any:
    """Decrypt a legacy value in any encoding and IV length `read_legacy` admits."""
    return deserialize(open_legacy(key, *split_legacy(token)))


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

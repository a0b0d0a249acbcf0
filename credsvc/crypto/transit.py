"""Envelope encryption with a root key kept in OpenBao / Vault transit.

For every value, transit generates a fresh 256-bit data key (`POST
/v1/<mount>/datakey/plaintext/<name>`): the plaintext data key encrypts the value locally with
AES-256-GCM and is then forgotten; the transit-wrapped copy is stored next to the ciphertext.
Reading sends the wrapped copy to `POST /v1/<mount>/decrypt/<name>`. The root key never leaves
transit; a token whose policy allows only `datakey`/`encrypt` can write but never read.

Format (docs/ciphertext-format.md), `v6` for every write (bound to the record and its owner
columns), `v4` the earlier generation (bound to the record only, read but never written):
    "v6" ":" key_id ":" base64(wrapped) ":" base64(iv) ":" base64(tag) ":" base64(ciphertext)
    wrapped = the transit ciphertext of the data key as UTF-8 text, e.g. b"vault:v1:..."
    AAD = b"credsvc\\0<v6|v4>\\0<key_id>\\0<wrapped>\\0<collection>\\0<record_id>\\0<field>"

`key_id` is the ring's short name for this transit key (e.g. "bao1"); which transit key it
means is configuration (the client's `key_name`), not data.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import requests

from credsvc.crypto import aesgcm
from credsvc.crypto.aesgcm import CryptoError, DecryptionUnavailable

V4_PREFIX = "v4"  # record-bound (read only)
V6_PREFIX = "v6"  # record- and owner-bound (every new transit write)
TRANSIT_PREFIXES = (V4_PREFIX, V6_PREFIX)
MAX_WRAPPED = 1024


class TransitUnavailable(DecryptionUnavailable):
    """Transit could not be reached or refused to serve (HTTP 503, not "tampered")."""

    public_message = "The key service is unavailable"


class TransitDenied(DecryptionUnavailable):
    """The transit token may not perform this operation (e.g. ingest asking to decrypt)."""


class TransitClient:
    """One keep-alive session against the transit HTTP API, with explicit timeouts."""

    def __init__(
        self,
        addr: str,
        token: str,
        key_name: str,
        *,
        mount: str = "transit",
        timeout: tuple[float, float] = (2.0, 5.0),
    ):
        self.base = f"{addr.rstrip('/')}/v1/{mount.strip('/')}"
        self.key_name = key_name
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"X-Vault-Token": token})

    def __repr__(self) -> str:
        return f"TransitClient({self.base!r}, key={self.key_name!r})"

    def _post(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base}/{operation}/{self.key_name}"
        try:
            response = self.session.post(url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransitUnavailable(f"transit {operation}: {type(exc).__name__}") from None
        if response.status_code == 403:
            raise TransitDenied(DecryptionUnavailable.public_message)
        if response.status_code == 400:
            # Transit answers 400 for a wrapped key it cannot decrypt (tampered / foreign).
            raise CryptoError("transit refused the wrapped data key")
        if response.status_code >= 300:
            raise TransitUnavailable(f"transit {operation}: HTTP {response.status_code}")
        try:
            return response.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise TransitUnavailable(f"transit {operation}: unexpected body") from None

    def new_data_key(self) -> tuple[bytes, str]:
        """(plaintext 32-byte data key, its transit ciphertext)."""
        data = self._post("datakey/plaintext", {"bits": 256})
        key = _decode(data.get("plaintext"))
        wrapped = data.get("ciphertext")
        if len(key) != aesgcm.KEY_BYTES or not isinstance(wrapped, str):
            raise TransitUnavailable("transit datakey: unexpected answer")
        return key, wrapped

    def unwrap(self, wrapped: str) -> bytes:
        key = _decode(self._post("decrypt", {"ciphertext": wrapped}).get("plaintext"))
        if len(key) != aesgcm.KEY_BYTES:
            raise CryptoError("transit returned a data key of the wrong length")
        return key


def _decode(text: Any) -> bytes:
    try:
        return base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise TransitUnavailable("transit answered a value that is not base64") from None


class TransitKey:
    """A ring entry whose root key lives in transit; writes `v6` values, reads `v4` too."""

    format = V6_PREFIX

    def __init__(self, client: TransitClient):
        self.client = client

    def __repr__(self) -> str:
        return f"TransitKey({self.client!r})"

    def encrypt(self, value: Any, key_id: str, context: str, fmt: str = V6_PREFIX) -> str:
        aesgcm.check_key_id(key_id)
        if fmt not in TRANSIT_PREFIXES:
            raise CryptoError("unknown transit format")
        data_key, wrapped = self.client.new_data_key()
        aad = v4_aad(key_id, wrapped, context, fmt)
        iv, tag, ciphertext = aesgcm.seal(data_key, aesgcm.serialize(value), aad)
        wrapped_b64 = aesgcm.b64(wrapped.encode("utf-8"))
        return ":".join((fmt, key_id, wrapped_b64, *map(aesgcm.b64, (iv, tag, ciphertext))))

    def decrypt(self, token: str, context: str) -> Any:
        """Decrypt a v4 or v6 value; `context` must be encoded for the token's generation."""
        key_id, wrapped, iv, tag, ciphertext = split_v4(token)
        data_key = self.client.unwrap(wrapped)
        aad = v4_aad(key_id, wrapped, context, token[:2])
        return aesgcm.deserialize(aesgcm.open_sealed(data_key, iv, tag, ciphertext, aad))


def is_v4(token: str) -> bool:
    """A transit value, either generation (v4 or v6)."""
    return isinstance(token, str) and token.split(":", 1)[0] in TRANSIT_PREFIXES


def v4_aad(key_id: str, wrapped: str, context: str, fmt: str = V4_PREFIX) -> bytes:
    return aesgcm.aad(fmt, key_id, context, wrapped)


def split_v4(token: str) -> tuple[str, str, bytes, bytes, bytes]:
    if not isinstance(token, str):
        raise CryptoError("malformed ciphertext: not a string")
    parts = token.split(":")
    if len(parts) != 6 or parts[0] not in TRANSIT_PREFIXES:
        raise CryptoError("malformed ciphertext: expected 'v6:key_id:wrapped:iv:tag:ciphertext'")
    if not aesgcm.KEY_ID_PATTERN.fullmatch(parts[1]):
        raise CryptoError("malformed ciphertext: invalid key id")
    wrapped_raw = aesgcm.unb64(parts[2], "wrapped data key")
    try:
        wrapped = wrapped_raw.decode("ascii")
    except UnicodeDecodeError:
        raise CryptoError("malformed ciphertext: wrapped data key is not text") from None
    if not wrapped.isprintable() or not 0 < len(wrapped) <= MAX_WRAPPED:
        raise CryptoError("malformed ciphertext: wrapped data key is not transit text")
    iv = aesgcm.unb64(parts[3], "IV", aesgcm.IV_BYTES)
    tag = aesgcm.unb64(parts[4], "auth tag", aesgcm.TAG_BYTES)
    ciphertext = aesgcm.unb64(parts[5], "ciphertext")
    return parts[1], wrapped, iv, tag, ciphertext

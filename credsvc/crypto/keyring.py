"""The keyring: named AES-256 keys, one active for writing, all usable ones for reading.

Every stored ciphertext is bound to where it lives through a `RecordContext`
(collection, record id, field); a value copied into another record or field fails to decrypt.
Legacy three-part values (no key id, no binding) are tried against every usable key.

Settings (see README "Rotating keys"):
    CREDENTIALS_ENCRYPTION_KEY   one key; joins the ring with id "k0"
    CREDENTIALS_KEYS             "id:key,id:key" oldest first (key = 64 hex or base64)
    CREDENTIALS_ACTIVE_KEY       id that encrypts new writes (default: the newest key)
    CREDENTIALS_MIN_DECRYPT_KEY  keys listed before this id can no longer decrypt
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from credsvc.crypto import aesgcm
from credsvc.crypto.aesgcm import CryptoError

LEGACY_KEY_ID = "legacy"
DEFAULT_KEY_ID = "k0"


class KeyringError(ValueError):
    """The key settings are unusable; the message names the variable."""


@dataclass(frozen=True)
class RecordContext:
    """Where a ciphertext lives; it becomes the AES-GCM associated data."""

    collection: str
    record_id: str
    field: str

    def encode(self) -> str:
        for part in (self.collection, self.record_id, self.field):
            if not part or "\x00" in part:
                raise CryptoError("record context parts must be non-empty and NUL-free")
        return "\x00".join((self.collection, self.record_id, self.field))


class Keyring:
    def __init__(self, keys: Iterable[tuple[str, bytes]], active: str, min_decrypt: str = ""):
        self._order: list[str] = []
        self._keys: dict[str, bytes] = {}
        for key_id, key in keys:
            if not aesgcm.KEY_ID_PATTERN.match(key_id) or key_id == LEGACY_KEY_ID:
                raise KeyringError(f"invalid key id {key_id!r}: use 1-16 of A-Z a-z 0-9 _ -")
            if key_id in self._keys:
                raise KeyringError(f"key id {key_id!r} is configured twice")
            if len(key) != aesgcm.KEY_BYTES:
                raise KeyringError(f"key {key_id!r} must be 32 bytes")
            self._order.append(key_id)
            self._keys[key_id] = bytes(key)
        if not self._order:
            raise KeyringError("CREDENTIALS_ENCRYPTION_KEY is required but not set")
        if active not in self._keys:
            raise KeyringError(f"CREDENTIALS_ACTIVE_KEY {active!r} is not a configured key id")
        self.active_key_id = active
        first = self._order.index(min_decrypt) if min_decrypt else 0
        if min_decrypt and min_decrypt not in self._keys:
            raise KeyringError(f"CREDENTIALS_MIN_DECRYPT_KEY {min_decrypt!r} is not configured")
        self._usable = self._order[first:]
        if active not in self._usable:
            raise KeyringError("CREDENTIALS_ACTIVE_KEY is older than CREDENTIALS_MIN_DECRYPT_KEY")

    @property
    def key_ids(self) -> list[str]:
        return list(self._order)

    @property
    def usable_key_ids(self) -> list[str]:
        return list(self._usable)

    def encrypt(self, value: Any, context: RecordContext) -> str:
        """Encrypt a JSON value under the active key, bound to `context`."""
        key_id = self.active_key_id
        return aesgcm.encrypt_v2(value, key_id, self._keys[key_id], context.encode())

    def decrypt(self, token: str, context: RecordContext) -> Any:
        """Decrypt a stored value (v2 bound to `context`, or legacy)."""
        if aesgcm.is_v2(token):
            key_id = aesgcm.split_v2(token)[0]
            if key_id not in self._usable:
                raise CryptoError(f"ciphertext uses key {key_id!r}, which cannot decrypt here")
            return aesgcm.decrypt_v2(token, self._keys[key_id], context.encode())
        parts = aesgcm.split_legacy(token)
        for key_id in reversed(self._usable):
            try:
                return aesgcm._open(self._keys[key_id], *parts, None)
            except CryptoError:
                continue
        raise CryptoError("ciphertext failed authentication (tampered, moved, or wrong key)")

    @staticmethod
    def key_id_of(token: str) -> str:
        """The key id a stored value names, or "legacy" for the three-part format."""
        if aesgcm.is_v2(token):
            return aesgcm.split_v2(token)[0]
        aesgcm.split_legacy(token)
        return LEGACY_KEY_ID

    def needs_rewrap(self, token: str) -> bool:
        return self.key_id_of(token) != self.active_key_id

    def rewrap(self, token: str, context: RecordContext) -> str:
        """Re-encrypt a stored value under the active key (the plaintext never leaves)."""
        return self.encrypt(self.decrypt(token, context), context)


def keyring_from_settings(
    single_key: str, *, keys: str = "", active: str = "", min_decrypt: str = ""
) -> Keyring:
    """Build the ring from the environment's strings; raises KeyringError naming the variable."""
    entries: list[tuple[str, bytes]] = []
    if single_key.strip():
        entries.append((DEFAULT_KEY_ID, _parse(single_key, "CREDENTIALS_ENCRYPTION_KEY")))
    for item in filter(None, (part.strip() for part in keys.split(","))):
        key_id, sep, material = item.partition(":")
        if not sep:
            raise KeyringError("CREDENTIALS_KEYS entries must look like id:key")
        entries.append((key_id.strip(), _parse(material, f"CREDENTIALS_KEYS[{key_id.strip()}]")))
    if not entries:
        raise KeyringError("CREDENTIALS_ENCRYPTION_KEY is required but not set")
    active = active.strip() or entries[-1][0]
    return Keyring(entries, active=active, min_decrypt=min_decrypt.strip())


def _parse(text: str, name: str) -> bytes:
    try:
        return aesgcm.parse_key(text)
    except CryptoError as exc:
        raise KeyringError(f"{name}: {exc}") from None

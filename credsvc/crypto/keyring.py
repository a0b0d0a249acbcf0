"""The keyring: named keys, one active for writing, all usable ones for reading.

Every stored ciphertext is bound to where it lives and to whom it belongs through a
`RecordContext` (collection, record id, field, and the row's owner columns): a value copied
into another record or field, or a row relabelled to another owner, fails to decrypt.

Formats by generation (docs/ciphertext-format.md):
    written now     v5 local key, v6 transit, v7 ingest (sealed + signed): owner-bound
    read only       v2 local key, v4 transit (record-bound), v3 ingest (unsigned: refused
                    unless accept_unsigned_ingest), legacy three-part (no key id, no binding,
                    tried against every usable local key)
`require_owner_binding` refuses every read-only generation once `keys rewrap` has moved them.

A ring entry is either a local AES-256 key (writes `v2`) or a transit key (root key in
OpenBao/Vault, writes `v4`). Private keys of the encrypt-only ingest side (`v3`) can join the
ring for reading only. docs/ciphertext-format.md specifies every format byte for byte.

Settings are the keywords of `keyring_from_settings` (credsvc.config reads them from the
process's variables and names those in errors):
    single_key      one key; joins the ring first, with id "k0"
    keys            "id:key,id:key" oldest first (key = 64 hex or base64, or the word
                    `transit` for `transit_key`)
    active          id that encrypts new writes (default: the newest key)
    min_decrypt     keys listed before this id can no longer decrypt
    ingest_private  X25519 private key(s) that open `v3` values
    legacy_key, legacy_derivation (legacy_salt, legacy_iterations)
                    the Node service's key for legacy values, and how it was derived from its
                    string (credsvc.crypto.legacy_keys); the derivation never applies to the
                    keys above
    write_format    `legacy`: write the Node three-part format (compatibility mode, no key id,
                    no binding), in `legacy_encoding`, for the values the
                    Node service reads (RecordContext.node_readable)
Error messages name a setting by its keyword in backquotes (`active`); credsvc.config replaces
each with the variable it came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from credsvc.crypto import aesgcm, legacy_keys, sealed, transit
from credsvc.crypto.aesgcm import CryptoError, DecryptionUnavailable

LEGACY_KEY_ID = "legacy"
DEFAULT_KEY_ID = "k0"
TRANSIT_MARKER = "transit"
# What each generation is called in `format_of`; the owner-bound ones are the only ones written.
OWNER_BOUND_FORMATS = (aesgcm.V5_PREFIX, transit.V6_PREFIX, sealed.V7_PREFIX)
UNBOUND_FORMATS = (aesgcm.V2_PREFIX, transit.V4_PREFIX, sealed.V3_PREFIX, LEGACY_KEY_ID)
# `write_format`: what new writes are. `legacy` is the Node three-part format, for a
# migration period in which the Node service must still read what credsvc writes.
VERSIONED, LEGACY_WRITE = "versioned", "legacy"
WRITE_FORMATS = (VERSIONED, LEGACY_WRITE)
LEGACY_WRITE_WARNING = (
    "`write_format`=legacy: new values are written in the Node three-part format, "
    "with no key id and no binding to their record or owner (a value copied to another row "
    "decrypts there); switch back and run `keys rewrap` once the Node service is retired"
)


class KeyringError(ValueError):
    """The key settings are unusable; the message names each setting as `keyword` (the
    keywords of `keyring_from_settings`), which credsvc.config turns into its variable."""


def _shown_id(value: object) -> str:
    """A configured key id as an error message may show it: the id itself when it has the
    shape of one, else only its length. A key written where an id belongs is never echoed."""
    if isinstance(value, str) and aesgcm.KEY_ID_PATTERN.fullmatch(value):
        return value
    return f"<{len(value)} characters>" if isinstance(value, str) else "<not a string>"


Owner = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class RecordContext:
    """Where a ciphertext lives and who owns it; it becomes part of the associated data.

    `owner` is the row's owner columns as (column, value) pairs in a fixed order per
    collection (credsvc.model); a value is a string or None. `node_readable` (not part of the
    associated data) says the Node service reads this value: only such a value is written in
    the legacy format under `write_format`=legacy; credsvc.model sets it per column.
    """

    collection: str
    record_id: str
    field: str
    owner: Owner = ()
    node_readable: bool = dataclass_field(default=False, compare=False)

    def encode(self, owner_bound: bool = False) -> str:
        """ "collection NUL record_id NUL field", then (owner-bound formats) NUL and the owner
        pairs as compact ASCII JSON, e.g. `[["user_id","..."],["platform","youtube"]]`.

        ASCII JSON escapes NUL, so no part contains NUL and the encoding is injective.
        """
        for part in (self.collection, self.record_id, self.field):
            if not isinstance(part, str) or not part or "\x00" in part:
                raise CryptoError("record context parts must be non-empty, NUL-free strings")
        base = "\x00".join((self.collection, self.record_id, self.field))
        if not owner_bound:
            return base
        for column, value in self.owner:
            if not isinstance(column, str) or not column or not isinstance(value, str | None):
                raise CryptoError("owner columns must be named, with string or null values")
        owner = json.dumps([[c, v] for c, v in self.owner], separators=(",", ":"))
        return f"{base}\x00{owner}"


def like_patterns_collide(a: str, b: str) -> bool:
    """Whether the SQL pattern `v2:<a>:%` can match a value under key `b`, or the reverse.

    Directus turns `_starts_with` into SQL LIKE: `_` matches any character and SQLite compares
    ASCII case-insensitively. The rewrap job selects rows with such a filter, so two configured
    ids that collide under LIKE would let rows of one key hide behind the other.
    """
    if len(a) != len(b):
        return False
    return all(x == "_" or y == "_" or x.lower() == y.lower() for x, y in zip(a, b, strict=True))


class Keyring:
    """Encrypts under the active key; decrypts with any usable key; never returns key bytes."""

    def __init__(
        self,
        keys: Iterable[tuple[str, bytes | transit.TransitKey]],
        active: str,
        min_decrypt: str = "",
        ingest_keys: Mapping[str, X25519PrivateKey] | None = None,
        *,
        encrypt_only: bool = False,
        ingest_verify_keys: Mapping[str, Ed25519PublicKey] | None = None,
        require_owner_binding: bool = False,
        accept_unsigned_ingest: bool = False,
        legacy_keys: Iterable[bytes] = (),
        write_format: str = VERSIONED,
        legacy_write_key: bytes | None = None,
        legacy_encoding: str = "base64",
    ):
        # encrypt_only: an ingest deployment whose ring is a transit key; it refuses to decrypt
        # before asking transit (whose policy would refuse too).
        self.can_decrypt = not encrypt_only
        # Migration switches (README "Owner binding"): both off is the end state.
        self.require_owner_binding = require_owner_binding
        self.accept_unsigned_ingest = accept_unsigned_ingest
        self._order: list[str] = []
        self._keys: dict[str, bytes | transit.TransitKey] = {}
        for key_id, key in keys:
            self._check_new_id(key_id)
            if isinstance(key, transit.TransitKey):
                self._keys[key_id] = key
            elif isinstance(key, bytes | bytearray) and len(key) == aesgcm.KEY_BYTES:
                if any(bytes(key) == other for other in self._keys.values()):
                    raise KeyringError(f"key {key_id!r} repeats the material of another key id")
                self._keys[key_id] = bytes(key)
            else:
                raise KeyringError(f"key {key_id!r} must be 32 bytes")
            self._order.append(key_id)
        self._ingest: dict[str, X25519PrivateKey] = {}
        for key_id, private_key in (ingest_keys or {}).items():
            self._check_new_id(key_id)
            self._ingest[key_id] = private_key
        self._verify = dict(ingest_verify_keys or {})
        unknown = sorted(set(self._verify) - set(self._ingest))
        if unknown:
            raise KeyringError(
                "`ingest_verify` names ingest key ids with no private key: "
                + ", ".join(map(_shown_id, unknown))
            )
        if not self._order:
            raise KeyringError("`single_key` is required but not set")
        if active not in self._keys:
            raise KeyringError(f"`active` {_shown_id(active)} is not a configured key id")
        if min_decrypt and min_decrypt not in self._keys:
            raise KeyringError(f"`min_decrypt` {_shown_id(min_decrypt)} is not a configured key id")
        self.active_key_id = active
        first = self._order.index(min_decrypt) if min_decrypt else 0
        self._usable = self._order[first:]
        if active not in self._usable:
            raise KeyringError("`active` is older than `min_decrypt`")
        # Keys that open legacy values besides the usable local ones (`legacy_key`).
        self._legacy: list[bytes] = []
        for key in legacy_keys:
            if not isinstance(key, bytes | bytearray) or len(key) != aesgcm.KEY_BYTES:
                raise KeyringError("`legacy_key` must give a 32-byte key")
            if bytes(key) not in self._legacy:
                self._legacy.append(bytes(key))
        self._set_write_format(write_format, legacy_write_key, legacy_encoding)

    def _set_write_format(self, fmt: str, key: bytes | None, encoding: str) -> None:
        if fmt not in WRITE_FORMATS:
            raise KeyringError(f"`write_format` must be one of {', '.join(WRITE_FORMATS)}")
        if encoding not in aesgcm.LEGACY_ENCODINGS:
            raise KeyringError(
                "`legacy_encoding` must be one of " + ", ".join(aesgcm.LEGACY_ENCODINGS)
            )
        self.write_format = fmt
        self.legacy_encoding = encoding
        self._legacy_write_key: bytes | None = None
        if fmt != LEGACY_WRITE:
            return
        if self.require_owner_binding:
            raise KeyringError(
                "`write_format`=legacy writes values bound to no owner, and "
                "`require_owner_binding`=true refuses to read them: set only one"
            )
        if not isinstance(key, bytes | bytearray) or len(key) != aesgcm.KEY_BYTES:
            raise KeyringError(
                "`write_format`=legacy needs the Node service's key: "
                "`legacy_key`, or `single_key` when it is that key"
            )
        self._legacy_write_key = bytes(key)

    @property
    def warnings(self) -> list[str]:
        """What a process with this ring should log at startup (weaker settings in use)."""
        return [LEGACY_WRITE_WARNING] if self.write_format == LEGACY_WRITE else []

    def _check_new_id(self, key_id: str) -> None:
        if not isinstance(key_id, str) or not aesgcm.KEY_ID_PATTERN.fullmatch(key_id):
            raise KeyringError(
                f"invalid key id {_shown_id(key_id)}: a key id is 1-16 of A-Z a-z 0-9 _ -"
            )
        if key_id == LEGACY_KEY_ID:
            raise KeyringError(f"key id {LEGACY_KEY_ID!r} is reserved for the legacy format")
        known = [*getattr(self, "_order", []), *getattr(self, "_ingest", {})]
        if key_id in known:
            raise KeyringError(f"key id {key_id!r} is configured twice")
        for other in known:
            if like_patterns_collide(key_id, other):
                raise KeyringError(
                    f"key ids {other!r} and {key_id!r} are too similar (they differ only in "
                    "letter case or '_'); pick ids that differ in a letter or digit"
                )

    def __repr__(self) -> str:
        return (
            f"Keyring(keys={self._order!r}, active={self.active_key_id!r}, "
            f"usable={self._usable!r}, ingest={list(self._ingest)!r}, "
            f"require_owner_binding={self.require_owner_binding!r}, "
            f"write_format={self.write_format!r})"
        )

    @property
    def key_ids(self) -> list[str]:
        """Every configured id, oldest first (ingest private keys last)."""
        return [*self._order, *self._ingest]

    @property
    def usable_key_ids(self) -> list[str]:
        return [*self._usable, *self._ingest]

    @property
    def active_prefix(self) -> str:
        """How every value under the active key starts, e.g. "v5:k1:"."""
        key = self._keys[self.active_key_id]
        fmt = transit.V6_PREFIX if isinstance(key, transit.TransitKey) else aesgcm.V5_PREFIX
        return f"{fmt}:{self.active_key_id}:"

    def encrypt(self, value: Any, context: RecordContext) -> str:
        """Encrypt a JSON value under the active key, bound to `context` and its owner; in
        compatibility write mode a value the Node service reads (`context.node_readable`) is
        written in its legacy format instead, everything else stays owner-bound."""
        key_id = self.active_key_id
        key = self._keys[key_id]
        bound = context.encode(owner_bound=True)  # also checks the context in legacy mode
        if self._legacy_write_key is not None and context.node_readable:
            return aesgcm.encrypt_json(value, self._legacy_write_key, self.legacy_encoding)
        if isinstance(key, transit.TransitKey):
            return key.encrypt(value, key_id, bound, transit.V6_PREFIX)
        return aesgcm.encrypt_v2(value, key_id, key, bound, aesgcm.V5_PREFIX)

    def decrypt(self, token: str, context: RecordContext) -> Any:
        """Decrypt a stored value of any readable generation, bound to `context`."""
        if not self.can_decrypt:
            raise DecryptionUnavailable(DecryptionUnavailable.public_message)
        fmt = self.format_of(token)
        key_id = self.key_id_of(token)
        if fmt in UNBOUND_FORMATS and self.require_owner_binding:
            raise CryptoError(
                f"a {fmt} value is not bound to its owner and `require_owner_binding` "
                "is set (keys rewrap moves such values to the current format)"
            )
        encoded = context.encode(owner_bound=fmt in OWNER_BOUND_FORMATS)
        if fmt == LEGACY_KEY_ID:
            return self._decrypt_legacy(token)
        if sealed.is_v3(token):
            return self._open_sealed(token, fmt, key_id, encoded)
        if key_id not in self._usable:
            raise CryptoError(f"ciphertext uses key {key_id!r}, which cannot decrypt here")
        key = self._keys[key_id]
        if transit.is_v4(token):
            if not isinstance(key, transit.TransitKey):
                raise CryptoError(f"key {key_id!r} is not a transit key")
            return key.decrypt(token, encoded)
        if not isinstance(key, bytes):
            raise CryptoError(f"key {key_id!r} is a transit key; the value is not v6")
        return aesgcm.decrypt_v2(token, key, encoded)

    def _open_sealed(self, token: str, fmt: str, key_id: str, encoded: str) -> Any:
        if key_id not in self._ingest:
            raise CryptoError(f"ciphertext uses ingest key {key_id!r}, not configured here")
        if fmt == sealed.V3_PREFIX:
            # Unsigned: anyone with the public key could have written it.
            if not self.accept_unsigned_ingest:
                raise CryptoError(
                    "an unsigned ingest value (v3) is refused; `accept_unsigned_ingest` "
                    "admits them while they are rewrapped"
                )
            return sealed.open_v3(token, self._ingest[key_id], encoded)
        if key_id not in self._verify:
            raise CryptoError(f"no `ingest_verify` key for ingest key {key_id!r}")
        return sealed.open_v7(token, self._ingest[key_id], self._verify[key_id], encoded)

    def _decrypt_legacy(self, token: str) -> Any:
        """`legacy_key` first, then every usable local key, newest first."""
        parts = aesgcm.split_legacy(token)
        local = [self._keys[key_id] for key_id in reversed(self._usable)]
        for key in (*self._legacy, *local):
            if not isinstance(key, bytes):
                continue
            try:
                plaintext = aesgcm.open_legacy(key, *parts)
            except CryptoError:
                continue
            return aesgcm.deserialize(plaintext)
        raise CryptoError("ciphertext failed authentication (tampered, moved, or wrong key)")

    @staticmethod
    def key_id_of(token: str) -> str:
        """The key id a stored value names, or "legacy" for the three-part format.

        Raises CryptoError for a value in no known format.
        """
        if aesgcm.is_v2(token):
            return aesgcm.split_v2(token)[0]
        if sealed.is_v3(token):
            return sealed.split_v3(token)[0]
        if transit.is_v4(token):
            return transit.split_v4(token)[0]
        aesgcm.split_legacy(token)
        return LEGACY_KEY_ID

    @staticmethod
    def format_of(token: str) -> str:
        """The generation tag ("v2" ... "v7"), or "legacy"; CryptoError for no known format."""
        key_id = Keyring.key_id_of(token)
        return LEGACY_KEY_ID if key_id == LEGACY_KEY_ID else token.split(":", 1)[0]

    def needs_rewrap(self, token: str) -> bool:
        """Under another key, or in a generation that is no longer written."""
        return (
            self.key_id_of(token) != self.active_key_id
            or self.format_of(token) not in OWNER_BOUND_FORMATS
        )

    def rewrap(self, token: str, context: RecordContext) -> str:
        """Re-encrypt a stored value under the active key (the plaintext never leaves)."""
        if self.write_format == LEGACY_WRITE:
            raise CryptoError("`write_format`=legacy: rewrapping would write legacy")
        return self.encrypt(self.decrypt(token, context), context)


def keyring_from_settings(
    single_key: str,
    *,
    keys: str = "",
    active: str = "",
    min_decrypt: str = "",
    transit_key: transit.TransitKey | None = None,
    ingest_private: str = "",
    ingest_key_id: str = "",
    ingest_verify: str = "",
    require_owner_binding: bool = False,
    accept_unsigned_ingest: bool = False,
    legacy_key: str = "",
    legacy_derivation: str = "",
    legacy_salt: str = "",
    legacy_iterations: str = "",
    write_format: str = "",
    legacy_encoding: str = "",
) -> Keyring:
    """Build the ring from the settings' strings; raises KeyringError naming the `setting`.

    The legacy key derivation applies to `legacy_key` only, and a derivation other
    than auto without it is refused. `single_key` and `keys` are always
    random keys, never derived: k0 writes every new value, and a passphrase-derived k0 would be
    open to offline brute force. (A Node service that used a proper 64-hex/base64 key can give
    that string unchanged as `single_key`: k0 then also opens its values.)
    """
    try:
        derivation = legacy_keys.parse_derivation(legacy_derivation, legacy_salt, legacy_iterations)
        legacy_keys.require_legacy_key(derivation, legacy_key)
    except CryptoError as exc:
        raise KeyringError(str(exc)) from None
    entries: list[tuple[str, bytes | transit.TransitKey]] = []
    extra_legacy: list[bytes] = []
    if legacy_key.strip():
        extra_legacy.append(_derive(derivation, legacy_key, "`legacy_key`"))
    if single_key.strip():
        try:
            own = legacy_keys.own_key(single_key, "`single_key`")
        except CryptoError as exc:
            raise KeyringError(str(exc)) from None
        entries.append((DEFAULT_KEY_ID, own))
    for item in filter(None, (part.strip() for part in keys.split(","))):
        key_id, sep, material = item.partition(":")
        key_id = key_id.strip()
        if not sep:
            raise KeyringError("`keys` entries must look like id:key")
        if material.strip() == TRANSIT_MARKER:
            if transit_key is None:
                raise KeyringError(
                    f"`keys`[{_shown_id(key_id)}] is 'transit' but no `transit_key` is configured"
                )
            entries.append((key_id, transit_key))
        else:
            entries.append((key_id, _parse(material, f"`keys`[{_shown_id(key_id)}]")))
    if not entries:
        raise KeyringError("`single_key` is required but not set")
    ingest = parse_ingest_private_keys(ingest_private, ingest_key_id)
    verify = parse_ingest_verify_keys(ingest_verify, ingest_key_id)
    unverifiable = [key_id for key_id in ingest if key_id not in verify]
    if unverifiable and not accept_unsigned_ingest:
        raise KeyringError(
            "`ingest_private` needs `ingest_verify` for every ingest "
            "key id (the ingest side's Ed25519 verify key, from `keys generate-ingest-keypair`)"
        )
    active = active.strip() or entries[-1][0]
    node_key = extra_legacy[0] if extra_legacy else None
    if node_key is None and single_key.strip():
        node_key = entries[0][1]  # type: ignore[assignment]  # k0, a local key
    return Keyring(
        entries,
        active=active,
        min_decrypt=min_decrypt.strip(),
        ingest_keys=ingest,
        ingest_verify_keys=verify,
        require_owner_binding=require_owner_binding,
        accept_unsigned_ingest=accept_unsigned_ingest,
        legacy_keys=extra_legacy,
        write_format=write_format.strip().lower() or VERSIONED,
        legacy_write_key=node_key,
        legacy_encoding=legacy_encoding.strip().lower() or "base64",
    )


def _derive(derivation: legacy_keys.Derivation, text: str, name: str) -> bytes:
    try:
        return derivation.derive(text, name)
    except CryptoError as exc:
        raise KeyringError(str(exc)) from None


def _ingest_key_list(text: str, default_id: str, name: str, parse) -> dict[str, Any]:
    """One key (id from `ingest_key_id`, default "i1") or "id:key,id:key" when the
    ingest side's keys were rotated."""
    result: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key_id, sep, material = item.rpartition(":")
        if not sep:
            key_id, material = default_id.strip() or "i1", item
        try:
            key = parse(material)
        except CryptoError as exc:
            raise KeyringError(f"{name}: {exc}") from None
        if key_id in result:
            raise KeyringError(f"{name}: the same id is given twice")
        result[key_id] = key
    return result


def parse_ingest_private_keys(text: str, default_id: str = "") -> dict[str, X25519PrivateKey]:
    """`ingest_private`: the X25519 key(s) that open ingest values."""
    return _ingest_key_list(text, default_id, "`ingest_private`", sealed.parse_private_key)


def parse_ingest_verify_keys(text: str, default_id: str = "") -> dict[str, Ed25519PublicKey]:
    """`ingest_verify`: the Ed25519 key(s) that check the ingest signature."""
    return _ingest_key_list(text, default_id, "`ingest_verify`", sealed.parse_verify_key)


def _parse(text: str, name: str) -> bytes:
    try:
        return aesgcm.parse_key(text)
    except CryptoError as exc:
        raise KeyringError(f"{name}: {exc}") from None

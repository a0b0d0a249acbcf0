"""The data model: every collection's name, the encrypted columns (where each ciphertext lives
and who owns its row) and the rewrap guard column. The services, the CLI and deploy/ (schema,
policies, provisioning, guards) take these names from here.

Every encrypted value is bound (as associated data) to its collection, row id, column and the
row's owner columns. Changing an owner column directly in Directus (handing a row to another
user, profile, business or end user) therefore makes the value undecryptable instead of
handing it to the new owner. Services, the rewrap job and the tests build every
`RecordContext` from a row through `EncryptedColumn.context`, so the owner list of a
collection is written here and nowhere else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from credsvc.crypto import CryptoError, RecordContext


def owner_key(user_id: str, platform: str) -> str:
    """platform_connections.owner_platform: the unique value that makes (user, platform) one
    record, and a second statement of the row's owner."""
    return f"{user_id}:{platform}"


def end_user_hash(end_user_id: str) -> str:
    return hashlib.sha256(end_user_id.encode("utf-8")).hexdigest()


def end_user_slot(business_id: str, end_user_id: str, field: str) -> str:
    """The unique key of one end-user credential row (NUL cannot occur in a business id or
    field)."""
    raw = "\x00".join((business_id, end_user_id, field))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _profile_restated(row: Mapping[str, Any]) -> bool:
    return row.get("owner_platform") == owner_key(str(row["user_id"]), str(row["platform"]))


def _end_user_restated(row: Mapping[str, Any]) -> bool:
    end_user = row.get("end_user_id")
    if not isinstance(end_user, str):
        return False
    return row["end_user_hash"] == end_user_hash(end_user) and row.get("slot") == end_user_slot(
        str(row["business_id"]), end_user, str(row["field"])
    )


@dataclass(frozen=True)
class EncryptedColumn:
    collection: str
    field: str
    owner_columns: tuple[str, ...]
    # Columns that state the owner a second time, and the check that they agree. Values of an
    # earlier, not owner-bound generation are rewrapped only when they do, so a relabel made
    # before the rewrap is not laundered into a valid binding (where a collection has them).
    restating_columns: tuple[str, ...] = ()
    restates_owner: Callable[[Mapping[str, Any]], bool] = lambda row: True
    # The Node service reads this column (credentials-api.txt: /reveal, /reveal-download-cred,
    # /get-platform-session). Only such values are written in the Node's legacy format under
    # CREDENTIALS_WRITE_FORMAT=legacy; every other value stays owner-bound.
    node_reads: bool = False

    @property
    def row_fields(self) -> tuple[str, ...]:
        """What to read with a ciphertext to decrypt it: id, owner columns, the value."""
        return ("id", *self.owner_columns, self.field)

    @property
    def rewrap_fields(self) -> tuple[str, ...]:
        return (*self.row_fields, *self.restating_columns)

    def context(self, row: Mapping[str, Any], *, node_readable: bool = True) -> RecordContext:
        """The binding of `row`'s value; `row` must carry `id` and every owner column.
        `node_readable=False` for a value of a Node-read column that the Node service never
        reads (a revocation marker), so that compatibility mode keeps it owner-bound."""
        missing = [name for name in ("id", *self.owner_columns) if name not in row]
        if missing:
            raise CryptoError(f"{self.collection}: row lacks {', '.join(missing)} for its binding")
        owner = tuple((name, row[name]) for name in self.owner_columns)
        return RecordContext(
            self.collection, row["id"], self.field, owner, self.node_reads and node_readable
        )


PROFILES = EncryptedColumn(
    "platform_connections",
    "encrypted_credentials",
    ("user_id", "platform"),
    restating_columns=("owner_platform",),
    restates_owner=_profile_restated,
    node_reads=True,
)
DOWNLOAD_CREDENTIALS = EncryptedColumn(
    "download_credentials",
    "encrypted_credentials",
    ("user_id", "creator_profile_id", "platform", "auth_type"),
    node_reads=True,
)
PLATFORM_SESSIONS = EncryptedColumn(
    "platform_sessions",
    "encrypted_cookies",
    ("user_id", "creator_profile_id", "platform"),
    node_reads=True,
)
END_USER_CREDENTIALS = EncryptedColumn(
    "end_user_credentials",
    "encrypted_value",
    ("business_id", "end_user_hash", "field"),
    restating_columns=("end_user_id", "slot"),
    restates_owner=_end_user_restated,
)

ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    PROFILES,
    DOWNLOAD_CREDENTIALS,
    PLATFORM_SESSIONS,
    END_USER_CREDENTIALS,
)

# The collections without an encrypted column.
API_KEYS = "api_keys"  # business API keys; only a hash of each key is stored
AUDIT_LOG = "audit_log"  # append-only; never holds a secret

# Every collection credsvc uses, in the order deploy/directus/build_schema.py creates them.
COLLECTIONS: tuple[str, ...] = (
    PROFILES.collection,
    DOWNLOAD_CREDENTIALS.collection,
    PLATFORM_SESSIONS.collection,
    API_KEYS,
    END_USER_CREDENTIALS.collection,
    AUDIT_LOG,
)

# The compare-and-set column of every encrypted collection: NULL at rest; an update that sets
# it goes through only while it equals the stored ciphertext (deploy/directus/guards.mjs).
GUARD_FIELD = "rewrap_guard"
# {collection: encrypted field}: the collections with a GUARD_FIELD and its triggers.
REWRAP_GUARDED: dict[str, str] = {column.collection: column.field for column in ENCRYPTED_COLUMNS}

"""End users' platform cookies: the `end_user_credentials` collection.

One row per (business, end user, credential field), so concurrent PUTs that touch different
fields never overwrite each other: each writes only its own rows. A row's unique `slot` is
sha256(business_id NUL end_user_id NUL field); `end_user_hash` (sha256 of the end-user id)
indexes an end user's rows without putting a 256-character id into an index.

Every query filters by the business id the caller's API key belongs to; rows that come back
for another business or end user are dropped again here, so a filter Directus ignored could
not leak or delete someone else's credentials.

The write path (`set_credentials`, `delete_credentials`) and `credential_status` never
decrypt: they take an `Encryptor`, anything with `encrypt(value, context)`, so they can run
in a process whose key can only encrypt. Only `reveal_cookies` (workers) decrypts.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from credsvc import platforms
from credsvc.cookies import Cookie
from credsvc.crypto import Keyring, RecordContext
from credsvc.directus import DirectusClient, DirectusResponseError
from credsvc.services import DomainError, not_found

COLLECTION = "end_user_credentials"
FIELD = "encrypted_value"
ROW_FIELDS = ("id", "business_id", "end_user_hash", "field")


class Encryptor(Protocol):
    def encrypt(self, value: Any, context: RecordContext) -> str: ...


def context(row_id: str) -> RecordContext:
    return RecordContext(COLLECTION, row_id, FIELD)


def end_user_hash(end_user_id: str) -> str:
    return hashlib.sha256(end_user_id.encode("utf-8")).hexdigest()


def slot(business_id: str, end_user_id: str, field: str) -> str:
    """The unique key of one credential row (NUL cannot occur in a business id or field)."""
    raw = "\x00".join((business_id, end_user_id, field))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# -- reading rows (never the encrypted value) ------------------------------------------------


def _end_user_rows(
    directus: DirectusClient, business_id: str, end_user_id: str, extra: Iterable[str] = ()
) -> list[dict[str, Any]]:
    hashed = end_user_hash(end_user_id)
    rows = directus.find_items(
        COLLECTION,
        {"business_id": {"_eq": business_id}, "end_user_hash": {"_eq": hashed}},
        fields=ROW_FIELDS + tuple(extra),
        limit=-1,
    )
    return [
        row
        for row in rows
        if row.get("business_id") == business_id and row.get("end_user_hash") == hashed
    ]


def _find_row_id(directus: DirectusClient, business_id: str, key: str) -> str | None:
    row = directus.find_one(
        COLLECTION,
        {"business_id": {"_eq": business_id}, "slot": {"_eq": key}},
        fields=("id", "business_id", "slot"),
    )
    if row is None or row.get("business_id") != business_id or row.get("slot") != key:
        return None
    return row["id"]


def credential_status(
    directus: DirectusClient, business_id: str, end_user_id: str
) -> dict[str, dict[str, Any]]:
    """Per platform: `configured` (at least one field stored) and a flag per field."""
    stored = {row["field"] for row in _end_user_rows(directus, business_id, end_user_id)}
    status = {}
    for platform in platforms.PLATFORMS.values():
        flags = {field: field in stored for field in platform.fields}
        status[platform.name] = {"configured": any(flags.values()), "fields": flags}
    return status


# -- writing ---------------------------------------------------------------------------------


def set_credentials(
    directus: DirectusClient,
    encryptor: Encryptor,
    business_id: str,
    end_user_id: str,
    values: Mapping[str, str | None],
) -> None:
    """Set each field in `values` (a string) or clear it (None); other fields stay as they are."""
    keys = {field: slot(business_id, end_user_id, field) for field in values}
    rows = directus.find_items(
        COLLECTION,
        {"business_id": {"_eq": business_id}, "slot": {"_in": sorted(keys.values())}},
        fields=("id", "business_id", "slot"),
        limit=-1,
    )
    existing = {row["slot"]: row["id"] for row in rows if row.get("business_id") == business_id}
    to_clear = []
    for field, value in values.items():
        row_id = existing.get(keys[field])
        if value is None:
            if row_id is not None:
                to_clear.append(row_id)
        else:
            _write_value(directus, encryptor, business_id, end_user_id, field, value, row_id)
    _delete_rows(directus, to_clear)


def _write_value(
    directus: DirectusClient,
    encryptor: Encryptor,
    business_id: str,
    end_user_id: str,
    field: str,
    value: str,
    row_id: str | None,
) -> None:
    """Update the field's row when it exists, else create it."""
    if row_id is not None:
        try:
            _update_value(directus, encryptor, row_id, value)
            return
        except DirectusResponseError as exc:
            # Directus answers 403 for a row that no longer exists (a concurrent DELETE).
            if exc.status != 403:
                raise
    key = slot(business_id, end_user_id, field)
    row_id = str(uuid.uuid4())  # generated here: the ciphertext is bound to it
    row = {
        "id": row_id,
        "business_id": business_id,
        "end_user_id": end_user_id,
        "end_user_hash": end_user_hash(end_user_id),
        "field": field,
        "slot": key,
        FIELD: encryptor.encrypt(value, context(row_id)),
    }
    try:
        directus.create_item(COLLECTION, row)
        return
    except DirectusResponseError as exc:
        if exc.code != "RECORD_NOT_UNIQUE":
            raise
    # A concurrent PUT created this field's row first: overwrite its value (last write wins).
    winner = _find_row_id(directus, business_id, key)
    if winner is None:
        raise DomainError("conflict", "The credentials changed during this request, please retry")
    _update_value(directus, encryptor, winner, value)


def _update_value(directus: DirectusClient, encryptor: Encryptor, row_id: str, value: str) -> None:
    directus.update_item(COLLECTION, row_id, {FIELD: encryptor.encrypt(value, context(row_id))})


def delete_credentials(directus: DirectusClient, business_id: str, end_user_id: str) -> int:
    """Delete every credential of the end user; returns how many rows there were."""
    ids = [row["id"] for row in _end_user_rows(directus, business_id, end_user_id)]
    _delete_rows(directus, ids)
    return len(ids)


def _delete_rows(directus: DirectusClient, ids: list[str]) -> None:
    try:
        directus.delete_items(COLLECTION, ids)
    except DirectusResponseError as exc:
        # 403 when one of them is already gone (a concurrent DELETE): delete what is left.
        if exc.status != 403:
            raise
        left = directus.find_items(COLLECTION, {"id": {"_in": ids}}, fields=("id",), limit=-1)
        directus.delete_items(COLLECTION, [row["id"] for row in left])


# -- the workers' read -----------------------------------------------------------------------


def reveal_cookies(
    directus: DirectusClient,
    keyring: Keyring,
    business_id: str,
    end_user_id: str,
    wanted: Iterable[str] | None = None,
) -> dict[str, list[Cookie]]:
    """Decrypted cookies per platform (of `wanted`, default all), in the cookie table's order.

    Platforms with nothing stored are left out; 404 DomainError when none has anything.
    Raises CryptoError when a stored value does not decrypt.
    """
    names = set(wanted) if wanted is not None else set(platforms.PLATFORMS)
    rows = _end_user_rows(directus, business_id, end_user_id, extra=(FIELD,))
    values = {
        row["field"]: keyring.decrypt(row[FIELD], context(row["id"]))
        for row in rows
        if row["field"] in platforms.FIELDS and platforms.FIELDS[row["field"]].platform in names
    }
    result = {}
    for platform in platforms.PLATFORMS.values():
        found = [
            spec.cookie(values[spec.field]) for spec in platform.cookies if spec.field in values
        ]
        if found:
            result[platform.name] = found
    if not result:
        raise not_found("No credentials stored for this end user")
    return result

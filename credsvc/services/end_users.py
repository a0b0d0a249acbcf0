"""End users' platform cookies: the `end_user_credentials` collection.

One row per (business, end user, credential field), so concurrent PUTs that touch different
fields never overwrite each other: each writes only its own rows. A row's unique `slot` is
sha256(business_id NUL end_user_id NUL field); `end_user_hash` (sha256 of the end-user id)
indexes an end user's rows without putting a 256-character id into an index.

Every query filters by the business id the caller's API key belongs to; rows that come back
for another business or end user are dropped again here, so a filter Directus ignored could
not leak or delete someone else's credentials.

A PUT is all or nothing (see `set_credentials`). The write path (`set_credentials`,
`delete_credentials`) and `credential_status` never decrypt (an undo copies ciphertext back):
they take an `Encryptor`, anything with `encrypt(value, context)`, so they can run in a
process whose key can only encrypt. Only `reveal_cookies` (workers) decrypts.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from credsvc import model, platforms
from credsvc.cookies import Cookie
from credsvc.crypto import Keyring, RecordContext
from credsvc.directus import DirectusClient, DirectusError, DirectusResponseError
from credsvc.exceptions import Conflict, NotFound
from credsvc.model import END_USER_CREDENTIALS

COLLECTION = END_USER_CREDENTIALS.collection
FIELD = END_USER_CREDENTIALS.field
ROW_FIELDS = ("id", "business_id", "end_user_hash", "field")

log = logging.getLogger("credsvc.end_users")


class Encryptor(Protocol):
    def encrypt(self, value: Any, context: RecordContext) -> str: ...


end_user_hash = model.end_user_hash
slot = model.end_user_slot


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

# A compare-and-set column enforced by database triggers (deploy/directus/guards.mjs): an
# update carrying it goes through only while the stored value still equals it.
GUARD_FIELD = model.GUARD_FIELD
ATTEMPTS = 2  # a PUT that raced another writer is planned again once


@dataclass
class _Plan:
    """One PUT as at most three all-or-nothing batch requests, and how to undo the first two."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    previous: dict[str, str] = field(default_factory=dict)  # row id -> ciphertext before
    creates: list[dict[str, Any]] = field(default_factory=list)
    clears: list[str] = field(default_factory=list)


class _Raced(Exception):
    """Another writer changed the same rows between our read and our write."""


def set_credentials(
    directus: DirectusClient,
    encryptor: Encryptor,
    business_id: str,
    end_user_id: str,
    values: Mapping[str, str | None],
) -> None:
    """Set each field in `values` (a string) or clear it (None); other fields stay as they are.

    All or nothing: the updates, creations and deletions each go in one batch request, and when
    a later one fails the earlier ones are undone before the error is raised.
    """
    for attempt in range(ATTEMPTS):
        plan = _plan(directus, encryptor, business_id, end_user_id, values)
        try:
            _apply(directus, plan)
            return
        except _Raced as raced:
            cause = raced.__cause__
            if attempt + 1 == ATTEMPTS:
                if isinstance(cause, DirectusResponseError) and cause.status == 403:
                    raise cause from None
                raise Conflict(
                    "The credentials changed during this request, please retry"
                ) from None


def _plan(
    directus: DirectusClient,
    encryptor: Encryptor,
    business_id: str,
    end_user_id: str,
    values: Mapping[str, str | None],
) -> _Plan:
    keys = {name: slot(business_id, end_user_id, name) for name in values}
    rows = directus.find_items(
        COLLECTION,
        {"business_id": {"_eq": business_id}, "slot": {"_in": sorted(keys.values())}},
        fields=("id", "business_id", "slot", FIELD),
        limit=-1,
    )
    existing = {row["slot"]: row for row in rows if row.get("business_id") == business_id}
    hashed = end_user_hash(end_user_id)
    plan = _Plan()
    for name, value in values.items():
        row = existing.get(keys[name])
        if value is None:
            if row is not None:
                plan.clears.append(row["id"])
            continue
        # Bound to the owner this PUT writes for (never to owner columns read back).
        target = {"business_id": business_id, "end_user_hash": hashed, "field": name}
        if row is not None:
            plan.previous[row["id"]] = row[FIELD]
            bound = END_USER_CREDENTIALS.context({"id": row["id"], **target})
            plan.updates.append({"id": row["id"], FIELD: encryptor.encrypt(value, bound)})
        else:
            row_id = str(uuid.uuid4())  # generated here: the ciphertext is bound to it
            created = {"id": row_id, **target, "end_user_id": end_user_id, "slot": keys[name]}
            created[FIELD] = encryptor.encrypt(value, END_USER_CREDENTIALS.context(created))
            plan.creates.append(created)
    return plan


def _apply(directus: DirectusClient, plan: _Plan) -> None:
    updated: list[dict[str, Any]] = []
    created: list[str] = []
    try:
        if plan.updates:
            directus.update_items(COLLECTION, plan.updates)
            updated = plan.updates
        if plan.creates:
            directus.create_items(COLLECTION, plan.creates)
            created = [row["id"] for row in plan.creates]
        if plan.clears:
            directus.delete_items(COLLECTION, plan.clears)
    except DirectusError as exc:
        _undo(directus, updated, plan.previous, created)
        if isinstance(exc, DirectusResponseError) and (
            exc.code == "RECORD_NOT_UNIQUE"  # another PUT created one of our rows first
            or exc.status == 403  # Directus's answer for a row deleted meanwhile
        ):
            raise _Raced() from exc
        raise


def _undo(
    directus: DirectusClient,
    updated: list[dict[str, Any]],
    previous: Mapping[str, str],
    created: list[str],
) -> None:
    """Put back what this PUT already wrote. Each old value is restored only while the row
    still holds the value this PUT wrote (the guard), so a newer write is never undone."""
    try:
        if created:
            directus.delete_items(COLLECTION, created)
        for item in updated:
            try:
                directus.update_item(
                    COLLECTION, item["id"], {FIELD: previous[item["id"]], GUARD_FIELD: item[FIELD]}
                )
            except DirectusResponseError as exc:
                if exc.status not in (400, 403):  # 400: overwritten since; 403: deleted since
                    raise
    except DirectusError as exc:
        log.error(
            "could not undo a partial end-user credentials write",
            extra={"error_type": type(exc).__name__},
        )


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

    Platforms with nothing stored are left out; NotFound when none has anything.
    Raises CryptoError when a stored value does not decrypt.
    """
    names = set(wanted) if wanted is not None else set(platforms.PLATFORMS)
    rows = _end_user_rows(directus, business_id, end_user_id, extra=(FIELD,))
    values = {
        row["field"]: keyring.decrypt(row[FIELD], END_USER_CREDENTIALS.context(row))
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
        raise NotFound("No credentials stored for this end user")
    return result

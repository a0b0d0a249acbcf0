"""Key status and rewrap: every encrypted field of every collection, via the Directus client.

`key_status` counts stored values per key id ("legacy" for the Node three-part format; an
earlier, not owner-bound generation is counted as e.g. "k1 (v2)") by reading every row, so the
counts are exact whatever the database's LIKE semantics are.

`rewrap_collection` moves every value that is not under the active key, or not in the current
owner-bound format generation, to the active key and format, in batches:

 1. select the first `batch_size` rows whose value does not start with the active prefix
    (rows the job gave up on are excluded by id, so it always terminates);
 2. rewrap each value in memory (`Keyring.rewrap`: the plaintext never leaves the process),
    bound to the owner columns read in step 1;
 3. write them in Directus batch PATCHes (each an all-or-nothing transaction, cut below
    Directus's request size limit), each row with `rewrap_guard` set to the ciphertext read in
    step 1.

The guard is a compare-and-set in the database itself (deploy/directus/guards.mjs, installed
after every `schema apply`): a trigger lets an UPDATE that sets `rewrap_guard` through only if
the guard equals the value stored at that moment, under the row's write lock, and resets the
guard to NULL; otherwise the statement fails, Directus rolls back the whole batch and answers
400 NOT_NULL_VIOLATION for the field `rewrap_guard` (`is_guard_abort`). The batch is then
retried row by row with the same guards: rows whose guard fails are counted as
skipped_changed, the others are written. A service write that lands at any point of the job
(even while the batch PATCH is in flight) is therefore never overwritten with an older value.
Single rows are written only for a batch that hit a guard abort, so a job that races with no
write costs two Directus round trips per batch: the selection and the PATCH. Service writes
never set `rewrap_guard`, so the triggers never touch them.

Rows are only ever selected while they are *not* under the active key, so an interrupted job
resumes by running again, and a second run over a finished collection writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from credsvc.crypto import CryptoError, Keyring
from credsvc.crypto.keyring import LEGACY_KEY_ID, OWNER_BOUND_FORMATS
from credsvc.directus import BATCH_MAX_ROWS, DirectusClient, DirectusResponseError
from credsvc.model import ENCRYPTED_COLUMNS, GUARD_FIELD, EncryptedColumn

# Every encrypted field, as (collection, field); each row's binding is credsvc.model's.
ENCRYPTED_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (column.collection, column.field) for column in ENCRYPTED_COLUMNS
)
SCAN_PAGE = 1000
# Rows a rewrap round selects and rewraps at once (the CLI's --batch-size default).
REWRAP_BATCH = 500
# Directus refuses a body over MAX_PAYLOAD_SIZE (1 MB by default): a batch PATCH is cut into
# requests of at most this many bytes of JSON (cookie sessions are several kB a value).
MAX_WRITE_BYTES = 768 * 1024
UNKNOWN = "invalid"  # a value in no known format


def encrypted_fields(only: str | None = None) -> list[tuple[str, str]]:
    if only is None:
        return list(ENCRYPTED_FIELDS)
    chosen = [(c, f) for c, f in ENCRYPTED_FIELDS if c == only]
    if not chosen:
        names = ", ".join(c for c, _ in ENCRYPTED_FIELDS)
        raise ValueError(f"unknown collection {only!r}; encrypted collections: {names}")
    return chosen


def _column(collection: str) -> EncryptedColumn:
    return next(column for column in ENCRYPTED_COLUMNS if column.collection == collection)


def _scan(
    directus: DirectusClient, collection: str, fld: str, page_size: int = SCAN_PAGE
) -> Iterator[list[dict]]:
    """Pages of {id, field} rows with a non-null value, in id order (a snapshot for status)."""
    page = 1
    while True:
        rows = directus.find_items(
            collection,
            {fld: {"_nnull": True}},
            fields=("id", fld),
            sort=("id",),
            limit=page_size,
            page=page,
        )
        if rows:
            yield rows
        if len(rows) < page_size:
            return
        page += 1


def _pending_pages(
    directus: DirectusClient,
    keyring: Keyring,
    collection: str,
    fld: str,
    batch_size: int,
    excluded: set[str],
) -> Iterator[list[dict]]:
    """The first `batch_size` rows not under the active key and not excluded, again and again.

    Rewrapped rows leave the selection by themselves; rows the job gave up on (undecryptable,
    or changed under it) are excluded by id, so every round makes progress and the loop ends.
    Directus cannot compare uuids with `_gt`, hence no keyset cursor.
    """
    while True:
        flt: dict[str, Any] = _pending_filter(keyring, fld)
        if excluded:
            flt = {"_and": [flt, {"id": {"_nin": sorted(excluded)}}]}
        # SEARCH: the excluded ids travel in the body, where any number of them fits.
        rows = directus.search_items(
            collection,
            flt,
            fields=_column(collection).rewrap_fields,
            sort=("id",),
            limit=batch_size,
        )
        if not rows:
            return
        yield rows


def key_status(
    directus: DirectusClient, keyring: Keyring, collection: str | None = None
) -> dict[str, dict[str, int]]:
    """{collection: {key_id: count}}: exact counts of stored values per key id."""
    result: dict[str, dict[str, int]] = {}
    for coll, fld in encrypted_fields(collection):
        counts: dict[str, int] = {}
        for rows in _scan(directus, coll, fld):
            for row in rows:
                try:
                    key_id = status_label(keyring, row[fld])
                except CryptoError:
                    key_id = UNKNOWN
                counts[key_id] = counts.get(key_id, 0) + 1
        result[coll] = dict(sorted(counts.items()))
    return result


def status_label(keyring: Keyring, token: str) -> str:
    """The key id, plus the format when it is an earlier generation ("k1 (v2)")."""
    key_id, fmt = keyring.key_id_of(token), keyring.format_of(token)
    if fmt in OWNER_BOUND_FORMATS or key_id == LEGACY_KEY_ID:
        return key_id
    return f"{key_id} ({fmt})"


@dataclass
class RewrapResult:
    collection: str
    rewrapped: int = 0
    skipped_changed: int = 0  # the service wrote the row during the job: left alone
    failed_ids: list[str] = field(default_factory=list)  # could not decrypt here
    rejected_ids: list[str] = field(default_factory=list)  # Directus refused the row's write

    @property
    def failed(self) -> int:
        return len(self.failed_ids) + len(self.rejected_ids)


def is_guard_abort(exc: Exception, collection: str) -> bool:
    """True when Directus refused an update because a `rewrap_guard` no longer matched.

    The guard trigger fails the statement in the shape Directus translates into a
    NOT_NULL_VIOLATION of `<collection>.rewrap_guard` (400). The column is nullable, so that
    answer cannot come from a real NOT NULL violation; any other error is not a guard abort.
    """
    if not isinstance(exc, DirectusResponseError) or exc.status != 400:
        return False
    expected = {"code": "NOT_NULL_VIOLATION", "field": GUARD_FIELD, "collection": collection}
    return bool(exc.errors) and all(
        isinstance(extensions := error.get("extensions"), dict)
        and all(extensions.get(name) == value for name, value in expected.items())
        for error in exc.errors
    )


class GuardMissing(RuntimeError):
    """The database does not enforce `rewrap_guard` (deploy/directus/guards.mjs never ran)."""


PROBE_GUARD = "credsvc-guard-probe"  # never equal to a stored ciphertext


def ensure_guard(directus: DirectusClient, collection: str, row_id: str) -> None:
    """Refuse to rewrap unless the database really rejects a stale guard.

    Sends a guard that cannot match: with the triggers installed Directus refuses it; without
    them the write goes through, is undone at once, and GuardMissing stops the job.
    """
    try:
        directus.update_item(collection, row_id, {GUARD_FIELD: PROBE_GUARD})
    except DirectusResponseError as exc:
        if is_guard_abort(exc, collection):
            return
        raise
    directus.update_item(collection, row_id, {GUARD_FIELD: None})
    raise GuardMissing(
        f"{collection}: the database does not enforce rewrap_guard; install the triggers "
        "with deploy/directus/guards.mjs (make run does) before rewrapping"
    )


def pending_count(directus: DirectusClient, keyring: Keyring, collection: str, fld: str) -> int:
    """Rows the server-side filter selects for rewrapping (the progress bar's total)."""
    return directus.count_items(collection, _pending_filter(keyring, fld))


def _pending_filter(keyring: Keyring, fld: str) -> dict[str, Any]:
    # LIKE-based; Keyring refuses configured ids that collide under LIKE, and step 2 re-checks
    # every selected value exactly, so the filter can only over-select, never hide a row of
    # another configured key.
    return {fld: {"_nstarts_with": keyring.active_prefix}}


def rewrap_collection(
    directus: DirectusClient,
    keyring: Keyring,
    collection: str,
    fld: str,
    *,
    batch_size: int = REWRAP_BATCH,
    progress: Callable[[int], None] = lambda n: None,
    after_select: Callable[[list[str]], None] = lambda ids: None,
    before_write: Callable[[list[str]], None] = lambda ids: None,
) -> RewrapResult:
    """Rewrap every value of `collection.fld` that is not under the active key.

    `progress(n)` is called after each page with the number of rows handled. Test seams:
    `after_select(ids)` runs after a page is read, before it is rewrapped; `before_write(ids)`
    runs just before the guarded batch PATCH.
    """
    if batch_size < 1:
        raise ValueError("batch size must be positive")
    if getattr(keyring, "write_format", "") == "legacy":
        # Every value would be rewritten legacy: nothing converted, the binding lost.
        raise ValueError("CREDENTIALS_WRITE_FORMAT=legacy: rewrap only after switching it off")
    result = RewrapResult(collection)
    column = _column(collection)
    excluded: set[str] = set()
    probed = False
    for rows in _pending_pages(directus, keyring, collection, fld, batch_size, excluded):
        if not probed:
            ensure_guard(directus, collection, rows[0]["id"])
            probed = True
        after_select([row["id"] for row in rows])
        planned: dict[str, tuple[str, str]] = {}
        for row in rows:
            old = row[fld]
            try:
                if not keyring.needs_rewrap(old):
                    # Selected by a LIKE that over-matched (cannot happen with a valid ring).
                    excluded.add(row["id"])
                    continue
                if not column.restates_owner(row):
                    # The owner columns disagree with their second statement: relabelled.
                    # Binding the value to them now would hand it to the new owner for good.
                    raise CryptoError("owner columns disagree with the row's owner key")
                new = keyring.rewrap(old, column.context(row))
            except CryptoError:
                result.failed_ids.append(row["id"])
                excluded.add(row["id"])
                continue
            planned[row["id"]] = (old, new)
        if planned:
            excluded.update(_write_batch(directus, collection, fld, planned, result, before_write))
        progress(len(rows))
    return result


def _guarded(fld: str, row_id: str, old: str, new: str) -> dict[str, str]:
    """One row of a rewrap write: the new value, guarded by the old one."""
    return {"id": row_id, fld: new, GUARD_FIELD: old}


def _write_batch(directus, collection, fld, planned, result, before_write) -> list[str]:
    """Guarded batch writes; returns the ids left alone (changed meanwhile, or refused)."""
    before_write(list(planned))
    left: list[str] = []
    for items in _by_size([_guarded(fld, i, *planned[i]) for i in planned]):
        try:
            directus.update_items_guarded(collection, items)
        except DirectusResponseError as exc:
            if not is_guard_abort(exc, collection):
                raise
            # Some row changed after it was read: the whole batch was rolled back. Retry each
            # row with its own guard, so only the rows that changed are left alone.
            left += _write_each(directus, collection, items, result)
            continue
        result.rewrapped += len(items)
    return left


def _by_size(items: list[dict[str, str]]) -> Iterator[list[dict[str, str]]]:
    """`items` in order, in runs whose JSON stays under MAX_WRITE_BYTES (at least one item)
    and of at most BATCH_MAX_ROWS items."""
    run: list[dict[str, str]] = []
    size = 2
    for item in items:
        item_size = len(json.dumps(item)) + 1
        if run and (size + item_size > MAX_WRITE_BYTES or len(run) >= BATCH_MAX_ROWS):
            yield run
            run, size = [], 2
        run.append(item)
        size += item_size
    if run:
        yield run


def _write_each(directus, collection, items, result) -> list[str]:
    """One guarded PATCH per row; returns the ids left alone (changed meanwhile, or refused)."""
    left = []
    for item in items:
        row_id = item["id"]
        data = {k: v for k, v in item.items() if k != "id"}
        try:
            directus.update_item(collection, row_id, data, fields=("id",))
        except DirectusResponseError as exc:
            if is_guard_abort(exc, collection):
                result.skipped_changed += 1
            else:
                result.rejected_ids.append(row_id)
            left.append(row_id)
            continue
        result.rewrapped += 1
    return left

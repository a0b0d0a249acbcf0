"""Key status and rewrap: every encrypted field of every collection, via the Directus client.

`key_status` counts stored values per key id ("legacy" for the Node three-part format) by
reading every row, so the counts are exact whatever the database's LIKE semantics are.

`rewrap_collection` moves every value that is not under the active key to it, in batches:

 1. select the first `batch_size` rows whose value does not start with the active prefix
    (rows the job gave up on are excluded by id, so it always terminates);
 2. rewrap each value in memory (`Keyring.rewrap`: the plaintext never leaves the process);
 3. compare-and-set guard: re-read the page's values immediately before writing and drop
    every row whose value changed since step 1 (the service wrote it meanwhile);
 4. write the rest in one Directus batch PATCH (an all-or-nothing transaction).

Rows are only ever selected while they are *not* under the active key, so an interrupted job
resumes by running again, and a second run over a finished collection writes nothing.

Remaining window (documented in README.md "Rotating keys"): Directus 12.4 has no conditional
update. `updateBatch` runs `UPDATE ... WHERE id = ?` per row, and `updateByQuery` (PATCH with a
`query`) selects the matching keys and then updates them by key, outside one atomic statement.
A service write that commits between the guard's read (3) and the batch's UPDATE (4) is
overwritten by the rewrapped older value. `strategy="record"` narrows that window to the
inside of one Directus request per row (filter on id AND the old ciphertext) at the cost of
one request per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from credsvc.crypto import CryptoError, Keyring, RecordContext
from credsvc.directus import DirectusClient
from credsvc.services import download_credentials, end_users, platform_sessions, profiles

# Every encrypted field, as (collection, field). Each row's context is
# RecordContext(collection, row["id"], field), the same as the owning module's `context()`.
ENCRYPTED_FIELDS: tuple[tuple[str, str], ...] = (
    (profiles.COLLECTION, profiles.FIELD),
    (download_credentials.COLLECTION, download_credentials.FIELD),
    (platform_sessions.COLLECTION, platform_sessions.FIELD),
    (end_users.COLLECTION, end_users.FIELD),
)
SCAN_PAGE = 1000
STRATEGIES = ("batch", "record")
UNKNOWN = "invalid"  # a value in no known format


def encrypted_fields(only: str | None = None) -> list[tuple[str, str]]:
    if only is None:
        return list(ENCRYPTED_FIELDS)
    chosen = [(c, f) for c, f in ENCRYPTED_FIELDS if c == only]
    if not chosen:
        names = ", ".join(c for c, _ in ENCRYPTED_FIELDS)
        raise ValueError(f"unknown collection {only!r}; encrypted collections: {names}")
    return chosen


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


def _search(
    directus: DirectusClient,
    collection: str,
    flt: dict[str, Any],
    fields: tuple[str, ...],
    limit: int,
) -> list[dict]:
    """SEARCH /items: the query travels in the body (a list of ids would not fit in a URL)."""
    query = {"filter": flt, "fields": list(fields), "sort": ["id"], "limit": limit}
    return directus.request("SEARCH", f"/items/{collection}", json_body={"query": query}) or []


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
        rows = _search(directus, collection, flt, ("id", fld), batch_size)
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
                    key_id = keyring.key_id_of(row[fld])
                except CryptoError:
                    key_id = UNKNOWN
                counts[key_id] = counts.get(key_id, 0) + 1
        result[coll] = dict(sorted(counts.items()))
    return result


@dataclass
class RewrapResult:
    collection: str
    rewrapped: int = 0
    skipped_changed: int = 0  # the service wrote the row during the job: left alone
    failed_ids: list[str] = field(default_factory=list)  # could not decrypt here

    @property
    def failed(self) -> int:
        return len(self.failed_ids)


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
    batch_size: int = 100,
    strategy: str = "batch",
    progress: Callable[[int], None] = lambda n: None,
    after_select: Callable[[list[str]], None] = lambda ids: None,
    before_write: Callable[[list[str]], None] = lambda ids: None,
) -> RewrapResult:
    """Rewrap every value of `collection.fld` that is not under the active key.

    `progress(n)` is called after each page with the number of rows handled. Test seams:
    `after_select(ids)` runs after a page is read, before the guard; `before_write(ids)` runs
    between the guard and the write (the residual window).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}")
    if batch_size < 1:
        raise ValueError("batch size must be positive")
    result = RewrapResult(collection)
    excluded: set[str] = set()
    for rows in _pending_pages(directus, keyring, collection, fld, batch_size, excluded):
        after_select([row["id"] for row in rows])
        planned: dict[str, tuple[str, str]] = {}
        for row in rows:
            old = row[fld]
            try:
                if not keyring.needs_rewrap(old):
                    # Selected by a LIKE that over-matched (cannot happen with a valid ring).
                    excluded.add(row["id"])
                    continue
                new = keyring.rewrap(old, RecordContext(collection, row["id"], fld))
            except CryptoError:
                result.failed_ids.append(row["id"])
                excluded.add(row["id"])
                continue
            planned[row["id"]] = (old, new)
        if planned:
            write = _write_batch if strategy == "batch" else _write_each
            excluded.update(write(directus, collection, fld, planned, result, before_write))
        progress(len(rows))
    return result


def _write_batch(directus, collection, fld, planned, result, before_write) -> list[str]:
    """Guarded batch write; returns the ids skipped because their value changed."""
    ids = list(planned)
    fresh = _search(directus, collection, {"id": {"_in": ids}}, ("id", fld), len(ids))
    current = {row["id"]: row[fld] for row in fresh}
    unchanged = [i for i in ids if current.get(i) == planned[i][0]]
    changed = [i for i in ids if current.get(i) != planned[i][0]]
    result.skipped_changed += len(changed)
    if unchanged:
        before_write(unchanged)
        directus.update_items(collection, [{"id": i, fld: planned[i][1]} for i in unchanged])
        result.rewrapped += len(unchanged)
    return changed


def _write_each(directus, collection, fld, planned, result, before_write) -> list[str]:
    """One conditional PATCH per row; returns the ids skipped because their value changed."""
    changed = []
    before_write(list(planned))
    for row_id, (old, new) in planned.items():
        # PATCH with a query: Directus selects ids matching (id, old value), then updates them.
        updated = directus.request(
            "PATCH",
            f"/items/{collection}",
            params={"fields": "id"},
            json_body={
                "query": {
                    "filter": {"_and": [{"id": {"_eq": row_id}}, {fld: {"_eq": old}}]},
                    "limit": 1,
                },
                "data": {fld: new},
            },
        )
        if updated:
            result.rewrapped += 1
        else:
            result.skipped_changed += 1
            changed.append(row_id)
    return changed

"""Rotation end to end on the real Directus: ≥ 10,000 rows rewrapped, none lost, resumable,
writes made during the job never overwritten, and the minimum decryption key enforced."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from credsvc import create_app
from credsvc.cli import operator_directus
from credsvc.crypto import Keyring, RecordContext, encrypt_json, keyring_from_settings
from credsvc.model import DOWNLOAD_CREDENTIALS
from credsvc.services import keys as key_service

pytestmark = pytest.mark.integration

# -- helpers shared with test_transit.py and bench/rewrap.py ------------------------------

COLLECTION = "download_credentials"
FIELD = "encrypted_credentials"
INSERT_CHUNK = 1000


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def seeded_row(row_id: str, tag: str) -> dict[str, str]:
    """The id and owner columns of a row `seed_rows` wrote with `tag`: every row of a tag
    belongs to the user and profile of `seeded_profile(tag)`."""
    profile = seeded_profile(tag)
    return {
        "id": row_id,
        "user_id": profile["user_id"],
        "creator_profile_id": profile["id"],
        "platform": "x",
        "auth_type": "password",
    }


def seeded_profile(tag: str) -> dict[str, str]:
    """The platform_connections row the rows of `tag` belong to (ids derived from the tag)."""
    user = str(uuid.uuid5(uuid.NAMESPACE_URL, f"credsvc-test-user:{tag}"))
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"credsvc-test-profile:{tag}")),
        "user_id": user,
        "platform": "x",
        "owner_platform": f"{user}:x",
    }


def binding(row_id: str, tag: str) -> RecordContext:
    """The binding of a seeded row's value (record and owner columns, credsvc.model)."""
    return DOWNLOAD_CREDENTIALS.context(seeded_row(row_id, tag))


def seed_rows(
    url: str, token: str, count: int, keyring: Keyring, legacy_key: bytes, tag: str
) -> dict[str, dict]:
    """Insert `count` download_credentials rows with batch POSTs; every 4th value is in the
    legacy format, the rest in the ring's current format (v5) under its active key.
    Returns {id: plaintext}."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    expected: dict[str, dict] = {}
    rows = []
    for i in range(count):
        row = seeded_row(str(uuid.uuid4()), tag)
        value = {"username": f"{tag}-{i}", "password": f"pw-{i}-{tag}"}
        context = DOWNLOAD_CREDENTIALS.context(row)
        token_ = encrypt_json(value, legacy_key) if i % 4 == 0 else keyring.encrypt(value, context)
        expected[row["id"]] = value
        rows.append({**row, FIELD: token_})
    for chunk in _chunks(rows, INSERT_CHUNK):
        response = session.post(
            f"{url}/items/{COLLECTION}", json=chunk, params={"fields": "id"}, timeout=(3, 120)
        )
        response.raise_for_status()
    return expected


def stored_values(url: str, token: str, tag: str) -> dict[str, str]:
    """{id: stored ciphertext} of every row seeded with `tag`."""
    response = requests.get(
        f"{url}/items/{COLLECTION}",
        params={
            "filter[user_id][_eq]": seeded_profile(tag)["user_id"],
            "fields": f"id,{FIELD}",
            "limit": -1,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=(3, 120),
    )
    response.raise_for_status()
    return {row["id"]: row[FIELD] for row in response.json()["data"]}


def delete_rows(url: str, token: str, ids: list[str]) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for chunk in _chunks(ids, INSERT_CHUNK):
        session.delete(f"{url}/items/{COLLECTION}", json=chunk, timeout=(3, 120))


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


# -- tests ---------------------------------------------------------------------------------

ROWS = 10_000
OLD_KEY, NEW_KEY = secrets.token_hex(32), secrets.token_hex(32)
SYNC = "rewrap-sync-secret-" + secrets.token_hex(8)


def app_for(directus, **keys):
    env = directus.service_env(RBAC_SYNC_SECRET=SYNC, DIRECTUS_TIMEOUT_READ="60")
    del env["CREDENTIALS_ENCRYPTION_KEY"]  # the keys come from the caller
    return create_app({**env, **keys})


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def seeded(directus):
    tag = "rewrap-" + secrets.token_hex(4)
    old_ring = keyring_from_settings(OLD_KEY)
    expected, seconds = timed(
        seed_rows, directus.url, directus.admin_token, ROWS, old_ring, bytes.fromhex(OLD_KEY), tag
    )
    print(f"\nseeded {ROWS} rows in {seconds:.1f} s")
    yield tag, expected
    delete_rows(directus.url, directus.admin_token, list(expected))


def test_rewrap_10k_rows_resumable_and_safe_under_concurrent_writes(directus, seeded):
    tag, expected = seeded
    app = app_for(directus, CREDENTIALS_ENCRYPTION_KEY=OLD_KEY, CREDENTIALS_KEYS=f"k1:{NEW_KEY}")
    services = app.extensions["credsvc"]
    ring, client = services.keyring, operator_directus(app)  # the job runs as `flask keys`
    ids = sorted(expected)
    # The batch counts below hold only if this module's rows are the only ones to rewrap:
    # every other module deletes the download credentials it made.
    foreign = [r["id"] for r in directus.items(COLLECTION, fields="id") if r["id"] not in expected]
    assert not foreign, f"{len(foreign)} download_credentials rows left by other test modules"

    # 1. The job is interrupted after three batches (think Ctrl-C).
    batches = 0

    def interrupt(n):
        nonlocal batches
        batches += 1
        if batches == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        key_service.rewrap_collection(
            client, ring, COLLECTION, FIELD, batch_size=500, progress=interrupt
        )
    partial = stored_values(directus.url, directus.admin_token, tag)
    done = sum(v.startswith("v5:k1:") for v in partial.values())
    assert done == 1500 and len(partial) == ROWS

    # 2. The service keeps writing while the job resumes: rows ahead of the job between
    #    batches, one row in the gap between the job's page read and its re-read (dropped
    #    before the PATCH), and one between the re-read and the PATCH (refused by the database
    #    guard: the batch is rolled back and retried row by row).
    service_writes: dict[str, dict] = {}

    def write_like_the_service(row_id):
        value = {"username": "rotated-during-job", "password": secrets.token_hex(8)}
        client.update_item(COLLECTION, row_id, {FIELD: ring.encrypt(value, binding(row_id, tag))})
        service_writes[row_id] = value

    ahead = iter(ids[-40:])
    pages = 0

    def after_select(page_ids):
        nonlocal pages
        pages += 1
        if pages == 2:
            write_like_the_service(page_ids[len(page_ids) // 2])  # read, not yet re-read

    def before_write(page_ids):
        if pages == 3:
            write_like_the_service(page_ids[len(page_ids) // 3])  # re-read, not yet written

    def between_batches(n):
        for _ in range(2):
            row_id = next(ahead, None)
            if row_id:
                write_like_the_service(row_id)

    result, seconds = timed(
        key_service.rewrap_collection,
        client,
        ring,
        COLLECTION,
        FIELD,
        batch_size=500,
        progress=between_batches,
        after_select=after_select,
        before_write=before_write,
    )
    print(
        f"resumed: rewrapped {result.rewrapped} in {seconds:.1f} s "
        f"({result.rewrapped / seconds:.0f} rows/s), skipped {result.skipped_changed}"
    )
    # Other test modules share this Directus and write rows under their own random keys:
    # those are reported as failures (correctly: this ring cannot read them), ours never are.
    assert not set(result.failed_ids) & set(expected)
    assert result.skipped_changed == 2 and not result.rejected_ids

    # 3. Every row is under k1, none lost, every value intact, service writes kept.
    final = stored_values(directus.url, directus.admin_token, tag)
    assert set(final) == set(expected)
    assert all(token.startswith("v5:k1:") for token in final.values())
    for row_id, token in final.items():
        want = service_writes.get(row_id, expected[row_id])
        assert ring.decrypt(token, binding(row_id, tag)) == want

    # 4. The rerun is a no-op and status shows nothing left under k0 / legacy here.
    again = key_service.rewrap_collection(client, ring, COLLECTION, FIELD)
    assert (again.rewrapped, again.skipped_changed) == (0, 0)
    assert not set(again.failed_ids) & set(expected)  # other modules' rows use other keys
    status = app.test_cli_runner().invoke(
        args=["keys", "status", "--collection", COLLECTION, "--json"]
    )
    counts = json.loads(status.output)["counts"][COLLECTION]
    # Rows other test modules wrote under their own random "k0" keys stay where they are.
    foreign_k0 = sum(
        row["id"] not in expected and row[FIELD].startswith("v5:k0:")
        for row in directus.items(COLLECTION, fields=f"id,{FIELD}")
    )
    assert counts.get("k1", 0) >= ROWS and "legacy" not in counts
    assert counts.get("k0", 0) == foreign_k0


def rewrap_one(keyring, token, row_id, tag):
    return keyring.rewrap(token, binding(row_id, tag))


def test_min_decrypt_key_end_to_end(directus):
    """After rotation, CREDENTIALS_MIN_DECRYPT_KEY=k1 reads k1 values and refuses k0 ones."""
    tag = "mindec-" + secrets.token_hex(4)
    old_ring = keyring_from_settings(OLD_KEY)
    expected = seed_rows(
        directus.url, directus.admin_token, 8, old_ring, bytes.fromhex(OLD_KEY), tag
    )
    ids = sorted(expected)
    # The workers serve a download credential only while its user owns its profile.
    profile = seeded_profile(tag)
    created = directus.admin_request("POST", "/items/platform_connections", profile)
    assert created.status_code == 200, created.text
    try:
        rotated = app_for(
            directus, CREDENTIALS_ENCRYPTION_KEY=OLD_KEY, CREDENTIALS_KEYS=f"k1:{NEW_KEY}"
        )
        services = rotated.extensions["credsvc"]
        # Rewrap only the first half (by hand), leave the rest under k0 / legacy.
        stored = stored_values(directus.url, directus.admin_token, tag)
        operator_directus(rotated).update_items(
            COLLECTION,
            [{"id": i, FIELD: rewrap_one(services.keyring, stored[i], i, tag)} for i in ids[:4]],
        )
        strict = app_for(
            directus,
            CREDENTIALS_KEYS=f"k0:{OLD_KEY},k1:{NEW_KEY}",
            CREDENTIALS_MIN_DECRYPT_KEY="k1",
        )
        client = strict.test_client()
        for i, row_id in enumerate(ids):
            response = client.post(
                "/api/credentials/reveal-download-cred",
                headers={"X-RBAC-SYNC-SECRET": SYNC},
                json={"id": row_id},
            )
            if i < 4:
                assert response.status_code == 200, response.get_data(as_text=True)
                assert response.get_json()["credentials"] == expected[row_id]
            else:
                assert response.status_code == 409
                assert response.get_json() == {
                    "success": False,
                    "error": "Stored credentials could not be decrypted",
                }
    finally:
        delete_rows(directus.url, directus.admin_token, ids)
        directus.admin_request("DELETE", f"/items/platform_connections/{profile['id']}")

"""The rewrap guard on the real Directus: the database triggers of deploy/directus/guards.mjs
make the rewrap's PATCH a compare-and-set, so a service write landing between the job's last
read and its write is never overwritten with the older value."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
import requests

from credsvc.cli import operator_directus
from credsvc.crypto import keyring_from_settings
from credsvc.directus import DirectusResponseError
from credsvc.services import keys as key_service
from tests.integration.test_rewrap import (
    COLLECTION,
    FIELD,
    OLD_KEY,
    app_for,
    binding,
    delete_rows,
    seed_rows,
    seeded_profile,
    stored_values,
)

pytestmark = pytest.mark.integration

GUARD = key_service.GUARD_FIELD
NEW_KEY = secrets.token_hex(32)


def guards_of(directus, tag: str) -> dict[str, str | None]:
    rows = directus.items(
        COLLECTION,
        fields=f"id,{GUARD}",
        filter=json.dumps({"user_id": {"_eq": seeded_profile(tag)["user_id"]}}),
    )
    return {row["id"]: row[GUARD] for row in rows}


@pytest.mark.parametrize("batch_size", [10, 1])
def test_a_service_write_between_the_reread_and_the_patch_survives(directus, batch_size):
    tag = "guard-" + secrets.token_hex(4)
    expected = seed_rows(
        directus.url,
        directus.admin_token,
        25,
        keyring_from_settings(OLD_KEY),
        bytes.fromhex(OLD_KEY),
        tag,
    )
    try:
        app = app_for(
            directus, CREDENTIALS_ENCRYPTION_KEY=OLD_KEY, CREDENTIALS_KEYS=f"k1:{NEW_KEY}"
        )
        services = app.extensions["credsvc"]
        ring, client = services.keyring, operator_directus(app)  # the job runs as `flask keys`
        service_writes: dict[str, dict] = {}

        def before_write(ids):
            # Past the job's re-read, just before its PATCH: the formerly open window. Twice,
            # on two different pages, and only ever one of our rows (not another module's).
            ours = [i for i in ids if i in expected and i not in service_writes]
            if ours and len(service_writes) < 2:
                row_id = ours[len(ours) // 2]
                value = {"username": "written-by-the-service", "password": secrets.token_hex(8)}
                client.update_item(
                    COLLECTION, row_id, {FIELD: ring.encrypt(value, binding(row_id, tag))}
                )
                service_writes[row_id] = value

        result = key_service.rewrap_collection(
            client, ring, COLLECTION, FIELD, batch_size=batch_size, before_write=before_write
        )
        assert len(service_writes) == 2
        assert (result.rewrapped, result.skipped_changed) == (23, 2)
        assert not result.rejected_ids and not set(result.failed_ids) & set(expected)

        final = stored_values(directus.url, directus.admin_token, tag)
        assert set(final) == set(expected)
        for row_id, token in final.items():
            assert token.startswith("v5:k1:"), row_id
            want = service_writes.get(row_id, expected[row_id])
            assert ring.decrypt(token, binding(row_id, tag)) == want
        assert set(guards_of(directus, tag).values()) == {None}

        again = key_service.rewrap_collection(client, ring, COLLECTION, FIELD)
        assert (again.rewrapped, again.skipped_changed) == (0, 0)
    finally:
        delete_rows(directus.url, directus.admin_token, list(expected))


# -- the triggers themselves, through the operator's token -------------------------------------


def new_row(collection: str, value: str) -> dict:
    """A valid row of each guarded collection with `value` as its encrypted field."""
    who = str(uuid.uuid4())
    fld = dict(key_service.ENCRYPTED_FIELDS)[collection]
    base = {
        "platform_connections": {"user_id": who, "platform": "x", "owner_platform": f"{who}:x"},
        "download_credentials": {
            "user_id": who,
            "creator_profile_id": who,
            "platform": "x",
            "auth_type": "password",
        },
        "platform_sessions": {
            "user_id": who,
            "creator_profile_id": who,
            "platform": "x",
            "cookie_count": 1,
            "captured_at": "2024-01-01T00:00:00Z",
        },
        "end_user_credentials": {
            "business_id": "guard-test",
            "end_user_id": who,
            "end_user_hash": "0" * 64,
            "field": "f",
            "slot": secrets.token_hex(32),
        },
    }[collection]
    return {"id": str(uuid.uuid4()), **base, fld: value}


class Service:
    """PATCHes with the operator's token (the role whose rewrap sends guards); rows are made,
    read back with their guard and deleted with the admin's (no role may do those)."""

    def __init__(self, directus, collection):
        self.url = f"{directus.url}/items/{collection}"
        self.collection = collection
        self.http = requests.Session()
        self.tokens = {"PATCH": directus.role_tokens["operator"]}
        self.admin_token = directus.admin_token

    def __call__(self, method, path="", **kwargs):
        token = self.tokens.get(method, self.admin_token)
        return self.http.request(
            method,
            self.url + path,
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
            **kwargs,
        )

    def row(self, row_id, fld):
        response = self("GET", f"/{row_id}", params={"fields": f"{fld},{GUARD}"})
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def is_guard_abort(self, response):
        exc = DirectusResponseError(response.status_code, "PATCH", self.url, response.text)
        return key_service.is_guard_abort(exc, self.collection)


@pytest.mark.parametrize("collection", [c for c, _ in key_service.ENCRYPTED_FIELDS])
def test_the_guard_is_a_compare_and_set_on_every_encrypted_collection(directus, collection):
    fld = dict(key_service.ENCRYPTED_FIELDS)[collection]
    service = Service(directus, collection)
    # A guard sent on insert is not kept (the column is NULL at rest).
    first = {**new_row(collection, "old-1"), GUARD: "anything"}
    second = new_row(collection, "old-2")
    created = service("POST", json=[first, second], params={"fields": "id"})
    assert created.status_code == 200, created.text
    a, b = first["id"], second["id"]
    try:
        assert service.row(a, fld) == {fld: "old-1", GUARD: None}

        # A stale guard: refused, row unchanged.
        stale = service("PATCH", f"/{a}", json={fld: "new-1", GUARD: "stale"})
        assert stale.status_code == 400 and service.is_guard_abort(stale), stale.text
        assert stale.json()["errors"][0]["extensions"] == {
            "collection": collection,
            "field": GUARD,
            "code": "NOT_NULL_VIOLATION",
        }
        assert service.row(a, fld) == {fld: "old-1", GUARD: None}

        # In a batch: one stale guard rolls back the whole batch.
        batch = service(
            "PATCH",
            json=[{"id": a, fld: "new-1", GUARD: "old-1"}, {"id": b, fld: "new-2", GUARD: "stale"}],
        )
        assert batch.status_code == 400 and service.is_guard_abort(batch), batch.text
        assert service.row(a, fld) == {fld: "old-1", GUARD: None}
        assert service.row(b, fld) == {fld: "old-2", GUARD: None}

        # The right guard: accepted, and the guard does not stay behind.
        right = service(
            "PATCH",
            json=[{"id": a, fld: "new-1", GUARD: "old-1"}, {"id": b, fld: "new-2", GUARD: "old-2"}],
            params={"fields": "id"},
        )
        assert right.status_code == 200, right.text
        assert service.row(a, fld) == {fld: "new-1", GUARD: None}
        assert service.row(b, fld) == {fld: "new-2", GUARD: None}

        # A service write sends no guard and is never checked.
        plain = service("PATCH", f"/{a}", json={fld: "service-1"}, params={"fields": "id"})
        assert plain.status_code == 200, plain.text
        assert service.row(a, fld) == {fld: "service-1", GUARD: None}

        # The old value is no longer a valid guard.
        late = service("PATCH", f"/{a}", json={fld: "rewrapped-1", GUARD: "new-1"})
        assert late.status_code == 400 and service.is_guard_abort(late), late.text
        assert service.row(a, fld) == {fld: "service-1", GUARD: None}
    finally:
        service("DELETE", json=[a, b])


def test_the_guard_survives_a_schema_reapply(directus):
    """apply_schema reinstalls the triggers (a SQLite table rebuild would have dropped them)."""
    assert "No changes to apply" in directus.apply_schema()
    service = Service(directus, COLLECTION)
    row = new_row(COLLECTION, "old")
    assert service("POST", json=row, params={"fields": "id"}).status_code == 200
    try:
        stale = service("PATCH", f"/{row['id']}", json={FIELD: "new", GUARD: "stale"})
        assert stale.status_code == 400 and service.is_guard_abort(stale), stale.text
        assert service.row(row["id"], FIELD) == {FIELD: "old", GUARD: None}
    finally:
        service("DELETE", json=[row["id"]])

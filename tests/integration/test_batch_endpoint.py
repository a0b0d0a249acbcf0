"""The credsvc-batch Directus extension (deploy/directus/extensions/credsvc-batch) on the real
Directus: it writes a batch in one transaction with plain statements, so everything the item
service would have checked row by row must still be checked, and a batch is all or nothing.

Attacker's view: any Directus token can call the endpoint. A token may write through it only
what it may write through /items (same collections, rows, fields, validations); the guarded
update is a compare-and-set and nothing else; an audit row cannot be smuggled in with an id or
a field the role may not set; and a batch with one bad row leaves no trace.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid

import pytest
import requests

from credsvc import model
from credsvc.directus import BATCH_ENDPOINT, BATCH_MAX_ROWS, DirectusClient, DirectusResponseError
from credsvc.services import audit, parse_timestamp
from deploy.directus.directusctl import BATCH_SETTINGS
from tests.integration.test_rewrap import COLLECTION, FIELD, seeded_profile, seeded_row

pytestmark = pytest.mark.integration

GUARD = model.GUARD_FIELD
TIMEOUT = (3.05, 30)


def post(directus, path: str, body, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{directus.url}{BATCH_ENDPOINT}{path}", json=body, headers=headers, timeout=TIMEOUT
    )


def code_of(resp) -> str:
    return resp.json()["errors"][0]["extensions"]["code"]


def audit_rows(directus, request_id: str) -> list[dict]:
    return directus.items(
        model.AUDIT_LOG, filter=json.dumps({"request_id": {"_eq": request_id}}), sort="actor"
    )


def audit_row(request_id: str, actor: str) -> dict:
    return audit.row(
        action="reveal",
        outcome="ok",
        actor=actor,
        target_collection=model.PROFILES.collection,
        target_id=str(uuid.uuid4()),
        request_id=request_id,
    )


@pytest.fixture
def rows(directus):
    """Three download_credentials rows with opaque values (the endpoint never decrypts)."""
    tag = "batch-" + secrets.token_hex(4)
    created = [{**seeded_row(str(uuid.uuid4()), tag), FIELD: f"v1:{i}"} for i in range(3)]
    resp = directus.admin_request("POST", f"/items/{COLLECTION}", created)
    assert resp.status_code == 200, resp.text
    yield tag, [row["id"] for row in created]
    directus.admin_request("DELETE", f"/items/{COLLECTION}", [row["id"] for row in created])


def stored(directus, tag: str) -> dict[str, tuple[str, str | None]]:
    found = directus.items(
        COLLECTION,
        fields=f"id,{FIELD},{GUARD}",
        filter=json.dumps({"user_id": {"_eq": seeded_profile(tag)["user_id"]}}),
    )
    return {row["id"]: (row[FIELD], row[GUARD]) for row in found}


def test_the_extension_serves_the_collections_the_data_model_names():
    assert BATCH_SETTINGS["CREDSVC_GUARD_FIELD"] == model.GUARD_FIELD
    assert BATCH_SETTINGS["CREDSVC_APPEND_ONLY"] == model.AUDIT_LOG
    pairs = dict(p.split(":") for p in BATCH_SETTINGS["CREDSVC_GUARDED"].split(","))
    assert pairs == model.REWRAP_GUARDED
    assert BATCH_SETTINGS["CREDSVC_BATCH_MAX_ROWS"] == str(BATCH_MAX_ROWS)
    assert audit.MAX_BATCH <= BATCH_MAX_ROWS  # a group commit is one request


def test_a_batch_over_the_limit_is_refused_whole(directus):
    request_id = "batch-" + secrets.token_hex(6)
    batch = [audit_row(request_id, "a")] * (BATCH_MAX_ROWS + 1)
    resp = post(directus, f"/append/{model.AUDIT_LOG}", batch, directus.role_tokens["worker"])
    assert resp.status_code == 400, resp.text
    assert code_of(resp) == "INVALID_PAYLOAD"
    assert audit_rows(directus, request_id) == []
    resp = post(directus, f"/append/{model.AUDIT_LOG}", batch[:-1], directus.role_tokens["worker"])
    assert resp.status_code == 200, resp.text


# -- append -----------------------------------------------------------------------------


def test_append_writes_every_row_as_the_item_service_would(directus):
    request_id = "batch-" + secrets.token_hex(6)
    batch = [audit_row(request_id, f"actor-{i}") for i in range(3)]
    resp = post(directus, f"/append/{model.AUDIT_LOG}", batch, directus.role_tokens["worker"])
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"data": {"created": 3}}
    # One row through the item service, for comparison of what Directus stores.
    reference = audit_row(request_id, "actor-9")
    resp = directus.admin_request("POST", f"/items/{model.AUDIT_LOG}", reference)
    assert resp.status_code == 200, resp.text
    found = audit_rows(directus, request_id)
    assert [row["actor"] for row in found] == ["actor-0", "actor-1", "actor-2", "actor-9"]
    for row in found:
        uuid.UUID(row["id"])  # Directus's uuid special ran
        assert row["action"] == "reveal" and row["outcome"] == "ok"
    # Timestamps are stored as the item service stores them: read back in the same shape,
    # with the same instant that was sent.
    sent = {r["actor"]: parse_timestamp(r["occurred_at"]) for r in [*batch, reference]}
    assert {r["actor"]: parse_timestamp(r["occurred_at"]) for r in found} == sent
    shapes = {re.sub(r"\d", "0", r["occurred_at"]) for r in found}
    assert len(shapes) == 1, shapes


def activity_of(directus, ids) -> list[tuple]:
    resp = directus.admin_request(
        "GET",
        "/activity",
        params={
            "filter": json.dumps({"item": {"_in": list(ids)}}),
            "fields": "action,user,collection,item,user_agent,timestamp",
            "limit": -1,
        },
    )
    assert resp.status_code == 200, resp.text
    rows = resp.json()["data"]
    assert all(parse_timestamp(row["timestamp"]) is not None for row in rows), rows
    return sorted(
        (r["action"], r["user"], r["collection"], r["item"], r["user_agent"]) for r in rows
    )


def test_append_records_the_activity_the_item_service_records(directus):
    """Who created each audit row stays in directus_activity, as docs/audit.md says."""
    request_id = "batch-" + secrets.token_hex(6)
    token = directus.role_tokens["worker"]
    resp = post(directus, f"/append/{model.AUDIT_LOG}", [audit_row(request_id, "a")] * 2, token)
    assert resp.status_code == 200, resp.text
    ids = [row["id"] for row in audit_rows(directus, request_id)]
    worker = DirectusClient(directus.url, token).current_user_id()
    agent = requests.utils.default_user_agent()
    assert activity_of(directus, ids) == sorted(
        ("create", worker, model.AUDIT_LOG, i, agent) for i in ids
    )


@pytest.mark.parametrize("role", ["ingest", "operator", None])
def test_append_refuses_a_token_that_may_not_create_audit_rows(directus, role):
    request_id = "batch-" + secrets.token_hex(6)
    token = directus.role_tokens[role] if role else None
    resp = post(directus, f"/append/{model.AUDIT_LOG}", [audit_row(request_id, "a")], token)
    assert resp.status_code == 403, resp.text
    assert code_of(resp) == "FORBIDDEN"
    assert audit_rows(directus, request_id) == []


@pytest.mark.parametrize(
    "extra",
    [{"id": "chosen"}, {"no_such_field": "x"}, {"detail": "x" * 70000}, {"detail": "x"}],
    ids=["own-id", "unknown-field", "long-detail", "allowed"],
)
def test_append_allows_exactly_what_the_item_api_allows(directus, extra):
    """The same batch through /items and through the endpoint: the same verdict, and the
    endpoint writes all its rows or none. Deliberate differences: a field the collection does
    not have, which /items drops in silence, is refused; so is a chosen primary key (credsvc
    never sends one, and an id Directus did not make could be one no API call can address)."""
    verdicts = []
    for route in ("items", "batch"):
        request_id = "batch-" + secrets.token_hex(6)
        sent = {k: (str(uuid.uuid4()) if v == "chosen" else v) for k, v in extra.items()}
        batch = [audit_row(request_id, "a"), {**audit_row(request_id, "b"), **sent}]
        if route == "items":
            resp = requests.post(
                f"{directus.url}/items/{model.AUDIT_LOG}",
                json=batch,
                headers={"Authorization": f"Bearer {directus.role_tokens['worker']}"},
                timeout=TIMEOUT,
            )
        else:
            token = directus.role_tokens["worker"]
            resp = post(directus, f"/append/{model.AUDIT_LOG}", batch, token)
        written = len(audit_rows(directus, request_id))
        verdicts.append((resp.status_code < 300, written))
        assert written in (0, 2), resp.text
    if "no_such_field" in extra or "id" in extra:
        assert verdicts == [(True, 2), (False, 0)]
    else:
        assert verdicts[0] == verdicts[1]


@pytest.mark.parametrize("chosen", ["x", "ROW-ID", "00000000-0000-4000-8000-000000000000"])
def test_append_refuses_a_chosen_id_whatever_it_is(directus, chosen):
    request_id = "batch-" + secrets.token_hex(6)
    batch = [{**audit_row(request_id, "a"), "id": chosen}] * 2  # twice: a duplicate key too
    resp = post(directus, f"/append/{model.AUDIT_LOG}", batch, directus.role_tokens["worker"])
    assert resp.status_code == 400, resp.text
    assert code_of(resp) == "INVALID_PAYLOAD"
    assert audit_rows(directus, request_id) == []
    assert requests.get(f"{directus.url}/server/ping", timeout=TIMEOUT).text == "pong"


def test_a_long_origin_header_fails_cleanly_or_is_stored(directus):
    """directus_activity.origin is varchar(255) on PostgreSQL: a longer Origin header must give
    a JSON error (or be stored, on SQLite), never take Directus down."""
    request_id = "batch-" + secrets.token_hex(6)
    resp = requests.post(
        f"{directus.url}{BATCH_ENDPOINT}/append/{model.AUDIT_LOG}",
        json=[audit_row(request_id, "a")],
        headers={
            "Authorization": f"Bearer {directus.role_tokens['worker']}",
            "Origin": "https://" + "o" * 300 + ".example",
        },
        timeout=TIMEOUT,
    )
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    written = len(audit_rows(directus, request_id))
    assert (resp.status_code, written) in ((200, 1), (400, 0)), resp.text
    assert requests.get(f"{directus.url}/server/ping", timeout=TIMEOUT).text == "pong"


def test_an_untranslated_database_error_answers_a_bare_500_and_logs_no_values(directus):
    """A database failure the item service has no name for: the answer and Directus's log say
    that it failed, never the SQL or the batch's values."""
    marker = "value-marker-" + secrets.token_hex(6)
    if directus.postgres is None:
        install = [
            'CREATE TRIGGER "bench_boom" BEFORE INSERT ON audit_log '
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        ]
        remove = ['DROP TRIGGER "bench_boom"']
    else:
        install = [
            "CREATE FUNCTION bench_boom() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'boom'; END $$",
            'CREATE TRIGGER "bench_boom" BEFORE INSERT ON audit_log '
            "FOR EACH ROW EXECUTE FUNCTION bench_boom()",
        ]
        remove = ['DROP TRIGGER "bench_boom" ON audit_log', "DROP FUNCTION bench_boom()"]
    directus.execute_sql(*install)
    try:
        row = {**audit_row(marker, "a"), "detail": marker}
        resp = post(directus, f"/append/{model.AUDIT_LOG}", [row], directus.role_tokens["worker"])
    finally:
        directus.execute_sql(*remove)
    assert resp.status_code == 500, resp.text
    assert code_of(resp) == "INTERNAL_SERVER_ERROR"
    assert marker not in resp.text and "insert" not in resp.text.lower()
    assert marker not in directus.log_path.read_text()
    assert audit_rows(directus, marker) == []


def test_a_collection_that_keeps_revisions_is_refused(directus):
    resp = directus.admin_request(
        "PATCH", f"/collections/{model.AUDIT_LOG}", {"meta": {"accountability": "all"}}
    )
    assert resp.status_code == 200, resp.text
    try:
        request_id = "batch-" + secrets.token_hex(6)
        token = directus.role_tokens["worker"]
        resp = post(directus, f"/append/{model.AUDIT_LOG}", [audit_row(request_id, "a")], token)
        assert resp.status_code == 403, resp.text
        assert audit_rows(directus, request_id) == []
    finally:
        resp = directus.admin_request(
            "PATCH", f"/collections/{model.AUDIT_LOG}", {"meta": {"accountability": "activity"}}
        )
        assert resp.status_code == 200, resp.text


def test_append_is_all_or_nothing_when_one_row_fails_validation(directus):
    request_id = "batch-" + secrets.token_hex(6)
    bad = audit_row(request_id, "b")
    del bad["action"]  # NOT NULL in the schema
    batch = [audit_row(request_id, "a"), bad]
    resp = post(directus, f"/append/{model.AUDIT_LOG}", batch, directus.role_tokens["worker"])
    assert resp.status_code == 400, resp.text
    assert code_of(resp) == "FAILED_VALIDATION"
    assert audit_rows(directus, request_id) == []


@pytest.mark.parametrize(
    "collection", [model.PROFILES.collection, model.API_KEYS, "directus_users", "nope"]
)
def test_append_serves_only_the_audit_log(directus, collection):
    resp = post(directus, f"/append/{collection}", [{"id": "x"}], directus.admin_token)
    assert resp.status_code == 403, resp.text


@pytest.mark.parametrize(
    "body", [[], {}, "x", [1], [{"actor": {"nested": 1}}], [{"actor": ["a"]}], [None]]
)
def test_append_refuses_a_body_that_is_not_a_list_of_flat_rows(directus, body):
    resp = post(directus, f"/append/{model.AUDIT_LOG}", body, directus.role_tokens["worker"])
    assert resp.status_code == 400, resp.text
    assert code_of(resp) == "INVALID_PAYLOAD"


# -- guarded update ----------------------------------------------------------------------


def guarded(ids, old: str, new: str, **extra) -> list[dict]:
    return [
        {"id": i, FIELD: new.format(n), GUARD: old.format(n), **extra} for n, i in enumerate(ids)
    ]


def test_guarded_update_sets_every_value_and_clears_the_guard(directus, rows):
    tag, ids = rows
    resp = post(
        directus,
        f"/guarded-update/{COLLECTION}",
        guarded(ids, "v1:{}", "v2:{}"),
        directus.role_tokens["operator"],
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"data": {"updated": 3}}
    assert stored(directus, tag) == {i: (f"v2:{n}", None) for n, i in enumerate(ids)}
    operator = DirectusClient(directus.url, directus.role_tokens["operator"]).current_user_id()
    agent = requests.utils.default_user_agent()
    updates = [row for row in activity_of(directus, ids) if row[0] == "update"]
    assert updates == sorted(("update", operator, COLLECTION, i, agent) for i in ids)


def test_a_stale_guard_rolls_back_the_whole_batch_as_a_guard_abort(directus, rows):
    tag, ids = rows
    batch = guarded(ids, "v1:{}", "v2:{}")
    batch[2][GUARD] = "changed-meanwhile"
    resp = post(directus, f"/guarded-update/{COLLECTION}", batch, directus.role_tokens["operator"])
    assert resp.status_code == 400, resp.text
    ext = resp.json()["errors"][0]["extensions"]
    assert (ext["code"], ext["field"], ext["collection"]) == (
        "NOT_NULL_VIOLATION",
        GUARD,
        COLLECTION,
    )
    assert stored(directus, tag) == {i: (f"v1:{n}", None) for n, i in enumerate(ids)}


@pytest.mark.parametrize("role", ["worker", "ingest", "full", None])
def test_guarded_update_refuses_a_token_that_may_not_update_the_value(directus, rows, role):
    tag, ids = rows
    token = directus.role_tokens[role] if role else None
    resp = post(directus, f"/guarded-update/{COLLECTION}", guarded(ids, "v1:{}", "v2:{}"), token)
    assert resp.status_code == 403, resp.text
    assert stored(directus, tag) == {i: (f"v1:{n}", None) for n, i in enumerate(ids)}


def test_guarded_update_refuses_a_row_that_does_not_exist_and_changes_nothing(directus, rows):
    tag, ids = rows
    batch = guarded([*ids, str(uuid.uuid4())], "v1:{}", "v2:{}")
    resp = post(directus, f"/guarded-update/{COLLECTION}", batch, directus.role_tokens["operator"])
    assert resp.status_code == 403, resp.text
    assert stored(directus, tag) == {i: (f"v1:{n}", None) for n, i in enumerate(ids)}


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": "someone-else"},  # an owner column: not a compare-and-set
        {GUARD: None},  # no guard: an unconditional write
        {GUARD: ""},
        {FIELD: None},
    ],
    ids=["extra-column", "no-guard", "empty-guard", "null-value"],
)
def test_guarded_update_is_a_compare_and_set_and_nothing_else(directus, rows, change):
    tag, ids = rows
    batch = guarded(ids, "v1:{}", "v2:{}")
    batch[0].update(change)
    resp = post(directus, f"/guarded-update/{COLLECTION}", batch, directus.admin_token)
    assert resp.status_code == 400, resp.text
    assert code_of(resp) == "INVALID_PAYLOAD"
    assert stored(directus, tag) == {i: (f"v1:{n}", None) for n, i in enumerate(ids)}


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_a_field_validation_is_checked_on_every_row(directus, rows, role):
    """With a validation rule in play, each row's values are checked, not only the first's;
    for an admin too (the item service checks an admin's payload against the schema)."""
    tag, ids = rows
    rule = {"_and": [{FIELD: {"_starts_with": "v"}}]}
    resp = directus.admin_request(
        "PATCH", f"/fields/{COLLECTION}/{FIELD}", {"meta": {"validation": rule}}
    )
    assert resp.status_code == 200, resp.text
    try:
        batch = guarded(ids, "v1:{}", "v2:{}")
        batch[2][FIELD] = "not-a-value"
        token = directus.admin_token if role == "admin" else directus.role_tokens[role]
        resp = post(directus, f"/guarded-update/{COLLECTION}", batch, token)
        assert resp.status_code == 400, resp.text
        assert code_of(resp) == "FAILED_VALIDATION"
        assert stored(directus, tag) == {i: (f"v1:{n}", None) for n, i in enumerate(ids)}
    finally:
        resp = directus.admin_request(
            "PATCH", f"/fields/{COLLECTION}/{FIELD}", {"meta": {"validation": None}}
        )
        assert resp.status_code == 200, resp.text


def test_guarded_update_refuses_a_row_named_twice(directus, rows):
    tag, ids = rows
    batch = guarded([ids[0], ids[0]], "v1:0", "v2:{}")
    resp = post(directus, f"/guarded-update/{COLLECTION}", batch, directus.admin_token)
    assert resp.status_code == 400, resp.text
    assert stored(directus, tag)[ids[0]] == ("v1:0", None)


def test_a_guarded_batch_of_the_largest_size_goes_through_in_one_request(directus):
    tag = "batch-max-" + secrets.token_hex(4)
    created = [
        {**seeded_row(str(uuid.uuid4()), tag), FIELD: f"v1:{i}"} for i in range(BATCH_MAX_ROWS)
    ]
    ids = [row["id"] for row in created]
    for start in range(0, len(created), 500):
        resp = directus.admin_request("POST", f"/items/{COLLECTION}", created[start : start + 500])
        assert resp.status_code == 200, resp.text
    try:
        token = directus.role_tokens["operator"]
        batch = guarded(ids, "v1:{}", "v2:{}")
        resp = post(directus, f"/guarded-update/{COLLECTION}", batch, token)
        assert resp.status_code == 200, resp.text
        assert stored(directus, tag) == {i: (f"v2:{n}", None) for n, i in enumerate(ids)}
    finally:
        for start in range(0, len(ids), 500):
            directus.admin_request("DELETE", f"/items/{COLLECTION}", ids[start : start + 500])


@pytest.mark.parametrize("collection", [model.AUDIT_LOG, model.API_KEYS, "directus_users"])
def test_guarded_update_serves_only_the_guarded_collections(directus, collection):
    batch = [{"id": str(uuid.uuid4()), FIELD: "x", GUARD: "y"}]
    resp = post(directus, f"/guarded-update/{collection}", batch, directus.admin_token)
    assert resp.status_code == 403, resp.text


# -- the client ---------------------------------------------------------------------------


def test_the_client_uses_the_endpoint_and_surfaces_a_guard_abort(directus, rows):
    tag, ids = rows
    client = DirectusClient(directus.url, directus.role_tokens["operator"])
    client.update_items_guarded(COLLECTION, guarded(ids[:2], "v1:{}", "v3:{}"))
    assert client.batch_endpoint is True
    with pytest.raises(DirectusResponseError) as caught:
        client.update_items_guarded(COLLECTION, guarded(ids[2:], "stale", "v3:x"))
    assert caught.value.status == 400
    assert stored(directus, tag) == {
        ids[0]: ("v3:0", None),
        ids[1]: ("v3:1", None),
        ids[2]: ("v1:2", None),
    }

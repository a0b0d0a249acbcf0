"""`flask keys status|rewrap` against an in-memory Directus at the wire (`responses`).

The fake implements only what the job uses: filtered, sorted, paged GET; aggregate count;
SEARCH with a query body; the guarded batch update of the credsvc-batch endpoint, or, when
`batch_endpoint` is off (a Directus without it: 404 ROUTE_NOT_FOUND), batch PATCH (array,
all-or-nothing); PATCH of one item. It also plays
the database's rewrap guard (deploy/directus/guards.mjs): an update carrying `rewrap_guard`
that differs from the stored value is refused with Directus's answer to the guard trigger
(400 NOT_NULL_VIOLATION on `rewrap_guard`). The integration tests
(tests/integration/test_rewrap.py, test_rewrap_guard.py) run the same job against the real
Directus and its triggers.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from credsvc import create_app, model
from credsvc.crypto import CryptoError, aesgcm, encrypt_json, keyring_from_settings
from credsvc.directus import BATCH_ENDPOINT
from credsvc.model import ENCRYPTED_COLUMNS, EncryptedColumn
from credsvc.services import keys as key_service
from tests.conftest import DIRECTUS, NO_ROUTE, TEST_ENV, env_for_mode

OLD, NEW = "11" * 32, "22" * 32
COLLECTIONS = dict(key_service.ENCRYPTED_FIELDS)
MODEL = {column.collection: column for column in ENCRYPTED_COLUMNS}


def column(collection: str) -> EncryptedColumn:
    return MODEL[collection]


def owner_values(collection: str) -> dict[str, str]:
    """Owner columns, and the columns restating them, as the services write them (every row
    gets its own owner)."""
    end_user = f"end-user-{uuid.uuid4()}"
    values = {
        "user_id": str(uuid.uuid4()),
        "creator_profile_id": str(uuid.uuid4()),
        "platform": "youtube",
        "auth_type": "password",
        "business_id": "acme",
        "end_user_id": end_user,
        "end_user_hash": model.end_user_hash(end_user),
        "field": "youtubeSid",
        "slot": model.end_user_slot("acme", end_user, "youtubeSid"),
    }
    values["owner_platform"] = model.owner_key(values["user_id"], "youtube")
    wanted = column(collection).owner_columns + column(collection).restating_columns
    return {name: values[name] for name in wanted}


def binding(collection: str, row: dict):
    """The binding of a stored row: its id and owner columns, as credsvc.model says."""
    return column(collection).context(row)


def matches(row: dict, flt: dict) -> bool:
    for name, cond in flt.items():
        if name == "_and":
            if not all(matches(row, sub) for sub in cond):
                return False
            continue
        value = row.get(name)
        for op, arg in cond.items():
            if not _op(op, value, arg):
                return False
    return True


def _op(op: str, value, arg) -> bool:
    if op == "_nnull":
        return value is not None
    if op == "_eq":
        return value == arg
    if op == "_in":
        return value in arg
    if op == "_nin":
        return value not in arg
    if op == "_nstarts_with":  # SQLite LIKE: ASCII case-insensitive, `_` matches any char
        pattern = "".join("." if c == "_" else re.escape(c) for c in arg)
        return value is None or not re.match(pattern, value, re.I)
    raise AssertionError(f"the fake does not know {op}")


GUARD = key_service.GUARD_FIELD


def guard_abort(collection: str):
    """What Directus answers when the guard trigger fails an UPDATE."""
    error = {
        "message": f'Value for field "{GUARD}" in collection "{collection}" can\'t be null.',
        "extensions": {"collection": collection, "field": GUARD, "code": "NOT_NULL_VIOLATION"},
    }
    return 400, {}, json.dumps({"errors": [error]})


FORBIDDEN = (
    403,
    {},
    json.dumps(
        {
            "errors": [
                {
                    "message": "You don't have permission to access this.",
                    "extensions": {"code": "FORBIDDEN"},
                }
            ]
        }
    ),
)


class FakeDirectus:
    def __init__(self, wire):
        self.tables: dict[str, dict[str, dict]] = {c: {} for c in COLLECTIONS}
        self.patches = 0
        self.requests: list[tuple[str, str, object]] = []  # (method, path, body) of writes
        self.before_update = lambda collection, row_id: None  # a write landing inside Directus
        self.forbidden: set[str] = set()  # ids Directus refuses to update (403)
        self.enforce_guard = True  # False: a database where guards.mjs never ran
        self.probes: list[tuple[str, dict]] = []  # the job's guard probes (not in `requests`)
        self.batch_endpoint = True  # False: a Directus without the credsvc-batch extension
        pattern = re.compile(rf"{re.escape(DIRECTUS)}/items/(\w+)(/[\w-]+)?(\?.*)?$")
        for method in ("GET", "SEARCH", "PATCH"):
            wire.add_callback(method, pattern, callback=self.handle)
        batch = re.compile(rf"{re.escape(DIRECTUS + BATCH_ENDPOINT)}/guarded-update/\w+$")
        wire.add_callback("POST", batch, callback=self.handle_batch)

    def update(self, collection: str, item: dict, undo: list) -> bool | None:
        """The guarded UPDATE of one row: False when the guard fails, None when forbidden."""
        self.before_update(collection, item["id"])
        if item["id"] in self.forbidden:
            return None
        row = self.tables[collection][item["id"]]
        guard = item.get(GUARD)
        if self.enforce_guard and guard is not None and guard != row[COLLECTIONS[collection]]:
            return False
        undo.append((item["id"], dict(row)))
        row.update({k: v for k, v in item.items() if k != GUARD or not self.enforce_guard})
        return True

    def handle(self, request):
        parts = urlsplit(request.url)
        path = parts.path.split("/items/", 1)[1].split("/")
        collection = path[0]
        table = self.tables[collection]
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = json.loads(request.body) if request.body else None
        if request.method == "GET":
            rows = [r for r in table.values() if matches(r, json.loads(params.get("filter", "{}")))]
            if "aggregate[count]" in params:
                return 200, {}, json.dumps({"data": [{"count": len(rows)}]})
            rows.sort(key=lambda r: r["id"])
            fields = params["fields"].split(",")
            limit, page = int(params["limit"]), int(params.get("page", 1))
            rows = rows[(page - 1) * limit : page * limit]
            return 200, {}, json.dumps({"data": [{f: r.get(f) for f in fields} for r in rows]})
        if request.method == "SEARCH":
            query = body["query"]
            hits = sorted(
                (r for r in table.values() if matches(r, query["filter"])), key=lambda r: r["id"]
            )[: query["limit"]]
            rows = [{f: r.get(f) for f in query["fields"]} for r in hits]
            return 200, {}, json.dumps({"data": rows})
        if len(path) == 2 and set(body) == {GUARD}:  # the job's probe, or undoing it
            self.probes.append((path[1], body))
            done = self.update(collection, {"id": path[1], **body}, [])
            if not done:
                return guard_abort(collection) if done is False else FORBIDDEN
            return 200, {}, json.dumps({"data": {"id": path[1]}})
        self.patches += 1
        self.requests.append((request.method, parts.path, body))
        if len(path) == 2:  # PATCH /items/<collection>/<id>
            done = self.update(collection, {"id": path[1], **body}, [])
            if not done:
                return guard_abort(collection) if done is False else FORBIDDEN
            return 200, {}, json.dumps({"data": {"id": path[1]}})
        assert isinstance(body, list), "the job only sends batch PATCHes"
        return self.batch_update(collection, body)

    def handle_batch(self, request):
        if not self.batch_endpoint:
            return 404, {}, json.dumps(NO_ROUTE)
        path = urlsplit(request.url).path
        body = json.loads(request.body)
        self.patches += 1
        self.requests.append((request.method, path, body))
        assert all(set(item) == {"id", GUARD, COLLECTIONS[path.split("/")[-1]]} for item in body)
        return self.batch_update(path.split("/")[-1], body)

    def batch_update(self, collection: str, body: list):
        table = self.tables[collection]
        undo: list[tuple[str, dict]] = []
        for item in body:
            done = self.update(collection, item, undo)
            if not done:
                for row_id, before in reversed(undo):  # all-or-nothing: rolled back
                    table[row_id].clear()
                    table[row_id].update(before)
                return guard_abort(collection) if done is False else FORBIDDEN
        return 200, {}, json.dumps({"data": body})

    def insert(self, collection: str, token_for) -> str:
        row = {"id": str(uuid.uuid4()), **owner_values(collection)}
        row[COLLECTIONS[collection]] = token_for(binding(collection, row))
        self.tables[collection][row["id"]] = row
        return row["id"]


@pytest.fixture
def fake(directus_wire):
    return FakeDirectus(directus_wire)


def app_with(**settings):
    return create_app({**TEST_ENV, **settings})


OLD_ENV = {"CREDENTIALS_ENCRYPTION_KEY": OLD}
NEW_ENV = {"CREDENTIALS_ENCRYPTION_KEY": OLD, "CREDENTIALS_KEYS": f"k1:{NEW}"}


def seed(fake, per_collection=7):
    old_ring = keyring_from_settings(OLD)
    for collection in COLLECTIONS:
        for i in range(per_collection):
            if i % 3 == 0:
                fake.insert(collection, lambda ctx, i=i: encrypt_json({"n": i}, bytes.fromhex(OLD)))
            else:
                fake.insert(collection, lambda ctx, i=i: old_ring.encrypt({"n": i}, ctx))


def run(app, *args):
    return app.test_cli_runner().invoke(args=["keys", *args])


def test_status_counts_per_key_id_per_collection(fake):
    seed(fake)
    result = run(app_with(**NEW_ENV), "status", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["active"] == "k1"
    for collection in COLLECTIONS:
        assert report["counts"][collection] == {"k0": 4, "legacy": 3}
    table = run(app_with(**NEW_ENV), "status")
    assert "decryptable, needs rewrap" in table.output and "total: k0=16, legacy=12" in table.output


def v2_value(key_hex: str, key_id: str):
    """A value as written before owner binding: v2, bound to its record only."""

    def token_for(context):
        key = bytes.fromhex(key_hex)
        return aesgcm.encrypt_v2({"n": key_id}, key_id, key, context.encode(), fmt="v2")

    return token_for


def test_v2_values_are_counted_by_generation_and_rewrapped_bound_to_their_owner(fake):
    app = app_with(**NEW_ENV)
    ring = app.extensions["credsvc"].keyring
    for collection in COLLECTIONS:
        for _ in range(2):  # under the active key, but not owner-bound
            fake.insert(collection, v2_value(NEW, "k1"))
        fake.insert(collection, v2_value(OLD, "k0"))
        fake.insert(collection, lambda ctx: ring.encrypt({"n": "k1"}, ctx))
    status = json.loads(run(app, "status", "--json").output)
    for collection in COLLECTIONS:
        assert status["counts"][collection] == {"k1 (v2)": 2, "k0 (v2)": 1, "k1": 1}
    result = run(app, "rewrap")
    assert result.exit_code == 0, result.output
    assert result.output.count("rewrapped 3,") == len(COLLECTIONS)
    for collection, fld in COLLECTIONS.items():
        for row in fake.tables[collection].values():
            assert row[fld].startswith("v5:k1:")
            assert ring.decrypt(row[fld], binding(collection, row)) in ({"n": "k1"}, {"n": "k0"})
            for name in column(collection).owner_columns:
                relabelled = {**row, name: "someone-else"}
                with pytest.raises(CryptoError):
                    ring.decrypt(row[fld], binding(collection, relabelled))
    status = json.loads(run(app, "status", "--json").output)
    assert all(counts == {"k1": 4} for counts in status["counts"].values())


def test_status_table_keeps_a_key_with_only_earlier_generation_values(fake):
    for collection in COLLECTIONS:
        fake.insert(collection, v2_value(OLD, "k0"))
    table = run(app_with(**NEW_ENV), "status").output
    assert "k0 (v2)" in table
    assert "unreadable" not in table  # k0 is configured and usable: decryptable, needs rewrap
    assert "no values left under: k0" not in table  # retiring k0 would lose these values


def test_rewrap_moves_everything_then_is_a_no_op(fake):
    seed(fake)
    app = app_with(**NEW_ENV)
    result = run(app, "rewrap", "--batch-size", "3")
    assert result.exit_code == 0, result.output
    assert result.output.count("rewrapped 7,") == len(COLLECTIONS)
    ring = app.extensions["credsvc"].keyring
    for collection, fld in COLLECTIONS.items():
        for row in fake.tables[collection].values():
            assert row[fld].startswith("v5:k1:")
            assert ring.decrypt(row[fld], binding(collection, row))["n"] in range(7)
    patches = fake.patches
    again = run(app, "rewrap")
    assert again.exit_code == 0 and fake.patches == patches  # nothing left: nothing written
    status = json.loads(run(app, "status", "--json").output)
    assert all(counts == {"k1": 7} for counts in status["counts"].values())


def test_guard_drops_rows_changed_between_read_and_write(fake):
    seed(fake, per_collection=5)
    app = app_with(**NEW_ENV)
    services = app.extensions["credsvc"]
    collection, fld = "download_credentials", COLLECTIONS["download_credentials"]
    victim = sorted(fake.tables[collection])[1]
    row = fake.tables[collection][victim]
    newer = services.keyring.encrypt({"n": "newer"}, binding(collection, row))

    def service_writes(ids):  # lands after the page read, before the guard read
        assert victim in ids
        fake.tables[collection][victim][fld] = newer

    result = key_service.rewrap_collection(
        services.directus, services.keyring, collection, fld, after_select=service_writes
    )
    assert (result.rewrapped, result.skipped_changed, result.failed) == (4, 1, 0)
    assert fake.tables[collection][victim][fld] == newer  # never overwritten with the older value


@pytest.mark.parametrize("endpoint", [True, False], ids=["batch-endpoint", "item-api"])
def test_every_write_is_guarded_by_the_value_as_read(fake, endpoint):
    fake.batch_endpoint = endpoint
    seed(fake, per_collection=4)
    collection, fld = "platform_sessions", COLLECTIONS["platform_sessions"]
    before = {i: row[fld] for i, row in fake.tables[collection].items()}
    result = run(app_with(**NEW_ENV), "rewrap", "--collection", collection)
    assert result.exit_code == 0, result.output
    [(method, path, body)] = fake.requests  # one guarded batch
    if endpoint:
        assert (method, path) == ("POST", f"{BATCH_ENDPOINT}/guarded-update/{collection}")
    else:
        assert (method, path) == ("PATCH", f"/items/{collection}")
    assert {item["id"]: item[GUARD] for item in body} == before
    assert all(item[fld].startswith("v5:k1:") for item in body)
    untouched = fake.tables["platform_connections"].values()
    assert not any(r["encrypted_credentials"].startswith("v5:k1:") for r in untouched)


def test_a_round_is_cut_into_requests_of_at_most_batch_max_rows(fake, monkeypatch):
    monkeypatch.setattr(key_service, "BATCH_MAX_ROWS", 3)
    seed(fake, per_collection=7)
    collection = "platform_sessions"
    result = run(app_with(**NEW_ENV), "rewrap", "--collection", collection)
    assert result.exit_code == 0, result.output
    assert [len(body) for _, _, body in fake.requests] == [3, 3, 1]


def rotate_one(fake, collection, services):
    """The second row's id, and a newer value for it under the active key."""
    victim = sorted(fake.tables[collection])[1]
    row = fake.tables[collection][victim]
    newer = services.keyring.encrypt({"n": "newer"}, binding(collection, row))
    return victim, newer


@pytest.mark.parametrize("where", ["after the re-read", "inside the batch request"])
def test_a_write_after_the_reread_is_never_overwritten(fake, where):
    seed(fake, per_collection=5)
    services = app_with(**NEW_ENV).extensions["credsvc"]
    collection, fld = "end_user_credentials", "encrypted_value"
    victim, newer = rotate_one(fake, collection, services)

    def service_writes(*_):
        fake.tables[collection][victim][fld] = newer

    if where == "after the re-read":
        seams = {"before_write": service_writes}
    else:
        fake.before_update = lambda coll, row_id: row_id == victim and service_writes()
        seams = {}
    result = key_service.rewrap_collection(
        services.directus, services.keyring, collection, fld, **seams
    )
    assert (result.rewrapped, result.skipped_changed, result.failed) == (4, 1, 0)
    assert fake.tables[collection][victim][fld] == newer
    # The batch was refused as a whole, then every row was retried with its own guard.
    methods = [(m, p.split("/")[1]) for m, p, _ in fake.requests]
    assert methods == [("POST", BATCH_ENDPOINT.strip("/"))] + [("PATCH", "items")] * 5
    for row_id, row in fake.tables[collection].items():
        assert row[fld].startswith("v5:k1:") and GUARD not in row
        got = services.keyring.decrypt(row[fld], binding(collection, row))["n"]
        assert got == "newer" if row_id == victim else got in range(5)


def test_a_refused_row_is_reported_and_the_others_written(fake):
    seed(fake, per_collection=5)
    app = app_with(**NEW_ENV)
    services = app.extensions["credsvc"]
    collection, fld = "download_credentials", COLLECTIONS["download_credentials"]
    ids = sorted(fake.tables[collection])
    victim, newer = ids[0], "changed by the service"
    gone = ids[-1]

    def before_write(_ids):
        fake.tables[collection][victim][fld] = newer
        fake.forbidden.add(gone)  # e.g. deleted meanwhile: Directus answers 403

    result = key_service.rewrap_collection(
        services.directus, services.keyring, collection, fld, before_write=before_write
    )
    assert (result.rewrapped, result.skipped_changed) == (3, 1)
    assert result.rejected_ids == [gone] and result.failed == 1
    assert fake.tables[collection][victim][fld] == newer


def test_a_batch_refused_for_another_reason_stops_the_collection(fake):
    seed(fake, per_collection=3)
    app = app_with(**NEW_ENV)
    collection = "download_credentials"
    fake.forbidden.add(sorted(fake.tables[collection])[1])
    result = run(app, "rewrap", "--collection", collection)
    assert result.exit_code == 1
    assert f"{collection}: ERROR Directus 403 FORBIDDEN; nothing more done here" in result.output
    assert len(fake.requests) == 1  # no row-by-row retry for anything but a guard abort


def test_is_guard_abort_recognises_only_the_guard_trigger():
    from credsvc.directus import DirectusResponseError, DirectusTimeout

    status, _, body = guard_abort("platform_sessions")

    def error(status, body, path="/items/platform_sessions"):
        return DirectusResponseError(status, "PATCH", path, body)

    assert key_service.is_guard_abort(error(status, body), "platform_sessions")
    assert not key_service.is_guard_abort(error(status, body), "end_user_credentials")
    other_field = body.replace(f'"field": "{GUARD}"', '"field": "user_id"')
    assert not key_service.is_guard_abort(error(400, other_field), "platform_sessions")
    internal = (
        '{"errors":[{"message":"An unexpected error occurred.",'
        '"extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}'
    )
    assert not key_service.is_guard_abort(error(500, internal), "platform_sessions")
    assert not key_service.is_guard_abort(error(500, body), "platform_sessions")
    assert not key_service.is_guard_abort(error(400, "<html>"), "platform_sessions")
    assert not key_service.is_guard_abort(error(400, '{"errors":[]}'), "platform_sessions")
    assert not key_service.is_guard_abort(DirectusTimeout("t"), "platform_sessions")
    # A batch whose every row hit the guard: the answer runs past 500 characters and is still
    # read whole (the client parses the body before it cuts it for the message).
    many = json.dumps({"errors": json.loads(body)["errors"] * 8})
    assert len(many) > 500
    assert key_service.is_guard_abort(error(400, many), "platform_sessions")
    mixed = json.dumps({"errors": json.loads(body)["errors"] * 7 + json.loads(internal)["errors"]})
    assert not key_service.is_guard_abort(error(400, mixed), "platform_sessions")


def test_undecryptable_rows_are_reported_and_the_job_still_finishes(fake):
    seed(fake, per_collection=2)
    stranger = keyring_from_settings("33" * 32)
    bad = fake.insert("platform_sessions", lambda ctx: stranger.encrypt({"x": 1}, ctx))
    result = run(app_with(**NEW_ENV), "rewrap")
    assert result.exit_code == 1
    assert "failed 1" in result.output and bad in result.output
    assert fake.tables["platform_sessions"][bad]["encrypted_cookies"].startswith("v5:k0:")
    status = json.loads(run(app_with(**NEW_ENV), "status", "--json").output)
    assert status["counts"]["platform_sessions"] == {"k0": 1, "k1": 2}


def test_min_decrypt_key_makes_old_values_unreadable_and_status_says_so(fake):
    seed(fake, per_collection=2)
    strict = app_with(**NEW_ENV, CREDENTIALS_MIN_DECRYPT_KEY="k1")
    table = run(strict, "status").output
    assert "below CREDENTIALS_MIN_DECRYPT_KEY: unreadable" in table
    assert run(strict, "rewrap").exit_code == 1  # nothing old can be read any more


def test_unknown_collection_is_a_usage_error(fake):
    result = run(app_with(**NEW_ENV), "status", "--collection", "nope")
    assert result.exit_code == 2 and "encrypted collections" in result.output


def test_rewrap_refuses_in_ingest_mode(fake):
    from credsvc.crypto import generate_keypair, generate_signing_pair

    env = env_for_mode(
        "ingest",
        CREDENTIALS_INGEST_PUBLIC_KEY=generate_keypair()[1],
        CREDENTIALS_INGEST_SIGNING_KEY=generate_signing_pair()[0],
    )
    result = create_app(env).test_cli_runner().invoke(args=["keys", "rewrap"])
    assert result.exit_code == 1 and "cannot decrypt" in result.output


def test_generate_commands_print_usable_keys():
    app = app_with()
    key = run(app, "generate").output.strip()
    assert keyring_from_settings(key).key_ids == ["k0"]
    pair = run(app, "generate-ingest-keypair").output
    assert "CREDENTIALS_INGEST_PRIVATE_KEY=" in pair and "CREDENTIALS_INGEST_PUBLIC_KEY=" in pair
    settings = dict(re.findall(r"^(CREDENTIALS_INGEST_\w+)=(\S+)", pair, re.M))
    assert set(settings) == {
        "CREDENTIALS_INGEST_PRIVATE_KEY",
        "CREDENTIALS_INGEST_VERIFY_KEY",
        "CREDENTIALS_INGEST_PUBLIC_KEY",
        "CREDENTIALS_INGEST_SIGNING_KEY",
    }
    ingest = (
        create_app(
            env_for_mode(
                "ingest",
                CREDENTIALS_INGEST_PUBLIC_KEY=settings["CREDENTIALS_INGEST_PUBLIC_KEY"],
                CREDENTIALS_INGEST_SIGNING_KEY=settings["CREDENTIALS_INGEST_SIGNING_KEY"],
            )
        )
        .extensions["credsvc"]
        .keyring
    )
    workers = keyring_from_settings(
        key,
        ingest_private=settings["CREDENTIALS_INGEST_PRIVATE_KEY"],
        ingest_verify=settings["CREDENTIALS_INGEST_VERIFY_KEY"],
    )
    context = binding("platform_sessions", {"id": "s1", **owner_values("platform_sessions")})
    assert workers.decrypt(ingest.encrypt({"n": 1}, context), context) == {"n": 1}


def test_encrypted_fields_match_the_owning_modules():
    from credsvc import model
    from credsvc.services import download_credentials, end_users, platform_sessions, profiles

    owning = {
        profiles: model.PROFILES,
        download_credentials: model.DOWNLOAD_CREDENTIALS,
        platform_sessions: model.PLATFORM_SESSIONS,
        end_users: model.END_USER_CREDENTIALS,
    }
    assert key_service.ENCRYPTED_FIELDS == tuple((c.collection, c.field) for c in owning.values())
    for module, encrypted in owning.items():
        assert (module.COLLECTION, module.FIELD) == (encrypted.collection, encrypted.field)
        assert COLLECTIONS[module.COLLECTION] == module.FIELD
        assert not hasattr(module, "context")  # one binding, the model's


def test_fake_like_semantics_match_sqlite_expectation():
    assert not matches({"f": "V2:K1:abc"}, {"f": {"_nstarts_with": "v2:k1:"}})
    assert matches({"f": "v2:k0:abc"}, {"f": {"_nstarts_with": "v2:k1:"}})


def test_rewrap_refuses_to_run_without_the_database_guard(fake):
    seed(fake, per_collection=3)
    fake.enforce_guard = False
    collection, fld = "download_credentials", COLLECTIONS["download_credentials"]
    before = {i: dict(row) for i, row in fake.tables[collection].items()}
    result = run(app_with(**NEW_ENV), "rewrap", "--collection", collection)
    assert result.exit_code == 1
    assert "does not enforce rewrap_guard" in result.output
    assert fake.requests == []  # not one value was rewritten
    probed = fake.probes[0][0]
    assert [body for _, body in fake.probes] == [{GUARD: key_service.PROBE_GUARD}, {GUARD: None}]
    assert fake.tables[collection][probed].get(GUARD) is None  # the probe was undone
    assert {i: row[fld] for i, row in fake.tables[collection].items()} == {
        i: row[fld] for i, row in before.items()
    }


def test_the_guard_probe_is_refused_when_the_guard_is_installed(fake):
    seed(fake, per_collection=2)
    collection = "platform_connections"
    result = run(app_with(**NEW_ENV), "rewrap", "--collection", collection)
    assert result.exit_code == 0, result.output
    assert [body for _, body in fake.probes] == [{GUARD: key_service.PROBE_GUARD}]


@pytest.mark.parametrize(
    "collection, relabel",
    [
        ("platform_connections", "user_id"),
        ("platform_connections", "platform"),
        ("end_user_credentials", "business_id"),
        ("end_user_credentials", "end_user_hash"),
        ("end_user_credentials", "field"),
    ],
)
def test_rewrap_never_launders_a_relabel_made_before_it(fake, collection, relabel):
    """A v2 value carries no owner, so a relabel of its row cannot be seen in the value; where
    the row states its owner twice (owner_platform, slot), the job refuses to bind the value
    to owner columns that disagree with that second statement."""
    fld = COLLECTIONS[collection]
    victim = fake.insert(collection, v2_value(OLD, "k0"))
    honest = fake.insert(collection, v2_value(OLD, "k0"))
    row = fake.tables[collection][victim]
    row[relabel] = "bf7e0000-0000-4000-8000-00000000beef"  # handed to someone else
    before = row[fld]
    result = run(app_with(**NEW_ENV), "rewrap", "--collection", collection)
    assert result.exit_code == 1 and "failed 1" in result.output, result.output
    assert victim in result.output and honest not in result.output
    assert fake.tables[collection][victim][fld] == before
    assert fake.tables[collection][honest][fld].startswith("v5:k1:")

"""`flask keys status|rewrap` against an in-memory Directus at the wire (`responses`).

The fake implements only what the job uses: filtered, sorted, paged GET; aggregate count;
SEARCH with a query body; batch PATCH (array); PATCH with a query. The integration test
(tests/integration/test_rewrap.py) runs the same job against the real Directus.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from credsvc import create_app
from credsvc.crypto import RecordContext, encrypt_json, keyring_from_settings
from credsvc.services import keys as key_service
from tests.conftest import DIRECTUS, TEST_ENV

OLD, NEW = "11" * 32, "22" * 32
COLLECTIONS = dict(key_service.ENCRYPTED_FIELDS)


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


class FakeDirectus:
    def __init__(self, wire):
        self.tables: dict[str, dict[str, dict]] = {c: {} for c in COLLECTIONS}
        self.patches = 0
        pattern = re.compile(rf"{re.escape(DIRECTUS)}/items/(\w+)(\?.*)?$")
        for method in ("GET", "SEARCH", "PATCH"):
            wire.add_callback(method, pattern, callback=self.handle)

    def handle(self, request):
        parts = urlsplit(request.url)
        collection = parts.path.rsplit("/", 1)[1]
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
            rows = rows[(page - 1) * limit: page * limit]
            return 200, {}, json.dumps({"data": [{f: r.get(f) for f in fields} for r in rows]})
        if request.method == "SEARCH":
            query = body["query"]
            hits = sorted((r for r in table.values() if matches(r, query["filter"])),
                          key=lambda r: r["id"])[: query["limit"]]
            rows = [{f: r.get(f) for f in query["fields"]} for r in hits]
            return 200, {}, json.dumps({"data": rows})
        self.patches += 1
        if isinstance(body, list):
            for item in body:
                table[item["id"]].update(item)
            return 200, {}, json.dumps({"data": body})
        hits = [r for r in table.values() if matches(r, body["query"]["filter"])]
        for row in hits:
            row.update(body["data"])
        return 200, {}, json.dumps({"data": [{"id": r["id"]} for r in hits]})

    def insert(self, collection: str, token_for) -> str:
        row_id = str(uuid.uuid4())
        ctx = RecordContext(collection, row_id, COLLECTIONS[collection])
        self.tables[collection][row_id] = {"id": row_id, COLLECTIONS[collection]: token_for(ctx)}
        return row_id


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


def test_rewrap_moves_everything_then_is_a_no_op(fake):
    seed(fake)
    app = app_with(**NEW_ENV)
    result = run(app, "rewrap", "--batch-size", "3")
    assert result.exit_code == 0, result.output
    assert result.output.count("rewrapped 7,") == len(COLLECTIONS)
    ring = app.extensions["credsvc"].keyring
    for collection, fld in COLLECTIONS.items():
        for row in fake.tables[collection].values():
            assert row[fld].startswith("v2:k1:")
            context = RecordContext(collection, row["id"], fld)
            assert ring.decrypt(row[fld], context)["n"] in range(7)
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
    newer = services.keyring.encrypt({"n": "newer"}, RecordContext(collection, victim, fld))

    def service_writes(ids):  # lands after the page read, before the guard read
        assert victim in ids
        fake.tables[collection][victim][fld] = newer

    result = key_service.rewrap_collection(services.directus, services.keyring, collection, fld,
                                           after_select=service_writes)
    assert (result.rewrapped, result.skipped_changed, result.failed) == (4, 1, 0)
    assert fake.tables[collection][victim][fld] == newer  # never overwritten with the older value


@pytest.mark.parametrize("strategy", ["batch", "record"])
def test_strategies_end_in_the_same_state(fake, strategy):
    seed(fake, per_collection=5)
    app = app_with(**NEW_ENV)
    result = run(app, "rewrap", "--strategy", strategy, "--collection", "platform_sessions")
    assert result.exit_code == 0, result.output
    rows = fake.tables["platform_sessions"].values()
    assert all(r["encrypted_cookies"].startswith("v2:k1:") for r in rows)
    untouched = fake.tables["platform_connections"].values()
    assert not any(r["encrypted_credentials"].startswith("v2:k1:") for r in untouched)


def test_record_strategy_skips_a_row_whose_value_changed(fake):
    seed(fake, per_collection=3)
    app = app_with(**NEW_ENV)
    services = app.extensions["credsvc"]
    collection, fld = "end_user_credentials", "encrypted_value"
    victim = sorted(fake.tables[collection])[0]

    def before_write(ids):
        fake.tables[collection][victim][fld] = "changed by the service"
    result = key_service.rewrap_collection(services.directus, services.keyring, collection, fld,
                                           strategy="record", before_write=before_write)
    assert (result.rewrapped, result.skipped_changed) == (2, 1)
    assert fake.tables[collection][victim][fld] == "changed by the service"


def test_undecryptable_rows_are_reported_and_the_job_still_finishes(fake):
    seed(fake, per_collection=2)
    stranger = keyring_from_settings("33" * 32)
    bad = fake.insert("platform_sessions", lambda ctx: stranger.encrypt({"x": 1}, ctx))
    result = run(app_with(**NEW_ENV), "rewrap")
    assert result.exit_code == 1
    assert "failed 1" in result.output and bad in result.output
    assert fake.tables["platform_sessions"][bad]["encrypted_cookies"].startswith("v2:k0:")
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
    from credsvc.crypto import generate_keypair

    env = {k: v for k, v in TEST_ENV.items() if k != "CREDENTIALS_ENCRYPTION_KEY"}
    env.update(CREDSVC_MODE="ingest", CREDENTIALS_INGEST_PUBLIC_KEY=generate_keypair()[1])
    result = create_app(env).test_cli_runner().invoke(args=["keys", "rewrap"])
    assert result.exit_code == 1 and "cannot decrypt" in result.output


def test_generate_commands_print_usable_keys():
    app = app_with()
    key = run(app, "generate").output.strip()
    assert keyring_from_settings(key).key_ids == ["k0"]
    pair = run(app, "generate-ingest-keypair").output
    assert "CREDENTIALS_INGEST_PRIVATE_KEY=" in pair and "CREDENTIALS_INGEST_PUBLIC_KEY=" in pair


def test_encrypted_fields_match_the_owning_modules():
    from credsvc.services import download_credentials, end_users, platform_sessions, profiles

    for module in (profiles, download_credentials, platform_sessions, end_users):
        assert COLLECTIONS[module.COLLECTION] == module.FIELD
        assert module.context("x") == RecordContext(module.COLLECTION, "x", module.FIELD)


def test_fake_like_semantics_match_sqlite_expectation():
    assert not matches({"f": "V2:K1:abc"}, {"f": {"_nstarts_with": "v2:k1:"}})
    assert matches({"f": "v2:k0:abc"}, {"f": {"_nstarts_with": "v2:k1:"}})
    assert responses  # imported for the wire fixture's type

"""The credsvc roles on the real Directus: every role's token, the admin's (control) and no
token at all try every action on every service collection, and reads and writes of single
sensitive columns, each on a throwaway row of its own made with the admin token.

What a cell should do comes from deploy/directus/policies.py, the table provisioning applies;
the cells of `facts()` are written out by hand, so a wrong table fails too. The provisioning
tests make the stored permissions drift on purpose and check that a rerun puts back exactly
the table; the last tests run every endpoint with the token of the role that serves it.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import requests
import yaml

from credsvc import create_app
from deploy.directus import policies
from tests.integration.conftest import DEPLOY_DIRECTUS, provision

pytestmark = pytest.mark.integration

ROLES = tuple(policies.ROLES)  # full, ingest, worker, operator
PRINCIPALS = (*ROLES, "admin", "none")
COLLECTIONS = policies.COLLECTIONS
ACTIONS = policies.ACTIONS
GUARD = policies.GUARD
ENCRYPTED = {
    "platform_connections": "encrypted_credentials",
    "download_credentials": "encrypted_credentials",
    "platform_sessions": "encrypted_cookies",
    "end_user_credentials": "encrypted_value",
}
# Single columns tried alone (read, update): every encrypted value, and the API key's hash and
# revocation.
COLUMNS = (*ENCRYPTED.items(), ("api_keys", "key_hash"), ("api_keys", "revoked_at"))
# What credsvc's code sends when it creates a row (services/*.py), written out here.
CODE_CREATES = {
    "platform_connections": (
        "id", "user_id", "platform", "owner_platform", "platform_username",
        "encrypted_credentials",
    ),
    "download_credentials": (
        "id", "user_id", "creator_profile_id", "platform", "auth_type", "username",
        "display_name", "encrypted_credentials",
    ),
    "platform_sessions": (
        "id", "user_id", "creator_profile_id", "platform", "encrypted_cookies", "cookie_count",
        "user_agent", "captured_at", "expires_at", "cookies_expire_at",
    ),
    "api_keys": ("id", "business_id", "name", "key_hash", "key_prefix", "created_at"),
    "end_user_credentials": (
        "id", "business_id", "end_user_id", "end_user_hash", "field", "slot", "encrypted_value",
    ),
    "audit_log": (
        "occurred_at", "actor", "action", "outcome", "target_collection", "target_id",
        "business_id", "end_user_id", "request_id", "detail",
    ),
}  # fmt: skip
# The update an admin (who is in no role) tries: one column the code writes.
ADMIN_UPDATES = {
    **{collection: (column,) for collection, column in ENCRYPTED.items()},
    "api_keys": ("last_used_at",),
    "audit_log": ("detail",),
}
# The tests' Directus runs under the free Core licence, which refuses field-level grants, so
# it is provisioned without them: a role may touch every field of a collection it has an
# action on (test_field_limits_are_refused_under_the_core_licence).
FIELD_LIMITS = False
TIMEOUT = (3.05, 30)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def new_row(collection: str) -> dict:
    """A complete, valid row with unique values (its id is set, audit rows included)."""
    who, mark = str(uuid.uuid4()), secrets.token_hex(8)
    rows = {
        "platform_connections": {
            "user_id": who, "platform": "youtube", "owner_platform": f"{who}:youtube",
            "platform_username": "matrix", "encrypted_credentials": f"v2:matrix:{mark}",
        },
        "download_credentials": {
            "user_id": who, "creator_profile_id": who, "platform": "youtube",
            "auth_type": "password", "username": "matrix", "display_name": "matrix",
            "encrypted_credentials": f"v2:matrix:{mark}",
        },
        "platform_sessions": {
            "user_id": who, "creator_profile_id": who, "platform": "youtube",
            "encrypted_cookies": f"v2:matrix:{mark}", "cookie_count": 1, "user_agent": "matrix",
            "captured_at": now(), "expires_at": None, "cookies_expire_at": None,
        },
        "api_keys": {
            "business_id": f"matrix-{mark}", "name": "matrix", "key_hash": secrets.token_hex(32),
            "key_prefix": "csk_matrix", "created_at": now(),
        },
        "end_user_credentials": {
            "business_id": f"matrix-{mark}", "end_user_id": who, "end_user_hash": "0" * 64,
            "field": "twitterCt0", "slot": secrets.token_hex(32),
            "encrypted_value": f"v2:matrix:{mark}",
        },
        "audit_log": {
            "occurred_at": now(), "actor": "matrix", "action": "matrix", "outcome": "ok",
            "target_collection": None, "target_id": None, "business_id": None,
            "end_user_id": None, "request_id": f"matrix-{mark}", "detail": None,
        },
    }  # fmt: skip
    return {"id": str(uuid.uuid4()), **rows[collection]}


def new_value(collection: str, column: str, row: dict) -> object:
    """A value for `column` that differs from row's; a guard carries the stored value."""
    if column == GUARD:
        return row[ENCRYPTED[collection]]
    if column.endswith("_at"):
        return now()
    if column == "key_hash":
        return secrets.token_hex(32)
    if column in ENCRYPTED.values():
        return f"v2:changed:{secrets.token_hex(8)}"
    return f"changed-{secrets.token_hex(4)}"


def same(sent: object, stored: object) -> bool:
    if isinstance(sent, str) and sent.endswith("Z") and isinstance(stored, str):
        parse = datetime.fromisoformat
        return parse(sent.replace("Z", "+00:00")) == parse(stored.replace("Z", "+00:00"))
    return sent == stored


@dataclass
class Outcome:
    expected: bool  # the table allows it
    observed: bool | None  # None: an answer that is neither a success nor a refusal
    detail: str

    @property
    def mismatch(self) -> bool:
        return self.observed is not self.expected


class Battery:
    """Tries cells; every cell gets a row of its own, made with the admin token."""

    def __init__(self, directus) -> None:
        self.directus = directus
        self.http = requests.Session()
        self.made: dict[str, list[str]] = {c: [] for c in COLLECTIONS}

    def token(self, principal: str) -> str | None:
        if principal == "admin":
            return self.directus.admin_token
        return None if principal == "none" else self.directus.role_tokens[principal]

    def call(self, principal, method, collection, item="", **kwargs) -> requests.Response:
        token = self.token(principal)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{self.directus.url}/items/{collection}{item}"
        return self.http.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)

    def row(self, collection: str) -> dict:
        row = new_row(collection)
        resp = self.directus.admin_request(
            "POST", f"/items/{collection}", row, params={"fields": "id"}
        )
        assert resp.status_code == 200, resp.text
        self.made[collection].append(row["id"])
        return row

    def stored(self, collection: str, row_id: str) -> dict | None:
        rows = self.directus.items(collection, filter=json.dumps({"id": {"_eq": row_id}}))
        return rows[0] if rows else None

    @staticmethod
    def verdict(resp: requests.Response, ok: tuple[int, ...]) -> bool | None:
        if resp.status_code in ok:
            return True
        return False if resp.status_code == 403 else None

    def create(self, principal: str, collection: str) -> tuple[bool | None, str]:
        row = new_row(collection)
        sent = {k: row[k] for k in CODE_CREATES[collection]}
        resp = self.call(principal, "POST", collection, json=sent, params={"fields": "id"})
        found = self.directus.items(
            collection,
            filter=json.dumps(
                {"request_id": {"_eq": row["request_id"]}}
                if collection == "audit_log"
                else {"id": {"_eq": row["id"]}}
            ),
        )
        self.made[collection] += [r["id"] for r in found]
        observed = self.verdict(resp, (200, 204))
        if observed is True and not found:
            observed = None
        if observed is False:
            if found:
                observed = None
            elif self.call(principal, "POST", collection, json={}).status_code != 403:
                observed = True  # some create permission exists, just not for these fields
        return observed, f"{resp.status_code}"

    def read(self, principal: str, collection: str, column: str = "id") -> tuple[bool | None, str]:
        row = self.row(collection)
        params = {"filter[id][_eq]": row["id"], "fields": column}
        resp = self.call(principal, "GET", collection, params=params)
        observed = self.verdict(resp, (200,))
        if observed:
            data = resp.json()["data"]
            observed = len(data) == 1 and same(row.get(column), data[0].get(column))
        elif observed is False and column == "id":
            # No read at all, not merely without these fields.
            if self.call(principal, "GET", collection, params={"limit": 1}).status_code != 403:
                observed = True
        return observed, f"{resp.status_code}"

    def update(self, principal: str, collection: str, columns: tuple[str, ...]):
        row = self.row(collection)
        sent = {column: new_value(collection, column, row) for column in columns}
        resp = self.call(
            principal, "PATCH", collection, f"/{row['id']}", json=sent, params={"fields": "id"}
        )
        stored = self.stored(collection, row["id"])
        changed = all(same(v, stored[k]) for k, v in sent.items() if k != GUARD)
        observed = self.verdict(resp, (200, 204))
        if observed is True and not changed:
            observed = None
        if observed is False:
            probe = self.call(principal, "PATCH", collection, f"/{row['id']}", json={})
            if any(same(v, stored[k]) for k, v in sent.items() if k != GUARD):
                observed = None
            elif probe.status_code != 403:
                observed = True  # some update permission exists, just not for these fields
        return observed, f"{resp.status_code}"

    def delete(self, principal: str, collection: str) -> tuple[bool | None, str]:
        row = self.row(collection)
        resp = self.call(principal, "DELETE", collection, f"/{row['id']}")
        gone = self.stored(collection, row["id"]) is None
        observed = self.verdict(resp, (204,))
        if observed is not None and observed != gone:
            observed = None
        return observed, f"{resp.status_code}"

    def cleanup(self) -> None:
        for collection, ids in self.made.items():
            if ids:
                self.directus.admin_request("DELETE", f"/items/{collection}", sorted(set(ids)))


def designed(principal: str, collection: str, action: str, column: str | None = None) -> bool:
    if principal in ("admin", "none"):
        return principal == "admin"
    return policies.allowed(principal, collection, action, column if FIELD_LIMITS else None)


def update_columns(principal: str, collection: str) -> tuple[str, ...]:
    """What the role's code updates (its grant's fields), else what the admin tries."""
    grant = policies.ROLES.get(principal, {}).get(collection, {}).get("update")
    return grant.fields if grant else ADMIN_UPDATES[collection]


@pytest.fixture(scope="module")
def matrix(directus):
    """{(principal, collection, action, column or None): Outcome} for every cell."""
    battery = Battery(directus)
    cells: dict[tuple[str, str, str, str | None], Outcome] = {}
    try:
        for principal in PRINCIPALS:
            for collection in COLLECTIONS:
                for action in ACTIONS:
                    if action == "update":
                        observed, detail = battery.update(
                            principal, collection, update_columns(principal, collection)
                        )
                    else:
                        observed, detail = getattr(battery, action)(principal, collection)
                    expected = designed(principal, collection, action)
                    cells[principal, collection, action, None] = Outcome(expected, observed, detail)
            for collection, column in COLUMNS:
                observed, detail = battery.read(principal, collection, column)
                expected = designed(principal, collection, "read", column)
                cells[principal, collection, "read", column] = Outcome(expected, observed, detail)
                observed, detail = battery.update(principal, collection, (column,))
                expected = designed(principal, collection, "update", column)
                cells[principal, collection, "update", column] = Outcome(expected, observed, detail)
        yield cells
    finally:
        battery.cleanup()


SHORT = {
    "platform_connections": "connections",
    "download_credentials": "downloads",
    "platform_sessions": "sessions",
    "api_keys": "api_keys",
    "end_user_credentials": "end_users",
    "audit_log": "audit_log",
}


def render(cells) -> str:
    """One line per principal: CRUD per collection, then r/u per single column.
    A letter is allowed, `.` refused, `!` differs from the table."""

    def mark(key, letter):
        outcome = cells[key]
        return "!" if outcome.mismatch else (letter if outcome.observed else ".")

    heads = [SHORT[c] for c in COLLECTIONS] + [
        f"{SHORT[c]}.{'enc' if col in ENCRYPTED.values() else col}" for c, col in COLUMNS
    ]
    lines = ["principal  " + " ".join(heads)]
    for p in PRINCIPALS:
        cells_of_p = [
            "".join(mark((p, c, a, None), a[0].upper()) for a in ACTIONS) for c in COLLECTIONS
        ] + [
            mark((p, c, "read", col), "r") + mark((p, c, "update", col), "u") for c, col in COLUMNS
        ]
        parts = [cell.ljust(len(head)) for cell, head in zip(cells_of_p, heads, strict=True)]
        lines.append(f"{p:<10} " + " ".join(parts))
    return "\n".join(lines)


def test_every_token_does_exactly_what_the_table_allows(matrix):
    base = [key for key in matrix if key[3] is None]
    columns = [key for key in matrix if key[3] is not None]
    mismatches = {key: outcome for key, outcome in matrix.items() if outcome.mismatch}
    allowed = sum(outcome.expected for outcome in matrix.values())
    print("\n" + render(matrix))
    print(
        f"token matrix: cells tried={len(base)} (+{len(columns)} single-column cells), "
        f"expected allowed={allowed} denied={len(matrix) - allowed} mismatches={len(mismatches)}"
    )
    for (p, c, a, col), outcome in mismatches.items():
        print(
            f"  MISMATCH {p} {a} {c}{'.' + col if col else ''}: expected "
            f"{'allowed' if outcome.expected else 'denied'}, Directus answered {outcome.detail}"
        )
    assert len(base) == len(PRINCIPALS) * len(COLLECTIONS) * len(ACTIONS) == 144
    assert len(columns) == len(PRINCIPALS) * len(COLUMNS) * 2
    assert not mismatches


SERVICE = ("full", "ingest", "worker", "operator")
NOBODY: tuple[str, ...] = ()


def facts() -> list[tuple[tuple[str, str, str, str | None], bool, str]]:
    """Cells whose answer is known without the table: (cell, allowed, why). All hold under
    the Core licence, where grants cover whole rows (see FIELD_LIMITS)."""
    out = []

    def fact(who, collection, action, allowed_for, why, column=None):
        """`action` on `collection` (`column`) is allowed for the principals of `who` that are
        in `allowed_for`, refused for the others."""
        for p in (who,) if isinstance(who, str) else who:
            out.append(((p, collection, action, column), p in allowed_for, why))

    for action in ("read", "update", "delete"):
        fact(SERVICE, "audit_log", action, NOBODY, "the audit trail is append-only")
    fact(SERVICE, "audit_log", "create", ("full", "worker"), "every decrypting read is audited")
    fact(SERVICE, "api_keys", "create", ("operator",), "only the CLI makes keys")
    fact(SERVICE, "api_keys", "delete", NOBODY, "keys are revoked, never deleted")
    for action in ("read", "update"):
        fact(SERVICE, "api_keys", action, ("full", "ingest", "operator"), "workers see no keys")
    fact("worker", "api_keys", "read", NOBODY, "workers see no keys", "key_hash")
    for collection in ("platform_connections", "download_credentials", "platform_sessions"):
        fact(SERVICE, collection, "delete", NOBODY, "credsvc deletes none of these")
    fact(SERVICE, "end_user_credentials", "delete", ("full", "ingest"), "the end-user DELETE")
    fact("ingest", "download_credentials", "read", NOBODY, "ingest reads no downloads",
         "encrypted_credentials")  # fmt: skip
    fact(SERVICE, "end_user_credentials", "read", SERVICE, "workers; the PUT's undo",
         "encrypted_value")  # fmt: skip
    for collection in COLLECTIONS:
        audit, keys = collection == "audit_log", collection == "api_keys"
        fact("worker", collection, "create", ("worker",) if audit else NOBODY, "audits only")
        fact("operator", collection, "create", ("operator",) if keys else NOBODY, "keys only")
        fact("operator", collection, "delete", NOBODY, "the CLI deletes nothing")
        for action in ACTIONS:
            fact("none", collection, action, NOBODY, "no token, no access")
            fact("admin", collection, action, ("admin",), "the control")
    return out


@pytest.mark.parametrize("cell, allowed, why", facts(), ids=lambda v: str(v))
def test_hand_written_facts(matrix, cell, allowed, why):
    assert matrix[cell].observed is allowed, f"{cell}: {why} (Directus: {matrix[cell].detail})"


# -- the table itself --------------------------------------------------------------------


def test_every_field_the_table_names_exists_in_the_schema():
    snapshot = yaml.safe_load((DEPLOY_DIRECTUS / "schema.yaml").read_text())
    columns = {(f["collection"], f["field"]) for f in snapshot["fields"]}
    unknown = [
        (role, collection, action, name)
        for role, table in policies.ROLES.items()
        for collection, grants in table.items()
        for action, grant in grants.items()
        for name in (*grant.fields, *grant.validation)
        if (collection, name) not in columns
    ]
    assert not unknown
    assert {c for table in policies.ROLES.values() for c in table} <= set(COLLECTIONS)


def test_full_is_exactly_ingest_and_worker_together():
    for collection in COLLECTIONS:
        for action in ACTIONS:
            parts = [
                set(table.get(collection, {})[action].fields)
                for table in (policies.INGEST, policies.WORKER)
                if action in table.get(collection, {})
            ]
            full = policies.ROLES["full"].get(collection, {}).get(action)
            assert (set(full.fields) if full else None) == (set.union(*parts) if parts else None)


# -- provisioning ----------------------------------------------------------------------------


def find(directus, path: str, **filters: str) -> list[dict]:
    params = {f"filter[{k}][_eq]": v for k, v in filters.items()}
    resp = directus.admin_request("GET", path, params={**params, "limit": -1})
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def admin(directus, method: str, path: str, body=None) -> dict | None:
    resp = directus.admin_request(method, path, body)
    assert resp.status_code in (200, 204), f"{method} {path}: {resp.status_code} {resp.text}"
    return resp.json()["data"] if resp.content else None


def stored_grants(directus, policy_id: str) -> list[tuple]:
    """(collection, action, fields, validation) of every permission of the policy, sorted."""
    return sorted(
        (p["collection"], p["action"], sorted(p["fields"] or []), p["validation"] or {})
        for p in find(directus, "/permissions", policy=policy_id)
    )


def table_grants(role: str) -> list[tuple]:
    """The same, as provisioned without field limits: every field of each designed cell."""
    return sorted((c, a, ["*"], {}) for c, cells in policies.ROLES[role].items() for a in cells)


def test_a_rerun_repairs_widened_grants_and_removes_the_old_service_user(directus):
    tokens = directus.role_tokens
    ids = provision.provision(directus.url, tokens, admin_token=directus.admin_token)

    def grant(policy: str, collection: str, action: str) -> None:
        body = {"policy": policy, "collection": collection, "action": action, "fields": ["*"]}
        admin(directus, "POST", "/permissions", body)

    # Widen every way a policy can drift: an extra grant (workers delete audit rows), a grant
    # turned into another (the ingest's api_keys update becomes an audit_log update), a
    # duplicate, another policy on the ingest role and one on the worker user itself.
    grant(ids["worker"]["policy"], "audit_log", "delete")
    [moved] = [
        p["id"]
        for p in find(directus, "/permissions", policy=ids["ingest"]["policy"])
        if (p["collection"], p["action"]) == ("api_keys", "update")
    ]
    # (A Core Directus takes a permission change only with `fields: ["*"]` in it.)
    admin(directus, "PATCH", f"/permissions/{moved}", {"collection": "audit_log", "fields": ["*"]})
    grant(ids["operator"]["policy"], "api_keys", "create")
    extra = admin(directus, "POST", "/policies", {"name": f"extra-{secrets.token_hex(3)}"})["id"]
    grant(extra, "audit_log", "read")
    admin(directus, "POST", "/access", {"role": ids["ingest"]["role"], "policy": extra})
    admin(directus, "POST", "/access", {"user": ids["worker"]["user"], "policy": extra})
    # The all-powerful service user of earlier versions, as they provisioned it.
    legacy_token = secrets.token_urlsafe(32)
    legacy = admin(directus, "POST", "/policies", {"name": provision.LEGACY_NAME})["id"]
    for collection in COLLECTIONS:
        for action in ACTIONS:
            grant(legacy, collection, action)
    legacy_role = admin(directus, "POST", "/roles", {"name": provision.LEGACY_NAME})["id"]
    admin(directus, "POST", "/access", {"role": legacy_role, "policy": legacy})
    admin(
        directus,
        "POST",
        "/users",
        {
            "email": provision.LEGACY_EMAIL,
            "role": legacy_role,
            "token": legacy_token,
            "status": "active",
        },
    )

    def status(token: str, method: str, path: str, body=None) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{directus.url}{path}"
        return requests.request(
            method, url, json=body, headers=headers, timeout=TIMEOUT
        ).status_code

    audit_row = admin(directus, "POST", "/items/audit_log", new_row("audit_log"))["id"]
    audit_path = f"/items/audit_log/{audit_row}"
    assert status(tokens["worker"], "GET", "/items/audit_log") == 200  # the drift is real
    assert status(tokens["ingest"], "PATCH", audit_path, {"detail": "x"}) == 200
    assert status(legacy_token, "GET", "/items/audit_log") == 200
    try:
        assert provision.provision(directus.url, tokens, admin_token=directus.admin_token) == ids
        for role in ROLES:
            assert stored_grants(directus, ids[role]["policy"]) == table_grants(role), role
            linked = find(directus, "/access", role=ids[role]["role"])
            assert [a["policy"] for a in linked] == [ids[role]["policy"]], role
            assert find(directus, "/access", user=ids[role]["user"]) == [], role
        assert find(directus, "/users", email=provision.LEGACY_EMAIL) == []
        assert find(directus, "/roles", name=provision.LEGACY_NAME) == []
        assert find(directus, "/policies", name=provision.LEGACY_NAME) == []
        assert status(legacy_token, "GET", "/items/platform_connections") == 401
        assert status(tokens["worker"], "GET", "/items/audit_log") == 403
        assert status(tokens["ingest"], "PATCH", audit_path, {"detail": "x"}) == 403

        # A further run changes nothing, not even a permission's id.
        before = {r: find(directus, "/permissions", policy=ids[r]["policy"]) for r in ROLES}
        provision.provision(directus.url, tokens, admin_token=directus.admin_token)
        after = {r: find(directus, "/permissions", policy=ids[r]["policy"]) for r in ROLES}
        assert after == before
    finally:
        directus.admin_request("DELETE", f"/policies/{extra}")
        directus.admin_request("DELETE", audit_path)


def test_field_limits_are_refused_under_the_core_licence(directus):
    """Field lists are "custom permission rules", a licensed feature: asked for them, a Core
    Directus refuses, and provisioning says why; a normal run afterwards is whole again."""
    tokens, admin_token = directus.role_tokens, directus.admin_token
    try:
        with pytest.raises(provision.ProvisionError, match="licence refuses field-level"):
            provision.provision(directus.url, tokens, admin_token=admin_token, field_limits=True)
    finally:
        ids = provision.provision(directus.url, tokens, admin_token=admin_token)
    for role in ROLES:
        assert stored_grants(directus, ids[role]["policy"]) == table_grants(role), role


def test_roles_have_no_app_or_admin_access(directus):
    for role in ROLES:
        [policy] = find(directus, "/policies", name=provision.policy_name(role))
        assert policy["app_access"] is False and policy["admin_access"] is False
        [user] = find(directus, "/users", email=provision.user_email(role))
        assert user["status"] == "active" and user["role"]


@pytest.mark.parametrize(
    "tokens, message",
    [
        ({"auditor": "x" * 32}, "unknown roles auditor"),
        ({"full": ""}, "empty token: DIRECTUS_TOKEN"),
        ({"full": "same-token-" * 3, "worker": "same-token-" * 3}, "same token"),
    ],
)
def test_provisioning_refuses_bad_tokens(directus, tokens, message):
    with pytest.raises(provision.ProvisionError, match=message):
        provision.provision(directus.url, tokens, admin_token=directus.admin_token)


# -- each token is enough for its own endpoints ------------------------------------------------

SYNC = "roles-sync-secret-" + secrets.token_hex(8)
COOKIE = {"name": "sessionid", "value": "v", "domain": ".instagram.com", "path": "/",
          "expires": 1924992000, "httpOnly": True, "secure": True}  # fmt: skip


def app_with(directus, role: str, key: str):
    """An app holding `role`'s token (and no operator token): its endpoints run the role's
    code paths with exactly the role's Directus grants."""
    env = directus.service_env(
        DIRECTUS_TOKEN=directus.role_tokens[role], CREDENTIALS_ENCRYPTION_KEY=key,
        RBAC_SYNC_SECRET=SYNC,
    )  # fmt: skip
    del env["DIRECTUS_OPERATOR_TOKEN"]
    return create_app(env).test_client()


def test_each_role_token_serves_exactly_its_own_endpoints(directus):
    key = secrets.token_hex(32)
    ingest, worker = app_with(directus, "ingest", key), app_with(directus, "worker", key)
    _, email, password = directus.create_user()
    user = {"Authorization": f"Bearer {directus.login(email, password)}"}
    internal = {"X-RBAC-SYNC-SECRET": SYNC}
    business = "roles-" + secrets.token_hex(4)
    with create_app(directus.service_env()).app_context():
        from credsvc.cli import operator_directus
        from credsvc.services import api_keys

        business_key = api_keys.create_key(operator_directus(), business, "roles").secret
    customer = {"Authorization": f"Bearer {business_key}"}

    def ok(client, path, headers, body, method="post"):
        response = getattr(client, method)(path, headers=headers, json=body)
        assert response.status_code == 200, (path, response.get_json())
        return response.get_json()

    # ingest: the user endpoints (both branches of create-profile) and the end-user API.
    api = "/api/credentials"
    profile_body = {"platform": "instagram", "credentials": {"password": "roles-pw"}}
    profile = ok(ingest, f"{api}/create-profile", user, profile_body)["id"]
    assert ok(ingest, f"{api}/create-profile", user, profile_body)["updated"] is True
    update = {"creator_profile_id": profile, "credentials": {"password": "pw-2"}}
    ok(ingest, f"{api}/update-profile-creds", user, {**update, "platform_username": "r"})
    download_body = {"creator_profile_id": profile, "platform": "instagram",
                     "auth_type": "password", "credentials": {"password": "dl-pw"}}  # fmt: skip
    download = ok(ingest, f"{api}/create-download-cred", user, download_body)["id"]
    session_body = {"creator_profile_id": profile, "platform": "instagram", "cookies": [COOKIE]}
    sessions = [
        ok(ingest, f"{api}/store-platform-session", user, session_body)["id"] for _ in range(2)
    ]
    ok(ingest, f"{api}/revoke-platform-session", user, {"id": sessions[1]})
    path = "/v1/end-users/roles-alice/credentials"
    ok(ingest, path, customer, {"redditSession": "r-1", "twitterCt0": "t-1"}, "put")
    ok(ingest, path, customer, {"redditSession": "r-2", "twitterCt0": None}, "put")
    assert ok(ingest, path, customer, None, "get")["platforms"]["reddit"]["configured"]

    # worker: the shared-secret endpoints, each audited.
    stored = {"creatorProfileId": profile, "credentials": {"api_key": "k"}}
    ok(worker, f"{api}/store", internal, stored)
    revealed = ok(worker, f"{api}/reveal", internal, {"creatorProfileId": profile})
    assert revealed["credentials"] == {"api_key": "k"}
    downloaded = ok(worker, f"{api}/reveal-download-cred", internal, {"id": download})
    assert downloaded["credentials"] == {"password": "dl-pw"}
    newest = {"creator_profile_id": profile, "platform": "instagram"}
    assert ok(worker, f"{api}/get-platform-session", internal, newest)["id"] == sessions[0]
    # Session health: ingest lists, worker reports, ingest supersedes on the next capture.
    assert ok(ingest, f"{api}/platforms", user, None, "get")["platforms"]
    report = {"id": sessions[0], "reason": "logged_out"}
    assert ok(worker, f"{api}/report-platform-session", internal, report)["status"] == (
        "needs_recapture"
    )
    gone = worker.post(f"{api}/get-platform-session", headers=internal, json=newest)
    assert gone.status_code == 404 and "needs re-capture" in gone.get_json()["error"]
    sessions.append(ok(ingest, f"{api}/store-platform-session", user, session_body)["id"])
    assert ok(worker, f"{api}/get-platform-session", internal, newest)["id"] == sessions[2]
    listed = ok(ingest, f"{api}/platform-sessions", user, None, "get")["sessions"]
    assert listed[0]["id"] == sessions[2]  # newest first
    assert {s["id"]: s["status"] for s in listed} == {
        sessions[2]: "active", sessions[1]: "revoked", sessions[0]: "superseded",
    }  # fmt: skip
    wanted = {"businessId": business, "endUserId": "roles-alice"}
    assert list(ok(worker, "/api/end-user-credentials/reveal", internal, wanted)["platforms"]) == [
        "reddit"
    ]
    audited = directus.items("audit_log", filter=json.dumps({"target_id": {"_eq": profile}}))
    assert sorted((row["action"], row["outcome"]) for row in audited) == [
        ("get-platform-session", "not_found"),  # the reported session is not served
        ("get-platform-session", "ok"),
        ("get-platform-session", "ok"),
        ("reveal", "ok"),
    ]

    # ... and neither serves the other's side: the ingest token cannot write the audit row a
    # reveal needs (so nothing is revealed), the worker token cannot look up an API key.
    refused = ingest.post(f"{api}/reveal", headers=internal, json={"creatorProfileId": profile})
    assert refused.status_code == 502 and "api_key" not in refused.get_data(as_text=True)
    assert worker.get(path, headers=customer).status_code == 502
    ok(ingest, path, customer, None, "delete")
    # Other modules (the rewrap test) count whole collections: leave none of these rows behind.
    for collection, ids in (
        ("platform_sessions", sessions),
        ("download_credentials", [download]),
        ("platform_connections", [profile]),
    ):
        response = directus.admin_request("DELETE", f"/items/{collection}", json=ids)
        assert response.status_code == 204, response.text


# -- the CLI's token ---------------------------------------------------------------------------


def test_api_keys_cli_uses_the_operator_token(directus):
    business = "cli-" + secrets.token_hex(4)
    app = create_app(directus.service_env())
    runner = app.test_cli_runner()
    created = runner.invoke(args=["api-keys", "create", "--business", business])
    assert created.exit_code == 0, created.output
    listed = runner.invoke(args=["api-keys", "list", "--business", business])
    assert listed.exit_code == 0 and business in listed.output, listed.output
    key_id = re.search(r"^id:\s+(\S+)$", created.output, re.M).group(1)
    revoked = runner.invoke(args=["api-keys", "revoke", key_id])
    assert revoked.exit_code == 0 and "Revoked" in revoked.output, revoked.output
    status = runner.invoke(args=["keys", "status", "--json"])
    assert status.exit_code == 0, status.output

    env = directus.service_env()
    del env["DIRECTUS_OPERATOR_TOKEN"]  # the full role's token alone: Directus says no
    args = ["api-keys", "create", "--business", business]
    refused = create_app(env).test_cli_runner().invoke(args=args)
    assert refused.exit_code == 1
    assert "Directus refused (403)" in refused.output
    assert "DIRECTUS_OPERATOR_TOKEN" in refused.output
    owned = json.dumps({"business_id": {"_eq": business}})
    assert len(directus.items("api_keys", filter=owned)) == 1  # the operator's key only

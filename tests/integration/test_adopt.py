"""deploy/directus/adopt.py against a real Directus left the way the Node service would leave it.

A second, throwaway Directus (bootstrapped without credsvc's schema, unlike the session's
`directus` fixture) gets the three collections the spec implies, created through the REST API as
an admin of the Node era would have: only the spec's columns, Directus's default accountability,
user ids as Directus uuids, no indexes, no owner_platform, values encrypted by Node's own
`crypto` in the `iv:authTag:ciphertext` format, and two connections of one user and platform.

The steps build on each other through module fixtures: dry run -> first --apply (stopped by the
duplicates) -> the operator deletes one duplicate -> --apply again -> credsvc serves the data.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from credsvc import create_app
from deploy.directus import directusctl, provision
from tests.integration.conftest import DEPLOY_DIRECTUS, TIMEOUT

pytestmark = pytest.mark.integration

ADOPT = "deploy.directus.adopt"
NODE_COLLECTIONS = ("platform_connections", "download_credentials", "platform_sessions")
SYNC_SECRET = "adopt-test-sync-secret-0123456789"
CREDS = {
    "a": {"username": "fitcreator99", "password": "node-era-password-A"},
    "b": {"api_key": "node-era-api-key-B"},
    "c1": {"password": "node-era-password-C1"},
    "c2": {"password": "node-era-password-C2"},
    "download": {"password": "node-era-download-password"},
    "cookies": [{"name": "sessionid", "value": "node-era-cookie", "domain": ".instagram.com"}],
}

# Node's encryptJSON, as the spec describes it: AES-256-GCM, random 12-byte IV, base64 parts.
NODE_ENCRYPT = """
const crypto = require('crypto');
const key = Buffer.from(process.argv[1], 'hex');
const values = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = {};
for (const [name, value] of Object.entries(values)) {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  out[name] = [iv, cipher.getAuthTag(), data].map((b) => b.toString('base64')).join(':');
}
process.stdout.write(JSON.stringify(out));
"""


def node_encrypt(values: dict[str, Any], key_hex: str) -> dict[str, str]:
    proc = subprocess.run(
        [str(directusctl.NODE_BIN), "-e", NODE_ENCRYPT, key_hex],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


def _pk() -> dict[str, Any]:
    return {
        "field": "id",
        "type": "uuid",
        "meta": {"special": ["uuid"], "hidden": True, "readonly": True},
        "schema": {"is_primary_key": True, "length": 36, "has_auto_increment": False},
    }


def _col(name: str, type_: str, nullable: bool = True) -> dict[str, Any]:
    return {"field": name, "type": type_, "meta": {}, "schema": {"is_nullable": nullable}}


# What the spec's endpoints imply, typed the way the Directus app offers them.
NODE_FIELDS = {
    "platform_connections": [
        _col("user_id", "uuid"),
        _col("platform", "string"),
        _col("platform_username", "string", nullable=False),
        _col("encrypted_credentials", "text"),
    ],
    "download_credentials": [
        _col("user_id", "uuid"),
        _col("creator_profile_id", "uuid"),
        _col("platform", "string"),
        _col("auth_type", "string"),
        _col("username", "string"),
        _col("display_name", "string"),
        _col("encrypted_credentials", "text"),
    ],
    "platform_sessions": [
        _col("user_id", "uuid"),
        _col("creator_profile_id", "uuid"),
        _col("platform", "string"),
        _col("encrypted_cookies", "text"),
        _col("cookie_count", "integer"),
        _col("user_agent", "text"),
        _col("captured_at", "timestamp"),
        _col("expires_at", "dateTime"),  # answered without a zone: credsvc reads it as UTC
        _col("revoked_at", "timestamp"),
    ],
}


@dataclass
class NodeDirectus:
    url: str
    admin_token: str
    secret: str
    key_hex: str  # the Node service's key
    database_env_file: Path  # DB_* of this Directus, for --database-env
    env: dict[str, str] = field(repr=False)
    ids: dict[str, str] = field(default_factory=dict)
    users: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id, email, password
    http: requests.Session = field(default_factory=requests.Session, repr=False)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return self.http.request(
            method, f"{self.url}{path}", headers=headers, timeout=TIMEOUT, **kwargs
        )

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.call(method, path, **kwargs)
        assert resp.status_code in (200, 204), f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()["data"] if resp.content else None

    def rows(self, collection: str) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.ok("GET", f"/items/{collection}", params={"limit": -1})}

    def fields(self, collection: str) -> dict[str, dict[str, Any]]:
        return {f["field"]: f for f in self.ok("GET", f"/fields/{collection}")}

    def state(self) -> dict[str, Any]:
        """Every row and every field definition of the Node collections, as stored."""
        return {
            "rows": {c: self.rows(c) for c in NODE_COLLECTIONS},
            "fields": {c: self.fields(c) for c in NODE_COLLECTIONS},
            "collections": sorted(c["collection"] for c in self.ok("GET", "/collections")),
        }

    def adopt(self, *args: str) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "DIRECTUS_URL": self.url,
            "DIRECTUS_ADMIN_TOKEN": self.admin_token,
        }
        return subprocess.run(
            [sys.executable, "-m", ADOPT, *args, "--database-env", str(self.database_env_file)],
            cwd=DEPLOY_DIRECTUS.parents[1],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seed(stack: NodeDirectus) -> None:
    for name, fields in NODE_FIELDS.items():
        stack.ok(
            "POST",
            "/collections",
            json={"collection": name, "schema": {}, "meta": {}, "fields": [_pk(), *fields]},
        )
    for who in ("a", "b", "c"):
        email, password = (
            f"node-{who}-{secrets.token_hex(4)}@example.com",
            secrets.token_urlsafe(16),
        )
        user = stack.ok(
            "POST", "/users", json={"email": email, "password": password, "status": "active"}
        )
        stack.users[who] = (user["id"], email, password)
    sealed = node_encrypt(CREDS, stack.key_hex)
    ids = stack.ids = {name: str(uuid.uuid4()) for name in ("a", "b", "c1", "c2", "dl", "ps")}
    user = {who: stack.users[who][0] for who in ("a", "b", "c")}
    connections = [
        (ids["a"], user["a"], "instagram", sealed["a"]),
        (ids["b"], user["b"], "tiktok", sealed["b"]),
        (ids["c1"], user["c"], "youtube", sealed["c1"]),
        (ids["c2"], user["c"], "youtube", sealed["c2"]),  # the duplicate pair
    ]
    stack.ok(
        "POST",
        "/items/platform_connections",
        json=[
            {
                "id": i,
                "user_id": u,
                "platform": p,
                "platform_username": "",
                "encrypted_credentials": v,
            }
            for i, u, p, v in connections
        ],
    )
    stack.ok(
        "POST",
        "/items/download_credentials",
        json={
            "id": ids["dl"],
            "user_id": user["a"],
            "creator_profile_id": ids["a"],
            "platform": "instagram",
            "auth_type": "password",
            "username": "fitcreator99",
            "encrypted_credentials": sealed["download"],
        },
    )
    stack.ok(
        "POST",
        "/items/platform_sessions",
        json={
            "id": ids["ps"],
            "user_id": user["a"],
            "creator_profile_id": ids["a"],
            "platform": "instagram",
            "encrypted_cookies": sealed["cookies"],
            "cookie_count": 1,
            "captured_at": "2026-01-15T10:30:00.000Z",
            "expires_at": "2099-01-01T00:00:00",
        },
    )


@pytest.fixture(scope="module")
def node_directus(tmp_path_factory: pytest.TempPathFactory):
    """A fresh Directus without credsvc's schema, seeded as the Node service left it."""
    try:
        directusctl.ensure_installed()
    except directusctl.DirectusNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    data_dir = tmp_path_factory.mktemp("node-directus")
    port = _free_port()
    secret, token = secrets.token_hex(32), secrets.token_urlsafe(32)
    env = directusctl.directus_env(
        data_dir=data_dir,
        port=port,
        secret=secret,
        passthrough=False,
        # PRESSURE_LIMITER: on a busy 2-core machine Directus would answer 503 "Under pressure".
        extra={"LOGIN_STALL_TIME": "0", "PRESSURE_LIMITER_ENABLED": "false"},
    )
    directusctl.bootstrap(
        env,
        f"node-admin-{secrets.token_hex(4)}@example.com",
        secrets.token_urlsafe(18),
        ADMIN_TOKEN=token,
    )
    db_file = data_dir / "database.env"
    db_file.write_text(f"DB_CLIENT=sqlite3\nDB_FILENAME={env['DB_FILENAME']}\n")
    log_path = data_dir / "directus.log"
    proc = directusctl.start(env, log_path)
    try:
        url = f"http://127.0.0.1:{port}"
        directusctl.wait_ready(url, proc, log_path)
        stack = NodeDirectus(url, token, secret, secrets.token_hex(32), db_file, env)
        _seed(stack)
        yield stack
    finally:
        directusctl.stop(proc)


@pytest.fixture(scope="module")
def dry_run(node_directus):
    before = node_directus.state()
    result = node_directus.adopt()
    print(result.stdout)  # the report, shown when a test of this step fails
    return before, result, node_directus.state()


@pytest.fixture(scope="module")
def first_apply(node_directus, dry_run):
    before = node_directus.state()
    result = node_directus.adopt("--apply")
    print(result.stdout)
    return before, result, node_directus.state()


@pytest.fixture(scope="module")
def resolved(node_directus, first_apply):
    """The operator keeps one of the two connections (as the report says), then reruns."""
    node_directus.ok("DELETE", f"/items/platform_connections/{node_directus.ids['c2']}")
    result = node_directus.adopt("--apply")
    again = node_directus.adopt("--apply")
    return result, again


def _lines(result: subprocess.CompletedProcess, status: str) -> list[str]:
    lines = (line.strip() for line in result.stdout.splitlines())
    return [line for line in lines if line.startswith(f"[{status}] ")]


def test_dry_run_reports_every_difference_and_changes_nothing(dry_run, node_directus):
    before, result, after = dry_run
    assert result.returncode == 2, result.stdout + result.stderr
    to_add = "\n".join(_lines(result, "to add"))
    assert "platform_connections.owner_platform: field missing" in to_add
    for collection in ("api_keys", "end_user_credentials", "audit_log"):
        assert f"{collection}: collection missing" in to_add
    assert "platform_connections.rewrap_guard: field missing" in to_add
    assert "platform_connections.user_id: index missing" in to_add
    assert "platform_connections.platform_username: NOT NULL" in to_add
    assert "platform_connections: accountability 'all'" in to_add
    assert "platform_connections.owner_platform: 2 rows to backfill" in to_add
    assert "platform_sessions: rewrap guard: column rewrap_guard" in to_add
    blocked = "\n".join(_lines(result, "blocked"))
    ids = node_directus.ids
    assert f"rows {', '.join(sorted([ids['c1'], ids['c2']]))} belong to the same" in blocked
    assert ids["a"] not in blocked and ids["b"] not in blocked
    assert "platform_connections.user_id: nullable (NOT NULL in credsvc's schema" in result.stdout
    assert "Run again with --apply" in result.stdout
    assert before == after  # nothing written, not even a field's metadata


def test_apply_adds_what_is_missing_and_leaves_the_duplicates_alone(first_apply, node_directus):
    before, result, after = first_apply
    assert result.returncode == 2, result.stdout + result.stderr  # the duplicates remain
    ids, users = node_directus.ids, node_directus.users
    # Every value the Node service wrote is still there, byte for byte.
    for collection in NODE_COLLECTIONS:
        for row_id, row in before["rows"][collection].items():
            stored = after["rows"][collection][row_id]
            assert {k: stored[k] for k in row} == row, (collection, row_id)
    owner = {i: r["owner_platform"] for i, r in after["rows"]["platform_connections"].items()}
    assert owner == {
        ids["a"]: f"{users['a'][0]}:instagram",
        ids["b"]: f"{users['b'][0]}:tiktok",
        ids["c1"]: None,
        ids["c2"]: None,
    }
    fields = after["fields"]["platform_connections"]
    assert fields["owner_platform"]["schema"]["is_unique"] is False  # duplicates stand in the way
    assert fields["platform_username"]["schema"]["is_nullable"] is True
    assert fields["user_id"]["schema"]["is_indexed"] is True
    for name, before_field in before["fields"]["platform_connections"].items():
        assert fields[name]["type"] == before_field["type"]  # a type is never changed
    assert {"api_keys", "end_user_credentials", "audit_log"} <= set(after["collections"])
    meta = node_directus.ok("GET", "/collections/platform_connections")["meta"]
    assert meta["accountability"] == "activity"
    assert "installed the rewrap guard triggers" in result.stdout
    assert directusctl.check_guards(node_directus.env) == {}
    blocked = _lines(result, "blocked")
    assert len(blocked) == 2
    assert "owner_platform: unique constraint missing: not while rows collide" in blocked[0]
    assert ids["c1"] in blocked[1] and ids["c2"] in blocked[1]
    assert "rerun adopt --apply" in blocked[1]
    assert not _lines(result, "to add") and not _lines(result, "unchecked")


def test_after_the_operator_resolves_the_duplicates_adoption_completes(resolved, node_directus):
    result, again = resolved
    assert result.returncode == 0, result.stdout + result.stderr
    assert "platform_connections.owner_platform: unique" in result.stdout
    assert "backfilled platform_connections.owner_platform in 1 rows" in result.stdout
    # Adding the constraint rebuilt the SQLite table, which dropped its triggers: reinstalled.
    assert "installed the rewrap guard triggers" in result.stdout
    fields = node_directus.fields("platform_connections")
    assert fields["owner_platform"]["schema"]["is_unique"] is True
    assert (
        node_directus.rows("platform_connections")[node_directus.ids["c1"]]["owner_platform"]
        == f"{node_directus.users['c'][0]}:youtube"
    )
    # A rerun finds nothing to do.
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Changes made" not in again.stdout
    assert not _lines(again, "to add") and not _lines(again, "blocked")


def test_the_unique_constraint_and_the_rewrap_guard_hold_in_the_database(resolved, node_directus):
    ids, users = node_directus.ids, node_directus.users
    dup = node_directus.call(
        "POST",
        "/items/platform_connections",
        json={
            "user_id": users["a"][0],
            "platform": "instagram",
            "owner_platform": f"{users['a'][0]}:instagram",
            "encrypted_credentials": "x",
        },
    )
    assert dup.status_code == 400 and "RECORD_NOT_UNIQUE" in dup.text
    guarded = node_directus.call(
        "PATCH", f"/items/platform_connections/{ids['b']}", json={"rewrap_guard": "stale"}
    )
    assert guarded.status_code == 400 and "rewrap_guard" in guarded.text


@pytest.fixture(scope="module")
def credsvc_client(node_directus, resolved):
    roles = {role: secrets.token_urlsafe(32) for role in provision.ROLES}
    provision.provision(node_directus.url, roles, admin_token=node_directus.admin_token)
    app = create_app(
        {
            "DIRECTUS_URL": node_directus.url,
            "DIRECTUS_TOKEN": roles["full"],
            "DIRECTUS_SECRET": node_directus.secret,
            "RBAC_SYNC_SECRET": SYNC_SECRET,
            "CREDENTIALS_ENCRYPTION_KEY": node_directus.key_hex,  # the Node service's key
        }
    )
    return app.test_client()


def _login(stack: NodeDirectus, who: str) -> dict[str, str]:
    _, email, password = stack.users[who]
    resp = stack.http.post(
        f"{stack.url}/auth/login", json={"email": email, "password": password}, timeout=TIMEOUT
    )
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['data']['access_token']}"}


def test_credsvc_finds_the_adopted_connection_instead_of_making_a_second(
    credsvc_client, node_directus
):
    ids, user_a = node_directus.ids, node_directus.users["a"][0]
    new = {"username": "fitcreator99", "password": "credsvc-era-password"}
    resp = credsvc_client.post(
        "/api/credentials/create-profile",
        headers=_login(node_directus, "a"),
        json={"platform": "instagram", "credentials": new},
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"success": True, "id": ids["a"], "updated": True}
    mine = [
        r
        for r in node_directus.rows("platform_connections").values()
        if r["user_id"] == user_a and r["platform"] == "instagram"
    ]
    assert [r["id"] for r in mine] == [ids["a"]]
    reveal = credsvc_client.post(
        "/api/credentials/reveal",
        headers={"X-RBAC-SYNC-SECRET": SYNC_SECRET},
        json={"creatorProfileId": ids["a"]},
    )
    assert reveal.get_json()["credentials"] == new


def test_credsvc_reveals_the_values_node_wrote(credsvc_client, node_directus):
    ids = node_directus.ids
    internal = {"X-RBAC-SYNC-SECRET": SYNC_SECRET}
    stored = node_directus.rows("platform_connections")[ids["b"]]["encrypted_credentials"]
    # Still Node's iv:tag:ciphertext (a base64 IV may itself begin with "v"; a versioned token's
    # first part is a format name such as "v5").
    assert stored.count(":") == 2 and not re.fullmatch(r"v\d+", stored.split(":", 1)[0])
    reveal = credsvc_client.post(
        "/api/credentials/reveal", headers=internal, json={"creatorProfileId": ids["b"]}
    )
    assert reveal.status_code == 200, reveal.get_json()
    assert reveal.get_json()["credentials"] == CREDS["b"]
    download = credsvc_client.post(
        "/api/credentials/reveal-download-cred", headers=internal, json={"id": ids["dl"]}
    )
    assert download.status_code == 200, download.get_json()
    assert download.get_json()["credentials"] == CREDS["download"]
    # The session's dateTime expires_at comes back without a zone; it is compared as UTC.
    session = credsvc_client.post(
        "/api/credentials/get-platform-session",
        headers=internal,
        json={"creator_profile_id": ids["a"], "platform": "instagram"},
    )
    assert session.status_code == 200, session.get_json()
    body = session.get_json()
    assert body["expired"] is False and body["expires_at"].startswith("2099-01-01T00:00:00")
    assert [c["value"] for c in body["cookies"]] == ["node-era-cookie"]

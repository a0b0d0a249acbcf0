"""The local Directus stack: fixture, schema snapshot, provisioning and access rules."""

from __future__ import annotations

import json
import re
import uuid

import jwt
import pytest
import requests

from deploy.directus import policies
from tests.integration.conftest import DEPLOY_DIRECTUS, provision

pytestmark = pytest.mark.integration

COLLECTIONS = policies.COLLECTIONS


def service(directus, method: str, path: str, token=None, **kwargs) -> requests.Response:
    """A call with the service's token (the full role's) or `token`."""
    headers = {"Authorization": f"Bearer {token or directus.service_token}"}
    return requests.request(method, f"{directus.url}{path}", headers=headers, timeout=10, **kwargs)


def new_connection(owner_platform: str) -> dict[str, str]:
    return {
        "user_id": str(uuid.uuid4()),
        "platform": "youtube",
        "owner_platform": owner_platform,
        "encrypted_credentials": "v2:test",
    }


def test_ping(directus):
    resp = requests.get(f"{directus.url}/server/ping", timeout=5)
    assert (resp.status_code, resp.text) == (200, "pong")


def test_snapshot_lists_exactly_the_service_collections():
    text = (DEPLOY_DIRECTUS / "schema.yaml").read_text()
    collections = re.findall(r"^  - collection: (\w+)\n    meta:", text, flags=re.M)
    assert sorted(collections) == sorted(COLLECTIONS)


def test_schema_apply_is_idempotent(directus):
    assert "No changes to apply" in directus.apply_schema()


def test_every_collection_keeps_activity_but_no_revisions(directus):
    resp = directus.admin_request("GET", "/collections")
    meta = {c["collection"]: c["meta"] for c in resp.json()["data"]}
    for name in COLLECTIONS:
        assert meta[name]["accountability"] == "activity", name


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_every_collection_has_a_generated_uuid_primary_key(directus, collection):
    resp = directus.admin_request("GET", f"/fields/{collection}/id")
    pk = resp.json()["data"]
    assert pk["type"] == "uuid" and pk["schema"]["is_primary_key"]
    assert pk["meta"]["special"] == ["uuid"]


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_service_token_can_read_every_service_collection_but_the_audit_log(directus, collection):
    resp = service(directus, "GET", f"/items/{collection}", params={"limit": 1})
    if collection == "audit_log":  # append-only (tests/integration/test_directus_roles.py)
        assert resp.status_code == 403
        return
    assert resp.status_code == 200
    assert isinstance(resp.json()["data"], list)


def test_service_token_creates_and_updates_platform_connections(directus):
    created = service(
        directus,
        "POST",
        "/items/platform_connections",
        json=new_connection(f"{uuid.uuid4()}:youtube"),
    )
    assert created.status_code == 200, created.text
    row = created.json()["data"]
    uuid.UUID(row["id"])
    updated = service(
        directus,
        "PATCH",
        f"/items/platform_connections/{row['id']}",
        json={"platform_username": "renamed"},
    )
    assert updated.status_code == 200, updated.text
    [stored] = directus.items("platform_connections", filter=json.dumps({"id": {"_eq": row["id"]}}))
    assert stored["date_created"] and stored["date_updated"]  # set by Directus
    assert stored["platform_username"] == "renamed"
    # credsvc never deletes a connection, so its token cannot.
    path = f"/items/platform_connections/{row['id']}"
    assert service(directus, "DELETE", path).status_code == 403
    assert directus.admin_request("DELETE", path).status_code == 204


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/users", None),
        ("GET", "/items/directus_users", None),
        ("GET", "/roles", None),
        ("GET", "/policies", None),
        ("GET", "/permissions", None),
        ("POST", "/collections", {"collection": "intruder", "schema": {}}),
        ("DELETE", "/collections/platform_connections", None),
        ("POST", "/users", {"email": "x@example.com", "password": "pw-123456"}),
        ("GET", "/schema/snapshot", None),
    ],
)
def test_service_token_has_no_other_access(directus, method, path, body):
    assert service(directus, method, path, json=body).status_code == 403


def test_wrong_service_token_is_rejected(directus):
    resp = requests.get(
        f"{directus.url}/items/platform_connections",
        timeout=5,
        headers={"Authorization": "Bearer not-the-token"},
    )
    assert resp.status_code == 401


def test_created_user_logs_in_and_gets_a_directus_jwt(directus):
    user_id, email, password = directus.create_user()
    token = directus.login(email, password)
    claims = jwt.decode(token, directus.secret, algorithms=["HS256"], issuer="directus")
    assert claims["id"] == user_id
    assert claims["app_access"] is False and claims["admin_access"] is False
    assert claims["exp"] > claims["iat"]


def test_users_without_app_access_do_not_hit_the_licence_seat_cap(directus):
    tokens = [directus.login(*directus.create_user()[1:]) for _ in range(5)]
    assert len(set(tokens)) == 5


def test_create_user_with_given_credentials(directus):
    email = f"given-{uuid.uuid4().hex[:8]}@example.com"
    user_id, got_email, password = directus.create_user(email, "a-given-password-1")
    assert (got_email, password) == (email, "a-given-password-1")
    assert directus.login(email, password)


def test_owner_platform_is_unique(directus):
    owner_platform = f"{uuid.uuid4()}:instagram"
    first = service(
        directus, "POST", "/items/platform_connections", json=new_connection(owner_platform)
    )
    assert first.status_code == 200
    second = service(
        directus, "POST", "/items/platform_connections", json=new_connection(owner_platform)
    )
    assert second.status_code == 400
    assert second.json()["errors"][0]["extensions"]["code"] == "RECORD_NOT_UNIQUE"
    rows = directus.items("platform_connections", **{"filter[owner_platform][_eq]": owner_platform})
    assert len(rows) == 1


@pytest.mark.parametrize(
    "role, collection, row, unique",
    [
        (
            "operator",  # API keys are created by the CLI
            "api_keys",
            {"business_id": "b1", "created_at": "2026-01-01T00:00:00Z"},
            "key_hash",
        ),
        (
            "full",
            "end_user_credentials",
            {
                "business_id": "b1",
                "end_user_id": "alice",
                "end_user_hash": "0" * 64,
                "field": "twitterCt0",
                "encrypted_value": "v2:x",
            },
            "slot",
        ),
    ],
)
def test_unique_fields_reject_duplicates(directus, role, collection, row, unique):
    row = {**row, unique: uuid.uuid4().hex}
    token = directus.role_tokens[role]
    created = service(directus, "POST", f"/items/{collection}", token=token, json=row)
    assert created.status_code in (200, 204), created.text
    second = service(directus, "POST", f"/items/{collection}", token=token, json=row)
    assert second.status_code == 400
    assert second.json()["errors"][0]["extensions"]["code"] == "RECORD_NOT_UNIQUE"


def test_required_field_missing_is_refused(directus):
    resp = service(
        directus,
        "POST",
        "/items/platform_connections",
        json={"platform": "youtube", "owner_platform": f"{uuid.uuid4()}:x"},
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["extensions"]["code"] == "FAILED_VALIDATION"


def test_provisioning_again_changes_nothing(directus):
    def stored_permissions():
        # An admin's GET /permissions also lists synthetic rows without an id; skip them.
        rows = directus.admin_request("GET", "/permissions", params={"limit": -1}).json()["data"]
        return [p for p in rows if p.get("id")]

    before = stored_permissions()
    ids = provision.provision(directus.url, directus.role_tokens, admin_token=directus.admin_token)
    after = stored_permissions()
    assert sorted(p["id"] for p in before) == sorted(p["id"] for p in after)
    for role, found in ids.items():
        mine = [p for p in after if p["policy"] == found["policy"]]
        assert sorted((p["collection"], p["action"]) for p in mine) == sorted(
            (c, a) for c, grants in policies.ROLES[role].items() for a in grants
        )
        for name, path in (("policy", "/policies"), ("role", "/roles")):
            rows = directus.admin_request(
                "GET", path, params={"filter[name][_eq]": provision.policy_name(role)}
            ).json()["data"]
            assert [r["id"] for r in rows] == [found[name]]
        users = directus.admin_request(
            "GET", "/users", params={"filter[email][_eq]": provision.user_email(role)}
        ).json()["data"]
        assert [u["id"] for u in users] == [found["user"]]
    assert service(directus, "GET", "/items/platform_connections").status_code == 200


@pytest.mark.parametrize("role", policies.ROLES)
def test_policy_grants_no_app_or_admin_access(directus, role):
    [policy] = directus.admin_request(
        "GET", "/policies", params={"filter[name][_eq]": provision.policy_name(role)}
    ).json()["data"]
    assert policy["app_access"] is False and policy["admin_access"] is False

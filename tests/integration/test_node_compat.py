"""Side by side with the Node service on a real Directus (issue 15 items 1, 4, 6).

credsvc in compatibility mode (CREDENTIALS_WRITE_FORMAT=legacy) writes rows the Node utility
(tests/node/credentials_crypto.mjs, run by the project's Node) reads; rows the Node utility
writes, with its passphrase-derived key and 16-byte IVs, credsvc reads; `keys status` counts
them; a session whose cookies Node stored in shapes today's validation refuses, and a download
credential whose cookies file has lines it refuses, are served with a `problems` list. Every
row made here is deleted at the end (other modules count collections).
"""

from __future__ import annotations

import json
import secrets
import uuid

import pytest

from credsvc import create_app
from credsvc.crypto import aesgcm
from tests.unit.test_node_interop import node

pytestmark = pytest.mark.integration

SYNC_SECRET = "integration-sync-secret-" + secrets.token_hex(8)
INTERNAL = {"X-RBAC-SYNC-SECRET": SYNC_SECRET}
PASSPHRASE = "node passphrase " + secrets.token_hex(8)
NODE_KEY = {"derivation": "sha256", "secret": PASSPHRASE}
LOCAL_KEY = secrets.token_hex(32)
LEGACY = {
    "CREDENTIALS_ENCRYPTION_KEY": LOCAL_KEY,
    "CREDENTIALS_LEGACY_KEY": PASSPHRASE,
    "CREDENTIALS_LEGACY_KEY_DERIVATION": "sha256",
}


@pytest.fixture(scope="module")
def side_by_side(directus):
    return create_app(
        directus.service_env(
            RBAC_SYNC_SECRET=SYNC_SECRET,
            CREDENTIALS_WRITE_FORMAT="legacy",
            CREDENTIALS_LEGACY_ENCODING="hex",
            **LEGACY,
        )
    )


@pytest.fixture(scope="module")
def switched(directus):
    """The same keys after the switch: versioned writes again."""
    return create_app(directus.service_env(RBAC_SYNC_SECRET=SYNC_SECRET, **LEGACY))


@pytest.fixture(scope="module")
def user(directus):
    user_id, email, password = directus.create_user()
    yield user_id, {"Authorization": f"Bearer {directus.login(email, password)}"}
    owners = json.dumps({"user_id": {"_eq": user_id}})
    for collection in ("platform_sessions", "download_credentials", "platform_connections"):
        ids = [row["id"] for row in directus.items(collection, filter=owners, fields="id")]
        if ids:
            response = directus.admin_request("DELETE", f"/items/{collection}", json=ids)
            assert response.status_code == 204, response.text


def stored_value(directus, collection: str, row_id: str, field: str) -> str:
    [row] = directus.items(collection, filter=json.dumps({"id": {"_eq": row_id}}))
    return row[field]


def test_compatibility_writes_are_read_by_node_and_node_writes_are_read_back(
    directus, side_by_side, switched, user
):
    user_id, auth = user
    creds = {"username": "fit", "password": "pw-" + secrets.token_hex(4)}
    client = side_by_side.test_client()
    response = client.post(
        "/api/credentials/create-profile",
        headers=auth,
        json={"platform": "instagram", "credentials": creds},
    )
    assert response.status_code == 200, response.get_json()
    profile_id = response.get_json()["id"]

    written = stored_value(directus, "platform_connections", profile_id, "encrypted_credentials")
    assert aesgcm.read_legacy(written)[1] == "hex"  # the legacy format, in the set encoding
    [read] = node(
        {"op": "decrypt", "cases": [{"key": NODE_KEY, "encoding": "hex", "token": written}]}
    )
    assert read == {"value": creds}

    # The Node service updates the row (16-byte IV, base64url) ...
    newer = {"username": "fit", "password": "node-" + secrets.token_hex(4)}
    [token] = node(
        {
            "op": "encrypt",
            "cases": [{"key": NODE_KEY, "ivLength": 16, "encoding": "base64url", "value": newer}],
        }
    )
    patched = directus.admin_request(
        "PATCH", f"/items/platform_connections/{profile_id}", json={"encrypted_credentials": token}
    )
    assert patched.status_code == 200, patched.text
    # ... and both deployments read it.
    for app in (side_by_side, switched):
        response = app.test_client().post(
            "/api/credentials/reveal", headers=INTERNAL, json={"creatorProfileId": profile_id}
        )
        assert response.status_code == 200 and response.get_json()["credentials"] == newer

    status = side_by_side.test_cli_runner().invoke(
        args=["keys", "status", "--collection", "platform_connections", "--json"]
    )
    report = json.loads(status.output)
    assert report["write_format"] == "legacy"
    assert report["counts"]["platform_connections"].get("legacy", 0) >= 1
    refused = side_by_side.test_cli_runner().invoke(args=["keys", "rewrap"])
    assert refused.exit_code != 0 and "CREDENTIALS_WRITE_FORMAT=legacy" in refused.output

    # After the switch, a write is versioned again: Node can no longer read it.
    response = switched.test_client().post(
        "/api/credentials/update-profile-creds",
        headers=auth,
        json={"creator_profile_id": profile_id, "credentials": creds},
    )
    assert response.status_code == 200, response.get_json()
    versioned = stored_value(directus, "platform_connections", profile_id, "encrypted_credentials")
    assert versioned.startswith("v5:k0:")
    [read] = node({"op": "decrypt", "cases": [{"key": NODE_KEY, "token": versioned}]})
    assert "error" in read


def test_legacy_probe_names_the_derivation_of_rows_in_directus(directus, side_by_side, user):
    _, auth = user
    response = side_by_side.test_client().post(
        "/api/credentials/create-profile",
        headers=auth,
        json={"platform": "youtube", "credentials": {"password": "y"}},
    )
    assert response.status_code == 200, response.get_json()  # a legacy row, as Node writes
    runner = side_by_side.test_cli_runner()
    result = runner.invoke(
        args=[
            "keys",
            "legacy-probe",
            "--collection",
            "platform_connections",
            "--limit",
            "1000",
            "--json",
        ]
    )
    report = json.loads(result.output)
    assert report["key_from"] == "CREDENTIALS_LEGACY_KEY"
    assert "sha256" in report["opened"] and report["opened"]["sha256"] >= 1
    assert PASSPHRASE not in result.output


def test_a_node_session_with_refused_cookies_is_served_with_problems(directus, side_by_side, user):
    user_id, auth = user
    response = side_by_side.test_client().post(
        "/api/credentials/create-profile",
        headers=auth,
        json={"platform": "tiktok", "credentials": {"password": "x"}},
    )
    profile_id = response.get_json()["id"]
    good = {
        "name": "sessionid",
        "value": "v-" + secrets.token_hex(6),
        "domain": ".tiktok.com",
        "path": "/",
        "expires": 1924992000,
        "hostOnly": False,  # a Chrome key: the expiry must survive it
        "httpOnly": True,
        "secure": True,
    }
    bad = {**good, "name": "tt_csrf", "value": "bad-" + secrets.token_hex(6), "sameSite": "x"}
    [token] = node(
        {
            "op": "encrypt",
            "cases": [
                {"key": NODE_KEY, "ivLength": 16, "encoding": "base64", "value": [good, bad]}
            ],
        }
    )
    row = {
        "id": str(uuid.uuid4()),
        "user_id": user_id,
        "creator_profile_id": profile_id,
        "platform": "tiktok",
        "cookie_count": 2,
        "captured_at": "2026-01-15T10:30:00.000Z",
        "encrypted_cookies": token,
    }
    created = directus.admin_request("POST", "/items/platform_sessions", json=row)
    assert created.status_code == 200, created.text
    response = side_by_side.test_client().post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL,
        json={"creator_profile_id": profile_id, "platform": "tiktok"},
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert [c["name"] for c in body["cookies"]] == ["sessionid"]
    assert body["cookies"][0]["expires"] == 1924992000
    assert [(p["index"], p["name"], p["dropped"]) for p in body["problems"]] == [
        (1, "tt_csrf", True)
    ]
    assert bad["value"] not in json.dumps(body)


def test_a_node_cookie_file_with_refused_lines_is_served_with_problems(
    directus, side_by_side, user
):
    user_id, auth = user
    response = side_by_side.test_client().post(
        "/api/credentials/create-profile",
        headers=auth,
        json={"platform": "youtube", "credentials": {"password": "x"}},
    )
    profile_id = response.get_json()["id"]
    good_value, bad_value = "v-" + secrets.token_hex(6), "bad-" + secrets.token_hex(6)
    cookie_file = (
        "# Netscape HTTP Cookie File\n"
        f".youtube.com\tTRUE\t/\tTRUE\t1924992000\tSID\t{good_value}\n"
        f"youtube.com\tTRUE\t/\tTRUE\t0\tHSID\t{bad_value}\n"  # no dot, subdomains TRUE
    )
    [token] = node(
        {
            "op": "encrypt",
            "cases": [
                {
                    "key": NODE_KEY,
                    "ivLength": 16,
                    "encoding": "base64",
                    "value": {"cookies_netscape": cookie_file},
                }
            ],
        }
    )
    row = {
        "id": str(uuid.uuid4()),
        "user_id": user_id,
        "creator_profile_id": profile_id,
        "platform": "youtube",
        "auth_type": "cookies",
        "encrypted_credentials": token,
    }
    created = directus.admin_request("POST", "/items/download_credentials", json=row)
    assert created.status_code == 200, created.text
    for fmt in ("netscape", "playwright"):
        response = side_by_side.test_client().post(
            "/api/credentials/reveal-download-cred",
            headers=INTERNAL,
            json={"id": row["id"], "format": fmt},
        )
        body = response.get_json()
        assert response.status_code == 200, body
        assert good_value in json.dumps(body) and bad_value not in json.dumps(body)
        assert [(p["index"], p["dropped"]) for p in body["problems"]] == [(3, True)]

"""The credentials API end to end on a real Directus, with real Directus-issued JWTs."""

from __future__ import annotations

import json
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from credsvc import create_app

pytestmark = pytest.mark.integration

SYNC_SECRET = "integration-sync-secret-" + secrets.token_hex(8)
NETSCAPE = (
    "# Netscape HTTP Cookie File\n"
    ".youtube.com\tTRUE\t/\tTRUE\t1924992000\tSID\tyt-sid-marker-7f3a\n"
    "www.youtube.com\tFALSE\t/\tFALSE\t0\tPREF\tf6=40000000\n"
)


@pytest.fixture(scope="module")
def live(directus):
    app = create_app(directus.service_env(RBAC_SYNC_SECRET=SYNC_SECRET))
    return app


@pytest.fixture(scope="module")
def users(directus):
    """Two real Directus users, logged in through /auth/login; their records are deleted at
    the end of the module (other modules, e.g. the rewrap test, count whole collections)."""
    out = []
    for _ in range(2):
        user_id, email, password = directus.create_user()
        out.append((user_id, {"Authorization": f"Bearer {directus.login(email, password)}"}))
    yield out
    owners = json.dumps({"user_id": {"_in": [user_id for user_id, _ in out]}})
    for collection in ("platform_sessions", "download_credentials", "platform_connections"):
        ids = [row["id"] for row in directus.items(collection, filter=owners, fields="id")]
        if ids:
            response = directus.admin_request("DELETE", f"/items/{collection}", json=ids)
            assert response.status_code == 204, response.text


INTERNAL = {"X-RBAC-SYNC-SECRET": SYNC_SECRET}


def post(app, route, headers, body):
    response = app.test_client().post(f"/api/credentials/{route}", headers=headers, json=body)
    return response.status_code, response.get_json()


def test_readyz_with_real_directus(live):
    assert live.test_client().get("/readyz").status_code == 200


def test_profile_lifecycle(live, users, directus):
    (user_a, auth_a), _ = users
    platform = f"instagram{secrets.token_hex(3)}"
    creds = {"username": "fitcreator99", "password": "pw-marker-91c2", "session_id": "s-1"}
    status, body = post(
        live,
        "create-profile",
        auth_a,
        {"platform": platform, "platform_username": "fit", "credentials": creds},
    )
    assert status == 200 and body["updated"] is False
    profile_id = body["id"]

    status, again = post(
        live,
        "create-profile",
        auth_a,
        {"platform": platform, "credentials": {"password": "second"}},
    )
    assert (status, again) == (200, {"success": True, "id": profile_id, "updated": True})

    [row] = directus.items(
        "platform_connections",
        filter=json.dumps({"owner_platform": {"_eq": f"{user_a}:{platform}"}}),
    )
    assert row["id"] == profile_id and row["user_id"] == user_a
    assert row["platform_username"] == "fit"
    assert "second" not in json.dumps(row) and "pw-marker-91c2" not in json.dumps(row)
    assert row["encrypted_credentials"].startswith("v5:")

    status, body = post(
        live,
        "update-profile-creds",
        auth_a,
        {"creator_profile_id": profile_id, "credentials": creds},
    )
    assert (status, body) == (200, {"success": True, "id": profile_id})

    status, body = post(live, "reveal", INTERNAL, {"creatorProfileId": profile_id})
    assert (status, body) == (
        200,
        {"success": True, "creatorProfileId": profile_id, "credentials": creds},
    )

    status, body = post(
        live,
        "store",
        INTERNAL,
        {"creatorProfileId": profile_id, "credentials": {"api_key": "sk-proj-abc"}},
    )
    assert body == {"success": True, "creatorProfileId": profile_id, "updated": profile_id}
    assert post(live, "reveal", INTERNAL, {"creatorProfileId": profile_id})[1]["credentials"] == {
        "api_key": "sk-proj-abc"
    }

    audit = directus.items("audit_log", filter=json.dumps({"target_id": {"_eq": profile_id}}))
    assert {row["action"] for row in audit} == {"reveal"} and len(audit) == 2
    assert all(row["outcome"] == "ok" for row in audit)
    assert "sk-proj-abc" not in json.dumps(audit)


def test_concurrent_create_profile_makes_one_record(live, users, directus):
    (user_a, auth_a), _ = users
    platform = f"tiktok{secrets.token_hex(3)}"

    def call(i):
        return post(live, "create-profile", auth_a, {"platform": platform, "credentials": {"n": i}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(16)))
    assert all(status == 200 for status, _ in results), results
    ids = {body["id"] for _, body in results}
    assert len(ids) == 1
    assert sum(not body["updated"] for _, body in results) == 1
    rows = directus.items(
        "platform_connections",
        filter=json.dumps({"owner_platform": {"_eq": f"{user_a}:{platform}"}}),
    )
    assert len(rows) == 1


def test_reveal_of_missing_and_empty_profiles(live, users, directus):
    missing = str(uuid.uuid4())
    status, body = post(live, "reveal", INTERNAL, {"creatorProfileId": missing})
    assert (status, body) == (
        404,
        {"success": False, "error": f"Creator profile {missing} not found"},
    )
    (user_a, _), _ = users
    empty_id = str(uuid.uuid4())
    directus.admin_request(
        "POST",
        "/items/platform_connections",
        {
            "id": empty_id,
            "user_id": user_a,
            "platform": "empty",
            "owner_platform": f"{user_a}:empty-{empty_id}",
        },
    )
    status, body = post(live, "reveal", INTERNAL, {"creatorProfileId": empty_id})
    assert (status, body) == (404, {"success": False, "error": "No encrypted_credentials found"})


def make_profile(live, auth, platform="youtube"):
    status, body = post(
        live,
        "create-profile",
        auth,
        {"platform": f"{platform}{secrets.token_hex(3)}", "credentials": {"password": "x"}},
    )
    assert status == 200
    return body["id"]


def test_download_credentials(live, users, directus):
    (_, auth_a), _ = users
    profile_id = make_profile(live, auth_a)
    status, body = post(
        live,
        "create-download-cred",
        auth_a,
        {
            "platform": "youtube",
            "creator_profile_id": profile_id,
            "auth_type": "password",
            "username": "me@example.com",
            "credentials": {"password": "yt-pass-marker-55"},
            "display_name": "My YouTube Channel",
        },
    )
    assert status == 200
    password_id = body["id"]
    status, body = post(
        live,
        "create-download-cred",
        auth_a,
        {
            "platform": "youtube",
            "creator_profile_id": profile_id,
            "auth_type": "cookies",
            "credentials": {"cookies_netscape": NETSCAPE},
        },
    )
    assert status == 200
    cookies_id = body["id"]

    stored = directus.items(
        "download_credentials", filter=json.dumps({"creator_profile_id": {"_eq": profile_id}})
    )
    assert len(stored) == 2
    assert "yt-pass-marker-55" not in json.dumps(stored)
    assert "yt-sid-marker-7f3a" not in json.dumps(stored)

    status, body = post(live, "reveal-download-cred", INTERNAL, {"id": password_id})
    assert status == 200
    assert {k: body[k] for k in ("success", "id", "platform", "auth_type", "credentials")} == {
        "success": True,
        "id": password_id,
        "platform": "youtube",
        "auth_type": "password",
        "credentials": {"password": "yt-pass-marker-55"},
    }
    status, body = post(
        live, "reveal-download-cred", INTERNAL, {"id": cookies_id, "format": "netscape"}
    )
    assert status == 200
    assert "yt-sid-marker-7f3a" in body["credentials"]["cookies_netscape"]
    status, body = post(live, "reveal-download-cred", INTERNAL, {"id": str(uuid.uuid4())})
    assert status == 404


def test_platform_sessions(live, users, directus):
    (_, auth_a), _ = users
    profile_id = make_profile(live, auth_a, "instagram")
    cookie = {
        "name": "sessionid",
        "value": "cookie-marker-3b9e",
        "domain": ".instagram.com",
        "path": "/",
        "expires": 1924992000,
        "httpOnly": True,
        "secure": True,
    }
    first = post(
        live,
        "store-platform-session",
        auth_a,
        {
            "creator_profile_id": profile_id,
            "platform": "instagram",
            "cookies": [cookie],
            "user_agent": "Mozilla/5.0",
        },
    )
    assert first[0] == 200 and first[1]["cookie_count"] == 1
    newer_cookie = dict(cookie, value="cookie-marker-newer")
    second = post(
        live,
        "store-platform-session",
        auth_a,
        {
            "creator_profile_id": profile_id,
            "platform": "instagram",
            "cookies": [newer_cookie],
            "expires_at": "2030-12-31T23:59:59Z",
        },
    )
    assert second[0] == 200

    rows = directus.items(
        "platform_sessions", filter=json.dumps({"creator_profile_id": {"_eq": profile_id}})
    )
    assert len(rows) == 2 and "cookie-marker" not in json.dumps(rows)

    ask = {"creator_profile_id": profile_id, "platform": "instagram"}
    status, body = post(live, "get-platform-session", INTERNAL, ask)
    assert status == 200 and body["id"] == second[1]["id"]
    assert body["cookies"][0]["value"] == "cookie-marker-newer"
    assert body["expires_at"] == "2030-12-31T23:59:59.000Z" and body["expired"] is False
    assert body["captured_at"].endswith("Z")

    status, body = post(live, "revoke-platform-session", auth_a, {"id": second[1]["id"]})
    assert (status, body) == (200, {"success": True, "id": second[1]["id"]})
    status, body = post(live, "get-platform-session", INTERNAL, ask)
    assert status == 200 and body["id"] == first[1]["id"]
    assert body["cookies"][0]["value"] == "cookie-marker-3b9e"
    post(live, "revoke-platform-session", auth_a, {"id": first[1]["id"]})
    status, body = post(live, "get-platform-session", INTERNAL, ask)
    assert status == 404 and body["success"] is False


def test_other_user_is_forbidden_everywhere(live, users):
    (_, auth_a), (_, auth_b) = users
    profile_id = make_profile(live, auth_a, "instagram")
    session = post(
        live,
        "store-platform-session",
        auth_a,
        {
            "creator_profile_id": profile_id,
            "platform": "instagram",
            "cookies": [{"name": "a", "value": "b", "domain": ".instagram.com"}],
        },
    )[1]["id"]
    attempts = {
        "update-profile-creds": {"creator_profile_id": profile_id, "credentials": {"x": "y"}},
        "create-download-cred": {
            "platform": "youtube",
            "creator_profile_id": profile_id,
            "auth_type": "password",
            "credentials": {"password": "p"},
        },
        "store-platform-session": {
            "creator_profile_id": profile_id,
            "platform": "instagram",
            "cookies": [{"name": "a", "value": "b", "domain": ".instagram.com"}],
        },
        "revoke-platform-session": {"id": session},
    }
    results = {route: post(live, route, auth_b, body) for route, body in attempts.items()}
    print(
        f"authorization matrix: cases={len(results)} "
        f"accepted={sum(s == 200 for s, _ in results.values())}"
    )
    for route, (status, body) in results.items():
        assert (status, body) == (403, {"success": False, "error": "Forbidden"}), route
    missing = str(uuid.uuid4())
    status, body = post(
        live,
        "update-profile-creds",
        auth_b,
        {"creator_profile_id": missing, "credentials": {"x": "y"}},
    )
    assert status == 404 and body["error"] == f"Creator profile {missing} not found"
    # The session is still active: B's revoke did nothing.
    status, _ = post(
        live,
        "get-platform-session",
        INTERNAL,
        {"creator_profile_id": profile_id, "platform": "instagram"},
    )
    assert status == 200

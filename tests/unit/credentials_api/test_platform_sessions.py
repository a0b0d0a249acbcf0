"""store/get/revoke platform sessions (platform_sessions service) at the wire."""

from __future__ import annotations

import json
import uuid

import pytest

from credsvc.model import PLATFORM_SESSIONS
from tests.conftest import INTERNAL_HEADERS, user_headers
from tests.unit.credentials_api.wire import (
    COOKIE,
    OTHER,
    OWNER,
    PC,
    PROFILE,
    PS,
    as_read,
    assert_error,
    fields_read,
    keyring,
    profile_row,
    sent_json,
)

# -- platform sessions ---------------------------------------------------------------------


def test_store_platform_session_and_get(client, app, directus_wire):
    directus_wire.get(PC, json={"data": [profile_row()]})
    post = directus_wire.post(PS, json={"data": {}})
    directus_wire.get(PS, json={"data": []})  # no session needing re-capture to supersede
    response = client.post(
        "/api/credentials/store-platform-session",
        headers=user_headers(OWNER),
        json={
            "creator_profile_id": PROFILE,
            "platform": "instagram",
            "cookies": [COOKIE],
            "user_agent": "Mozilla/5.0",
        },
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["success"] is True and body["platform"] == "instagram"
    assert body["cookie_count"] == 1
    stored = sent_json(post)
    assert COOKIE["value"] not in json.dumps(stored) and stored["cookie_count"] == 1
    assert (stored["user_id"], stored["creator_profile_id"]) == (OWNER, PROFILE)
    assert keyring(app).decrypt(stored["encrypted_cookies"], PLATFORM_SESSIONS.context(stored))

    read = as_read(stored, "user_agent", *PLATFORM_SESSIONS.row_fields)
    directus_wire.replace(
        "GET",
        PS,
        json={"data": [{**read, "captured_at": "2026-01-15T10:30:00.000Z", "expires_at": None}]},
    )
    response = client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram"},
    )
    got = response.get_json()
    assert got["id"] == body["id"] and got["expired"] is False
    assert "user_id" not in got and "encrypted_cookies" not in got
    assert got["captured_at"] == "2026-01-15T10:30:00.000Z"
    assert got["user_agent"] == "Mozilla/5.0"
    [cookie] = got["cookies"]
    for key in ("name", "value", "domain", "path", "expires", "httpOnly", "secure"):
        assert cookie[key] == COOKIE[key]
    query = next(c.request.url for c in directus_wire.calls[::-1] if c.request.method == "GET")
    assert "revoked_at" in query and "_null" in query and "-captured_at" in query
    assert fields_read(directus_wire, PS) >= set(PLATFORM_SESSIONS.row_fields)


def test_get_platform_session_none(client, directus_wire):
    directus_wire.get(PC, json={"data": [profile_row()]})
    directus_wire.get(PS, json={"data": []})
    response = client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram"},
    )
    assert_error(response, 404, f"No active instagram session for creator profile {PROFILE}")


@pytest.mark.parametrize(
    "cookie",
    [
        {"value": "v", "domain": ".instagram.com"},
        {"name": "n", "domain": ".instagram.com"},
        {"name": "n", "value": "v"},
        {"name": "", "value": "v", "domain": ".instagram.com"},
    ],
)
def test_store_platform_session_cookie_needs_name_value_domain(client, directus_wire, cookie):
    response = client.post(
        "/api/credentials/store-platform-session",
        headers=user_headers(OWNER),
        json={"creator_profile_id": PROFILE, "platform": "instagram", "cookies": [cookie]},
    )
    assert_error(response, 400)
    assert response.get_json()["error"].startswith("cookies:")
    assert len(directus_wire.calls) == 0


def test_revoke_platform_session(client, directus_wire):
    session_id = str(uuid.uuid4())
    session = {
        "id": session_id,
        "user_id": OWNER,
        "creator_profile_id": PROFILE,
        "platform": "instagram",
        "revoked_at": None,
    }
    directus_wire.get(PS, json={"data": [session]})
    directus_wire.get(PC, json={"data": [{"user_id": OWNER}]})
    patch = directus_wire.patch(f"{PS}/{session_id}", json={"data": {}})
    response = client.post(
        "/api/credentials/revoke-platform-session",
        headers=user_headers(OWNER),
        json={"id": session_id},
    )
    assert response.get_json() == {"success": True, "id": session_id}
    sent = sent_json(patch)
    assert sent["revoked_at"].endswith("Z")
    # The cookies are replaced by the revocation marker, bound to the session like any value.
    context = PLATFORM_SESSIONS.context(session)
    assert keyring(client.application).decrypt(sent["encrypted_cookies"], context) == {
        "revoked": True
    }


def test_a_revoked_session_revived_in_directus_serves_nothing(client, app, directus_wire):
    """Someone with a Directus token clears `revoked_at` again (and makes the row newest): the
    stored value is the revocation marker, so no cookie comes back."""
    session = {
        "id": str(uuid.uuid4()),
        "user_id": OWNER,
        "creator_profile_id": PROFILE,
        "platform": "instagram",
        "captured_at": "2099-01-01T00:00:00.000Z",
        "expires_at": None,
        "user_agent": None,
        "revoked_at": None,
    }
    session["encrypted_cookies"] = keyring(app).encrypt(
        {"revoked": True}, PLATFORM_SESSIONS.context(session)
    )
    directus_wire.get(PC, json={"data": [profile_row()]})
    directus_wire.get(PS, json={"data": [session]})
    response = client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram"},
    )
    assert_error(response, 404, f"No active instagram session for creator profile {PROFILE}")


def test_only_sessions_of_the_profiles_owner_are_served(client, app, directus_wire):
    """A session stored while the profile was relabelled to someone else (in Directus) is not
    the owner's: the query asks for the owner's sessions, and a row of another user that
    comes back anyway is not served."""
    planted = {
        "id": str(uuid.uuid4()),
        "user_id": OTHER,
        "creator_profile_id": PROFILE,
        "platform": "instagram",
        "captured_at": "2026-01-15T10:30:00.000Z",
        "expires_at": None,
        "user_agent": None,
    }
    planted["encrypted_cookies"] = keyring(app).encrypt(
        [COOKIE], PLATFORM_SESSIONS.context(planted)
    )
    directus_wire.get(PC, json={"data": [profile_row()]})
    directus_wire.get(PS, json={"data": [planted]})
    response = client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram"},
    )
    assert_error(response, 404, f"No active instagram session for creator profile {PROFILE}")
    query = next(c.request.url for c in directus_wire.calls if c.request.url.startswith(PS))
    assert OWNER in query and "user_id" in query


def test_revoke_someone_elses_session(client, directus_wire):
    session_id = str(uuid.uuid4())
    directus_wire.get(
        PS,
        json={
            "data": [
                {
                    "id": session_id,
                    "user_id": OTHER,
                    "creator_profile_id": PROFILE,
                    "revoked_at": None,
                }
            ]
        },
    )
    directus_wire.get(PC, json={"data": [{"user_id": OTHER}]})
    response = client.post(
        "/api/credentials/revoke-platform-session",
        headers=user_headers(OWNER),
        json={"id": session_id},
    )
    assert_error(response, 403, "Forbidden")
    assert not any(call.request.method == "PATCH" for call in directus_wire.calls)


@pytest.mark.parametrize(
    ("captured_by", "profile_owner", "status"),
    [
        ("owner", "other", 403),  # the connection changed hands: its new owner decides
        ("other", "owner", 200),  # captured by someone else, on the caller's connection
        ("owner", None, 200),  # the connection is gone: the capturing user decides
        ("other", None, 403),
    ],
)
def test_the_connection_owner_revokes_a_session_not_its_capturer(
    client, directus_wire, captured_by, profile_owner, status
):
    users = {"owner": OWNER, "other": OTHER}
    session_id = str(uuid.uuid4())
    session = {
        "id": session_id,
        "user_id": users[captured_by],
        "creator_profile_id": PROFILE,
        "platform": "instagram",
        "revoked_at": None,
    }
    directus_wire.get(PS, json={"data": [session]})
    profiles = [{"user_id": users[profile_owner]}] if profile_owner else []
    directus_wire.get(PC, json={"data": profiles})
    patch = directus_wire.patch(f"{PS}/{session_id}", json={"data": {}})
    response = client.post(
        "/api/credentials/revoke-platform-session",
        headers=user_headers(OWNER),
        json={"id": session_id},
    )
    assert response.status_code == status, response.get_json()
    assert patch.call_count == (1 if status == 200 else 0)

"""Every credentials-API endpoint at the wire: success paths and each error."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from responses import matchers

from credsvc.crypto import encrypt_json
from credsvc.model import DOWNLOAD_CREDENTIALS, PLATFORM_SESSIONS, PROFILES
from tests.conftest import DIRECTUS, INTERNAL_HEADERS, TEST_ENV, user_headers

PC = f"{DIRECTUS}/items/platform_connections"
DC = f"{DIRECTUS}/items/download_credentials"
PS = f"{DIRECTUS}/items/platform_sessions"
OWNER = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
PROFILE = str(uuid.uuid4())
CREDS = {"username": "fitcreator99", "password": "MySecurePass123!", "session_id": "abc"}
NETSCAPE = (
    "# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\tTRUE\t1924992000\tSID\tsid-value-123\n"
)


AUDIT = f"{DIRECTUS}/items/audit_log"


@pytest.fixture(autouse=True)
def audit_rows(directus_wire):
    """Audit writes of decrypting reads; returns the rows sent."""
    call = directus_wire.post(AUDIT, json={"data": {}})
    return lambda: [json.loads(c.request.body) for c in call.calls]


def keyring(app):
    return app.extensions["credsvc"].keyring


def profile_row(user_id=OWNER, profile_id=PROFILE):
    return {
        "id": profile_id,
        "user_id": user_id,
        "platform": "instagram",
        "platform_username": None,
    }


def stored_profile(ciphertext, **changes):
    """The profile row as Directus returns it to a reveal: the owner columns the value is
    bound to, and the value."""
    return {**profile_row(), "encrypted_credentials": ciphertext, **changes}


def as_read(stored: dict, *fields: str) -> dict:
    """What Directus answers for `fields` of the row the service created."""
    return {name: stored.get(name) for name in fields}


def fields_read(wire, url) -> set[str]:
    """The `fields` of the last GET of `url`: a real Directus answers with those only."""
    call = next(c for c in wire.calls[::-1] if c.request.url.split("?")[0] == url)
    return set(parse_qs(urlsplit(call.request.url).query)["fields"][0].split(","))


def sent_json(call) -> dict:
    return json.loads(call.calls[0].request.body)


def assert_error(response, status, message=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"success", "error"} and body["success"] is False
    if message is not None:
        assert body["error"] == message


# -- create-profile -------------------------------------------------------------------------


def test_create_profile_creates_new_record(client, app, directus_wire):
    directus_wire.get(PC, json={"data": []})
    post = directus_wire.post(PC, json={"data": {}})
    response = client.post(
        "/api/credentials/create-profile",
        headers=user_headers(OWNER),
        json={"platform": "instagram", "platform_username": "fit", "credentials": CREDS},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True and body["updated"] is False
    stored = sent_json(post)
    assert stored["id"] == body["id"] and stored["user_id"] == OWNER
    assert stored["owner_platform"] == f"{OWNER}:instagram"
    assert "MySecurePass123!" not in json.dumps(stored)
    assert (stored["platform"], stored["encrypted_credentials"][:6]) == ("instagram", "v5:k0:")
    # Bound to the row as created: its id and its owner columns.
    context = PROFILES.context(stored)
    assert keyring(app).decrypt(stored["encrypted_credentials"], context) == CREDS
    assert response.headers["Cache-Control"] == "no-store"


def test_create_profile_updates_existing(client, app, directus_wire):
    directus_wire.get(
        PC,
        match=[
            matchers.query_param_matcher(
                {
                    "limit": "1",
                    "fields": "id,user_id,platform,platform_username",
                    "filter": json.dumps(
                        {"owner_platform": {"_eq": f"{OWNER}:instagram"}}, separators=(",", ":")
                    ),
                }
            )
        ],
        json={"data": [profile_row()]},
    )
    patch = directus_wire.patch(f"{PC}/{PROFILE}", json={"data": {}})
    response = client.post(
        "/api/credentials/create-profile",
        headers=user_headers(OWNER),
        json={"platform": "instagram", "credentials": CREDS},
    )
    assert response.get_json() == {"success": True, "id": PROFILE, "updated": True}
    assert set(sent_json(patch)) == {"encrypted_credentials"}
    value = sent_json(patch)["encrypted_credentials"]
    assert keyring(app).decrypt(value, PROFILES.context(profile_row())) == CREDS


@pytest.mark.parametrize(
    "relabelled",
    [{"user_id": OTHER}, {"platform": "youtube"}, {"user_id": None}],
    ids=["another user", "another platform", "no user"],
)
def test_create_profile_refuses_a_row_whose_owner_columns_were_changed(
    client, directus_wire, relabelled
):
    # owner_platform says the caller's, the owner columns say otherwise: someone relabelled
    # the row in Directus. Writing the caller's credentials into it would hand them over.
    directus_wire.get(PC, json={"data": [{**profile_row(), **relabelled}]})
    response = client.post(
        "/api/credentials/create-profile",
        headers=user_headers(OWNER),
        json={"platform": "instagram", "credentials": CREDS},
    )
    assert_error(response, 403, "Forbidden")
    assert not any(
        call.request.method in ("PATCH", "POST")
        for call in directus_wire.calls
        if "/audit_log" not in call.request.url
    )


def test_create_profile_lost_race_updates_winner(client, directus_wire):
    directus_wire.get(PC, json={"data": []})
    directus_wire.get(PC, json={"data": [profile_row()]})
    directus_wire.post(
        PC,
        status=400,
        json={"errors": [{"message": "dup", "extensions": {"code": "RECORD_NOT_UNIQUE"}}]},
    )
    directus_wire.patch(f"{PC}/{PROFILE}", json={"data": {}})
    response = client.post(
        "/api/credentials/create-profile",
        headers=user_headers(OWNER),
        json={"platform": "instagram", "credentials": CREDS},
    )
    assert response.get_json() == {"success": True, "id": PROFILE, "updated": True}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"credentials": CREDS}, "platform"),
        ({"platform": "instagram"}, "credentials"),
        ({"platform": "instagram", "credentials": {}}, "credentials"),
        ({"platform": "instagram", "credentials": "x"}, "credentials"),
        ({"platform": "Insta gram!", "credentials": CREDS}, "platform"),
        ({"platform": "instagram", "credentials": CREDS, "user_id": OTHER}, "user_id"),
        (
            {"platform": "instagram", "credentials": CREDS, "platform_username": 5},
            "platform_username",
        ),
    ],
)
def test_create_profile_validation(client, directus_wire, body, field):
    response = client.post(
        "/api/credentials/create-profile", headers=user_headers(OWNER), json=body
    )
    assert_error(response, 400)
    assert response.get_json()["error"].startswith(f"{field}:")
    assert len(directus_wire.calls) == 0


# -- update-profile-creds -------------------------------------------------------------------


def test_update_profile_creds(client, app, directus_wire):
    directus_wire.get(PC, json={"data": [profile_row()]})
    patch = directus_wire.patch(f"{PC}/{PROFILE}", json={"data": {}})
    response = client.post(
        "/api/credentials/update-profile-creds",
        headers=user_headers(OWNER),
        json={
            "creator_profile_id": PROFILE,
            "credentials": {"password": "new"},
            "platform_username": "renamed",
        },
    )
    assert response.get_json() == {"success": True, "id": PROFILE}
    stored = sent_json(patch)
    assert stored["platform_username"] == "renamed"
    context = PROFILES.context(profile_row())
    assert keyring(app).decrypt(stored["encrypted_credentials"], context) == {"password": "new"}


def test_update_profile_creds_of_someone_else_is_forbidden(client, directus_wire):
    directus_wire.get(PC, json={"data": [profile_row(user_id=OTHER)]})
    response = client.post(
        "/api/credentials/update-profile-creds",
        headers=user_headers(OWNER),
        json={"creator_profile_id": PROFILE, "credentials": {"password": "new"}},
    )
    assert_error(response, 403, "Forbidden")
    assert not any(call.request.method == "PATCH" for call in directus_wire.calls)


def test_update_profile_creds_missing_profile_is_404(client, directus_wire):
    directus_wire.get(PC, json={"data": []})
    response = client.post(
        "/api/credentials/update-profile-creds",
        headers=user_headers(OWNER),
        json={"creator_profile_id": PROFILE, "credentials": {"password": "new"}},
    )
    assert_error(response, 404, f"Creator profile {PROFILE} not found")


def test_update_profile_creds_rejects_non_uuid(client, directus_wire):
    response = client.post(
        "/api/credentials/update-profile-creds",
        headers=user_headers(OWNER),
        json={"creator_profile_id": "invalid-uuid", "credentials": {"password": "x"}},
    )
    assert_error(response, 400, "creator_profile_id: Not a valid UUID.")
    assert len(directus_wire.calls) == 0


# -- store / reveal -------------------------------------------------------------------------


def test_store_then_reveal(client, app, directus_wire):
    directus_wire.get(PC, json={"data": [profile_row()]})
    patch = directus_wire.patch(f"{PC}/{PROFILE}", json={"data": {}})
    response = client.post(
        "/api/credentials/store",
        headers=INTERNAL_HEADERS,
        json={"creatorProfileId": PROFILE, "credentials": {"api_key": "sk-proj-abc123xyz"}},
    )
    assert response.get_json() == {"success": True, "creatorProfileId": PROFILE, "updated": PROFILE}
    ciphertext = sent_json(patch)["encrypted_credentials"]
    assert "sk-proj" not in ciphertext

    directus_wire.replace("GET", PC, json={"data": [stored_profile(ciphertext)]})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert response.get_json() == {
        "success": True,
        "creatorProfileId": PROFILE,
        "credentials": {"api_key": "sk-proj-abc123xyz"},
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert fields_read(directus_wire, PC) >= set(PROFILES.row_fields)


def test_reveal_reads_records_written_by_node_format(client, directus_wire):
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    directus_wire.get(PC, json={"data": [stored_profile(encrypt_json(CREDS, key))]})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert response.get_json()["credentials"] == CREDS


def test_reveal_without_credentials(client, directus_wire):
    directus_wire.get(PC, json={"data": [stored_profile(None)]})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert_error(response, 404, "No encrypted_credentials found")


def tampered(app) -> str:
    """A value the keyring wrote for this very row, with one bit of its auth tag flipped: well
    formed, right key, right binding; only authentication can tell."""
    value = keyring(app).encrypt(CREDS, PROFILES.context(profile_row()))
    assert keyring(app).decrypt(value, PROFILES.context(profile_row())) == CREDS
    fmt, key_id, iv, tag, ciphertext = value.split(":")
    raw = bytearray(base64.b64decode(tag))
    raw[0] ^= 0x01
    return ":".join((fmt, key_id, iv, base64.b64encode(bytes(raw)).decode(), ciphertext))


@pytest.mark.parametrize("stored", [tampered, lambda app: "a:b:c"], ids=["tampered", "malformed"])
def test_reveal_tampered_value_is_clean_409(client, app, directus_wire, audit_rows, stored):
    directus_wire.get(PC, json={"data": [stored_profile(stored(app))]})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert_error(response, 409, "Stored credentials could not be decrypted")
    [row] = audit_rows()
    assert (row["action"], row["outcome"], row["target_id"]) == (
        "reveal",
        "decrypt_failed",
        PROFILE,
    )


@pytest.mark.parametrize(
    "relabelled", [{"user_id": OTHER}, {"platform": "youtube"}], ids=["user_id", "platform"]
)
def test_reveal_of_a_row_handed_to_another_owner_is_refused(
    client, app, directus_wire, audit_rows, relabelled
):
    value = keyring(app).encrypt(CREDS, PROFILES.context(profile_row()))
    directus_wire.get(PC, json={"data": [stored_profile(value, **relabelled)]})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert_error(response, 409, "Stored credentials could not be decrypted")
    assert "MySecurePass123!" not in response.get_data(as_text=True)
    assert [row["outcome"] for row in audit_rows()] == ["decrypt_failed"]
    # Put back, the same value is served again: the refusal came from the binding.
    directus_wire.replace("GET", PC, json={"data": [stored_profile(value)]})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert response.get_json()["credentials"] == CREDS


def test_reveal_is_audited_without_values(client, directus_wire, audit_rows):
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    directus_wire.get(PC, json={"data": [stored_profile(encrypt_json(CREDS, key))]})
    response = client.post(
        "/api/credentials/reveal",
        headers={**INTERNAL_HEADERS, "X-Request-ID": "req-42"},
        json={"creatorProfileId": PROFILE},
    )
    assert response.status_code == 200
    [row] = audit_rows()
    assert row["actor"] == "internal:rbac-sync" and row["outcome"] == "ok"
    assert row["target_collection"] == "platform_connections" and row["request_id"] == "req-42"
    assert "MySecurePass123!" not in json.dumps(row)


def test_reveal_fails_closed_when_audit_cannot_be_written(client, directus_wire):
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    directus_wire.get(PC, json={"data": [stored_profile(encrypt_json(CREDS, key))]})
    directus_wire.replace("POST", AUDIT, status=503, json={"errors": []})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert_error(response, 502)
    assert "MySecurePass123!" not in response.get_data(as_text=True)


def test_reveal_missing_profile_and_store_missing_profile(client, directus_wire):
    directus_wire.get(PC, json={"data": []})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert_error(response, 404, f"Creator profile {PROFILE} not found")
    response = client.post(
        "/api/credentials/store",
        headers=INTERNAL_HEADERS,
        json={"creatorProfileId": PROFILE, "credentials": {"a": "b"}},
    )
    assert_error(response, 404, f"Creator profile {PROFILE} not found")


# -- download credentials ------------------------------------------------------------------


def test_create_download_cred_password_and_reveal(client, app, directus_wire):
    directus_wire.get(PC, json={"data": [profile_row()]})
    post = directus_wire.post(DC, json={"data": {}})
    response = client.post(
        "/api/credentials/create-download-cred",
        headers=user_headers(OWNER),
        json={
            "platform": "youtube",
            "creator_profile_id": PROFILE,
            "auth_type": "password",
            "username": "me@example.com",
            "credentials": {"password": "MyYouTubePassword123"},
            "display_name": "My YouTube Channel",
        },
    )
    assert response.status_code == 200
    credential_id = response.get_json()["id"]
    stored = sent_json(post)
    assert stored["id"] == credential_id and "MyYouTubePassword123" not in json.dumps(stored)
    assert (stored["user_id"], stored["creator_profile_id"]) == (OWNER, PROFILE)
    value = stored["encrypted_credentials"]
    assert keyring(app).decrypt(value, DOWNLOAD_CREDENTIALS.context(stored)) == {
        "password": "MyYouTubePassword123"
    }

    read = as_read(stored, "username", *DOWNLOAD_CREDENTIALS.row_fields)
    directus_wire.get(DC, json={"data": [read]})
    response = client.post(
        "/api/credentials/reveal-download-cred",
        headers=INTERNAL_HEADERS,
        json={"id": credential_id},
    )
    body = response.get_json()
    assert body["success"] is True and body["id"] == credential_id
    assert (body["platform"], body["auth_type"]) == ("youtube", "password")
    assert "user_id" not in body and "encrypted_credentials" not in body
    assert body["credentials"] == {"password": "MyYouTubePassword123"}
    assert fields_read(directus_wire, DC) >= set(DOWNLOAD_CREDENTIALS.row_fields)

    response = client.post(
        "/api/credentials/reveal-download-cred",
        headers=INTERNAL_HEADERS,
        json={"id": credential_id, "format": "ytdlp"},
    )
    assert response.get_json()["ytdlp_options"] == {
        "username": "me@example.com",
        "password": "MyYouTubePassword123",
    }
    response = client.post(
        "/api/credentials/reveal-download-cred",
        headers=INTERNAL_HEADERS,
        json={"id": credential_id, "format": "netscape"},
    )
    assert_error(response, 400, "format 'netscape' is not available for auth_type 'password'")


def test_create_download_cred_cookies(client, directus_wire):
    directus_wire.get(PC, json={"data": [profile_row()]})
    directus_wire.post(DC, json={"data": {}})
    response = client.post(
        "/api/credentials/create-download-cred",
        headers=user_headers(OWNER),
        json={
            "platform": "youtube",
            "creator_profile_id": PROFILE,
            "auth_type": "cookies",
            "credentials": {"cookies_netscape": NETSCAPE},
        },
    )
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    "credentials, auth_type",
    [
        ({"cookies_netscape": NETSCAPE}, "password"),
        ({"password": "x"}, "cookies"),
        ({"password": ""}, "password"),
        ({"password": "x", "extra": 1}, "password"),
        ({"cookies_netscape": "not a cookie file"}, "cookies"),
        ({"password": "x"}, "oauth"),
    ],
)
def test_create_download_cred_shape_mismatch(client, directus_wire, credentials, auth_type):
    response = client.post(
        "/api/credentials/create-download-cred",
        headers=user_headers(OWNER),
        json={
            "platform": "youtube",
            "creator_profile_id": PROFILE,
            "auth_type": auth_type,
            "credentials": credentials,
        },
    )
    assert_error(response, 400)
    assert len(directus_wire.calls) == 0


def test_create_download_cred_for_someone_elses_profile(client, directus_wire):
    directus_wire.get(PC, json={"data": [profile_row(user_id=OTHER)]})
    response = client.post(
        "/api/credentials/create-download-cred",
        headers=user_headers(OWNER),
        json={
            "platform": "youtube",
            "creator_profile_id": PROFILE,
            "auth_type": "password",
            "credentials": {"password": "x"},
        },
    )
    assert_error(response, 403, "Forbidden")
    assert not any(call.request.method == "POST" for call in directus_wire.calls)


@pytest.mark.parametrize("profile", [[{"user_id": OTHER}], []], ids=["other-owner", "gone"])
def test_a_download_credential_not_of_its_profiles_owner_is_refused(
    client, app, audit_rows, directus_wire, profile
):
    """Planted while the profile was relabelled to someone else in Directus (then put back):
    the credential's user is not the profile's owner, so it is not served (409, audited)."""
    row = {
        "id": str(uuid.uuid4()),
        "user_id": OWNER,
        "creator_profile_id": PROFILE,
        "platform": "youtube",
        "auth_type": "password",
        "username": None,
    }
    row["encrypted_credentials"] = keyring(app).encrypt(
        {"password": "planted-marker"}, DOWNLOAD_CREDENTIALS.context(row)
    )
    directus_wire.get(DC, json={"data": [row]})
    directus_wire.get(PC, json={"data": profile})
    response = client.post(
        "/api/credentials/reveal-download-cred", headers=INTERNAL_HEADERS, json={"id": row["id"]}
    )
    assert_error(response, 409, "Download credential does not belong to its profile's owner")
    assert "planted-marker" not in response.get_data(as_text=True)
    assert [r["outcome"] for r in audit_rows()] == ["conflict"]


def test_reveal_download_cred_missing(client, directus_wire):
    directus_wire.get(DC, json={"data": []})
    missing = str(uuid.uuid4())
    response = client.post(
        "/api/credentials/reveal-download-cred", headers=INTERNAL_HEADERS, json={"id": missing}
    )
    assert_error(response, 404, f"Download credential {missing} not found")


# -- platform sessions ---------------------------------------------------------------------

COOKIE = {
    "name": "sessionid",
    "value": "123456789%3AabcXYZ%3A28",
    "domain": ".instagram.com",
    "path": "/",
    "expires": 1924992000,
    "httpOnly": True,
    "secure": True,
}


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


# -- guards and upstream errors -------------------------------------------------------------

USER_ROUTES = [
    "create-profile",
    "update-profile-creds",
    "create-download-cred",
    "store-platform-session",
    "revoke-platform-session",
]
INTERNAL_ROUTES = ["store", "reveal", "reveal-download-cred", "get-platform-session"]


@pytest.mark.parametrize("route", USER_ROUTES)
def test_user_routes_refuse_the_shared_secret(client, directus_wire, route):
    response = client.post(f"/api/credentials/{route}", headers=INTERNAL_HEADERS, json={})
    assert_error(response, 401, "Unauthorized")


@pytest.mark.parametrize("route", INTERNAL_ROUTES)
def test_internal_routes_refuse_user_tokens(client, directus_wire, route):
    response = client.post(f"/api/credentials/{route}", headers=user_headers(OWNER), json={})
    assert_error(response, 401, "Unauthorized")
    response = client.post(f"/api/credentials/{route}", json={})
    assert_error(response, 401, "Unauthorized")


def test_upstream_caller_error_is_relayed_in_spec_shape(client, directus_wire):
    body = '{"errors":[{"message":"Invalid UUID"}]}'
    directus_wire.get(PC, status=400, body=body)
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert_error(response, 400, f"Directus 400 /items/platform_connections: {body}")


@pytest.mark.parametrize("status, expected", [(401, 502), (403, 502), (500, 502), (503, 502)])
def test_upstream_server_or_token_problems_are_502(client, directus_wire, status, expected):
    directus_wire.get(PC, status=status, json={"errors": []})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert_error(response, expected)


# -- cookie formats on the way in and out -----------------------------------------------------

CHROME_COOKIE = {
    "name": "sessionid",
    "value": "chrome-value",
    "domain": ".instagram.com",
    "path": "/",
    "expirationDate": 1924992000.5,
    "hostOnly": False,
    "httpOnly": True,
    "secure": True,
    "sameSite": "no_restriction",
    "session": False,
    "storeId": "0",
}


def stored_session(client, app, directus_wire, cookie):
    directus_wire.get(PC, json={"data": [profile_row()]})
    post = directus_wire.post(PS, json={"data": {}})
    directus_wire.get(PS, json={"data": []})  # no session needing re-capture to supersede
    response = client.post(
        "/api/credentials/store-platform-session",
        headers=user_headers(OWNER),
        json={"creator_profile_id": PROFILE, "platform": "instagram", "cookies": [cookie]},
    )
    assert response.status_code == 200, response.get_json()
    stored = sent_json(post)
    session_id = response.get_json()["id"]
    read = as_read(stored, "user_agent", *PLATFORM_SESSIONS.row_fields)
    directus_wire.replace(
        "GET",
        PS,
        json={"data": [{**read, "captured_at": "2026-01-15T10:30:00.000Z", "expires_at": None}]},
    )
    return session_id


def get_session(client, fmt):
    return client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram", "format": fmt},
    ).get_json()


def test_chrome_cookies_are_stored_normalized(client, app, directus_wire):
    stored_session(client, app, directus_wire, CHROME_COOKIE)
    [cookie] = get_session(client, "json")["cookies"]
    assert cookie["name"] == "sessionid" and cookie["value"] == "chrome-value"
    assert cookie["domain"] == ".instagram.com" and cookie["httpOnly"] is True
    assert cookie["expires"] == 1924992000.5 and cookie["sameSite"] == "None"
    assert "expirationDate" not in cookie and "storeId" not in cookie


def test_session_in_playwright_and_netscape_formats(client, app, directus_wire):
    stored_session(client, app, directus_wire, CHROME_COOKIE)
    playwright = get_session(client, "playwright")
    assert playwright["format"] == "playwright"
    [cookie] = playwright["cookies"]
    assert cookie["sameSite"] == "None" and cookie["secure"] is True
    assert cookie["expires"] > 0
    netscape = get_session(client, "netscape")["cookies"]
    assert netscape.startswith("# Netscape HTTP Cookie File")
    assert (
        "#HttpOnly_.instagram.com\tTRUE\t/\tTRUE\t1924992000\tsessionid\tchrome-value" in netscape
    )


def test_expired_session_is_flagged(client, app, directus_wire):
    stored_session(client, app, directus_wire, dict(COOKIE, expires=1_000_000_000))
    assert get_session(client, "json")["expired"] is True


def test_unknown_format_is_400(client, directus_wire):
    response = client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram", "format": "har"},
    )
    assert_error(response, 400)
    assert response.get_json()["error"].startswith("format:")


def test_bad_netscape_line_is_named(client, directus_wire):
    bad = "# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\tTRUE\t0\tSID\n"
    response = client.post(
        "/api/credentials/create-download-cred",
        headers=user_headers(OWNER),
        json={
            "platform": "youtube",
            "creator_profile_id": PROFILE,
            "auth_type": "cookies",
            "credentials": {"cookies_netscape": bad},
        },
    )
    assert_error(
        response,
        400,
        "credentials: cookies_netscape line 2: expected 7 TAB-separated fields, found 6",
    )


def test_download_cookies_as_playwright(client, directus_wire):
    directus_wire.get(PC, json={"data": [profile_row()]})
    post = directus_wire.post(DC, json={"data": {}})
    created = client.post(
        "/api/credentials/create-download-cred",
        headers=user_headers(OWNER),
        json={
            "platform": "youtube",
            "creator_profile_id": PROFILE,
            "auth_type": "cookies",
            "credentials": {"cookies_netscape": NETSCAPE},
        },
    ).get_json()
    read = as_read(sent_json(post), "username", *DOWNLOAD_CREDENTIALS.row_fields)
    directus_wire.get(DC, json={"data": [read]})
    body = client.post(
        "/api/credentials/reveal-download-cred",
        headers=INTERNAL_HEADERS,
        json={"id": created["id"], "format": "playwright"},
    ).get_json()
    [cookie] = body["credentials"]["cookies"]
    assert (cookie["name"], cookie["value"], cookie["domain"]) == (
        "SID",
        "sid-value-123",
        ".youtube.com",
    )
    assert body["problems"] == []

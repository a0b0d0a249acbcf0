"""create-download-cred and reveal-download-cred (download_credentials service) at the wire."""

from __future__ import annotations

import json
import uuid

import pytest

from credsvc.model import DOWNLOAD_CREDENTIALS
from tests.conftest import INTERNAL_HEADERS, user_headers
from tests.unit.credentials_api.wire import (
    DC,
    NETSCAPE,
    OTHER,
    OWNER,
    PC,
    PROFILE,
    as_read,
    assert_error,
    fields_read,
    keyring,
    profile_row,
    sent_json,
)

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

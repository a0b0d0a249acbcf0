"""create-profile, update-profile-creds, store and reveal (profiles service) at the wire."""

from __future__ import annotations

import base64
import json

import pytest
from responses import matchers

from credsvc.crypto import encrypt_json
from credsvc.model import PROFILES
from tests.conftest import INTERNAL_HEADERS, TEST_ENV, user_headers
from tests.unit.credentials_api.wire import (
    AUDIT,
    CREDS,
    OTHER,
    OWNER,
    PC,
    PROFILE,
    assert_error,
    fields_read,
    keyring,
    profile_row,
    sent_json,
    stored_profile,
)

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

"""PUT, GET and DELETE /v1/end-users/{endUserId}/credentials (services.end_users) at the wire."""

from __future__ import annotations

import json
import uuid

import pytest
from responses import matchers

from credsvc.services import end_users
from tests.unit.end_user_api.wire import (
    AUTH,
    BUSINESS,
    CT0,
    EUC,
    TOKEN,
    URL,
    accept_key,
    assert_ok_error,
    calls_to,
    decrypt,
    fields_of,
    filter_of,
    sent_json,
    stored_row,
)

# -- PUT ------------------------------------------------------------------------------------


def test_put_creates_one_encrypted_row_per_field(client, app, directus_wire):
    accept_key(directus_wire)
    listing = directus_wire.get(EUC, json={"data": []})
    post = directus_wire.post(EUC, json={"data": []})
    response = client.put(URL, headers=AUTH, json={"twitterAuthToken": TOKEN, "twitterCt0": CT0})
    assert response.status_code == 200
    assert response.get_json() == {"ok": True}
    assert response.headers["Cache-Control"] == "no-store"

    query = filter_of(listing.calls[0])
    assert query["business_id"] == {"_eq": BUSINESS}
    assert sorted(query["slot"]["_in"]) == sorted(
        end_users.slot(BUSINESS, "alice", field) for field in ("twitterAuthToken", "twitterCt0")
    )
    assert post.call_count == 1  # one all-or-nothing batch
    rows = {row["field"]: row for row in sent_json(post.calls[0])}
    assert set(rows) == {"twitterAuthToken", "twitterCt0"}
    for field, value in (("twitterAuthToken", TOKEN), ("twitterCt0", CT0)):
        row = rows[field]
        assert uuid.UUID(row["id"])
        assert row["business_id"] == BUSINESS and row["end_user_id"] == "alice"
        assert row["end_user_hash"] == end_users.end_user_hash("alice")
        assert row["slot"] == end_users.slot(BUSINESS, "alice", field)
        assert value not in json.dumps(row)
        assert decrypt(app, row) == value


def existing_row(field, row_id=None, business=BUSINESS, value="v2:k0:old"):
    return {
        "id": row_id or str(uuid.uuid4()),
        "business_id": business,
        "end_user_hash": end_users.end_user_hash("alice"),
        "field": field,
        "slot": end_users.slot(business, "alice", field),
        "encrypted_value": value,
    }


def test_put_updates_an_existing_field_in_place(client, app, directus_wire):
    accept_key(directus_wire)
    row = existing_row("twitterCt0")
    directus_wire.get(EUC, json={"data": [row]})
    patch = directus_wire.patch(EUC, json={"data": []})
    response = client.put(URL, headers=AUTH, json={"twitterCt0": "new-ct0"})
    assert response.get_json() == {"ok": True}
    [sent] = sent_json(patch.calls[0])
    assert set(sent) == {"id", "encrypted_value"} and sent["id"] == row["id"]
    assert decrypt(app, {**row, **sent}) == "new-ct0"
    assert not calls_to(directus_wire, EUC, "POST")


def test_put_null_clears_only_that_field(client, directus_wire):
    accept_key(directus_wire)
    row = existing_row("twitterCt0")
    directus_wire.get(EUC, json={"data": [row]})
    delete = directus_wire.delete(EUC, status=204)
    response = client.put(URL, headers=AUTH, json={"twitterCt0": None, "redditSession": None})
    assert response.get_json() == {"ok": True}
    assert sent_json(delete.calls[0]) == [row["id"]]
    assert not calls_to(directus_wire, EUC, "POST") and not calls_to(directus_wire, EUC, "PATCH")


def test_put_null_for_a_field_never_set_changes_nothing(client, directus_wire):
    accept_key(directus_wire)
    directus_wire.get(EUC, json={"data": []})
    assert client.put(URL, headers=AUTH, json={"twitterCt0": None}).get_json() == {"ok": True}
    assert [call.request.method for call in calls_to(directus_wire, EUC)] == ["GET"]


NOT_UNIQUE = {"errors": [{"message": "dup", "extensions": {"code": "RECORD_NOT_UNIQUE"}}]}


def test_put_that_loses_the_create_race_updates_the_winner(client, app, directus_wire):
    accept_key(directus_wire)
    winner = existing_row("twitterCt0")
    directus_wire.get(EUC, json={"data": []})
    directus_wire.get(EUC, json={"data": [winner]})
    directus_wire.post(EUC, status=400, json=NOT_UNIQUE)
    patch = directus_wire.patch(EUC, json={"data": []})
    assert client.put(URL, headers=AUTH, json={"twitterCt0": CT0}).get_json() == {"ok": True}
    [sent] = sent_json(patch.calls[0])
    assert sent["id"] == winner["id"] and decrypt(app, {**winner, **sent}) == CT0


def test_put_that_keeps_losing_races_is_409(client, directus_wire):
    accept_key(directus_wire)
    directus_wire.get(EUC, json={"data": []})
    post = directus_wire.post(EUC, status=400, json=NOT_UNIQUE)
    response = client.put(URL, headers=AUTH, json={"twitterCt0": CT0})
    assert_ok_error(response, 409, "The credentials changed during this request, please retry")
    assert post.call_count == end_users.ATTEMPTS


def test_put_recreates_a_row_deleted_meanwhile(client, app, directus_wire):
    accept_key(directus_wire)
    gone = existing_row("twitterCt0")
    directus_wire.get(EUC, json={"data": [gone]})
    directus_wire.get(EUC, json={"data": []})
    directus_wire.patch(EUC, status=403, json={"errors": [{"message": "forbidden"}]})
    post = directus_wire.post(EUC, json={"data": []})
    assert client.put(URL, headers=AUTH, json={"twitterCt0": CT0}).get_json() == {"ok": True}
    [row] = sent_json(post.calls[0])
    assert row["id"] != gone["id"] and decrypt(app, row) == CT0


def test_put_failing_midway_undoes_what_it_wrote(client, app, directus_wire):
    """Updates went through, the creation failed: the updated row gets its old value back
    (guarded by the value this PUT wrote) and the answer is the upstream error."""
    accept_key(directus_wire)
    row = existing_row("twitterCt0", value="v2:k0:the-old-ciphertext")
    directus_wire.get(EUC, json={"data": [row]})
    batch = directus_wire.patch(EUC, json={"data": []})
    directus_wire.post(EUC, status=503, json={"errors": []})
    restore = directus_wire.patch(f"{EUC}/{row['id']}", json={"data": {}})
    response = client.put(URL, headers=AUTH, json={"twitterCt0": CT0, "twitterAuthToken": TOKEN})
    assert response.status_code == 502 and response.get_json()["ok"] is False
    [written] = sent_json(batch.calls[0])
    assert sent_json(restore.calls[0]) == {
        "encrypted_value": "v2:k0:the-old-ciphertext",
        "rewrap_guard": written["encrypted_value"],
    }


def test_put_failing_at_the_clear_deletes_the_rows_it_created(client, directus_wire):
    accept_key(directus_wire)
    row = existing_row("redditSession")
    directus_wire.get(EUC, json={"data": [row]})
    post = directus_wire.post(EUC, json={"data": []})
    directus_wire.delete(
        EUC,
        status=500,
        json={"errors": []},
        match=[matchers.json_params_matcher([row["id"]])],
    )
    undo = directus_wire.delete(EUC, status=204)
    response = client.put(URL, headers=AUTH, json={"twitterCt0": CT0, "redditSession": None})
    assert response.status_code == 502
    [created] = sent_json(post.calls[0])
    assert sent_json(undo.calls[0]) == [created["id"]]


def test_a_newer_write_is_not_undone(client, directus_wire):
    """The restore's guard no longer matches (someone wrote after this PUT): left alone."""
    accept_key(directus_wire)
    row = existing_row("twitterCt0")
    directus_wire.get(EUC, json={"data": [row]})
    directus_wire.patch(EUC, json={"data": []})
    directus_wire.post(EUC, status=503, json={"errors": []})
    guard_abort = {
        "errors": [
            {
                "message": "null",
                "extensions": {
                    "code": "NOT_NULL_VIOLATION",
                    "field": "rewrap_guard",
                    "collection": "end_user_credentials",
                },
            }
        ]
    }
    restore = directus_wire.patch(f"{EUC}/{row['id']}", status=400, json=guard_abort)
    response = client.put(URL, headers=AUTH, json={"twitterCt0": CT0, "twitterAuthToken": TOKEN})
    assert response.status_code == 502 and restore.call_count == 1


def test_put_ignores_rows_of_another_business(client, directus_wire):
    accept_key(directus_wire)
    slot = end_users.slot(BUSINESS, "alice", "twitterCt0")
    foreign = {"id": str(uuid.uuid4()), "business_id": "other", "slot": slot}
    directus_wire.get(EUC, json={"data": [foreign]})
    post = directus_wire.post(EUC, json={"data": {}})
    assert client.put(URL, headers=AUTH, json={"twitterCt0": CT0}).status_code == 200
    assert post.call_count == 1
    assert not calls_to(directus_wire, f"{EUC}/{foreign['id']}")


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "No recognized credential fields supplied"),
        ({"foo": "x"}, "No recognized credential fields supplied (unknown: foo)"),
        (
            {"businessId": "other", "twitterauthtoken": "x"},
            "No recognized credential fields supplied (unknown: businessId, twitterauthtoken)",
        ),
        ({"twitterCt0": CT0, "foo": "x"}, "foo: Unknown field."),
        ({"twitterCt0": CT0, "businessId": "other"}, "businessId: Unknown field."),
        (
            {"twitterCt0": ""},
            "twitterCt0: must be a non-empty string of at most 4096 characters, or null",
        ),
        (
            {"twitterCt0": "x" * 4097},
            "twitterCt0: must be a non-empty string of at most 4096 characters, or null",
        ),
        ({"twitterCt0": 5}, "twitterCt0: Not a valid string."),
        ({"twitterCt0": ["x"]}, "twitterCt0: Not a valid string."),
        ({"twitterCt0": "a\nb"}, "twitterCt0: value contains a TAB or newline"),
        ({"twitterCt0": "a\x01b"}, "twitterCt0: value contains a control character"),
        ({"twitterCt0": "a;b"}, "twitterCt0: value contains ';'"),
        (
            {"twitterCt0": " a"},
            "twitterCt0: value has leading or trailing spaces (browsers strip them)",
        ),
        ([{"twitterCt0": CT0}], "JSON body must be an object"),
    ],
)
def test_put_validation(client, directus_wire, body, message):
    accept_key(directus_wire)
    response = client.put(URL, headers=AUTH, json=body)
    assert_ok_error(response, 400, message)
    assert not calls_to(directus_wire, EUC)


def test_put_accepts_a_4096_character_value(client, directus_wire):
    accept_key(directus_wire)
    directus_wire.get(EUC, json={"data": []})
    directus_wire.post(EUC, json={"data": {}})
    assert client.put(URL, headers=AUTH, json={"twitterCt0": "x" * 4096}).status_code == 200


@pytest.mark.parametrize("data", [b"{", b"{'a': 1}", b"", b'{"twitterCt0": NaN}'])
def test_put_invalid_json_is_400(client, directus_wire, data):
    accept_key(directus_wire)
    response = client.put(URL, headers={**AUTH, "Content-Type": "application/json"}, data=data)
    assert_ok_error(response, 400, "Invalid JSON body")


def test_put_other_media_type_is_415(client, directus_wire):
    accept_key(directus_wire)
    response = client.put(URL, headers=AUTH, data="twitterCt0=x", content_type="text/plain")
    assert_ok_error(response, 415, "Content-Type must be application/json")


def test_end_user_id_of_256_characters_is_accepted(client, directus_wire):
    accept_key(directus_wire)
    listing = directus_wire.get(EUC, json={"data": []})
    post = directus_wire.post(EUC, json={"data": {}})
    end_user = "a" * 256
    response = client.put(
        f"/v1/end-users/{end_user}/credentials", headers=AUTH, json={"twitterCt0": CT0}
    )
    assert response.status_code == 200
    assert sent_json(post.calls[0])[0]["end_user_id"] == end_user
    assert listing.call_count == 1


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_end_user_id_of_257_characters_is_400(client, directus_wire, method):
    accept_key(directus_wire)
    response = client.open(
        f"/v1/end-users/{'a' * 257}/credentials",
        method=method,
        headers=AUTH,
        json={"twitterCt0": CT0},
    )
    assert_ok_error(response, 400, "endUserId must be at most 256 characters")
    assert not calls_to(directus_wire, EUC)


def test_end_user_id_length_counts_characters_not_bytes(client, directus_wire):
    accept_key(directus_wire)
    directus_wire.get(EUC, json={"data": []})
    response = client.get("/v1/end-users/" + "%C3%A9" * 256 + "/credentials", headers=AUTH)
    assert response.get_json()["endUserId"] == "é" * 256


@pytest.mark.parametrize(
    "raw, decoded",
    [
        ("alice%2Fbob", "alice/bob"),
        ("%C3%BCser%20one", "üser one"),
        ("a%3Fb%23c", "a?b#c"),
        ("alice/bob", "alice/bob"),
    ],
)
def test_url_encoded_end_user_ids(client, directus_wire, raw, decoded):
    accept_key(directus_wire)
    directus_wire.get(EUC, json={"data": []})
    post = directus_wire.post(EUC, json={"data": {}})
    response = client.put(
        f"/v1/end-users/{raw}/credentials", headers=AUTH, json={"redditSession": "r"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    [row] = sent_json(post.calls[0])
    assert row["end_user_id"] == decoded
    assert row["end_user_hash"] == end_users.end_user_hash(decoded)


def test_end_user_id_with_control_characters_is_400(client, directus_wire):
    accept_key(directus_wire)
    response = client.get("/v1/end-users/a%00b/credentials", headers=AUTH)
    assert_ok_error(response, 400, "endUserId must not contain control characters")


def test_write_path_needs_only_encryption(app, directus_wire):
    """set_credentials works with an object that can encrypt and nothing else."""
    keyring = app.extensions["credsvc"].keyring

    class EncryptOnly:
        def encrypt(self, value, context):
            return keyring.encrypt(value, context)

    directus = app.extensions["credsvc"].directus
    directus_wire.get(EUC, json={"data": []})
    post = directus_wire.post(EUC, json={"data": {}})
    end_users.set_credentials(directus, EncryptOnly(), BUSINESS, "bob", {"youtubeSid": "sid"})
    assert decrypt(app, sent_json(post.calls[0])[0]) == "sid"


# -- GET ------------------------------------------------------------------------------------


def test_status_reports_flags_only(client, app, directus_wire):
    accept_key(directus_wire)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "business_id": BUSINESS,
            "end_user_hash": end_users.end_user_hash("alice"),
            "field": field,
        }
        for field in ("twitterAuthToken", "youtubeSapisid")
    ]
    listing = directus_wire.get(EUC, json={"data": rows})
    response = client.get(URL, headers=AUTH)
    body = response.get_json()
    assert body["ok"] is True and body["endUserId"] == "alice"
    assert list(body["platforms"]) == ["twitter", "reddit", "tiktok", "youtube", "instagram"]
    assert body["platforms"]["twitter"] == {
        "configured": True,
        "fields": {"twitterAuthToken": True, "twitterCt0": False},
    }
    assert body["platforms"]["reddit"] == {"configured": False, "fields": {"redditSession": False}}
    assert body["platforms"]["youtube"]["fields"] == {
        "youtubeSid": False,
        "youtubeHsid": False,
        "youtubeSsid": False,
        "youtubeSapisid": True,
    }
    assert "encrypted_value" not in fields_of(listing.calls[0])
    assert filter_of(listing.calls[0]) == {
        "business_id": {"_eq": BUSINESS},
        "end_user_hash": {"_eq": end_users.end_user_hash("alice")},
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_status_ignores_rows_of_another_business_or_end_user(client, directus_wire):
    accept_key(directus_wire)
    rows = [
        {
            "id": "1",
            "business_id": "other",
            "field": "twitterCt0",
            "end_user_hash": end_users.end_user_hash("alice"),
        },
        {
            "id": "2",
            "business_id": BUSINESS,
            "field": "redditSession",
            "end_user_hash": end_users.end_user_hash("bob"),
        },
    ]
    directus_wire.get(EUC, json={"data": rows})
    body = client.get(URL, headers=AUTH).get_json()
    assert not any(platform["configured"] for platform in body["platforms"].values())


def test_status_never_carries_values_even_if_directus_sends_them(client, app, directus_wire):
    accept_key(directus_wire)
    row = stored_row(app, "twitterAuthToken", TOKEN)
    directus_wire.get(EUC, json={"data": [row]})
    text = client.get(URL, headers=AUTH).get_data(as_text=True)
    assert TOKEN not in text and row["encrypted_value"] not in text


# -- DELETE ---------------------------------------------------------------------------------


def test_delete_removes_every_row_of_the_end_user(client, directus_wire):
    accept_key(directus_wire)
    hashed = end_users.end_user_hash("alice")
    rows = [
        {"id": str(uuid.uuid4()), "business_id": BUSINESS, "end_user_hash": hashed, "field": field}
        for field in ("twitterCt0", "redditSession")
    ]
    rows.append(
        {"id": "foreign", "business_id": "other", "end_user_hash": hashed, "field": "twitterCt0"}
    )
    listing = directus_wire.get(EUC, json={"data": rows})
    delete = directus_wire.delete(EUC, status=204)
    response = client.delete(URL, headers=AUTH)
    assert response.get_json() == {"ok": True}
    assert sent_json(delete.calls[0]) == [rows[0]["id"], rows[1]["id"]]
    assert filter_of(listing.calls[0])["business_id"] == {"_eq": BUSINESS}


def test_delete_of_nothing_is_200(client, directus_wire):
    accept_key(directus_wire)
    directus_wire.get(EUC, json={"data": []})
    assert client.delete(URL, headers=AUTH).get_json() == {"ok": True}
    assert not calls_to(directus_wire, EUC, "DELETE")


def test_delete_racing_another_delete_finishes_the_job(client, directus_wire):
    accept_key(directus_wire)
    hashed = end_users.end_user_hash("alice")
    rows = [
        {"id": f"id-{n}", "business_id": BUSINESS, "end_user_hash": hashed, "field": "twitterCt0"}
        for n in (1, 2)
    ]
    directus_wire.get(EUC, json={"data": rows})
    directus_wire.get(EUC, json={"data": [{"id": "id-2"}]})
    directus_wire.delete(EUC, status=403, json={"errors": [{"message": "forbidden"}]})
    second = directus_wire.delete(EUC, status=204)
    assert client.delete(URL, headers=AUTH).get_json() == {"ok": True}
    assert sent_json(second.calls[-1]) == ["id-2"]


def test_upstream_failure_keeps_the_ok_shape(client, directus_wire):
    accept_key(directus_wire)
    directus_wire.get(EUC, status=500, json={"errors": [{"message": "boom"}]})
    assert_ok_error(client.get(URL, headers=AUTH), 502)


def test_unknown_route_under_v1_keeps_the_ok_shape(client, directus_wire):
    assert_ok_error(client.get("/v1/end-users/alice", headers=AUTH), 404, "Not found")

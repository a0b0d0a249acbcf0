"""The workers' endpoint /api/end-user-credentials/reveal (blueprint workers) at the wire."""

from __future__ import annotations

import json
import uuid

import pytest

from credsvc import platforms
from credsvc.model import END_USER_CREDENTIALS
from credsvc.services import end_users
from tests.conftest import AUDIT, INTERNAL_HEADERS
from tests.unit.end_user_api.wire import (
    AUTH,
    BUSINESS,
    CT0,
    EUC,
    REVEAL,
    TOKEN,
    assert_success_error,
    fields_of,
    filter_of,
    stored_row,
)

# -- the workers' endpoint ------------------------------------------------------------------


def reveal(client, **body):
    return client.post(
        REVEAL,
        headers={**INTERNAL_HEADERS, "X-Request-ID": "req-1"},
        json={"businessId": BUSINESS, "endUserId": "alice", **body},
    )


def test_reveal_needs_the_shared_secret(client, directus_wire):
    response = client.post(REVEAL, json={"businessId": BUSINESS, "endUserId": "alice"})
    assert_success_error(response, 401, "Unauthorized")
    response = client.post(
        REVEAL, headers=AUTH, json={"businessId": BUSINESS, "endUserId": "alice"}
    )
    assert_success_error(response, 401, "Unauthorized")
    assert len(directus_wire.calls) == 0


def test_reveal_returns_ready_to_inject_cookies(client, app, directus_wire, audit_rows):
    rows = [
        stored_row(app, "twitterAuthToken", TOKEN),
        stored_row(app, "twitterCt0", CT0),
        stored_row(app, "instagramSessionId", "ig-session"),
    ]
    listing = directus_wire.get(EUC, json={"data": rows})
    response = reveal(client)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["success"] is True and body["format"] == "json"
    assert body["businessId"] == BUSINESS and body["endUserId"] == "alice"
    assert list(body["platforms"]) == ["twitter", "instagram"]
    assert body["platforms"]["twitter"] == {
        "cookies": [
            {
                "name": "auth_token",
                "value": TOKEN,
                "domain": ".x.com",
                "path": "/",
                "expires": -1,
                "httpOnly": True,
                "secure": True,
            },
            {
                "name": "ct0",
                "value": CT0,
                "domain": ".x.com",
                "path": "/",
                "expires": -1,
                "httpOnly": False,
                "secure": True,
            },
        ],
        "missing": [],
    }
    assert body["platforms"]["instagram"]["missing"] == ["instagramCsrfToken", "instagramDsUserId"]
    assert filter_of(listing.calls[0])["business_id"] == {"_eq": BUSINESS}
    assert set(fields_of(listing.calls[0])) >= set(END_USER_CREDENTIALS.row_fields)

    [audit] = audit_rows()
    assert audit["outcome"] == "ok" and audit["action"] == "reveal-end-user-credentials"
    assert audit["actor"] == "internal:rbac-sync" and audit["request_id"] == "req-1"
    assert audit["business_id"] == BUSINESS and audit["end_user_id"] == "alice"
    assert TOKEN not in json.dumps(audit) and CT0 not in json.dumps(audit)


def test_reveal_limited_to_some_platforms(client, app, directus_wire, audit_rows):
    rows = [stored_row(app, "twitterCt0", CT0), stored_row(app, "youtubeSid", "sid")]
    directus_wire.get(EUC, json={"data": rows})
    body = reveal(client, platforms=["youtube", "reddit"]).get_json()
    assert list(body["platforms"]) == ["youtube"]
    assert body["platforms"]["youtube"]["cookies"][0]["name"] == "SID"
    assert body["platforms"]["youtube"]["cookies"][0]["secure"] is False


def test_reveal_as_netscape(client, app, directus_wire, audit_rows):
    directus_wire.get(EUC, json={"data": [stored_row(app, "redditSession", "rs")]})
    body = reveal(client, format="netscape").get_json()
    text = body["platforms"]["reddit"]["cookies"]
    assert body["format"] == "netscape"
    assert text.startswith("# Netscape HTTP Cookie File")
    assert "#HttpOnly_.reddit.com\tTRUE\t/\tTRUE\t0\treddit_session\trs" in text


def test_reveal_as_playwright(client, app, directus_wire, audit_rows):
    directus_wire.get(EUC, json={"data": [stored_row(app, "tiktokSessionId", "tt")]})
    body = reveal(client, format="playwright").get_json()
    assert body["platforms"]["tiktok"]["cookies"] == [
        {
            "name": "sessionid",
            "value": "tt",
            "domain": ".tiktok.com",
            "path": "/",
            "expires": -1,
            "httpOnly": True,
            "secure": True,
        }
    ]


def test_reveal_with_nothing_stored_is_404_and_audited(client, directus_wire, audit_rows):
    directus_wire.get(EUC, json={"data": []})
    assert_success_error(reveal(client), 404, "No credentials stored for this end user")
    assert [row["outcome"] for row in audit_rows()] == ["not_found"]


def test_reveal_never_returns_another_business_rows(client, app, directus_wire, audit_rows):
    directus_wire.get(EUC, json={"data": [stored_row(app, "twitterCt0", CT0, business="other")]})
    assert_success_error(reveal(client), 404)


@pytest.mark.parametrize(
    "stored, relabelled",
    [
        ({}, {"id": str(uuid.uuid4())}),  # the ciphertext is bound to another row
        ({}, {"field": "twitterAuthToken"}),  # ct0 served as the auth token
        ({"end_user": "bob"}, {"end_user_hash": end_users.end_user_hash("alice")}),
        ({"business": "other"}, {"business_id": BUSINESS}),
    ],
    ids=["id", "field", "end_user_hash", "business_id"],
)
def test_reveal_of_a_moved_ciphertext_is_409_and_audited(
    client, app, directus_wire, audit_rows, stored, relabelled
):
    row = {**stored_row(app, "twitterCt0", CT0, **stored), **relabelled}
    directus_wire.get(EUC, json={"data": [row]})
    assert_success_error(reveal(client), 409, "Stored credentials could not be decrypted")
    assert [row["outcome"] for row in audit_rows()] == ["decrypt_failed"]


def test_reveal_fails_closed_when_the_audit_cannot_be_written(client, app, directus_wire):
    directus_wire.get(EUC, json={"data": [stored_row(app, "twitterCt0", CT0)]})
    directus_wire.post(AUDIT, status=503, json={"errors": []})
    response = reveal(client)
    assert_success_error(response, 502)
    assert CT0 not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"endUserId": "alice"}, "businessId"),
        ({"businessId": BUSINESS}, "endUserId"),
        ({"businessId": "", "endUserId": "alice"}, "businessId"),
        ({"businessId": BUSINESS, "endUserId": "x" * 257}, "endUserId"),
        ({"businessId": BUSINESS, "endUserId": ""}, "endUserId"),
        ({"businessId": BUSINESS, "endUserId": "alice", "platforms": ["myspace"]}, "platforms"),
        ({"businessId": BUSINESS, "endUserId": "alice", "platforms": []}, "platforms"),
        ({"businessId": BUSINESS, "endUserId": "alice", "platforms": "twitter"}, "platforms"),
        ({"businessId": BUSINESS, "endUserId": "alice", "format": "ytdlp"}, "format"),
        ({"businessId": BUSINESS, "endUserId": "alice", "extra": 1}, "extra"),
    ],
)
def test_reveal_validation(client, directus_wire, body, field):
    response = client.post(REVEAL, headers=INTERNAL_HEADERS, json=body)
    assert_success_error(response, 400)
    assert response.get_json()["error"].startswith(f"{field}")
    assert len(directus_wire.calls) == 0


def test_every_field_has_a_cookie_in_reveal(client, app, directus_wire, audit_rows):
    rows = [stored_row(app, field, f"v-{field}") for field in platforms.FIELDS]
    directus_wire.get(EUC, json={"data": rows})
    body = reveal(client).get_json()
    names = {
        (name, cookie["name"], cookie["value"])
        for name, platform in body["platforms"].items()
        for cookie in platform["cookies"]
    }
    assert names == {
        (spec.platform, spec.name, f"v-{spec.field}") for spec in platforms.FIELDS.values()
    }

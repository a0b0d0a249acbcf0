"""Session health at the wire: GET platforms and platform-sessions, report-platform-session,
what get-platform-session serves after a report, and supersession on a new capture."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from credsvc import platforms
from credsvc.model import PLATFORM_SESSIONS
from credsvc.services import session_health
from tests.conftest import AUDIT, DIRECTUS, INTERNAL_HEADERS, sent_audit_rows, user_headers

PC = f"{DIRECTUS}/items/platform_connections"
PS = f"{DIRECTUS}/items/platform_sessions"
OWNER = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
PROFILE = str(uuid.uuid4())
SESSION = str(uuid.uuid4())
COOKIE_VALUE = "cookie-value-must-never-show-9f3a"
COOKIE = {
    "name": "sessionid",
    "value": COOKIE_VALUE,
    "domain": ".instagram.com",
    "path": "/",
    "expires": 1924992000,
    "httpOnly": True,
    "secure": True,
}
NOW = datetime.now(UTC).replace(microsecond=0)  # the views use the real clock
SOON = timedelta(hours=72)


class RecordedEvents:
    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def emit(self, type_, data):
        self.events.append((type_, data))

    def flush(self, timeout=10.0):
        return True


@pytest.fixture
def events(app):
    recorded = RecordedEvents()
    app.extensions["credsvc"].events = recorded
    return recorded


@pytest.fixture
def audit_rows(directus_wire):
    call = directus_wire.post(AUDIT, json={"data": {}})

    def rows():
        return sent_audit_rows(call.calls)

    return rows


def query_of(call) -> dict:
    query = parse_qs(urlsplit(call.request.url).query)
    return {key: values[0] for key, values in query.items()}


def at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def row(**changes):
    base = {
        "id": SESSION,
        "user_id": OWNER,
        "creator_profile_id": PROFILE,
        "platform": "instagram",
        "captured_at": at(-48),
        "expires_at": None,
        "cookies_expire_at": None,
        "cookie_count": 3,
        "revoked_at": None,
        "needs_recapture_at": None,
        "recapture_reason": None,
        "superseded_by": None,
    }
    return {**base, **changes}


# -- status ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, status",
    [
        ({}, "active"),
        ({"expires_at": at(100)}, "active"),
        ({"expires_at": at(71)}, "expiring_soon"),
        ({"cookies_expire_at": at(71), "expires_at": at(500)}, "expiring_soon"),
        ({"expires_at": at(-1)}, "expired"),
        ({"cookies_expire_at": at(-1)}, "expired"),
        ({"expires_at": at(500), "cookies_expire_at": at(0)}, "expired"),
        ({"needs_recapture_at": at(-1), "expires_at": at(-5)}, "needs_recapture"),
        ({"needs_recapture_at": at(-1), "superseded_by": SESSION}, "superseded"),
        ({"revoked_at": at(-1), "needs_recapture_at": at(-2), "superseded_by": SESSION}, "revoked"),
    ],
)
def test_status_strongest_first(changes, status):
    assert session_health.status_of(row(**changes), NOW, SOON) == status


# -- GET /platforms ----------------------------------------------------------------------------


def test_platforms_come_from_the_one_table(client, directus_wire):
    response = client.get("/api/credentials/platforms", headers=user_headers(OWNER))
    body = response.get_json()
    assert response.status_code == 200 and body["success"] is True
    listed = {entry["platform"]: entry for entry in body["platforms"]}
    assert {"instagram", "tiktok", "youtube", "twitter", "reddit"} <= set(listed)
    assert set(listed) == set(platforms.PLATFORMS)
    assert listed["instagram"] == {
        "platform": "instagram",
        "name": "Instagram",
        "cookie_domains": ["instagram.com"],
        "login_url": "https://www.instagram.com/accounts/login/",
        "session_cookies": ["sessionid"],
    }
    assert listed["twitter"]["cookie_domains"] == ["x.com"]
    assert response.headers["Cache-Control"] == "no-store"
    assert len(directus_wire.calls) == 0


@pytest.mark.parametrize("platform", platforms.PLATFORMS.values(), ids=lambda p: p.name)
def test_the_platform_listing_agrees_with_the_end_user_cookie_table(platform):
    """Every session cookie is a cookie of the end-user table, on the listed domains."""
    listed = platform.public()
    table = {spec.name: spec.domain for spec in platform.cookies}
    assert listed["session_cookies"] and set(listed["session_cookies"]) <= set(table)
    assert sorted(listed["cookie_domains"]) == sorted({d.lstrip(".") for d in table.values()})
    assert listed["login_url"].startswith("https://")


def test_platforms_need_a_user_token(client, directus_wire):
    assert client.get("/api/credentials/platforms").status_code == 401
    response = client.get("/api/credentials/platforms", headers=INTERNAL_HEADERS)
    assert response.status_code == 401


# -- GET /platform-sessions --------------------------------------------------------------------


def test_the_owner_lists_profiles_and_session_health_without_values(client, directus_wire):
    profiles = directus_wire.get(
        PC, json={"data": [{"id": PROFILE, "platform": "instagram", "platform_username": "me"}]}
    )
    flagged = row(needs_recapture_at=at(-1), recapture_reason="logged_out")
    fresh = row(id=str(uuid.uuid4()), captured_at=at(-0.5), expires_at="2099-01-01T00:00:00Z")
    soon = row(id=str(uuid.uuid4()), captured_at=at(-3), cookies_expire_at=at(1))
    sessions = directus_wire.get(
        PS, json={"data": [{**fresh, "encrypted_cookies": "v2:never-returned"}, soon, flagged]}
    )
    response = client.get("/api/credentials/platform-sessions", headers=user_headers(OWNER))
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["profiles"] == [{"id": PROFILE, "platform": "instagram", "platform_username": "me"}]
    assert [s["status"] for s in body["sessions"]] == ["active", "expiring_soon", "needs_recapture"]
    assert set(body["sessions"][2]) == {
        "id", "creator_profile_id", "platform", "status", "reason", "captured_at",
        "expires_at", "cookie_count", "reported_at", "superseded_by",
    }  # fmt: skip
    assert body["sessions"][2]["reason"] == "logged_out"
    assert body["sessions"][2]["reported_at"] == flagged["needs_recapture_at"]
    assert "never-returned" not in response.get_data(as_text=True)
    # Only the caller's: profiles by owner, sessions of those profiles captured by the owner.
    asked = query_of(profiles.calls[0])
    assert json.loads(asked["filter"]) == {"user_id": {"_eq": OWNER}}
    asked = query_of(sessions.calls[0])
    assert json.loads(asked["filter"]) == {
        "creator_profile_id": {"_in": [PROFILE]},
        "user_id": {"_eq": OWNER},
    }
    assert asked["sort"] == "-captured_at,-date_created"
    assert int(asked["limit"]) == session_health.LIST_LIMIT
    assert "encrypted_cookies" not in asked["fields"]


def test_a_session_of_another_user_returned_anyway_is_not_listed(client, directus_wire):
    directus_wire.get(
        PC, json={"data": [{"id": PROFILE, "platform": "instagram", "platform_username": None}]}
    )
    directus_wire.get(PS, json={"data": [row(user_id=OTHER)]})
    body = client.get("/api/credentials/platform-sessions", headers=user_headers(OWNER)).get_json()
    assert body["sessions"] == []


def test_no_profiles_no_session_query(client, directus_wire):
    directus_wire.get(PC, json={"data": []})
    body = client.get("/api/credentials/platform-sessions", headers=user_headers(OWNER)).get_json()
    assert body == {"success": True, "profiles": [], "sessions": []}
    assert [c.request.url.split("?")[0] for c in directus_wire.calls] == [PC]


def test_the_expiring_soon_window_is_configurable(env, directus_wire):
    from credsvc import create_app

    app = create_app({**env, "SESSION_EXPIRING_SOON_HOURS": "1"})
    directus_wire.get(
        PC, json={"data": [{"id": PROFILE, "platform": "x", "platform_username": None}]}
    )
    in_two_hours = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    directus_wire.get(PS, json={"data": [row(expires_at=in_two_hours)]})
    body = (
        app.test_client()
        .get("/api/credentials/platform-sessions", headers=user_headers(OWNER))
        .get_json()
    )
    assert body["sessions"][0]["status"] == "active"  # 72 h would say expiring_soon


# -- POST /report-platform-session -------------------------------------------------------------


def report(client, body, headers=INTERNAL_HEADERS):
    return client.post("/api/credentials/report-platform-session", headers=headers, json=body)


def test_a_report_flags_the_session_audits_and_emits(client, directus_wire, audit_rows, events):
    read = directus_wire.get(PS, json={"data": [row()]})
    patch = directus_wire.patch(f"{PS}/{SESSION}", json={"data": {}})
    response = report(client, {"id": SESSION, "reason": "challenge"})
    assert response.get_json() == {"success": True, "id": SESSION, "status": "needs_recapture"}
    sent = json.loads(patch.calls[0].request.body)
    assert set(sent) == {"needs_recapture_at", "recapture_reason"}
    assert sent["recapture_reason"] == "challenge" and sent["needs_recapture_at"].endswith("Z")
    assert "encrypted_cookies" not in query_of(read.calls[0])["fields"]
    [audit] = audit_rows()
    assert audit["action"] == "report-platform-session" and audit["outcome"] == "ok"
    assert audit["target_id"] == SESSION and audit["actor"] == "internal:rbac-sync"
    assert audit["detail"] == "challenge"  # the reason code, from the closed set
    assert events.events == [
        (
            "platform_session.needs_recapture",
            {
                "session_id": SESSION,
                "creator_profile_id": PROFILE,
                "platform": "instagram",
                "reason": "challenge",
            },
        )
    ]


@pytest.mark.parametrize(
    "changes, status",
    [
        ({"needs_recapture_at": at(-5), "recapture_reason": "logged_out"}, "needs_recapture"),
        ({"revoked_at": at(-5)}, "revoked"),
        ({"needs_recapture_at": at(-5), "superseded_by": str(uuid.uuid4())}, "superseded"),
    ],
)
def test_a_second_report_or_one_of_a_revoked_session_changes_nothing(
    client, directus_wire, audit_rows, events, changes, status
):
    directus_wire.get(PS, json={"data": [row(**changes)]})
    response = report(client, {"id": SESSION, "reason": "other"})
    assert response.get_json() == {"success": True, "id": SESSION, "status": status}
    assert [c.request.method for c in directus_wire.calls if c.request.url.startswith(PS)] == [
        "GET"
    ]
    assert events.events == []


def test_an_unknown_session_is_404(client, directus_wire, audit_rows):
    directus_wire.get(PS, json={"data": []})
    response = report(client, {"id": SESSION, "reason": "expired"})
    assert response.status_code == 404
    assert response.get_json() == {
        "success": False,
        "error": f"Platform session {SESSION} not found",
    }
    assert audit_rows()[0]["outcome"] == "not_found"
    assert audit_rows()[0]["detail"] == "expired"


@pytest.mark.parametrize("reason", sorted(session_health.REASONS))
def test_every_report_audits_its_reason_code(client, directus_wire, audit_rows, events, reason):
    directus_wire.get(PS, json={"data": [row(revoked_at=at(-5))]})  # nothing to change
    response = report(client, {"id": SESSION, "reason": reason})
    assert response.status_code == 200
    [audit] = audit_rows()
    assert (audit["action"], audit["outcome"], audit["detail"]) == (
        "report-platform-session",
        "ok",
        reason,
    )


@pytest.mark.parametrize(
    "body",
    [
        {"id": SESSION, "reason": "rate_limited"},
        {"id": SESSION, "reason": "LOGGED_OUT"},
        {"id": SESSION, "reason": ""},
        {"id": SESSION},
        {"reason": "other"},
        {"id": "not-a-uuid", "reason": "other"},
        {"id": SESSION, "reason": "other", "extra": 1},
    ],
)
def test_bad_reports_are_400_before_directus(client, directus_wire, body):
    response = report(client, body)
    assert response.status_code == 400 and response.get_json()["success"] is False
    assert len(directus_wire.calls) == 0


def test_reason_codes_are_the_closed_set():
    assert set(session_health.REASONS) == {
        "logged_out", "challenge", "expired", "invalid_cookies", "other",
    }  # fmt: skip


def test_users_cannot_report(client, directus_wire):
    response = report(client, {"id": SESSION, "reason": "other"}, headers=user_headers(OWNER))
    assert response.status_code == 401
    assert len(directus_wire.calls) == 0


# -- get-platform-session after a report -------------------------------------------------------


def test_get_skips_flagged_and_superseded_sessions_in_its_query(
    client, app, directus_wire, audit_rows
):
    directus_wire.get(PC, json={"data": [{"id": PROFILE, "user_id": OWNER, "platform": "instagram",
                                          "platform_username": None}]})  # fmt: skip
    sessions = directus_wire.get(PS, json={"data": []})
    client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram"},
    )
    served_filter = json.loads(query_of(sessions.calls[0])["filter"])
    assert served_filter["needs_recapture_at"] == {"_null": True}
    assert served_filter["superseded_by"] == {"_null": True}
    assert served_filter["revoked_at"] == {"_null": True}


def filter_has(text: str):
    """A `responses` matcher on the decoded filter of a GET."""

    def match(request):
        found = text in parse_qs(urlsplit(request.url).query).get("filter", [""])[0]
        return found, "" if found else f"filter without {text}"

    return match


@pytest.mark.parametrize(
    "flagged, message",
    [
        (
            row(needs_recapture_at=at(-1), recapture_reason="challenge"),
            f"The instagram session of creator profile {PROFILE} needs re-capture "
            "(reported: challenge); no other usable session is stored",
        ),
        (None, f"No active instagram session for creator profile {PROFILE}"),
        (
            row(user_id=OTHER, needs_recapture_at=at(-1), recapture_reason="challenge"),
            f"No active instagram session for creator profile {PROFILE}",
        ),
    ],
    ids=["flagged", "none-stored", "flagged-of-another-owner"],
)
def test_with_no_usable_session_the_404_says_whether_it_needs_recapture(
    client, directus_wire, audit_rows, flagged, message
):
    directus_wire.get(PC, json={"data": [{"id": PROFILE, "user_id": OWNER, "platform": "instagram",
                                          "platform_username": None}]})  # fmt: skip
    directus_wire.get(PS, json={"data": []}, match=[filter_has('"needs_recapture_at":{"_null"')])
    directus_wire.get(
        PS,
        json={"data": [flagged] if flagged else []},
        match=[filter_has('"needs_recapture_at":{"_nnull"')],
    )
    response = client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram"},
    )
    assert response.status_code == 404
    assert response.get_json() == {"success": False, "error": message}
    assert OTHER not in response.get_data(as_text=True)


# -- store-platform-session supersedes -------------------------------------------------------


def test_a_new_capture_supersedes_the_flagged_sessions_and_emits(
    client, app, directus_wire, events
):
    directus_wire.get(PC, json={"data": [{"id": PROFILE, "user_id": OWNER, "platform": "instagram",
                                          "platform_username": None}]})  # fmt: skip
    post = directus_wire.post(PS, json={"data": {}})
    old = str(uuid.uuid4())
    flagged = directus_wire.get(
        PS,
        json={"data": [row(id=old, needs_recapture_at=at(-1), recapture_reason="logged_out")]},
    )
    batch = directus_wire.patch(PS, json={"data": []})
    session_cookie = dict(COOKIE, name="csrftoken", expires=None)
    response = client.post(
        "/api/credentials/store-platform-session",
        headers=user_headers(OWNER),
        json={"creator_profile_id": PROFILE, "platform": "instagram",
              "cookies": [COOKIE, session_cookie, dict(COOKIE, name="ds_user_id",
                                                        expires=1800000000)]},
    )  # fmt: skip
    body = response.get_json()
    assert response.status_code == 200 and set(body) == {
        "success", "id", "platform", "cookie_count",
    }  # fmt: skip
    stored = json.loads(post.calls[0].request.body)
    # The moment every dated cookie has expired: the later of the two dated ones.
    assert stored["cookies_expire_at"] == "2031-01-01T00:00:00.000Z"  # 1924992000
    assert COOKIE_VALUE not in json.dumps(stored)
    assert app.extensions["credsvc"].keyring.decrypt(
        stored["encrypted_cookies"], PLATFORM_SESSIONS.context(stored)
    )
    asked = json.loads(query_of(flagged.calls[0])["filter"])
    assert asked["needs_recapture_at"] == {"_nnull": True}
    assert asked["user_id"] == {"_eq": OWNER} and asked["superseded_by"] == {"_null": True}
    assert json.loads(batch.calls[0].request.body) == [{"id": old, "superseded_by": body["id"]}]
    assert events.events == [
        (
            "platform_session.recaptured",
            {
                "session_id": body["id"],
                "creator_profile_id": PROFILE,
                "platform": "instagram",
                "reason": "logged_out",
                "superseded": [old],
            },
        )
    ]
    assert COOKIE_VALUE not in json.dumps(events.events)


def test_a_capture_with_nothing_flagged_supersedes_nothing(client, directus_wire, events):
    directus_wire.get(PC, json={"data": [{"id": PROFILE, "user_id": OWNER, "platform": "instagram",
                                          "platform_username": None}]})  # fmt: skip
    post = directus_wire.post(PS, json={"data": {}})
    # An active older session and a flagged row of another user (returned despite the filter)
    directus_wire.get(PS, json={"data": [row(user_id=OTHER, needs_recapture_at=at(-1))]})
    response = client.post(
        "/api/credentials/store-platform-session",
        headers=user_headers(OWNER),
        json={"creator_profile_id": PROFILE, "platform": "instagram",
              "cookies": [dict(COOKIE, expires=None)]},
    )  # fmt: skip
    assert response.status_code == 200
    assert json.loads(post.calls[0].request.body)["cookies_expire_at"] is None
    assert [c.request.method for c in directus_wire.calls if c.request.url.startswith(PS)] == [
        "POST",
        "GET",
    ]
    assert events.events == []


def test_a_capture_is_stored_even_when_superseding_fails(client, directus_wire, events, caplog):
    directus_wire.get(PC, json={"data": [{"id": PROFILE, "user_id": OWNER, "platform": "instagram",
                                          "platform_username": None}]})  # fmt: skip
    directus_wire.post(PS, json={"data": {}})
    directus_wire.get(PS, status=500, json={"errors": [{"message": "boom"}]})
    response = client.post(
        "/api/credentials/store-platform-session",
        headers=user_headers(OWNER),
        json={"creator_profile_id": PROFILE, "platform": "instagram", "cookies": [COOKIE]},
    )
    assert response.status_code == 200, response.get_json()
    assert "superseded failed (DirectusResponseError)" in caplog.text
    assert COOKIE_VALUE not in caplog.text
    assert events.events == []


# -- review fixes: timestamps without a zone, reasons read back from Directus ----------------


@pytest.mark.parametrize(
    "changes, status",
    [
        ({"expires_at": "2026-11-25T10:00:00"}, "expired"),  # naive: read as UTC
        ({"cookies_expire_at": "2099-01-01T00:00:00"}, "active"),
        ({"expires_at": (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")}, "expiring_soon"),
        ({"expires_at": "2099-01-01T00:00:00", "cookies_expire_at": at(-1)}, "expired"),
    ],
)
def test_timestamps_without_a_zone_are_utc(changes, status):
    assert session_health.status_of(row(**changes), NOW, SOON) == status


def test_a_listing_with_a_naive_timestamp_answers(client, directus_wire):
    directus_wire.get(
        PC, json={"data": [{"id": PROFILE, "platform": "instagram", "platform_username": None}]}
    )
    directus_wire.get(PS, json={"data": [row(expires_at="2026-11-25T10:00:00")]})
    response = client.get("/api/credentials/platform-sessions", headers=user_headers(OWNER))
    assert response.status_code == 200, response.get_json()
    [listed] = response.get_json()["sessions"]
    assert listed["status"] in ("expired", "expiring_soon", "active")


CRAFTED = "<img src=x onerror=alert(1)> call +1-555-0100"  # what someone wrote in Directus


@pytest.mark.parametrize(
    "stored, read_back",
    [("challenge", "challenge"), (CRAFTED, "other"), ("", "other"), (None, "other"), (7, "other")],
)
def test_a_stored_reason_outside_the_closed_set_reads_back_as_other(stored, read_back):
    assert (
        session_health.stored_reason({"needs_recapture_at": at(-1), "recapture_reason": stored})
        == read_back
    )
    # Not flagged and nothing stored: no reason at all.
    assert session_health.stored_reason({"recapture_reason": None}) is None


def test_the_listing_never_returns_a_reason_outside_the_closed_set(client, directus_wire):
    directus_wire.get(
        PC, json={"data": [{"id": PROFILE, "platform": "instagram", "platform_username": None}]}
    )
    directus_wire.get(PS, json={"data": [row(needs_recapture_at=at(-1), recapture_reason=CRAFTED)]})
    response = client.get("/api/credentials/platform-sessions", headers=user_headers(OWNER))
    assert response.get_json()["sessions"][0]["reason"] == "other"
    assert "onerror" not in response.get_data(as_text=True)


def test_the_404_never_quotes_a_reason_outside_the_closed_set(client, directus_wire, audit_rows):
    directus_wire.get(PC, json={"data": [{"id": PROFILE, "user_id": OWNER, "platform": "instagram",
                                          "platform_username": None}]})  # fmt: skip
    directus_wire.get(PS, json={"data": []}, match=[filter_has('"needs_recapture_at":{"_null"')])
    directus_wire.get(
        PS,
        json={"data": [row(needs_recapture_at=at(-1), recapture_reason=CRAFTED)]},
        match=[filter_has('"needs_recapture_at":{"_nnull"')],
    )
    response = client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram"},
    )
    assert response.status_code == 404
    assert "(reported: other)" in response.get_json()["error"]
    assert "onerror" not in response.get_data(as_text=True)


def test_the_recaptured_webhook_never_carries_a_reason_outside_the_closed_set(
    client, directus_wire, events
):
    directus_wire.get(PC, json={"data": [{"id": PROFILE, "user_id": OWNER, "platform": "instagram",
                                          "platform_username": None}]})  # fmt: skip
    directus_wire.post(PS, json={"data": {}})
    old = str(uuid.uuid4())
    directus_wire.get(
        PS, json={"data": [row(id=old, needs_recapture_at=at(-1), recapture_reason=CRAFTED)]}
    )
    directus_wire.patch(PS, json={"data": []})
    response = client.post(
        "/api/credentials/store-platform-session",
        headers=user_headers(OWNER),
        json={"creator_profile_id": PROFILE, "platform": "instagram", "cookies": [COOKIE]},
    )
    assert response.status_code == 200, response.get_json()
    [(type_, data)] = events.events
    assert type_ == "platform_session.recaptured" and data["reason"] == "other"

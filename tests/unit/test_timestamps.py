"""One reading of Directus timestamps (credsvc.services.parse_timestamp) for every caller:
Directus answers a `dateTime` column without a zone, a `timestamp` column with one, and anyone
with write access in Directus can put anything in either. None of that may become a 500."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from credsvc import cookies
from credsvc.model import PLATFORM_SESSIONS
from credsvc.services import api_keys, parse_timestamp, platform_sessions, session_health
from tests.conftest import AUDIT, DIRECTUS, INTERNAL_HEADERS, user_headers

PC = f"{DIRECTUS}/items/platform_connections"
PS = f"{DIRECTUS}/items/platform_sessions"
OWNER = str(uuid.uuid4())
PROFILE = str(uuid.uuid4())
COOKIE = {
    "name": "sessionid",
    "value": "cookie-value-9f3a",
    "domain": ".instagram.com",
    "path": "/",
    "expires": 4102444800,  # 2100
    "httpOnly": True,
    "secure": True,
}
GARBAGE = ["yesterday", "2026-13-45T00:00:00", "", "   ", "Z", 7, 1.5, ["2026-01-01"], {}]
# Valid ISO 8601, but out of range once read as UTC (OverflowError).
GARBAGE += ["9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+01:00"]


@pytest.mark.parametrize(
    "text, moment",
    [
        ("2026-01-02T03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),  # dateTime: no zone
        ("2026-01-02T03:04:05.000Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T05:04:05+02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02", datetime(2026, 1, 2, tzinfo=UTC)),
    ],
)
def test_a_timestamp_reads_as_aware_utc(text, moment):
    parsed = parse_timestamp(text)
    assert parsed == moment
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize("value", [None, *GARBAGE])
def test_garbage_and_nothing_read_as_unknown(value):
    assert parse_timestamp(value) is None


def test_every_caller_uses_the_one_reading():
    """One fact in one place: the callers do not keep a reading of their own."""
    assert api_keys.parse_timestamp is parse_timestamp
    assert not hasattr(session_health, "_parse")


# -- platform_sessions.is_expired -----------------------------------------------------------

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "expires_at, expired",
    [
        ("2026-06-01T11:59:59", True),  # naive, passed (as UTC)
        ("2026-06-01T12:00:01", False),  # naive, ahead
        ("2026-06-01T11:59:59.000Z", True),
        ("2026-06-01T13:59:59+02:00", True),
        ("2026-06-01T14:00:01+02:00", False),
        (None, False),
        *[(value, False) for value in GARBAGE],  # unknown: the cookies decide
    ],
)
def test_is_expired_reads_every_shape(expires_at, expired):
    record = {"expires_at": expires_at}
    cookie_list = cookies.from_extension([COOKIE])
    assert platform_sessions.is_expired(record, cookie_list, NOW) is expired


# -- at the wire ------------------------------------------------------------------------------


def stored_session(app, expires_at):
    session = {
        "id": str(uuid.uuid4()),
        "user_id": OWNER,
        "creator_profile_id": PROFILE,
        "platform": "instagram",
        "captured_at": "2026-01-15T10:30:00",
        "expires_at": expires_at,
        "user_agent": None,
    }
    session["encrypted_cookies"] = app.extensions["credsvc"].keyring.encrypt(
        [COOKIE], PLATFORM_SESSIONS.context(session)
    )
    return session


@pytest.mark.parametrize(
    "expires_at, expired",
    [
        ("2020-01-01T00:00:00", True),  # what Directus answers for a dateTime column
        ("2099-01-01T00:00:00", False),
        ("2020-01-01T00:00:00.000Z", True),
        ("not a time", False),
    ],
)
def test_get_platform_session_with_any_expires_at_answers(
    client, app, directus_wire, expires_at, expired
):
    directus_wire.post(AUDIT, json={"data": {}})
    directus_wire.get(
        PC, json={"data": [{"id": PROFILE, "user_id": OWNER, "platform": "instagram",
                            "platform_username": None}]},
    )  # fmt: skip
    directus_wire.get(PS, json={"data": [stored_session(app, expires_at)]})
    response = client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["expired"] is expired
    assert body["expires_at"] == expires_at


def test_the_session_listing_with_garbage_timestamps_answers(client, directus_wire):
    directus_wire.get(
        PC, json={"data": [{"id": PROFILE, "platform": "instagram", "platform_username": None}]}
    )
    row = {
        "id": str(uuid.uuid4()),
        "user_id": OWNER,
        "creator_profile_id": PROFILE,
        "platform": "instagram",
        "captured_at": "2026-01-15T10:30:00",
        "expires_at": "soon-ish",
        "cookies_expire_at": "2020-01-01T00:00:00",
        "cookie_count": 1,
        "revoked_at": None,
        "needs_recapture_at": None,
        "recapture_reason": None,
        "superseded_by": None,
    }
    directus_wire.get(PS, json={"data": [row]})
    response = client.get("/api/credentials/platform-sessions", headers=user_headers(OWNER))
    assert response.status_code == 200, response.get_data(as_text=True)
    [listed] = response.get_json()["sessions"]
    # The garbage expires_at is unknown; the naive cookies_expire_at (UTC) has passed.
    assert listed["status"] == "expired"
    assert json.dumps(listed).count("cookie-value") == 0

"""Cookie formats of platform sessions on the way in (Chrome objects) and out (JSON,
Playwright, Netscape)."""

from __future__ import annotations

from credsvc.model import PLATFORM_SESSIONS
from tests.conftest import INTERNAL_HEADERS, user_headers
from tests.unit.credentials_api.wire import (
    COOKIE,
    OWNER,
    PC,
    PROFILE,
    PS,
    as_read,
    assert_error,
    profile_row,
    sent_json,
)

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

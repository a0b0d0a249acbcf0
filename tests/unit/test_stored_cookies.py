"""Stored sessions are always served or refused cleanly (issue 15 item 6): cookies written by
the Node service that today's validation refuses, and the expiry of Chrome-keyed objects."""

from __future__ import annotations

import json
import uuid

import pytest

from credsvc import cookies as C
from credsvc.cookies._json import CHROME_KEYS
from credsvc.crypto import encrypt_json
from credsvc.model import PLATFORM_SESSIONS
from tests.conftest import AUDIT, DIRECTUS, INTERNAL_HEADERS, TEST_ENV, sent_audit_rows

T = 1924992000  # 2031-01-01
SPEC = {
    "name": "sessionid",
    "value": "SECRET-cookie-value-1",
    "domain": ".instagram.com",
    "path": "/",
    "httpOnly": True,
    "secure": True,
}
# A value of each Chrome-only key that keeps the object valid (hostOnly false: the domain has
# its dot); `session` false, since `session: true` means "no expiry" by definition.
CHROME_VALUES = {
    "expirationDate": T,
    "hostOnly": False,
    "session": False,
    "storeId": "0",
    "partitionKey": {"topLevelSite": "https://instagram.com"},
}


def test_every_chrome_only_key_is_covered():
    assert set(CHROME_VALUES) == set(CHROME_KEYS)


@pytest.mark.parametrize("chrome_key", sorted(CHROME_KEYS))
@pytest.mark.parametrize("expiry_key", ["expires", "expirationDate"])
def test_an_expiry_survives_every_chrome_key(chrome_key, expiry_key):
    obj = {**SPEC, chrome_key: CHROME_VALUES[chrome_key], expiry_key: T}
    [cookie] = C.from_extension([obj])
    assert cookie.expires == T
    assert C.to_extension([cookie])[0]["expires"] == T


def test_an_expiry_survives_every_chrome_key_at_once():
    [cookie] = C.from_extension([{**SPEC, **CHROME_VALUES, "expirationDate": None, "expires": T}])
    assert cookie.expires == T


@pytest.mark.parametrize("expiry_key", ["expires", "expirationDate"])
def test_session_true_still_means_a_session_cookie(expiry_key):
    [cookie] = C.from_extension([{**SPEC, "session": True, expiry_key: T}])
    assert cookie.expires is None


def test_expires_and_expiration_date_must_agree():
    [cookie] = C.from_extension([{**SPEC, "expires": T, "expirationDate": T + 0.25}])
    assert cookie.expires == T + 0.25  # Chrome's own field, with its fraction
    with pytest.raises(C.CookieFormatError, match="disagree"):
        C.from_extension([{**SPEC, "expires": T, "expirationDate": T + 3600}])


# -- reading stored lists ----------------------------------------------------------------

NODE_ROW = [
    {**SPEC, "expires": T, "hostOnly": False},  # 0: fine (its expiry kept)
    {**SPEC, "name": "csrftoken", "value": "SECRET-v2", "sameSite": "sideways"},  # 1: sameSite
    {"name": "ds_user_id", "value": "SECRET-v3", "domain": "insta gram.com"},  # 2: domain
    "SECRET-not-an-object",  # 3
    {**SPEC, "name": "sessionid=SECRET-v5", "value": ""},  # 4: the name holds a value
    {**SPEC, "name": "mid", "value": "SECRET-v6", "expires": "1924992000"},  # 5: a string
    {**SPEC, "name": "rur", "value": "SECRET-v7", "sameSite": "None", "secure": False},  # 6
]


def test_read_stored_keeps_the_valid_cookies_and_names_each_refused_one():
    stored = C.read_stored(NODE_ROW)
    assert [c.name for c in stored.cookies] == ["sessionid", "rur"]
    assert stored.positions == (0, 6) and stored.cookies[0].expires == T
    problems = [p.as_dict() for p in stored.problems]
    assert [p["index"] for p in problems] == [1, 2, 3, 4, 5]
    assert all(p["dropped"] for p in problems)
    assert problems[0]["name"] == "csrftoken" and "sameSite" in problems[0]["reason"]
    assert problems[1]["name"] == "ds_user_id" and problems[1]["domain"] == ""
    assert "expected an object" in problems[2]["reason"]
    assert problems[3]["name"] == ""  # not shown: it holds what looks like a value
    assert problems[4]["name"] == "mid" and "expires" in problems[4]["reason"]
    assert "SECRET" not in json.dumps(problems)


@pytest.mark.parametrize("stored", [{"cookies": []}, "text", 42, None])
def test_read_stored_of_a_value_that_is_not_a_list(stored):
    result = C.read_stored(stored)
    assert not result.usable and [p.index for p in result.problems] == [-1]


def test_render_stored_indexes_every_problem_by_its_stored_position():
    converted = C.render_stored(C.read_stored(NODE_ROW), "playwright")
    by_index = {p.index: p for p in converted.problems}
    assert set(by_index) == {1, 2, 3, 4, 5, 6}
    assert by_index[6].name == "rur" and not by_index[6].dropped  # sent as Lax, at index 6
    assert [c["name"] for c in converted.output] == ["sessionid", "rur"]


# -- through the API ---------------------------------------------------------------------

PC = f"{DIRECTUS}/items/platform_connections"
PS = f"{DIRECTUS}/items/platform_sessions"
OWNER, PROFILE, SESSION = (str(uuid.uuid4()) for _ in range(3))


@pytest.fixture
def audit_rows(directus_wire):
    call = directus_wire.post(AUDIT, json={"data": {}})
    return lambda: sent_audit_rows(call.calls)


def node_session_row(stored_cookies) -> dict:
    """A platform_sessions row as the Node service left it: legacy three-part value."""
    row = {
        "id": SESSION,
        "user_id": OWNER,
        "creator_profile_id": PROFILE,
        "platform": "instagram",
        "captured_at": "2026-01-15T10:30:00.000Z",
        "expires_at": None,
        "user_agent": "Mozilla/5.0",
    }
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    row[PLATFORM_SESSIONS.field] = encrypt_json(stored_cookies, key)
    return row


def get_session(client, directus_wire, stored_cookies, fmt="json"):
    directus_wire.get(PC, json={"data": [{"id": PROFILE, "user_id": OWNER, "platform": "x"}]})
    directus_wire.get(PS, json={"data": [node_session_row(stored_cookies)]})
    return client.post(
        "/api/credentials/get-platform-session",
        headers=INTERNAL_HEADERS,
        json={"creator_profile_id": PROFILE, "platform": "instagram", "format": fmt},
    )


@pytest.mark.parametrize("fmt", ["json", "netscape", "playwright"])
def test_a_node_session_with_refused_cookies_is_served_with_problems(
    client, directus_wire, audit_rows, fmt
):
    response = get_session(client, directus_wire, NODE_ROW, fmt)
    body = response.get_json()
    assert response.status_code == 200, body
    assert [p["index"] for p in body["problems"] if p["dropped"]] == [1, 2, 3, 4, 5]
    text = json.dumps(body)
    for hidden in ("SECRET-v2", "SECRET-v3", "SECRET-not-an-object", "SECRET-v5", "SECRET-v6"):
        assert hidden not in text
    assert "SECRET-cookie-value-1" in text  # the valid cookies are served
    assert [r["outcome"] for r in audit_rows()] == ["ok"]
    if fmt == "json":
        assert body["cookies"][0]["expires"] == T


def test_a_node_session_without_a_usable_cookie_is_a_clean_404(client, directus_wire, audit_rows):
    response = get_session(client, directus_wire, NODE_ROW[1:3])
    assert response.status_code == 404
    assert response.get_json() == {
        "success": False,
        "error": f"The stored instagram session of creator profile {PROFILE} has no usable "
        "cookie (2 refused); capture it again",
    }
    assert [r["outcome"] for r in audit_rows()] == ["not_found"]


def test_a_valid_node_session_has_no_problems_key(client, directus_wire, audit_rows):
    body = get_session(client, directus_wire, [NODE_ROW[0]]).get_json()
    assert "problems" not in body and body["cookies"][0]["expires"] == T


# -- stored Netscape files (download credentials) ------------------------------------------

HEADER = "# Netscape HTTP Cookie File\n"
GOOD = ".youtube.com\tTRUE\t/\tTRUE\t1924992000\tSID\tSECRET-sid\n"
GOOD_2 = "#HttpOnly_www.youtube.com\tFALSE\t/\tTRUE\t0\tHSID\tSECRET-hsid\n"
BAD_LINES = (
    ".youtube.com\tTRUE\t/\tTRUE\t0\tSECRET-six-fields\n"  # 6 fields
    "youtube.com\tTRUE\t/\tFALSE\t0\tAPISID\tSECRET-v3\n"  # subdomains without a dot
    ".youtube.com\tTRUE\t/\tTRUE\t1.9e9\tSSID\tSECRET-v4\n"  # expires not a number
    "#httponly_.youtube.com\tTRUE\t/\tTRUE\t0\tLOGIN\tSECRET-v5\n"  # the prefix's case
)
NODE_FILE = HEADER + GOOD + BAD_LINES + GOOD_2


def test_read_stored_netscape_keeps_the_valid_lines_and_names_each_refused_one():
    stored = C.read_stored_netscape(NODE_FILE)
    assert [c.name for c in stored.cookies] == ["SID", "HSID"]
    assert stored.positions == (2, 7)  # line numbers
    assert stored.cookies[1].http_only and stored.cookies[0].expires == 1924992000
    problems = [p.as_dict() for p in stored.problems]
    assert [p["index"] for p in problems] == [3, 4, 5, 6]
    assert all(p["dropped"] for p in problems)
    assert "7 TAB-separated fields" in problems[0]["reason"]
    assert "include_subdomains" in problems[1]["reason"]
    assert "SECRET" not in json.dumps(problems)
    # The same file is refused whole by the strict reader that guards what is stored today.
    with pytest.raises(C.NetscapeFormatError):
        C.parse_netscape(NODE_FILE)


@pytest.mark.parametrize(
    "text, reason",
    [
        (GOOD, "first line"),  # pasted without its header
        ("\ufeff" + HEADER + GOOD, "byte-order mark"),
    ],
)
def test_a_stored_file_with_a_bad_header_keeps_its_cookies(text, reason):
    stored = C.read_stored_netscape(text)
    assert [c.name for c in stored.cookies] == ["SID"]
    [problem] = stored.problems
    assert problem.index == 1 and not problem.dropped and reason in problem.reason


@pytest.mark.parametrize(
    "stored",
    [
        '[{"name": "SID", "value": "SECRET-json"}]',
        HEADER,
        HEADER + BAD_LINES,
        "",
        None,
        42,
        {"cookies_netscape": GOOD},
    ],
)
def test_a_stored_file_without_a_usable_cookie(stored):
    result = C.read_stored_netscape(stored)
    assert not result.usable and result.problems
    assert "SECRET" not in json.dumps([p.as_dict() for p in result.problems])


DC = f"{DIRECTUS}/items/download_credentials"
CREDENTIAL = str(uuid.uuid4())


def node_download_row(credentials, auth_type="cookies") -> dict:
    """A download_credentials row as the Node service left it: legacy three-part value."""
    row = {
        "id": CREDENTIAL,
        "user_id": OWNER,
        "creator_profile_id": PROFILE,
        "platform": "youtube",
        "auth_type": auth_type,
        "username": None,
    }
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    row["encrypted_credentials"] = encrypt_json(credentials, key)
    return row


def reveal_download(client, directus_wire, credentials, fmt, auth_type="cookies"):
    directus_wire.get(DC, json={"data": [node_download_row(credentials, auth_type)]})
    directus_wire.get(PC, json={"data": [{"user_id": OWNER}]})
    return client.post(
        "/api/credentials/reveal-download-cred",
        headers=INTERNAL_HEADERS,
        json={"id": CREDENTIAL, "format": fmt},
    )


@pytest.mark.parametrize("fmt", ["netscape", "playwright"])
def test_a_node_cookie_file_with_refused_lines_is_served_with_problems(
    client, directus_wire, audit_rows, fmt
):
    response = reveal_download(client, directus_wire, {"cookies_netscape": NODE_FILE}, fmt)
    body = response.get_json()
    assert response.status_code == 200, body
    assert [p["index"] for p in body["problems"] if p["dropped"]] == [3, 4, 5, 6]
    text = json.dumps(body)
    assert "SECRET-sid" in text and "SECRET-hsid" in text
    for hidden in ("SECRET-six", "SECRET-v3", "SECRET-v4", "SECRET-v5"):
        assert hidden not in text
    assert [r["outcome"] for r in audit_rows()] == ["ok"]


def no_usable_cookie(refused: int) -> str:
    return (
        f"The stored cookies file of download credential {CREDENTIAL} has no usable cookie "
        f"({refused} refused); store it again"
    )


@pytest.mark.parametrize("fmt", ["netscape", "playwright"])
@pytest.mark.parametrize(
    "credentials, message",
    [
        ({"cookies_netscape": HEADER + BAD_LINES}, no_usable_cookie(4)),
        ({"cookies_netscape": '[{"name": "SID"}]'}, no_usable_cookie(1)),
        ({"cookies_netscape": None}, no_usable_cookie(1)),
        ({"cookies": HEADER + GOOD}, no_usable_cookie(1)),  # another key
        (HEADER + GOOD, no_usable_cookie(1)),  # the file itself, not an object
        ([HEADER + GOOD], no_usable_cookie(1)),
    ],
)
def test_a_node_cookie_file_without_a_usable_cookie_is_a_clean_409(
    client, directus_wire, audit_rows, fmt, credentials, message
):
    response = reveal_download(client, directus_wire, credentials, fmt)
    assert response.status_code == 409, response.get_data(as_text=True)
    assert response.get_json() == {"success": False, "error": message}
    assert [r["outcome"] for r in audit_rows()] == ["conflict"]
    assert "SECRET" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "credentials", [{"username": "u"}, {"password": None}, {"password": 7}, "SECRET-pw", None]
)
def test_a_node_password_row_without_a_password_is_a_clean_409_for_ytdlp(
    client, directus_wire, audit_rows, credentials
):
    response = reveal_download(client, directus_wire, credentials, "ytdlp", "password")
    assert response.status_code == 409, response.get_data(as_text=True)
    assert response.get_json() == {
        "success": False,
        "error": f"The stored credentials of download credential {CREDENTIAL} hold no "
        "password; store them again",
    }
    assert [r["outcome"] for r in audit_rows()] == ["conflict"]


def test_json_format_serves_a_node_row_as_stored(client, directus_wire, audit_rows):
    stored = {"cookies_netscape": HEADER + BAD_LINES}
    response = reveal_download(client, directus_wire, stored, "json")
    assert response.status_code == 200
    assert response.get_json()["credentials"] == stored

"""Validation of every request body (credsvc.schemas), through the endpoints and at the wire.

- Patterns are full matches: a trailing newline is not part of a valid value.
- Values that reach a Directus filter are never the words Directus reads as keywords.
- A 400 names the field and what is expected, never the submitted value (the canary battery).
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from credsvc.schemas import end_users as end_user_schemas
from tests.conftest import INTERNAL_HEADERS, user_headers
from tests.unit.end_user_api.wire import AUTH, accept_key

PROFILE = str(uuid.uuid4())
HEADER = "# Netscape HTTP Cookie File\n"
COOKIE_LINE = [".x.com", "TRUE", "/", "FALSE", "0", "name", "value"]


def post_user(client, path, body):
    return client.post(f"/api/credentials/{path}", headers=user_headers(), json=body)


def post_internal(client, path, body):
    return client.post(path, headers=INTERNAL_HEADERS, json=body)


def assert_400_naming(response, field: str, family: str = "success") -> str:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {family, "error"} and body[family] is False
    assert body["error"].startswith(f"{field}:"), body["error"]
    return body["error"]


# Every endpoint that takes a platform name, with a body that is valid apart from it.
PLATFORM_BODIES = {
    "create-profile": lambda p: ("user", {"platform": p, "credentials": {"a": 1}}),
    "create-download-cred": lambda p: (
        "user",
        {
            "platform": p,
            "creator_profile_id": PROFILE,
            "auth_type": "password",
            "credentials": {"password": "x"},
        },
    ),
    "store-platform-session": lambda p: (
        "user",
        {
            "platform": p,
            "creator_profile_id": PROFILE,
            "cookies": [{"name": "a", "value": "1", "domain": "x.com"}],
        },
    ),
    "get-platform-session": lambda p: (
        "internal",
        {"platform": p, "creator_profile_id": PROFILE},
    ),
}


def send_platform(client, endpoint, platform):
    audience, body = PLATFORM_BODIES[endpoint](platform)
    if audience == "user":
        return post_user(client, endpoint, body)
    return post_internal(client, f"/api/credentials/{endpoint}", body)


# -- full matches ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", sorted(PLATFORM_BODIES))
@pytest.mark.parametrize("platform", ["instagram\n", "tiktok\r\n", "youtube\n\n"])
def test_platform_with_a_trailing_newline_is_400(client, directus_wire, endpoint, platform):
    # "instagram\n" used to pass `^...$` and make a second connection for "the same" platform.
    assert_400_naming(send_platform(client, endpoint, platform), "platform")
    assert len(directus_wire.calls) == 0


@pytest.mark.parametrize("business", ["acme\n", "acme\r\n", "\nacme"])
def test_business_id_with_a_newline_is_400(client, directus_wire, business):
    response = post_internal(
        client,
        "/api/end-user-credentials/reveal",
        {"businessId": business, "endUserId": "alice"},
    )
    assert_400_naming(response, "businessId")
    assert len(directus_wire.calls) == 0


def test_business_id_pattern_is_a_full_match():
    assert end_user_schemas.business_id_problem("acme") is None
    assert end_user_schemas.business_id_problem("acme\n") is not None
    assert end_user_schemas.BUSINESS_ID.match("acme\n") is None  # safe even with .match


# -- Directus filter keywords ---------------------------------------------------------------

KEYWORDS = ["null", "NULL", "true", "false", "Null", "TRUE", "False"]


@pytest.mark.parametrize("endpoint", sorted(PLATFORM_BODIES))
@pytest.mark.parametrize("platform", KEYWORDS[:4])
def test_platform_that_directus_would_read_as_a_keyword_is_400(
    client, directus_wire, endpoint, platform
):
    # Only lowercase words pass the platform pattern; they must not reach a filter either.
    message = assert_400_naming(send_platform(client, endpoint, platform), "platform")
    assert "true, false or null" in message
    assert len(directus_wire.calls) == 0


@pytest.mark.parametrize("business", KEYWORDS)
def test_business_id_that_directus_would_read_as_a_keyword_is_400(client, directus_wire, business):
    # businessId "null" filtered `business_id _eq null`: IS NULL, another business's rows.
    response = post_internal(
        client, "/api/end-user-credentials/reveal", {"businessId": business, "endUserId": "alice"}
    )
    message = assert_400_naming(response, "businessId")
    assert "true, false or null" in message
    assert len(directus_wire.calls) == 0


@pytest.mark.parametrize("business", ["nullable", "true-north", "falsey", "nul", "NULL1"])
def test_business_ids_that_only_look_like_keywords_are_fine(business):
    assert end_user_schemas.business_id_problem(business) is None


# -- end-user ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "end_user_id", ["/bob", "bob/", "a//b", ".", "..", "a/./b", "a/../b", "/", "//"]
)
def test_end_user_ids_with_empty_or_dot_segments_are_refused(end_user_id):
    assert end_user_schemas.end_user_id_problem(end_user_id)


@pytest.mark.parametrize("end_user_id", ["alice", "alice/bob", "org/team/alice", "a.b", "..a"])
def test_end_user_ids_with_ordinary_segments_are_fine(end_user_id):
    assert end_user_schemas.end_user_id_problem(end_user_id) is None


# -- the canary battery: no 400 quotes a submitted value ------------------------------------

MARKERS = (f"CANARY{n:04d}Zq" for n in itertools.count())


def netscape(**fields) -> str:
    names = ("domain", "sub", "path", "secure", "expires", "name", "value")
    line = dict(zip(names, COOKIE_LINE, strict=True))
    line.update(fields)
    return HEADER + "\t".join(line.values()) + "\n"


def download_cookies(text: str) -> dict:
    return {
        "platform": "youtube",
        "creator_profile_id": PROFILE,
        "auth_type": "cookies",
        "credentials": {"cookies_netscape": text},
    }


def session(**cookie) -> dict:
    base = {"name": "a", "value": "1", "domain": "x.com"}
    return {"creator_profile_id": PROFILE, "platform": "youtube", "cookies": [base | cookie]}


def chrome(**cookie) -> dict:
    base = {"name": "a", "value": "1", "domain": ".x.com", "storeId": "0"}
    return {"creator_profile_id": PROFILE, "platform": "youtube", "cookies": [base | cookie]}


def dl(**fields) -> dict:
    """A create-download-cred body; `fields` override the password-auth defaults."""
    body = {
        "platform": "x",
        "creator_profile_id": PROFILE,
        "auth_type": "password",
        "credentials": {"password": "x"},
    }
    return body | fields


def put(field: str, suffix: str):
    return lambda m: {field: m + suffix}


# Per endpoint, bodies built around the marker: the marker is the invalid value or sits in it.
# Names of unknown fields are left out on purpose: a 400 may name the field it refuses.
USER_CASES = {
    "create-profile": [
        lambda m: {"platform": m, "credentials": {"a": 1}},
        lambda m: {"platform": m + "\n", "credentials": {"a": 1}},
        lambda m: {"platform": "x", "credentials": m},
        lambda m: {"platform": "x", "credentials": [m]},
        lambda m: {"platform": "x", "credentials": {m * 12: 1}},  # a field name too long
        lambda m: {"platform": "x", "platform_username": m * 30, "credentials": {"a": 1}},
        lambda m: {"platform": "x", "platform_username": [m], "credentials": {"a": 1}},
    ],
    "update-profile-creds": [
        lambda m: {"creator_profile_id": m, "credentials": {"a": 1}},
        lambda m: {
            "creator_profile_id": PROFILE,
            "credentials": {"a": 1},
            "platform_username": [m],
        },
    ],
    "create-download-cred": [
        lambda m: dl(creator_profile_id=m),
        lambda m: dl(auth_type=m),
        lambda m: dl(credentials={"password": m, "other": m}),
        lambda m: dl(credentials={"password": [m]}),
        lambda m: download_cookies(m),
        lambda m: download_cookies(HEADER + m + "\n"),
        lambda m: download_cookies(HEADER + m + " TRUE / FALSE 0 a 1\n"),
        lambda m: download_cookies(netscape(domain=m + ":1")),
        lambda m: download_cookies(netscape(domain=m)),  # no leading dot, include_subdomains
        lambda m: download_cookies(netscape(domain="." + m, sub="FALSE")),
        lambda m: download_cookies(netscape(sub=m)),
        lambda m: download_cookies(netscape(path=m)),
        lambda m: download_cookies(netscape(secure=m)),
        lambda m: download_cookies(netscape(expires=m)),
        lambda m: download_cookies(netscape(expires="9" * 40 + m)),
        lambda m: download_cookies(netscape(name=m + ";")),
        lambda m: download_cookies(netscape(value=m + ";")),
        lambda m: download_cookies(netscape(value=m + " ")),
        lambda m: download_cookies(HEADER + "#httponly_" + "\t".join([*COOKIE_LINE[:-1], m])),
        lambda m: download_cookies(HEADER + "#HTTPONLY_" + m),
    ],
    "store-platform-session": [
        lambda m: session(name=m + ";"),
        lambda m: session(name=m + "="),
        lambda m: session(value=m + "\n"),
        lambda m: session(value=m + ";"),
        lambda m: session(domain=m + " x"),
        lambda m: session(path=m),
        lambda m: session(expires=m),
        lambda m: session(secure=m),
        lambda m: session(httpOnly=m),
        lambda m: session(sameSite=m),
        lambda m: session(url=m),
        lambda m: session(url="http://x.com/", domain=m),
        lambda m: session(name=m, domain=m + " x"),  # the name of a bad cookie
        lambda m: chrome(hostOnly=m),
        lambda m: chrome(hostOnly=True, name=m),
        lambda m: chrome(expirationDate=m),
        lambda m: chrome(expirationDate=-5, name=m),
        lambda m: session() | {"cookies": [m]},
        lambda m: session() | {"cookies": m},
        lambda m: session() | {"platform": m},
        lambda m: session() | {"expires_at": m},
        lambda m: session() | {"user_agent": m * 100},
    ],
    "revoke-platform-session": [lambda m: {"id": m}],
}
INTERNAL_CASES = {
    "/api/credentials/store": [
        lambda m: {"creatorProfileId": m, "credentials": {"a": 1}},
        lambda m: {"creatorProfileId": PROFILE, "credentials": m},
    ],
    "/api/credentials/reveal": [lambda m: {"creatorProfileId": m}],
    "/api/credentials/reveal-download-cred": [
        lambda m: {"id": m},
        lambda m: {"id": PROFILE, "format": m},
    ],
    "/api/credentials/get-platform-session": [
        lambda m: {"creator_profile_id": m, "platform": "x"},
        lambda m: {"creator_profile_id": PROFILE, "platform": m},
        lambda m: {"creator_profile_id": PROFILE, "platform": "x", "format": m},
    ],
    "/api/end-user-credentials/reveal": [
        lambda m: {"businessId": m + " ", "endUserId": "alice"},
        lambda m: {"businessId": "acme", "endUserId": m + "\x00"},
        lambda m: {"businessId": "acme", "endUserId": m * 30},
        lambda m: {"businessId": "acme", "endUserId": "/" + m},
        lambda m: {"businessId": "acme", "endUserId": "alice", "platforms": [m]},
        lambda m: {"businessId": "acme", "endUserId": "alice", "platforms": m},
        lambda m: {"businessId": "acme", "endUserId": "alice", "format": m},
    ],
}
END_USER_FIELDS = ("twitterAuthToken", "redditSession", "youtubeSapisid", "instagramDsUserId")
END_USER_BODIES = [
    *[put(field, suffix) for field in END_USER_FIELDS for suffix in (";", "\n", " ", "\x7f")],
    lambda m: {"tiktokSessionId": m * 400},
    lambda m: {"tiktokCsrfToken": [m]},
]
END_USER_PATHS = [  # (method, path): the marker is in the endUserId
    ("GET", lambda m: f"/v1/end-users/{m}%00/credentials"),
    ("GET", lambda m: f"/v1/end-users/{m}%2F/credentials"),
    ("DELETE", lambda m: f"/v1/end-users/{m * 30}/credentials"),
]
HEADERS = {
    "user": user_headers,
    "internal": lambda: dict(INTERNAL_HEADERS),
    "api-key": lambda: AUTH,
}
# (audience, method, path builder, body builder), each builder taking the marker
CANARY_CASES = [
    *[
        ("user", "POST", lambda m, p=path: f"/api/credentials/{p}", build)
        for path, builders in USER_CASES.items()
        for build in builders
    ],
    *[
        ("internal", "POST", lambda m, p=path: p, build)
        for path, builders in INTERNAL_CASES.items()
        for build in builders
    ],
    *[
        ("api-key", "PUT", lambda m: "/v1/end-users/alice/credentials", build)
        for build in END_USER_BODIES
    ],
    *[("api-key", method, path, lambda m: None) for method, path in END_USER_PATHS],
]


def test_no_400_quotes_a_submitted_value(client, directus_wire):
    accept_key(directus_wire)
    leaks = []
    for audience, method, build_path, build_body in CANARY_CASES:
        marker = next(MARKERS)
        path, body = build_path(marker), build_body(marker)
        response = client.open(path, method=method, headers=HEADERS[audience](), json=body)
        text = response.get_data(as_text=True)
        if response.status_code != 400:
            leaks.append((path, body, f"answered {response.status_code}: {text}"))
        elif marker.lower() in text.lower():
            leaks.append((path, body, text))
    print(f"validation canary: cases={len(CANARY_CASES)} leaks={len(leaks)}")
    assert not leaks, "\n".join(map(str, leaks))

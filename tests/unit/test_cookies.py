"""credsvc.cookies: the record, the JSON readers/writers, conversions and session health."""

import json
from datetime import UTC, datetime

import pytest

from credsvc import cookies as C
from credsvc.cookies import Cookie, CookieFormatError

SPEC_COOKIE = {
    "name": "sessionid",
    "value": "123456789%3AabcXYZ%3A28",
    "domain": ".instagram.com",
    "path": "/",
    "expires": 1735689600,
    "httpOnly": True,
    "secure": True,
}

CHROME_COOKIE = {
    "domain": "www.instagram.com",
    "expirationDate": 1767225600.123456,
    "hostOnly": True,
    "httpOnly": False,
    "name": "csrftoken",
    "path": "/",
    "sameSite": "lax",
    "secure": True,
    "session": False,
    "storeId": "0",
    "value": "tok",
}


# The package imports no Flask and nothing else of credsvc: tests/unit/test_layering.py


# --- the record ---------------------------------------------------------------------------


def test_cookie_normalizes_domain_and_derives_host_only():
    cookie = Cookie("a", "1", ".Example.COM")
    assert cookie.domain == ".example.com"
    assert not cookie.host_only
    assert Cookie("a", "1", "www.example.com").host_only
    assert Cookie("a", "1", "x.com").session


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"name": ""}, "name is empty"),
        ({"name": "a=b"}, "name contains '='"),
        ({"name": "a;b"}, "name contains ';'"),
        ({"name": "a\tb"}, "name contains a TAB or newline"),
        ({"name": " a"}, "name has leading or trailing spaces"),
        ({"value": "a;b"}, "value contains ';'"),
        ({"value": "a\nb"}, "value contains a TAB or newline"),
        ({"value": "a\x7f"}, "value contains a control character"),
        ({"value": "a "}, "value has leading or trailing spaces"),
        ({"value": 5}, "value must be a string, got int"),
        ({"domain": ""}, "domain is empty"),
        ({"domain": "."}, "domain is only a dot"),
        ({"domain": "ex ample.com"}, "is not a host name"),
        ({"domain": "example.com/x"}, "is not a host name"),
        ({"domain": "a..com"}, "is not a host name"),
        ({"path": "x"}, "path does not start with '/'"),
        ({"expires": 0}, "expires must be a positive unix timestamp"),
        ({"expires": float("nan")}, "expires must be a finite number"),
        ({"expires": 1735689600000}, "milliseconds instead of seconds"),
        ({"expires": True}, "expires must be a number of seconds, got bool"),
        ({"secure": "yes"}, "secure must be true or false"),
        ({"same_site": "lax"}, "sameSite must be one of Strict, Lax, None"),
    ],
)
def test_cookie_rejects(fields, reason):
    args = {"name": "a", "value": "1", "domain": "example.com"} | fields
    with pytest.raises(CookieFormatError, match=None) as caught:
        Cookie(**args)
    assert reason in caught.value.reason


def test_cookie_accepts_ipv6_and_ip_and_empty_value():
    assert Cookie("a", "", "[::1]").domain == "[::1]"
    assert Cookie("a", "x y", "127.0.0.1").value == "x y"


# --- readers --------------------------------------------------------------------------------


def test_from_extension_spec_shape():
    [cookie] = C.from_extension([SPEC_COOKIE])
    assert cookie == Cookie(
        "sessionid",
        "123456789%3AabcXYZ%3A28",
        ".instagram.com",
        "/",
        1735689600,
        secure=True,
        http_only=True,
    )
    assert not cookie.host_only


@pytest.mark.parametrize("expires", [None, -1, 0, "missing"])
def test_from_extension_session_markers(expires):
    obj = dict(SPEC_COOKIE)
    if expires == "missing":
        del obj["expires"]
    else:
        obj["expires"] = expires
    assert C.from_extension([obj])[0].expires is None


def test_from_extension_defaults():
    [cookie] = C.from_extension([{"name": "a", "value": "b", "domain": "x.com"}])
    assert (cookie.path, cookie.secure, cookie.http_only, cookie.same_site) == (
        "/",
        False,
        False,
        None,
    )


def test_from_extension_chrome_shape():
    [cookie] = C.from_extension([CHROME_COOKIE])
    assert cookie.expires == 1767225600.123456
    assert cookie.host_only and cookie.domain == "www.instagram.com"
    assert cookie.same_site == "Lax" and cookie.secure and not cookie.http_only


def test_from_extension_chrome_session_wins_and_host_only_false_adds_dot():
    obj = CHROME_COOKIE | {"session": True, "hostOnly": False, "domain": "instagram.com"}
    [cookie] = C.from_extension([obj])
    assert cookie.expires is None
    assert cookie.domain == ".instagram.com"


@pytest.mark.parametrize(
    ("same_site", "expected"),
    [
        ("no_restriction", "None"),
        ("unspecified", None),
        ("strict", "Strict"),
        ("lax", "Lax"),
        ("Strict", "Strict"),
        ("None", "None"),
    ],
)
def test_from_extension_same_site_vocabularies(same_site, expected):
    assert C.from_extension([CHROME_COOKIE | {"sameSite": same_site}])[0].same_site == expected


def test_from_extension_mixed_shapes_detected_per_object():
    cookies = C.from_extension([SPEC_COOKIE, CHROME_COOKIE])
    assert [c.name for c in cookies] == ["sessionid", "csrftoken"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"name": "a"}, "cookies: cookies must be a list of cookie objects"),
        ("abc", "cookies: cookies must be a list of cookie objects"),
        ([SPEC_COOKIE, 3], "cookies[1]: expected an object, got int"),
        ([{"value": "1", "domain": "x.com"}], "cookies[0]: 'name' is missing"),
        ([{"name": "a", "domain": "x.com"}], "cookies[0]: 'value' is missing"),
        ([{"name": "a", "value": "1"}], "cookies[0]: 'domain' is missing"),
        ([SPEC_COOKIE, SPEC_COOKIE | {"value": "a;b"}], "cookies[1]: value contains ';'"),
        ([SPEC_COOKIE | {"name": "a\nb"}], "cookies[0]: name contains a TAB or newline"),
        ([SPEC_COOKIE | {"name": ""}], "cookies[0]: name is empty"),
        (
            [SPEC_COOKIE | {"expires": "1735689600"}],
            "cookies[0]: expires must be a number of seconds, got str",
        ),
        (
            [SPEC_COOKIE | {"expires": -5}],
            "cookies[0]: expires must be a unix timestamp in seconds",
        ),
        (
            [SPEC_COOKIE | {"httpOnly": "true"}],
            "cookies[0]: httpOnly must be true or false, got str",
        ),
        (
            [SPEC_COOKIE | {"sameSite": "sometimes"}],
            "cookies[0]: sameSite must be one of",
        ),
        (
            [CHROME_COOKIE | {"hostOnly": True, "domain": ".instagram.com"}],
            "cookies[0]: hostOnly is true but domain starts with '.'",
        ),
        (
            [SPEC_COOKIE | {"expires": 1735689600123}],
            "(milliseconds instead of seconds?)",
        ),
    ],
)
def test_from_extension_errors_name_index_and_reason(items, message):
    with pytest.raises(CookieFormatError) as caught:
        C.from_extension(items)
    assert message in str(caught.value)


def test_from_extension_error_carries_index():
    with pytest.raises(CookieFormatError) as caught:
        C.from_extension([SPEC_COOKIE, SPEC_COOKIE, {"name": "x", "value": "1", "domain": ""}])
    assert caught.value.index == 2
    assert caught.value.reason == "domain is empty"
    assert caught.value.name == "x"  # kept for callers, never put in the message
    assert str(caught.value) == "cookies[2]: domain is empty"


def test_from_playwright_list_storage_state_and_url_form():
    state = {
        "cookies": [
            {
                "name": "a",
                "value": "1",
                "domain": ".youtube.com",
                "path": "/",
                "expires": -1,
                "httpOnly": False,
                "secure": True,
                "sameSite": "None",
            },
            {"name": "b", "value": "2", "url": "https://www.youtube.com/watch/x"},
        ],
        "origins": [],
    }
    a, b = C.from_playwright(state)
    assert a.expires is None and a.same_site == "None" and not a.host_only
    assert (b.domain, b.path, b.secure, b.host_only) == ("www.youtube.com", "/watch/", True, True)
    assert C.from_playwright(state["cookies"]) == [a, b]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"name": "a", "value": "1", "url": "ftp://x.com/"}, "url must be an http(s) URL"),
        ({"name": "a", "value": "1", "url": "https://x.com/", "domain": "x.com"}, "not both"),
    ],
)
def test_from_playwright_errors(obj, message):
    with pytest.raises(CookieFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        C.from_playwright([obj])


def test_from_playwright_storage_state_without_cookies():
    with pytest.raises(CookieFormatError, match="must have a 'cookies' list"):
        C.from_playwright({"origins": []})


# --- writers --------------------------------------------------------------------------------


def test_to_extension_spec_shape():
    cookies = C.from_extension([SPEC_COOKIE, CHROME_COOKIE | {"session": True}])
    out = C.to_extension(cookies)
    assert out[0] == SPEC_COOKIE
    assert out[1]["expires"] == -1 and out[1]["sameSite"] == "Lax"
    assert "sameSite" not in out[0]
    assert json.loads(json.dumps(out)) == out


def test_to_playwright_shape():
    cookies = C.from_extension([SPEC_COOKIE, CHROME_COOKIE])
    conversion = C.to_playwright(cookies)
    assert conversion.ok
    assert conversion.output == [
        {
            "name": "sessionid",
            "value": "123456789%3AabcXYZ%3A28",
            "domain": ".instagram.com",
            "path": "/",
            "expires": 1735689600,
            "httpOnly": True,
            "secure": True,
        },
        {
            "name": "csrftoken",
            "value": "tok",
            "domain": "www.instagram.com",
            "path": "/",
            "expires": 1767225600.123456,
            "httpOnly": False,
            "secure": True,
            "sameSite": "Lax",
        },
    ]


def test_to_playwright_same_site_none_without_secure_is_reported_and_sent_as_lax():
    cookie = Cookie("a", "1", ".x.com", same_site="None", secure=False)
    conversion = C.to_playwright(
        [Cookie("ok", "1", ".x.com", same_site="None", secure=True), cookie]
    )
    assert [c["sameSite"] for c in conversion.output] == ["None", "Lax"]
    [problem] = conversion.problems
    assert (problem.index, problem.name, problem.dropped) == (1, "a", False)
    assert "sameSite None requires a secure cookie" in problem.reason


@pytest.mark.parametrize(
    "cookie",
    [
        Cookie("__Secure-id", "1", ".x.com", secure=False),
        Cookie("__Host-id", "1", ".x.com", secure=True),
        Cookie("__Host-id", "1", "x.com", path="/a", secure=True),
        Cookie("__host-id", "1", "x.com", secure=False),
    ],
)
def test_to_playwright_drops_and_reports_prefix_violations(cookie):
    good = Cookie("__Host-ok", "1", "x.com", secure=True)
    conversion = C.to_playwright([good, cookie])
    assert [c["name"] for c in conversion.output] == ["__Host-ok"]
    assert [(p.index, p.dropped) for p in conversion.problems] == [(1, True)]
    assert conversion.dropped == conversion.problems


def test_duplicates_and_expired_are_reported_in_every_format():
    cookies = [
        Cookie("a", "1", ".x.com", expires=1000),
        Cookie("b", "1", ".x.com"),
        Cookie("a", "2", ".x.com", expires=5000),
    ]
    for fmt in C.FORMATS:
        conversion = C.render(cookies, fmt, now=2000)
        reasons = [(p.index, p.reason.split(";")[0]) for p in conversion.problems]
        assert reasons == [
            (0, "expired at 1970-01-01T00:16:40+00:00"),
            (2, "same name, domain and path as cookies[0]"),
        ], fmt
        assert not conversion.dropped
        assert conversion.problems_as_json()[0]["index"] == 0
    # nothing is reported about expiry without a clock
    assert len(C.render(cookies, "json").problems) == 1


def test_storage_state():
    conversion = C.to_playwright_storage_state(C.from_extension([SPEC_COOKIE]))
    assert conversion.output == {
        "cookies": C.to_playwright([C.from_extension([SPEC_COOKIE])[0]]).output,
        "origins": [],
    }


def test_render_formats():
    cookies = C.from_extension([SPEC_COOKIE])
    assert C.FORMATS == ("json", "netscape", "playwright")
    assert C.render(cookies).output == [SPEC_COOKIE]
    assert C.render(cookies, "netscape").output == C.to_netscape(cookies)
    assert C.render(cookies, "playwright").output == C.to_playwright(cookies).output
    for fmt in C.FORMATS:
        json.dumps(C.render(cookies, fmt).output)
    with pytest.raises(ValueError, match="unknown cookie format 'xml'"):
        C.render(cookies, "xml")


# --- session health -------------------------------------------------------------------------

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("expiries", "expired"),
    [
        ([], False),
        ([None], False),
        ([None, None], False),
        ([NOW - 1], True),
        ([NOW], True),
        ([NOW - 1, NOW - 100], True),
        ([NOW - 1, None], True),
        ([NOW - 1, NOW + 1], False),
        ([NOW + 1, None], False),
    ],
)
def test_session_expired(expiries, expired):
    cookies = [Cookie(f"c{i}", "v", ".x.com", expires=e) for i, e in enumerate(expiries)]
    assert C.session_expired(cookies, NOW) is expired
    assert C.session_expired(cookies, datetime.fromtimestamp(NOW, UTC)) is expired


def test_expired_cookies_and_naive_datetime():
    cookies = [Cookie("a", "1", "x.com", expires=NOW - 1), Cookie("b", "1", "x.com")]
    assert C.expired_cookies(cookies, NOW) == cookies[:1]
    with pytest.raises(ValueError, match="timezone-aware"):
        C.session_expired(cookies, datetime(2030, 1, 1))


def test_ytdlp_options():
    assert C.ytdlp_options(username="u", password="p") == {"username": "u", "password": "p"}
    assert C.ytdlp_options(cookiefile="/tmp/c.txt") == {"cookiefile": "/tmp/c.txt"}

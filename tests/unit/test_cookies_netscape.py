"""Netscape cookies.txt: parser strictness (one test per bad-line class) and the writer.

The consumer-agreement property uses the standard library's MozillaCookieJar here; the yt-dlp
half lives in tests/tools/test_ytdlp.py.
"""

import http.cookiejar
import io

import pytest
from hypothesis import HealthCheck, given, settings

from credsvc.cookies import Cookie, NetscapeFormatError, parse_netscape, to_netscape
from tests.netscape_documents import DOCUMENTS, Exercised

H = "# Netscape HTTP Cookie File\n"
GOOD = ".youtube.com\tTRUE\t/\tTRUE\t1767225600\tSID\tabc"


def error_for(text: str, **kwargs) -> NetscapeFormatError:
    with pytest.raises(NetscapeFormatError) as caught:
        parse_netscape(text, **kwargs)
    return caught.value


# --- accepted input -------------------------------------------------------------------------


def test_parses_spec_example_shape():
    [cookie] = parse_netscape(H + GOOD + "\n")
    assert cookie == Cookie("SID", "abc", ".youtube.com", "/", 1767225600, secure=True)


@pytest.mark.parametrize("header", ["# Netscape HTTP Cookie File", "# HTTP Cookie File"])
def test_both_headers_and_trailing_header_text(header):
    assert len(parse_netscape(f"{header} (written by a tool)\n{GOOD}")) == 1


def test_comments_blank_lines_httponly_crlf_and_cr():
    text = (
        H + "# comment\n\n   \n#HttpOnly_.x.com\tTRUE\t/p\tFALSE\t0\ta\t1\n"
        "x.com\tFALSE\t/\tFALSE\t\tb\t\n" + GOOD
    )
    for newline in ("\n", "\r\n", "\r"):
        a, b, c = parse_netscape(text.replace("\n", newline))
        assert (a.http_only, a.domain, a.path, a.expires, a.secure) == (
            True,
            ".x.com",
            "/p",
            None,
            False,
        )
        assert (b.http_only, b.host_only, b.expires, b.value) == (False, True, None, "")
        assert c.name == "SID"


def test_expiry_forms_match_the_consumers():
    def expires(text):
        return parse_netscape(H + f".x.com\tTRUE\t/\tFALSE\t{text}\ta\t1")[0].expires

    assert expires("0") is None
    assert expires("") is None
    assert expires("0.5") is None  # int(float("0.5")) == 0, a session cookie for yt-dlp
    assert expires("1767225600.9") == 1767225600
    assert expires("0001767225600") == 1767225600


def test_domain_is_lower_cased_like_cookiejar():
    assert parse_netscape(H + ".YouTube.com\tTRUE\t/\tFALSE\t0\ta\t1")[0].domain == ".youtube.com"


def test_empty_file_allowed_on_request():
    assert parse_netscape(H, allow_empty=True) == []
    assert parse_netscape(H + "# only a comment\n", allow_empty=True) == []


# --- every bad-line class, with the message the API returns ---------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # header
        (
            "",
            "line 1: the first line must be '# Netscape HTTP Cookie File' "
            "(or '# HTTP Cookie File')",
        ),
        (GOOD, "line 1: the first line must be '# Netscape HTTP Cookie File'"),
        ("#Netscape HTTP Cookie File\n" + GOOD, "line 1: the first line must be"),
        (" # Netscape HTTP Cookie File\n" + GOOD, "line 1: the first line must be"),
        ("\ufeff" + H + GOOD, "line 1: the file starts with a byte-order mark (U+FEFF); remove it"),
        ('[{"name": "a"}]', "line 1: this is JSON, not a Netscape cookies file"),
        ('\n  {"cookies": []}', "line 1: this is JSON, not a Netscape cookies file"),
        # field count
        (H + ".x.com\tTRUE\t/\tFALSE\t0\ta", "line 2: expected 7 TAB-separated fields, found 6"),
        (H + "# c\n" + GOOD + "\textra", "line 3: expected 7 TAB-separated fields, found 8"),
        (
            H + ".x.com TRUE / FALSE 0 a 1",
            "line 2: expected 7 TAB-separated fields, found 1 "
            "(fields must be separated by TABs, not spaces)",
        ),
        (H + "garbage", "line 2: expected 7 TAB-separated fields, found 1"),
        # include_subdomains
        (
            H + ".x.com\ttrue\t/\tFALSE\t0\ta\t1",
            "line 2: include_subdomains must be TRUE or FALSE",
        ),
        (
            H + "x.com\tTRUE\t/\tFALSE\t0\ta\t1",
            "line 2: include_subdomains is TRUE but the domain does not start with '.'",
        ),
        (
            H + ".x.com\tFALSE\t/\tFALSE\t0\ta\t1",
            "line 2: include_subdomains is FALSE but the domain starts with '.'",
        ),
        # secure
        (H + ".x.com\tTRUE\t/\tyes\t0\ta\t1", "line 2: secure must be TRUE or FALSE"),
        # expires
        (
            H + ".x.com\tTRUE\t/\tFALSE\tnever\ta\t1",
            "line 2: expires must be a whole number of seconds (0 for a session cookie)",
        ),
        (H + ".x.com\tTRUE\t/\tFALSE\t-1\ta\t1", "line 2: expires must be a whole number"),
        (H + ".x.com\tTRUE\t/\tFALSE\t1e9\ta\t1", "line 2: expires must be a whole number"),
        (H + ".x.com\tTRUE\t/\tFALSE\t 17\ta\t1", "line 2: expires must be a whole number"),
        (
            H + ".x.com\tTRUE\t/\tFALSE\t" + "9" * 400 + "\ta\t1",
            "line 2: expires is after the year 9999",
        ),
        # domain
        (H + "\tFALSE\t/\tFALSE\t0\ta\t1", "line 2: domain is empty"),
        (H + ".\tTRUE\t/\tFALSE\t0\ta\t1", "line 2: domain is only a dot"),
        (
            H + "x.com:443\tFALSE\t/\tFALSE\t0\ta\t1",
            "line 2: domain is not a host name",
        ),
        # path
        (H + ".x.com\tTRUE\tfoo\tFALSE\t0\ta\t1", "line 2: path does not start with '/'"),
        # name
        (H + ".x.com\tTRUE\t/\tFALSE\t0\t\t1", "line 2: name is empty"),
        (H + ".x.com\tTRUE\t/\tFALSE\t0\ta=b\t1", "line 2: name contains '='"),
        (H + ".x.com\tTRUE\t/\tFALSE\t0\ta;b\t1", "line 2: name contains ';'"),
        (H + ".x.com\tTRUE\t/\tFALSE\t0\ta\x00\t1", "line 2: name contains a control character"),
        # value
        (H + ".x.com\tTRUE\t/\tFALSE\t0\ta\tb;c", "line 2: value contains ';'"),
        (H + ".x.com\tTRUE\t/\tFALSE\t0\ta\tb\x1b", "line 2: value contains a control character"),
        (
            H + ".x.com\tTRUE\t/\tFALSE\t0\ta\tb ",
            "line 2: value has leading or trailing spaces (browsers strip them)",
        ),
        # lines the consumers read differently
        (H + "  # indented comment", "line 2: a comment must start with '#' in the first column"),
        (H + "$Version=1", "line 2: a line starting with '$' is ignored by MozillaCookieJar"),
        (H + "#HttpOnly_", "line 2: #HttpOnly_ is not followed by a cookie"),
        (H + "#HttpOnly_# comment", "line 2: #HttpOnly_ is not followed by a cookie"),
        (
            H + "#httponly_.x.com\tTRUE\t/\tFALSE\t0\ta\t1",
            "line 2: the prefix is not spelled '#HttpOnly_' in this letter case; "
            "only that spelling marks an HttpOnly cookie",
        ),
        (
            H + "#HttpOnly_.x.com\tTRUE\t/\tFALSE\t0\ta",
            "line 2: expected 7 TAB-separated fields, found 6",
        ),
        # CRLF files keep the right line numbers
        (
            H.replace("\n", "\r\n") + GOOD + "\r\n\r\nbad\r\n",
            "line 4: expected 7 TAB-separated fields, found 1",
        ),
    ],
)
def test_bad_lines(text, message):
    error = error_for(text)
    assert message in str(error)
    assert str(error).startswith("line ")


def test_error_attributes():
    error = error_for(H + GOOD + "\n" + ".x.com\tTRUE\t/\tFALSE\t0\ta")
    assert error.line_number == 3
    assert error.reason == "expected 7 TAB-separated fields, found 6"
    assert str(error) == "line 3: expected 7 TAB-separated fields, found 6"


@pytest.mark.parametrize("text", [H, H + "# comment\n\n", "# HTTP Cookie File"])
def test_no_cookie_is_an_error_by_default(text):
    error = error_for(text)
    assert error.line_number is None
    assert str(error) == "the file holds no cookie, only the header, comments or blanks"


def test_not_text():
    assert "cookies file must be text, got bytes" in str(error_for(b"# HTTP Cookie File"))


# --- writer ---------------------------------------------------------------------------------


def test_to_netscape_layout():
    text = to_netscape(
        [
            Cookie("SID", "abc", ".youtube.com", "/", 1767225600.7, secure=True, http_only=True),
            Cookie("pref", "x y", "www.youtube.com", "/watch", None, same_site="Lax"),
        ]
    )
    assert text == (
        "# Netscape HTTP Cookie File\n"
        "\n"
        "#HttpOnly_.youtube.com\tTRUE\t/\tTRUE\t1767225600\tSID\tabc\n"
        "www.youtube.com\tFALSE\t/watch\tFALSE\t0\tpref\tx y\n"
    )


def test_to_netscape_empty_is_loadable():
    assert parse_netscape(to_netscape([]), allow_empty=True) == []


def load_mozilla(text: str) -> list[http.cookiejar.Cookie]:
    jar = http.cookiejar.MozillaCookieJar()
    jar._really_load(io.StringIO(text), "cookies.txt", ignore_discard=True, ignore_expires=True)
    return list(jar)


def test_mozilla_cookie_jar_reads_our_output():
    cookies = [
        Cookie("SID", "abc", ".youtube.com", "/", 1767225600, secure=True, http_only=True),
        Cookie("pref", "1", "www.youtube.com", "/", None),
    ]
    loaded = sorted(load_mozilla(to_netscape(cookies)), key=lambda c: c.name)
    sid, pref = loaded[0], loaded[1]
    assert (sid.name, sid.value, sid.domain, sid.path, sid.secure, sid.expires) == (
        "SID",
        "abc",
        ".youtube.com",
        "/",
        True,
        1767225600,
    )
    assert sid.has_nonstandard_attr("HTTPOnly") and sid.domain_specified
    # MozillaCookieJar itself keeps expires=0 for session cookies (yt-dlp turns them into None)
    assert (pref.domain, pref.domain_specified, pref.expires) == ("www.youtube.com", False, 0)


# --- property: whatever we accept, MozillaCookieJar loads the same cookies ------------------


def test_accepted_documents_load_identically_in_mozilla_cookie_jar():
    """Valid documents (most of them) parse to exactly the cookies they were built from, and
    whatever we accept, valid or garbage, MozillaCookieJar loads the same."""
    exercised = Exercised()

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(DOCUMENTS)
    def check(document):
        text, built = document
        try:
            ours = parse_netscape(text, allow_empty=True)
        except NetscapeFormatError:
            exercised.record(None)
            assert built is None, "a valid document was rejected"
            return
        exercised.record(ours)
        if built is not None:
            assert ours == built
        # Consumers read files with universal newlines.
        theirs = load_mozilla(text.replace("\r\n", "\n"))
        latest = {c.key: c for c in ours}  # a jar keeps the last of duplicate keys
        assert len(theirs) == len(latest)
        by_key = {(c.domain, c.path, c.name): c for c in theirs}
        for cookie in latest.values():
            jar_cookie = by_key[cookie.key]
            assert jar_cookie.value == cookie.value
            assert jar_cookie.secure == cookie.secure
            assert jar_cookie.has_nonstandard_attr("HTTPOnly") == cookie.http_only
            assert (jar_cookie.expires or None) == cookie.expires

    check()
    print(f"netscape vs MozillaCookieJar: {exercised.figure()}")
    exercised.check(minimum_cases=300)

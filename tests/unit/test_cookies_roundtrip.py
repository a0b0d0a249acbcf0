"""Round trips with hypothesis: extension -> Netscape -> extension, extension -> Playwright ->
extension, keeping name, value, domain, path, secure and expiry."""

import json
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from credsvc import cookies as C
from credsvc.cookies import MAX_EXPIRES
from tests.netscape_documents import DOMAINS, PATHS, VALUES

_PRINTABLE = "".join(ch for ch in string.printable if ch not in "\t\n\r\x0b\x0c;")
NAMES = st.text(_PRINTABLE.replace("=", ""), min_size=1, max_size=12).filter(
    lambda s: s == s.strip(" ")
)
EXPIRES = st.one_of(
    st.none(),
    st.integers(1, MAX_EXPIRES),
    st.floats(1, MAX_EXPIRES, allow_nan=False, allow_infinity=False),
)
SAME_SITE = st.sampled_from([None, "Strict", "Lax", "None"])


@st.composite
def extension_cookie(draw):
    """A cookie in the spec's extension shape (or Chrome's), as a client would send it."""
    name, value, domain, path = draw(NAMES), draw(VALUES), draw(DOMAINS), draw(PATHS)
    expires, secure, http_only = draw(EXPIRES), draw(st.booleans()), draw(st.booleans())
    same_site = draw(SAME_SITE)
    if draw(st.booleans()):
        obj = {"name": name, "value": value, "domain": domain, "path": path}
        obj |= {"expires": -1 if expires is None else expires, "httpOnly": http_only}
        obj["secure"] = secure
        if same_site:
            obj["sameSite"] = same_site
    else:
        chrome_same_site = {None: "unspecified", "None": "no_restriction"}.get(
            same_site, (same_site or "").lower()
        )
        obj = {
            "name": name,
            "value": value,
            "domain": domain,
            "hostOnly": not domain.startswith("."),
            "path": path,
            "secure": secure,
            "httpOnly": http_only,
            "sameSite": chrome_same_site,
            "session": expires is None,
            "storeId": "0",
        }
        if expires is not None:
            obj["expirationDate"] = expires
    return obj


def unique(objs):
    """One cookie per (domain, path, name), as a browser holds them."""
    seen, out = set(), []
    for obj in objs:
        key = (obj["domain"].lower(), obj["path"], obj["name"])
        if key not in seen:
            seen.add(key)
            out.append(obj)
    return out


COOKIE_LISTS = st.lists(extension_cookie(), max_size=8).map(unique)


def essentials(cookies, integer_expiry=False):
    out = []
    for c in cookies:
        expires = c.expires
        if integer_expiry and expires is not None:
            expires = int(expires) or None
        out.append((c.name, c.value, c.domain, c.path, c.secure, c.http_only, expires))
    return out


@settings(max_examples=200, deadline=None)
@given(COOKIE_LISTS)
def test_extension_netscape_extension(objs):
    cookies = C.from_extension(objs)
    text = C.to_netscape(cookies)
    back = C.parse_netscape(text, allow_empty=True)
    assert essentials(back) == essentials(cookies, integer_expiry=True)
    again = C.from_extension(C.to_extension(back))
    assert again == back


@settings(max_examples=200, deadline=None)
@given(COOKIE_LISTS)
def test_extension_playwright_extension(objs):
    cookies = C.from_extension(objs)
    conversion = C.to_playwright(cookies)
    payload = json.loads(json.dumps(conversion.output))
    back = C.from_playwright(payload)
    dropped = {p.index for p in conversion.dropped}
    kept = [c for i, c in enumerate(cookies) if i not in dropped]
    assert essentials(back) == essentials(kept)
    adjusted = {p.index for p in conversion.problems if not p.dropped}
    for before, after in zip(kept, back, strict=True):
        if before.same_site == "None" and not before.secure:
            assert after.same_site == "Lax"
        else:
            assert after.same_site == before.same_site
    # every cookie is either in the output or reported as dropped
    assert len(back) + len(dropped) == len(cookies)
    assert all(0 <= i < len(cookies) for i in adjusted)


@settings(max_examples=100, deadline=None)
@given(COOKIE_LISTS)
def test_extension_json_and_storage_state(objs):
    cookies = C.from_extension(objs)
    assert C.from_extension(json.loads(json.dumps(C.to_extension(cookies)))) == cookies
    state = C.to_playwright_storage_state(cookies).output
    assert C.from_playwright(json.loads(json.dumps(state))) == C.from_playwright(
        C.to_playwright(cookies).output
    )

"""Hypothesis strategies for Netscape cookies.txt documents, shared by the two consumer-agreement
properties (MozillaCookieJar in tests/unit/test_cookies_netscape.py, yt-dlp in
tests/tools/test_ytdlp.py).

- ``VALID``: documents built field by field from the format's rules, each holding at least one
  cookie, drawn as ``(text, cookies)``: the cookies are what the document says, so a parser that
  misreads a field (``secure``, the ``#HttpOnly_`` prefix, an expiry) disagrees with them.
- ``GARBAGE``: near-misses and random text, drawn as ``(text, None)``; mostly rejected.
- ``DOCUMENTS``: nine valid documents for one garbage document.

``Exercised`` counts what a run really compared, so a property that only ever saw rejected or
empty documents fails instead of passing on empty lists.
"""

from __future__ import annotations

import string
from collections import Counter

from hypothesis import strategies as st

from credsvc.cookies import MAX_EXPIRES, Cookie

HEADERS = ("# Netscape HTTP Cookie File", "# HTTP Cookie File")

# Printable text a cookie name or value may hold: no TAB/newline/control character, no ';'.
_TEXT = "".join(ch for ch in string.printable if ch not in "\t\n\r\x0b\x0c;") + "é€"
NAMES = st.text(_TEXT.replace("=", ""), min_size=1, max_size=12).filter(lambda s: s == s.strip(" "))
VALUES = st.text(_TEXT, max_size=20).filter(lambda s: s == s.strip(" "))
LABEL = st.text(string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=8)
HOSTS = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
DOMAINS = st.one_of(HOSTS, HOSTS.map(lambda host: "." + host))
PATHS = st.lists(
    st.text(string.ascii_letters + string.digits + "-._~%", max_size=6), max_size=3
).map(lambda parts: "/" + "/".join(parts))
# The expires field as written, in every form both consumers read: empty and 0 (session),
# whole seconds (with leading zeros), and fractions, which they truncate.
EXPIRES_TEXT = st.one_of(
    st.sampled_from(["", "0", "0.5"]),
    st.integers(1, MAX_EXPIRES).map(str),
    st.integers(1, 10**10).map(lambda n: f"000{n}"),
    st.tuples(st.integers(0, MAX_EXPIRES - 1), st.text(string.digits, min_size=1, max_size=3)).map(
        lambda parts: f"{parts[0]}.{parts[1]}"
    ),
)


def expires_of(text: str) -> int | None:
    """What the consumers make of an expires field: whole seconds, None for a session."""
    return (int(float(text)) or None) if text else None


@st.composite
def cookie_lines(draw) -> tuple[str, Cookie]:
    """One valid cookie line and the cookie it stands for."""
    name, value, domain, path = draw(NAMES), draw(VALUES), draw(DOMAINS), draw(PATHS)
    secure, http_only, expires = draw(st.booleans()), draw(st.booleans()), draw(EXPIRES_TEXT)
    fields = (
        domain,
        "TRUE" if domain.startswith(".") else "FALSE",
        path,
        "TRUE" if secure else "FALSE",
        expires,
        name,
        value,
    )
    line = ("#HttpOnly_" if http_only else "") + "\t".join(fields)
    cookie = Cookie(name, value, domain, path, expires_of(expires), secure, http_only)
    return line, cookie


# Lines every reader skips: comments in the first column, blank and white-space-only lines.
FILLER = st.sampled_from(["", " ", "\t", "# a comment", "#", "# HTTP Cookie File", "#Http_x"])


@st.composite
def valid_documents(draw) -> tuple[str, list[Cookie]]:
    header = draw(st.sampled_from(HEADERS)) + draw(st.sampled_from(["", " (by a tool)"]))
    entries = draw(st.lists(cookie_lines(), min_size=1, max_size=6))
    entries += [(line, None) for line in draw(st.lists(FILLER, max_size=3))]
    entries = draw(st.permutations(entries))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join([header, *(line for line, _ in entries)])
    if draw(st.booleans()):
        text += newline
    return text, [cookie for _, cookie in entries if cookie is not None]


# Near-misses: lines of plausible fields in the wrong number or combination, plus random text.
FIELD = st.sampled_from(
    [
        *["", ".x.com", "x.com", "TRUE", "FALSE", "true", "/", "/a", "0", "17", "1.5", "-1"],
        *["a", "a=b", " ", "#", "$", "é"],
    ]
)
COOKIEISH = st.lists(FIELD, min_size=5, max_size=9).map("\t".join)
GARBAGE_LINE = st.one_of(
    COOKIEISH,
    COOKIEISH.map(lambda line: "#HttpOnly_" + line),
    st.sampled_from(["", "  ", "# c", " # c", "$x", "#HttpOnly_", "#httponly_x", "[", "{"]),
    st.text(max_size=12),
)
GARBAGE = st.tuples(
    st.sampled_from([*HEADERS, "#Netscape", "", "["]),
    st.lists(GARBAGE_LINE, max_size=6),
    st.sampled_from(["\n", "\r\n"]),
).map(lambda parts: (parts[2].join([parts[0], *parts[1]]), None))

VALID = valid_documents()
DOCUMENTS = st.sampled_from([VALID] * 9 + [GARBAGE]).flatmap(lambda strategy: strategy)


class Exercised:
    """What one property run compared: documents, accepted ones holding cookies, flag values."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()

    def record(self, cookies: list[Cookie] | None) -> None:
        """One generated document; ``cookies`` is what the parser accepted (None: rejected)."""
        self.counts["cases"] += 1
        if cookies:
            self.counts["with cookies"] += 1
        for cookie in cookies or ():
            self.counts["cookies"] += 1
            self.counts[f"secure={cookie.secure}"] += 1
            self.counts[f"httpOnly={cookie.http_only}"] += 1

    def figure(self) -> str:
        c = self.counts
        return (
            f"cases={c['cases']} with cookies={c['with cookies']} cookies={c['cookies']} "
            f"secure true/false={c['secure=True']}/{c['secure=False']} "
            f"httpOnly true/false={c['httpOnly=True']}/{c['httpOnly=False']}"
        )

    def check(self, minimum_cases: int) -> None:
        """At least ``minimum_cases`` documents, 80 % of them accepted with a cookie, and both
        values of both flags compared (each in at least 10 % of the cookies)."""
        c = self.counts
        assert c["cases"] >= minimum_cases, self.figure()
        assert c["with cookies"] >= 0.8 * c["cases"], self.figure()
        for flag in ("secure", "httpOnly"):
            for value in (True, False):
                assert c[f"{flag}={value}"] >= 0.1 * c["cookies"], self.figure()

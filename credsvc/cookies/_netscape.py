"""Netscape cookies.txt, exactly as strict as yt-dlp and http.cookiejar.MozillaCookieJar.

What the consumers do (yt-dlp's YoutubeDLCookieJar.load runs its own pre-pass, then hands the
result to MozillaCookieJar._really_load):

* the first line must match ``#( Netscape)? HTTP Cookie File`` at its very start (a BOM fails);
* a line starting with ``#HttpOnly_`` is a cookie line with that prefix removed;
* other lines starting with ``#`` and blank lines are skipped; MozillaCookieJar also skips lines
  whose *stripped* text starts with ``#`` or ``$``, which yt-dlp's pre-pass does not know about;
* a cookie line is split on TAB into exactly 7 fields; yt-dlp skips (with a warning, dropping the
  cookie) a line with another count or an ``expires`` not matching ``[0-9]+(\\.[0-9]+)?``;
  MozillaCookieJar rejects the whole file for the first;
* ``include_subdomains == "TRUE"`` must equal ``domain.startswith(".")`` or the whole file is
  rejected (an ``assert``); ``secure`` is true only for the exact text ``TRUE``;
* ``expires`` ``0`` or empty means a session cookie (yt-dlp), fractional values are truncated.

We reject every line that one of them rejects, skips or silently misreads, plus cookies no browser
would take (see :func:`credsvc.cookies._model.cookie_problem`), naming the first bad line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ._model import MAX_EXPIRES, Cookie, CookieFormatError, NetscapeFormatError

HEADER = "# Netscape HTTP Cookie File"
HTTPONLY_PREFIX = "#HttpOnly_"
# http.cookiejar.NETSCAPE_MAGIC_RGX, used with .match() on the first line.
_MAGIC = re.compile("#( Netscape)? HTTP Cookie File")
# yt-dlp's check of the expires field (YoutubeDLCookieJar.load.prepare_line).
_EXPIRES = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# Python's universal newlines, which both consumers read files with.
_NEWLINE = re.compile(r"\r\n|\r|\n")


def _bool_field(what: str, text: str) -> bool:
    if text == "TRUE":
        return True
    if text == "FALSE":
        return False
    raise _LineError(f"{what} must be TRUE or FALSE")


class _LineError(Exception):
    pass


def _header_problem(first: str, text: str) -> str | None:
    if _MAGIC.match(first):
        return None
    if first.startswith("\ufeff"):
        return "the file starts with a byte-order mark (U+FEFF); remove it"
    if text.lstrip()[:1] in ("[", "{"):
        return "this is JSON, not a Netscape cookies file"
    # The line itself is never quoted: a file pasted without its header starts with a cookie.
    return f"the first line must be {HEADER!r} (or '# HTTP Cookie File')"


def _parse_cookie_line(line: str, http_only: bool) -> Cookie:
    fields = line.split("\t")
    if len(fields) != 7:
        hint = ""
        if len(fields) == 1 and " " in line.strip():
            hint = " (fields must be separated by TABs, not spaces)"
        raise _LineError(f"expected 7 TAB-separated fields, found {len(fields)}{hint}")
    domain, subdomains, path, secure, expires_text, name, value = fields
    include_subdomains = _bool_field("include_subdomains", subdomains)
    if include_subdomains != domain.startswith("."):
        if include_subdomains:
            reason = "include_subdomains is TRUE but the domain does not start with '.'"
        else:
            reason = "include_subdomains is FALSE but the domain starts with '.'"
        raise _LineError(reason)
    is_secure = _bool_field("secure", secure)
    if expires_text == "":
        expires: int | None = None
    elif not _EXPIRES.fullmatch(expires_text):
        raise _LineError("expires must be a whole number of seconds (0 for a session cookie)")
    else:
        number = float(expires_text)
        if number > MAX_EXPIRES:
            raise _LineError("expires is after the year 9999")
        expires = int(number) or None  # 0 (and 0.x) is a session cookie
    try:
        return Cookie(
            name=name,
            value=value,
            domain=domain,
            path=path,
            expires=expires,
            secure=is_secure,
            http_only=http_only,
        )
    except CookieFormatError as error:
        raise _LineError(error.reason) from None


def _read_lines(lines: list[str], start: int = 2) -> Iterator[tuple[int, Cookie | str]]:
    """Each cookie line of `lines` (line `start` onwards of a file): (line number, the cookie
    or why the line is refused). Blank lines and comments yield nothing."""
    for number, raw in enumerate(lines, start=start):
        line, http_only = raw, False
        if line.startswith(HTTPONLY_PREFIX):
            line, http_only = line[len(HTTPONLY_PREFIX) :], True
        stripped = line.strip()
        try:
            if not stripped:
                if http_only:
                    raise _LineError(f"{HTTPONLY_PREFIX} is not followed by a cookie")
                continue
            if line.startswith("#"):
                if http_only:
                    raise _LineError(f"{HTTPONLY_PREFIX} is not followed by a cookie")
                if line[:10].lower() == HTTPONLY_PREFIX.lower():
                    raise _LineError(
                        f"the prefix is not spelled {HTTPONLY_PREFIX!r} in this letter case; only "
                        "that spelling marks an HttpOnly cookie, anything else is a comment"
                    )
                continue
            if stripped.startswith("#"):
                raise _LineError("a comment must start with '#' in the first column")
            if stripped.startswith("$"):
                raise _LineError("a line starting with '$' is ignored by MozillaCookieJar")
            yield number, _parse_cookie_line(line, http_only)
        except _LineError as error:
            yield number, str(error)


def parse_netscape(text: str, *, allow_empty: bool = False) -> list[Cookie]:
    """Parse a Netscape cookies.txt document into cookies, in file order.

    Raises :class:`NetscapeFormatError` for the first line that yt-dlp or MozillaCookieJar would
    reject, skip or misread. A file without any cookie line is an error unless ``allow_empty``.
    CRLF and CR line ends are accepted (both consumers read with universal newlines).
    """
    if not isinstance(text, str):
        raise NetscapeFormatError(f"cookies file must be text, got {type(text).__name__}")
    lines = _NEWLINE.split(text)
    problem = _header_problem(lines[0], text)
    if problem:
        raise NetscapeFormatError(problem, 1)
    cookies: list[Cookie] = []
    for number, read in _read_lines(lines[1:]):
        if isinstance(read, str):
            raise NetscapeFormatError(read, number)
        cookies.append(read)
    if not cookies and not allow_empty:
        raise NetscapeFormatError("the file holds no cookie, only the header, comments or blanks")
    return cookies


def read_netscape_lines(text: str) -> tuple[str | None, list[tuple[int, Cookie | str]]]:
    """The lenient reading of a stored file (credsvc.cookies._stored.read_stored_netscape):
    why its header is refused (None when it is fine) and every cookie line read as in
    `parse_netscape`, refused ones as their reason. A file without its header (pasted from line
    2) has its first line read as a cookie line; a byte-order mark is skipped."""
    lines = _NEWLINE.split(text)
    problem = _header_problem(lines[0], text)
    if problem is None:
        return None, list(_read_lines(lines[1:]))
    first = lines[0].removeprefix("\ufeff")
    if _MAGIC.match(first):
        return problem, list(_read_lines(lines[1:]))
    return problem, list(_read_lines([first, *lines[1:]], start=1))


def to_netscape(cookies: Iterable[Cookie]) -> str:
    """Write cookies as a Netscape cookies.txt document (header line, LF line ends).

    HttpOnly cookies get the ``#HttpOnly_`` prefix, session cookies ``0`` as expiry, fractional
    expiries are truncated to whole seconds. The format has no SameSite field. Every valid
    :class:`Cookie` is representable, so no cookie is left out.
    """
    out = [HEADER, ""]
    for cookie in cookies:
        expires = 0 if cookie.expires is None else int(cookie.expires)
        out.append(
            "\t".join(
                (
                    (HTTPONLY_PREFIX if cookie.http_only else "") + cookie.domain,
                    "FALSE" if cookie.host_only else "TRUE",
                    cookie.path,
                    "TRUE" if cookie.secure else "FALSE",
                    str(expires),
                    cookie.name,
                    cookie.value,
                )
            )
        )
    return "\n".join(out) + "\n"

"""The normalized cookie record, its validation rules and the errors raised by the readers."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

SameSite = Literal["Strict", "Lax", "None"]
SAME_SITE_VALUES: tuple[str, ...] = ("Strict", "Lax", "None")

#: Latest expiry Playwright accepts (9999-12-31T23:59:59Z); later values are rejected on input.
MAX_EXPIRES = 253402300799

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# An ASCII host name (letters, digits, '-', '_', '.'), or a bracketed IPv6 literal.
_HOST = re.compile(r"(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])")


class CookieError(ValueError):
    """Base class of every error this package raises for bad cookie input."""


class CookieFormatError(CookieError):
    """A cookie object (JSON input) is invalid.

    ``index`` is the position of the offending object in the input list (``None`` when the
    input as a whole is wrong) and ``reason`` says why, without the position. The message names
    the position and the field, never a submitted value (``name`` is kept as an attribute).
    """

    def __init__(self, reason: str, index: int | None = None, name: str | None = None):
        self.reason = reason
        self.index = index
        self.name = name
        where = "cookies" if index is None else f"cookies[{index}]"
        super().__init__(f"{where}: {reason}")


class NetscapeFormatError(CookieError):
    """A Netscape cookies.txt file is invalid.

    ``line_number`` is 1-based (``None`` when the file as a whole is wrong, e.g. it holds no
    cookie); ``str(error)`` is ``"line 3: <reason>"``.
    """

    def __init__(self, reason: str, line_number: int | None = None):
        self.reason = reason
        self.line_number = line_number
        super().__init__(reason if line_number is None else f"line {line_number}: {reason}")


def _text_problem(what: str, text: object, *, allow_empty: bool, is_name: bool) -> str | None:
    if not isinstance(text, str):
        return f"{what} must be a string, got {type(text).__name__}"
    if not text:
        return None if allow_empty else f"{what} is empty"
    if "\t" in text or "\n" in text or "\r" in text:
        return f"{what} contains a TAB or newline"
    if _CONTROL.search(text):
        return f"{what} contains a control character"
    if ";" in text:
        return f"{what} contains ';'"
    if is_name and "=" in text:
        return f"{what} contains '='"
    if text != text.strip(" "):
        return f"{what} has leading or trailing spaces (browsers strip them)"
    return None


def domain_problem(domain: object) -> str | None:
    """Why ``domain`` is not a valid cookie domain, or ``None``."""
    if not isinstance(domain, str):
        return f"domain must be a string, got {type(domain).__name__}"
    if not domain:
        return "domain is empty"
    host = domain[1:] if domain.startswith(".") else domain
    if not host:
        return "domain is only a dot"
    if not _HOST.fullmatch(host.lower()):
        return (
            "domain is not a host name "
            "(ASCII letters, digits, '-', '_' and '.'; punycode for international names)"
        )
    return None


def expires_problem(expires: object) -> str | None:
    """Why ``expires`` (unix seconds, ``None`` for a session cookie) is invalid, or ``None``."""
    if expires is None:
        return None
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        return f"expires must be a number of seconds, got {type(expires).__name__}"
    if not math.isfinite(expires):
        return "expires must be a finite number"
    if expires < 1:
        return "expires must be a positive unix timestamp in seconds"
    if expires > MAX_EXPIRES:
        if expires / 1000 <= MAX_EXPIRES:
            return "expires is after the year 9999 (milliseconds instead of seconds?)"
        return "expires is after the year 9999"
    return None


def cookie_problem(
    name: object,
    value: object,
    domain: object,
    path: object,
    expires: object,
    secure: object,
    http_only: object,
    same_site: object,
) -> str | None:
    """The first reason why these fields do not make a valid :class:`Cookie`, or ``None``."""
    return (
        _text_problem("name", name, allow_empty=False, is_name=True)
        or _text_problem("value", value, allow_empty=True, is_name=False)
        or domain_problem(domain)
        or _path_problem(path)
        or expires_problem(expires)
        or _bool_problem("secure", secure)
        or _bool_problem("httpOnly", http_only)
        or (
            None
            if same_site is None or same_site in SAME_SITE_VALUES
            else "sameSite must be one of Strict, Lax, None"
        )
    )


def _path_problem(path: object) -> str | None:
    if not isinstance(path, str):
        return f"path must be a string, got {type(path).__name__}"
    if not path.startswith("/"):
        return "path does not start with '/'"
    if _CONTROL.search(path) or ";" in path:
        return "path contains a control character or ';'"
    return None


def _bool_problem(what: str, flag: object) -> str | None:
    if isinstance(flag, bool):
        return None
    return f"{what} must be true or false, got {type(flag).__name__}"


@dataclass(frozen=True)
class Cookie:
    """One cookie, normalized.

    ``domain`` is lower-cased; a leading dot means the cookie is also sent to subdomains
    (``host_only`` is False), no dot means host-only. ``expires`` is unix seconds, ``None``
    for a session cookie. ``same_site`` is ``None`` when unknown/unspecified.
    Construction validates every field and raises :class:`CookieFormatError`.
    """

    name: str
    value: str
    domain: str
    path: str = "/"
    expires: float | None = None
    secure: bool = False
    http_only: bool = False
    same_site: SameSite | None = field(default=None)

    def __post_init__(self) -> None:
        reason = cookie_problem(
            self.name,
            self.value,
            self.domain,
            self.path,
            self.expires,
            self.secure,
            self.http_only,
            self.same_site,
        )
        if reason:
            raise CookieFormatError(reason, name=self.name if isinstance(self.name, str) else None)
        object.__setattr__(self, "domain", self.domain.lower())

    @property
    def host_only(self) -> bool:
        return not self.domain.startswith(".")

    @property
    def session(self) -> bool:
        return self.expires is None

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies a cookie in a jar: (domain, path, name)."""
        return (self.domain, self.path, self.name)

    def is_expired(self, now: float | datetime) -> bool:
        """True when the cookie has an expiry at or before ``now``; session cookies never are."""
        return self.expires is not None and self.expires <= timestamp(now)


def timestamp(now: float | datetime) -> float:
    """Unix seconds from a number or a timezone-aware datetime."""
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return now.timestamp()
    return float(now)

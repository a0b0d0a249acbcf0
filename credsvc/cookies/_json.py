"""JSON cookie shapes: the spec's extension objects, chrome.cookies.Cookie and Playwright."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ._model import Cookie, CookieFormatError, SameSite

# Chrome (chrome.cookies.SameSiteStatus), Playwright and the spec's vocabularies, lower-cased.
_SAME_SITE: dict[str, SameSite | None] = {
    "strict": "Strict",
    "lax": "Lax",
    "none": "None",
    "no_restriction": "None",
    "unspecified": None,
}
# Keys only chrome.cookies.Cookie objects have (the others, name ... sameSite, are shared).
CHROME_KEYS = ("expirationDate", "hostOnly", "session", "storeId", "partitionKey")


class _Bad(Exception):
    pass


def _same_site(raw: object) -> SameSite | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw.lower() in _SAME_SITE:
        return _SAME_SITE[raw.lower()]
    raise _Bad(
        "sameSite must be one of Strict, Lax, None, no_restriction, lax, strict, unspecified"
    )


def _flag(obj: Mapping[str, Any], key: str) -> bool:
    raw = obj.get(key, False)
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise _Bad(f"{key} must be true or false, got {type(raw).__name__}")
    return raw


def _seconds(obj: Mapping[str, Any], key: str) -> float | None:
    """Unix seconds; missing, null, -1 and 0 mean a session cookie."""
    raw = obj.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _Bad(f"{key} must be a number of seconds, got {type(raw).__name__}")
    if raw in (0, -1):
        return None
    if raw < 0:
        raise _Bad(f"{key} must be a unix timestamp in seconds, -1 or 0 for a session")
    return raw


def _chrome_expiry(obj: Mapping[str, Any]) -> float | None:
    """A Chrome-shaped object's expiry: `expirationDate`, else `expires` (objects that mix the
    shapes, e.g. a spec cookie that kept Chrome's `hostOnly`); `session: true` means none.
    When both are given they must agree to the second."""
    dated = _seconds(obj, "expirationDate")
    plain = _seconds(obj, "expires")
    if dated is not None and plain is not None and abs(dated - plain) >= 1:
        raise _Bad("expires and expirationDate disagree")
    if obj.get("session") is True:
        return None
    return dated if dated is not None else plain


def _require(obj: Mapping[str, Any], key: str) -> object:
    if key not in obj or obj[key] is None:
        raise _Bad(f"{key!r} is missing")
    return obj[key]


def _read_one(obj: Mapping[str, Any]) -> Cookie:
    name = _require(obj, "name")
    value = _require(obj, "value")
    same_site = _same_site(obj.get("sameSite"))
    secure = _flag(obj, "secure")
    if obj.get("url") is not None:
        # Playwright's alternative to domain + path: a host-only cookie for that URL.
        if obj.get("domain") is not None or obj.get("path") is not None:
            raise _Bad("give either url or domain and path, not both")
        url = obj["url"]
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
        except ValueError:  # e.g. an unclosed "[" in the host
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Bad("url must be an http(s) URL")
        domain: object = parts.hostname
        path: object = (parts.path or "/")[: (parts.path or "/").rfind("/") + 1]
        secure = parts.scheme == "https"
    else:
        domain = _require(obj, "domain")
        path = obj.get("path")
        path = "/" if path is None else path
    if any(key in obj for key in CHROME_KEYS):
        expires = _chrome_expiry(obj)
        host_only = obj.get("hostOnly")
        if host_only is not None and not isinstance(host_only, bool):
            raise _Bad(f"hostOnly must be true or false, got {type(host_only).__name__}")
        if isinstance(domain, str) and domain and host_only is not None:
            if host_only and domain.startswith("."):
                raise _Bad("hostOnly is true but domain starts with '.'")
            if not host_only and not domain.startswith("."):
                domain = "." + domain
    else:
        expires = _seconds(obj, "expires")
    return Cookie(
        name=name,  # type: ignore[arg-type]  # Cookie validates the types
        value=value,  # type: ignore[arg-type]
        domain=domain,  # type: ignore[arg-type]
        path=path,  # type: ignore[arg-type]
        expires=expires,
        secure=secure,
        http_only=_flag(obj, "httpOnly"),
        same_site=same_site,
    )


def from_extension(items: object) -> list[Cookie]:
    """Read a list of cookie objects, each in one of the accepted shapes (detected per object).

    * the spec's extension shape: ``name, value, domain, path, expires, httpOnly, secure`` and
      optionally ``sameSite``; ``expires`` unix seconds, missing/null/-1/0 for a session cookie;
    * Chrome's ``chrome.cookies.Cookie`` (has ``expirationDate``, ``hostOnly``, ``session``,
      ``storeId`` or ``partitionKey``): the expiry is ``expirationDate``, else ``expires`` (an
      object mixing both shapes keeps it; both given must agree), and ``session: true`` wins
      over either; ``hostOnly: false`` adds the leading dot to the domain;
    * Playwright's cookie (``expires`` -1 for session; ``url`` instead of ``domain`` + ``path``).

    ``sameSite`` accepts Chrome's ``no_restriction|lax|strict|unspecified`` and Playwright's
    ``Strict|Lax|None``. Unknown keys (``storeId``, ``partitionKey``, ...) are ignored.
    Raises :class:`CookieFormatError` naming the first bad object's index and why.
    """
    if isinstance(items, Mapping) or not isinstance(items, Iterable) or isinstance(items, str):
        raise CookieFormatError("cookies must be a list of cookie objects")
    cookies = []
    for index, obj in enumerate(items):
        if not isinstance(obj, Mapping):
            raise CookieFormatError(f"expected an object, got {type(obj).__name__}", index)
        name = obj.get("name") if isinstance(obj.get("name"), str) else None
        try:
            cookies.append(_read_one(obj))
        except _Bad as error:
            raise CookieFormatError(str(error), index, name) from None
        except CookieFormatError as error:
            raise CookieFormatError(error.reason, index, name) from None
    return cookies


def from_playwright(data: object) -> list[Cookie]:
    """Read Playwright cookies: a list from ``context.cookies()`` or a storageState document."""
    if isinstance(data, Mapping):
        if "cookies" not in data:
            raise CookieFormatError("a storage state must have a 'cookies' list")
        data = data["cookies"]
    return from_extension(data)


def _number(expires: float) -> int | float:
    return int(expires) if float(expires).is_integer() else expires


def to_extension(cookies: Iterable[Cookie]) -> list[dict[str, Any]]:
    """The spec's extension shape; ``expires`` -1 for a session cookie, ``sameSite`` when known.

    It is the same object as a Playwright cookie in its domain + path form.
    """
    return [playwright_cookie(cookie, cookie.same_site) for cookie in cookies]


def playwright_cookie(cookie: Cookie, same_site: SameSite | None) -> dict[str, Any]:
    """One Playwright ``add_cookies`` entry (domain + path form; no dot means host-only)."""
    item: dict[str, Any] = {
        "name": cookie.name,
        "value": cookie.value,
        "domain": cookie.domain,
        "path": cookie.path,
        "expires": -1 if cookie.expires is None else _number(cookie.expires),
        "httpOnly": cookie.http_only,
        "secure": cookie.secure,
    }
    if same_site is not None:
        item["sameSite"] = same_site
    return item

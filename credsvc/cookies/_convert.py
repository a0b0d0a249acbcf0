"""Conversions that report what a target cannot take, session health and format rendering."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ._json import playwright_cookie, to_extension
from ._model import Cookie, timestamp
from ._netscape import to_netscape

FORMATS: tuple[str, ...] = ("json", "netscape", "playwright")
DEFAULT_FORMAT = "json"


@dataclass(frozen=True)
class Problem:
    """Something about one input cookie that the target format or its consumer cannot take.

    ``index`` is the cookie's position in the input; ``dropped`` says whether the cookie was left
    out of the output (True) or is in it, adjusted or at risk as ``reason`` explains (False).
    """

    index: int
    name: str
    domain: str
    reason: str
    dropped: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Conversion:
    """A conversion's output (JSON-able) and the problems met, in input order."""

    output: Any
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def dropped(self) -> tuple[Problem, ...]:
        return tuple(problem for problem in self.problems if problem.dropped)

    def problems_as_json(self) -> list[dict[str, Any]]:
        return [problem.as_dict() for problem in self.problems]


def _common_problems(cookies: Sequence[Cookie], now: float | datetime | None) -> list[Problem]:
    problems = []
    first_seen: dict[tuple[str, str, str], int] = {}
    at = None if now is None else timestamp(now)
    for index, cookie in enumerate(cookies):
        earlier = first_seen.setdefault(cookie.key, index)
        if earlier != index:
            problems.append(
                Problem(
                    index,
                    cookie.name,
                    cookie.domain,
                    f"same name, domain and path as cookies[{earlier}]; "
                    "cookie jars and browsers keep only the last one",
                    dropped=False,
                )
            )
        if at is not None and cookie.is_expired(at):
            when = datetime.fromtimestamp(cookie.expires or 0, UTC).isoformat()
            problems.append(
                Problem(
                    index,
                    cookie.name,
                    cookie.domain,
                    f"expired at {when}; browsers and yt-dlp will not send it",
                    dropped=False,
                )
            )
    return problems


def _prefix_problem(cookie: Cookie) -> str | None:
    lowered = cookie.name.lower()
    if lowered.startswith("__secure-") and not cookie.secure:
        return "Chromium rejects a __Secure- cookie that is not secure"
    if lowered.startswith("__host-") and not (
        cookie.secure and cookie.host_only and cookie.path == "/"
    ):
        return "Chromium rejects a __Host- cookie unless it is secure, host-only and has path '/'"
    return None


def to_playwright(cookies: Iterable[Cookie], *, now: float | datetime | None = None) -> Conversion:
    """Cookies for Playwright's ``BrowserContext.add_cookies`` (output: a list of dicts).

    ``expires`` is -1 for a session cookie; ``sameSite`` is left out when unknown (Chromium then
    uses Lax). Reported problems:

    * ``sameSite: None`` on a non-secure cookie: Chromium silently discards such a cookie, so it
      is sent as ``Lax`` (kept, reported);
    * a ``__Secure-``/``__Host-`` cookie breaking its prefix rules: Chromium fails the whole
      ``add_cookies`` call, so it is left out (dropped, reported);
    * duplicates (same name, domain and path) and, when ``now`` is given, expired cookies (kept,
      reported).
    """
    cookies = list(cookies)
    problems = _common_problems(cookies, now)
    output = []
    for index, cookie in enumerate(cookies):
        reason = _prefix_problem(cookie)
        if reason:
            problems.append(Problem(index, cookie.name, cookie.domain, reason, dropped=True))
            continue
        same_site = cookie.same_site
        if same_site == "None" and not cookie.secure:
            same_site = "Lax"
            problems.append(
                Problem(
                    index,
                    cookie.name,
                    cookie.domain,
                    "sameSite None requires a secure cookie (Chromium discards it otherwise); "
                    "sent as Lax",
                    dropped=False,
                )
            )
        output.append(playwright_cookie(cookie, same_site))
    problems.sort(key=lambda problem: problem.index)
    return Conversion(output, tuple(problems))


def to_playwright_storage_state(
    cookies: Iterable[Cookie], *, now: float | datetime | None = None
) -> Conversion:
    """A Playwright storageState document ``{"cookies": [...], "origins": []}``, for
    ``browser.new_context(storage_state=...)``; same cookies and problems as :func:`to_playwright`.
    """
    converted = to_playwright(cookies, now=now)
    return Conversion({"cookies": converted.output, "origins": []}, converted.problems)


def render(
    cookies: Iterable[Cookie], fmt: str = DEFAULT_FORMAT, *, now: float | datetime | None = None
) -> Conversion:
    """Cookies in one of :data:`FORMATS`, JSON-able: ``json`` the spec's extension list,
    ``netscape`` a cookies.txt string, ``playwright`` a list for ``add_cookies``.
    Raises ``ValueError`` for an unknown format.
    """
    cookies = list(cookies)
    if fmt == "playwright":
        return to_playwright(cookies, now=now)
    if fmt == "netscape":
        output: Any = to_netscape(cookies)
    elif fmt == "json":
        output = to_extension(cookies)
    else:
        raise ValueError(f"unknown cookie format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return Conversion(output, tuple(_common_problems(cookies, now)))


def expired_cookies(cookies: Iterable[Cookie], now: float | datetime) -> list[Cookie]:
    """The cookies whose expiry is at or before ``now`` (session cookies never are)."""
    return [cookie for cookie in cookies if cookie.is_expired(now)]


def session_expired(cookies: Iterable[Cookie], now: float | datetime) -> bool:
    """Whether a captured session is dead by its cookies' expiry dates.

    True when at least one cookie has an expiry and every cookie that has one is past it
    (at or before ``now``). Session cookies (no expiry) do not expire by time and do not keep a
    session alive on their own: they are ignored. A list of only session cookies, or an empty
    list, is not expired.
    """
    dated = [cookie for cookie in cookies if cookie.expires is not None]
    return bool(dated) and all(cookie.is_expired(now) for cookie in dated)


def ytdlp_options(
    *, username: str | None = None, password: str | None = None, cookiefile: str | None = None
) -> dict[str, str]:
    """Options for ``yt_dlp.YoutubeDL(...)``: login (``username``/``password``) and/or the path
    of a cookies.txt written with :func:`to_netscape`. Absent values are left out.
    """
    options = {"username": username, "password": password, "cookiefile": cookiefile}
    return {key: value for key, value in options.items() if value is not None}

"""Reading cookies back from storage, where refusing the whole list is not an option.

Rows written by the Node service (or by an earlier credsvc) may hold cookie objects, or Netscape
files, that today's validation refuses. A stored session or cookie file is served with the
cookies that are valid and one :class:`Problem` per refused cookie (its position, its name and
domain when they are safe to show, and why: never a value); the caller refuses the value only
when nothing is usable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ._convert import Conversion, Problem, render
from ._json import from_extension
from ._model import Cookie, CookieFormatError, domain_problem
from ._netscape import read_netscape_lines

# A name shown in a problem: a plain cookie-name token of sensible length. Anything else (a
# name holding "=" and a value, control characters, a very long string) is left out.
_SHOWABLE_NAME = re.compile(r"\A[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,128}\Z")


@dataclass(frozen=True)
class StoredCookies:
    """The usable cookies of a stored list, where each came from, and what was refused."""

    cookies: tuple[Cookie, ...]
    positions: tuple[int, ...]  # positions[i]: index of cookies[i] in the stored list
    problems: tuple[Problem, ...]  # one per refused object (dropped=True), in stored order

    @property
    def usable(self) -> bool:
        return bool(self.cookies)


def _showable(obj: Mapping, key: str) -> str:
    text = obj.get(key)
    if not isinstance(text, str):
        return ""
    if key == "name":
        return text if _SHOWABLE_NAME.fullmatch(text) else ""
    return text.lower() if domain_problem(text) is None else ""


def read_stored(items: object) -> StoredCookies:
    """Read a stored cookie list object by object; a refused object becomes a Problem.

    A stored value that is not a list at all gives no cookies and one problem (index -1).
    """
    if isinstance(items, Mapping) or not isinstance(items, Iterable) or isinstance(items, str):
        problem = Problem(-1, "", "", "stored cookies are not a list of cookie objects", True)
        return StoredCookies((), (), (problem,))
    cookies: list[Cookie] = []
    positions: list[int] = []
    problems: list[Problem] = []
    for index, obj in enumerate(items):
        if not isinstance(obj, Mapping):
            reason = f"expected an object, got {type(obj).__name__}"
            problems.append(Problem(index, "", "", reason, dropped=True))
            continue
        try:
            [cookie] = from_extension([obj])
        except CookieFormatError as error:
            problems.append(
                Problem(index, _showable(obj, "name"), _showable(obj, "domain"), error.reason, True)
            )
            continue
        cookies.append(cookie)
        positions.append(index)
    return StoredCookies(tuple(cookies), tuple(positions), tuple(problems))


def read_stored_netscape(text: object) -> StoredCookies:
    """Read a stored Netscape cookies file line by line; a refused line becomes a Problem.

    Positions and problem indexes are line numbers (from 1). A missing header or a byte-order
    mark is a problem that drops nothing (the file is rendered anew with its header). A stored
    value that is not text, is JSON, or holds no cookie line gives no cookies and one problem
    (index -1, or 1 for JSON). Problems never name a cookie: a refused line cannot be split
    safely into a name and a value.
    """
    if not isinstance(text, str):
        problem = Problem(-1, "", "", "the stored cookies file is not text", True)
        return StoredCookies((), (), (problem,))
    header, lines = read_netscape_lines(text)
    if header is not None and text.lstrip()[:1] in ("[", "{"):
        return StoredCookies((), (), (Problem(1, "", "", header, True),))
    cookies: list[Cookie] = []
    positions: list[int] = []
    problems = [Problem(1, "", "", header, False)] if header is not None else []
    for number, read in lines:
        if isinstance(read, str):
            problems.append(Problem(number, "", "", read, True))
        else:
            cookies.append(read)
            positions.append(number)
    if not cookies and not problems:
        problems.append(Problem(-1, "", "", "the stored cookies file holds no cookie", True))
    return StoredCookies(tuple(cookies), tuple(positions), tuple(problems))


def render_stored(
    stored: StoredCookies, fmt: str, *, now: float | datetime | None = None
) -> Conversion:
    """`render` of the usable cookies, with every problem indexed by the stored position: the
    conversion's own problems, and the refused objects'."""
    converted = render(stored.cookies, fmt, now=now)
    moved = [
        Problem(stored.positions[p.index], p.name, p.domain, p.reason, p.dropped)
        for p in converted.problems
    ]
    problems = sorted((*stored.problems, *moved), key=lambda problem: problem.index)
    return Conversion(converted.output, tuple(problems))

"""Cookies that real tools accept: extension JSON, Chrome, Netscape (yt-dlp) and Playwright.

Pure Python, no Flask. Readers turn input into validated :class:`Cookie` records and raise a
:class:`CookieError` subclass naming the first bad cookie or line; writers never leave a cookie
out without saying so (see :class:`Conversion`). Documentation: ``docs/cookies.md``.
"""

from ._convert import (
    DEFAULT_FORMAT,
    FORMATS,
    Conversion,
    Problem,
    expired_cookies,
    render,
    session_expired,
    to_playwright,
    to_playwright_storage_state,
    ytdlp_options,
)
from ._json import from_extension, from_playwright, to_extension
from ._model import (
    MAX_EXPIRES,
    Cookie,
    CookieError,
    CookieFormatError,
    NetscapeFormatError,
    SameSite,
)
from ._netscape import HEADER as NETSCAPE_HEADER
from ._netscape import parse_netscape, to_netscape
from ._stored import StoredCookies, read_stored, read_stored_netscape, render_stored

__all__ = [
    "DEFAULT_FORMAT",
    "FORMATS",
    "MAX_EXPIRES",
    "NETSCAPE_HEADER",
    "Conversion",
    "Cookie",
    "CookieError",
    "CookieFormatError",
    "NetscapeFormatError",
    "Problem",
    "SameSite",
    "StoredCookies",
    "expired_cookies",
    "from_extension",
    "from_playwright",
    "parse_netscape",
    "read_stored",
    "read_stored_netscape",
    "render",
    "render_stored",
    "session_expired",
    "to_extension",
    "to_netscape",
    "to_playwright",
    "to_playwright_storage_state",
    "ytdlp_options",
]

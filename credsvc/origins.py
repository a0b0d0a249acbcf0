"""Browser origins: what CORS_ALLOWED_ORIGINS may list (read by credsvc.config, used by
credsvc.cors). Free of Flask, like the config that calls it."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class OriginError(ValueError):
    """A configured origin is not one a browser would send in its Origin header."""


def parse_allowed_origins(raw: str) -> tuple[str, ...]:
    """Comma-separated exact origins ("https://app.example.com,http://localhost:3000").

    Each must be written exactly as a browser sends it (scheme://host[:port], lower case, no
    default port, no path), since origins are compared as strings. "*" is refused: these routes
    carry a user's token, and any site could then read their answers.
    """
    origins: list[str] = []
    for item in raw.split(","):
        origin = item.strip()
        if not origin:
            continue
        _check_origin(origin)
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)


def _check_origin(origin: str) -> None:
    if "*" in origin:
        raise OriginError(f"{origin!r}: wildcards are refused, list exact origins")
    example = "write origins as a browser sends them, e.g. https://app.example.com"
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        raise OriginError(f"{origin!r} is not an origin; {example}") from None
    if (
        parts.scheme not in DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path
        or parts.query
        or parts.fragment
        or origin.endswith(("?", "#"))
    ):
        raise OriginError(f"{origin!r} is not an origin; {example}")
    if origin != origin.lower():
        raise OriginError(f"{origin!r}: browsers send origins in lower case ({origin.lower()})")
    if port == DEFAULT_PORTS[parts.scheme]:
        raise OriginError(
            f"{origin!r}: browsers omit the default port ({parts.scheme}://{parts.hostname})"
        )

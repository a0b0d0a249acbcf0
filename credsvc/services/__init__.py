"""Domain logic: plain functions that take the Directus client and the keyring as arguments.

Views translate HTTP into these calls; nothing here imports Flask. A request that cannot be
served raises a class of credsvc.exceptions (`NotFound`, `Forbidden`, `Conflict`, `Invalid`),
which carries its HTTP status; Directus is reached through the client's helpers only.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Now as Directus stores timestamps: ISO 8601, milliseconds, Z."""
    return iso(datetime.now(UTC))


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_timestamp(value: object) -> datetime | None:
    """A timestamp read from Directus as an aware UTC datetime; None when absent or unreadable.

    Directus answers a `timestamp` column with a zone ("...000Z") and a `dateTime` column
    without one (an adopted Node-era schema has those); credsvc writes every time in UTC, so a
    time without a zone is UTC. Compared with an aware `now`, a naive one would raise TypeError.
    Anything that is not an ISO 8601 string (someone edited the row in Directus) is unknown
    rather than an error: a timestamp never turns a request into a 500.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        # A zone that moves the time past year 9999 or before year 1 cannot be read as UTC.
        return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None

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

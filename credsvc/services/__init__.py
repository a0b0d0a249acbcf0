"""Domain logic: plain functions that take the Directus client and the keyring as arguments.

Views translate HTTP into these calls; nothing here imports Flask.
"""

from __future__ import annotations

from datetime import UTC, datetime


class DomainError(Exception):
    """A request that is well-formed but cannot be served; `kind` picks the HTTP status."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "invalid" | "not_found" | "forbidden" | "conflict"
        self.message = message


def not_found(message: str) -> DomainError:
    return DomainError("not_found", message)


def forbidden() -> DomainError:
    return DomainError("forbidden", "Forbidden")


def utc_now() -> str:
    """Now as Directus stores timestamps: ISO 8601, milliseconds, Z."""
    return iso(datetime.now(UTC))


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"

"""Can Directus serve this process? The answer of /readyz, and the first Directus lines of
`flask check` (credsvc.cli.check). Imports nothing from Flask.

`probe` returns None when ready, else a `NotReady` whose reason is one of:

    unreachable         no usable answer: refused, reset, timed out, not Directus JSON
    unauthorized        401: Directus does not know the token (DIRECTUS_TOKEN is wrong)
    forbidden           403: the token's role lacks a permission this process needs
    upstream_error      any other error status: Directus itself is failing
    audit_not_writable  the role may not create audit rows, or audit_log is not credsvc's

The audit trail is checked with a create that Directus must refuse, so nothing is ever
written: `POST /items/audit_log` with the columns every row needs set to null. Directus checks
the role's create permission first (403 when it lacks one) and the schema's NOT NULL columns
next (400 FAILED_VALIDATION, no row, no activity entry). So a 400 that names only those columns
proves the collection exists, the role may create rows in it, and the columns are there; any
other answer says which of these failed. A permission read (`GET /permissions/me`) would not
show that the collection and its columns exist.

Messages are short and carry neither a token nor an upstream body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from credsvc.directus import (
    DirectusClient,
    DirectusError,
    DirectusResponseError,
    DirectusTimeout,
)
from credsvc.services import audit

# Every role reads it (deploy/directus/policies.py): an authenticated read any mode may make.
READ_PROBE = "platform_connections"
# The NOT NULL columns of audit_log (deploy/directus/build_schema.py), which every row sets.
AUDIT_REQUIRED = ("occurred_at", "action", "outcome")
# Modes whose requests append audit rows: the decrypting reads and the scope guard's denials.
AUDITING_MODES = ("full", "worker")


@dataclass(frozen=True)
class NotReady:
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def probe(
    directus: DirectusClient, *, audits: bool, token_name: str = "DIRECTUS_TOKEN"
) -> NotReady | None:
    """One authenticated read, then (when `audits`) the audit create that must be refused."""
    try:
        directus.check_access(READ_PROBE)
    except DirectusError as exc:
        return refusal(exc, token_name, f"read {READ_PROBE}")
    return audit_writable(directus, token_name) if audits else None


def audit_writable(directus: DirectusClient, token_name: str = "DIRECTUS_TOKEN") -> NotReady | None:
    """None when the role may create audit rows (see the module docstring); writes nothing."""
    collection = audit.COLLECTION
    try:
        directus.request(
            "POST",
            f"/items/{collection}",
            params={"fields": "id"},
            json_body=dict.fromkeys(AUDIT_REQUIRED),
        )
    except DirectusResponseError as exc:
        if exc.status == 400 and _refused_only_for_nulls(exc):
            return None
        if exc.status == 403:
            return NotReady(
                "audit_not_writable",
                f"{token_name}'s role may not create {collection} rows (403), "
                f"or {collection} does not exist",
            )
        return refusal(exc, token_name, f"create {collection} rows")
    except DirectusError as exc:
        return refusal(exc, token_name, f"create {collection} rows")
    return NotReady(
        "audit_not_writable",
        f"{collection} accepted a row without {', '.join(AUDIT_REQUIRED)}: its columns are not "
        "credsvc's (apply deploy/directus/schema.yaml)",
    )


_CODE = re.compile(r'"code"\s*:\s*"([A-Z_]+)"')
_FIELD = re.compile(r'"field"\s*:\s*"([^"]*)"')


def _refused_only_for_nulls(exc: DirectusResponseError) -> bool:
    """Directus's answer names only the null columns. Read with patterns, not as JSON: the
    client keeps the first 500 characters of a body, and three such errors are longer."""
    codes, fields = _CODE.findall(exc.body), _FIELD.findall(exc.body)
    return (
        exc.body.startswith('{"errors":')
        and bool(codes)
        and all(code in ("FAILED_VALIDATION", "NOT_NULL_VIOLATION") for code in codes)
        and all(name in AUDIT_REQUIRED for name in fields)
    )


def refusal(exc: DirectusError, token_name: str, doing: str) -> NotReady:
    """What a failed call says about readiness (never the upstream body)."""
    if isinstance(exc, DirectusTimeout):
        return NotReady("unreachable", "Directus did not answer in time")
    if not isinstance(exc, DirectusResponseError):
        return NotReady("unreachable", "Directus is not reachable")
    if exc.status == 401:
        return NotReady("unauthorized", f"Directus refused {token_name} (401): the token is wrong")
    if exc.status == 403:
        return NotReady("forbidden", f"{token_name}'s role may not {doing} (403)")
    return NotReady("upstream_error", f"Directus answered {exc.status}")

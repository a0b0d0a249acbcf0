"""Can Directus serve this process? The answer of /readyz, and the first Directus lines of
`flask check` (credsvc.cli.check). Imports nothing from Flask.

`probe` returns None when ready, else a `NotReady` whose reason is one of:

    unreachable         no usable answer: refused, reset, timed out, not Directus JSON
    unauthorized        401: Directus does not know the token (DIRECTUS_TOKEN is wrong)
    forbidden           403: the token's role lacks a permission this process needs
    upstream_error      any other error status: Directus itself is failing
    audit_not_writable  the role may not create audit_log rows with the fields credsvc writes

The audit trail is checked by asking Directus what the token's role may do, never by writing:
`GET /permissions/me` (Directus 11+, `@directus/api` controllers/permissions.js) answers, per
collection and action, `{"access": "none" | "partial" | "full", "fields": [...]}`. Ready when
`audit_log.create` is granted (full, or partial: a validation rule) for every field of an audit
row (`credsvc.services.audit.ROW_FIELDS`, or `*`). An earlier version sent a create Directus had
to refuse for its NULL required columns; on an adopted `audit_log` whose columns are nullable it
was accepted and wrote a junk row on every anonymous /readyz (deploy/directus/adopt.py now
reports such a table as blocking). What a permission read cannot show is that audit_log's
columns exist (no service role may read audit_log, so `flask check` cannot either): the schema
comes from deploy/directus/schema.yaml or adopt.py, and a column dropped by hand makes the
first audited request fail closed (502, nothing revealed: the row is written before the value
leaves). Directus deletes a collection's permissions with the collection, so a dropped
audit_log does show here.

/readyz needs no auth, so its answer is cached per process for CACHE_SECONDS (`CachedProbe`):
however often it is called, Directus sees at most two requests per process per window, and
concurrent callers wait for the one probe in flight. `flask check` does not cache.

Messages are short and carry neither a token nor an upstream body.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from credsvc.directus import DirectusClient, DirectusError, DirectusResponseError, DirectusTimeout
from credsvc.model import PROFILES
from credsvc.services import audit

# Every role reads it (deploy/directus/policies.py): an authenticated read any mode may make.
READ_PROBE = PROFILES.collection
# Modes whose requests append audit rows: the decrypting reads and the scope guard's denials.
AUDITING_MODES = ("full", "worker")
# How long one /readyz answer is reused (per process); see the module docstring.
CACHE_SECONDS = 5.0
GRANTED = ("full", "partial")


@dataclass(frozen=True)
class NotReady:
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def probe(
    directus: DirectusClient, *, audits: bool, token_name: str = "DIRECTUS_TOKEN"
) -> NotReady | None:
    """One authenticated read, then (when `audits`) the role's audit_log create permission."""
    try:
        directus.check_access(READ_PROBE)
    except DirectusError as exc:
        return refusal(exc, token_name, f"read {READ_PROBE}")
    return audit_writable(directus, token_name) if audits else None


def audit_writable(directus: DirectusClient, token_name: str = "DIRECTUS_TOKEN") -> NotReady | None:
    """None when the role may create audit rows with every field credsvc writes; writes nothing."""
    collection = audit.COLLECTION
    try:
        access = directus.permissions()
    except DirectusError as exc:
        return refusal(exc, token_name, "read its permissions")
    if not isinstance(access, dict):
        return NotReady("unreachable", "Directus is not reachable (an unexpected answer)")
    create = (access.get(collection) or {}).get("create") or {}
    if create.get("access") not in GRANTED:
        return NotReady(
            "audit_not_writable", f"{token_name}'s role may not create {collection} rows"
        )
    fields = create.get("fields") or []
    missing = [name for name in audit.ROW_FIELDS if "*" not in fields and name not in fields]
    if missing:
        return NotReady(
            "audit_not_writable",
            f"{token_name}'s role may create {collection} rows but may not set "
            f"{', '.join(missing)}",
        )
    return None


class CachedProbe:
    """Reuses one probe answer (ready or not) for `seconds`; one probe at a time."""

    def __init__(
        self, seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._until = float("-inf")
        self._answer: NotReady | None = None

    def __call__(self, run: Callable[[], NotReady | None]) -> NotReady | None:
        with self._lock:  # a caller arriving during a probe waits for its answer
            if self.clock() >= self._until:
                self._answer = run()
                self._until = self.clock() + self.seconds
            return self._answer


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

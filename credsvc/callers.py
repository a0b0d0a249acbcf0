"""Named internal callers: which service presents which secret in X-RBAC-SYNC-SECRET, and
what it may then do.

Each internal service has its own secret (plus, during a rotation of that secret only, its
previous one) and its own scopes. `RBAC_SYNC_SECRET` alone is the compatible default: one
caller named `rbac-sync` that holds every scope. credsvc.config reads the variables:

    INTERNAL_CALLERS=downloader,acme-workers
    INTERNAL_CALLER_DOWNLOADER_SECRET=...        (+ INTERNAL_CALLER_DOWNLOADER_SECRET_PREVIOUS)
    INTERNAL_CALLER_DOWNLOADER_SCOPES=download-credentials,platform-sessions
    INTERNAL_CALLER_ACME_WORKERS_SCOPES=end-users:acme

A route declares the one scope it needs next to its view (`credsvc.auth.requires_scope`);
`end-users` is granted per business (`end-users:<businessId>`, or `end-users:*` for all).
Nothing here imports Flask. Errors never quote a value: a value may be a secret pasted into
the wrong variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from credsvc.schemas.end_users import BUSINESS_ID

SCOPES: dict[str, str] = {
    "creator-credentials": "store and reveal creator profiles' credentials",
    "download-credentials": "reveal download credentials (yt-dlp passwords, cookie files)",
    "platform-sessions": "reveal captured platform sessions' cookies",
    "end-users": "reveal businesses' end users' cookies, per business",
}
PER_BUSINESS = frozenset({"end-users"})
ALL_BUSINESSES = "*"

DEFAULT_CALLER = "rbac-sync"  # RBAC_SYNC_SECRET: every scope, every business
NAME = re.compile(r"[a-z0-9-]{1,32}")
VARIABLE_PREFIX = "INTERNAL_CALLER_"
SCOPE_SYNTAX = ", ".join(
    f"{name}:{ALL_BUSINESSES} or {name}:<businessId>" if name in PER_BUSINESS else name
    for name in SCOPES
)


class CallerError(ValueError):
    """A scope list is malformed; the message says where, never quotes the value."""


@dataclass(frozen=True)
class Caller:
    name: str
    # scope -> the businesses it covers (ALL_BUSINESSES for all); empty for other scopes
    grants: Mapping[str, frozenset[str]]
    secrets: tuple[bytes, ...] = field(repr=False)  # the current one first

    @property
    def actor(self) -> str:
        """How audit rows and logs name this caller."""
        return f"internal:{self.name}"

    def allows(self, scope: str, business_id: str | None = None) -> bool:
        """Whether the caller holds `scope`; for a per-business scope and a `business_id`,
        for that business (without one: for at least one business)."""
        if scope not in self.grants:
            return False
        if scope not in PER_BUSINESS or business_id is None:
            return True
        covered = self.grants[scope]
        return ALL_BUSINESSES in covered or business_id in covered


FULL_SCOPE: Mapping[str, frozenset[str]] = {
    name: frozenset({ALL_BUSINESSES}) if name in PER_BUSINESS else frozenset() for name in SCOPES
}


def variable(name: str, suffix: str) -> str:
    """`acme-workers`, `SECRET` -> `INTERNAL_CALLER_ACME_WORKERS_SECRET`."""
    return f"{VARIABLE_PREFIX}{name.upper().replace('-', '_')}_{suffix}"


def parse_grants(text: str) -> dict[str, frozenset[str]]:
    """`download-credentials,end-users:acme` -> {scope: businesses}; raises CallerError."""
    grants: dict[str, set[str]] = {}
    for position, entry in enumerate(text.split(","), 1):
        scope, colon, business = entry.strip().partition(":")
        if scope not in SCOPES:
            raise CallerError(f"entry {position} is not a scope (one of: {SCOPE_SYNTAX})")
        if scope in PER_BUSINESS:
            if not colon:
                raise CallerError(
                    f"entry {position}: {scope} is granted per business, "
                    f"as {scope}:{ALL_BUSINESSES} or {scope}:<businessId>"
                )
            if business != ALL_BUSINESSES and not BUSINESS_ID.fullmatch(business):
                raise CallerError(f"entry {position}: not a valid businessId after {scope}:")
            grants.setdefault(scope, set()).add(business)
        elif colon:
            raise CallerError(f"entry {position}: {scope} takes no business")
        else:
            grants.setdefault(scope, set())
    return {scope: frozenset(businesses) for scope, businesses in grants.items()}

"""Session health: what an owner sees of their captured sessions, and how a worker reports one
dead so that it is never served again and the creator captures it anew.

A session's status is derived from its row, never stored (see `status_of`):

    revoked          the owner revoked it (revoked_at); its cookies are gone
    superseded       it needed re-capture and a newer capture replaced it (superseded_by)
    needs_recapture  a worker reported it dead (needs_recapture_at, recapture_reason)
    expired          expires_at, or the expiry of every dated cookie, has passed
    expiring_soon    that moment is less than the configured window away
    active           none of the above

Flags only ever take a session out of service: get-platform-session skips a flagged or
superseded row, and nothing here clears a flag (the Directus grants refuse clearing one when
field limits are on, docs/security.md). Nothing here reads or returns a cookie value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from credsvc.directus import DirectusClient
from credsvc.exceptions import NotFound
from credsvc.model import PLATFORM_SESSIONS
from credsvc.services import iso, parse_timestamp, profiles

COLLECTION = PLATFORM_SESSIONS.collection

# Why a worker says a session is dead: the closed set POST /report-platform-session accepts.
# Rate limiting is not in it on purpose: a throttled session is alive, the worker should back
# off rather than make the creator capture again.
REASONS: dict[str, str] = {
    "logged_out": "the platform answers as if nobody were signed in",
    "challenge": "the platform asks for a login challenge (captcha, 2FA, checkpoint)",
    "expired": "the platform says the session expired",
    "invalid_cookies": "the cookies are refused as malformed or unknown",
    "other": "any other reason the session cannot be used",
}
STATUSES = ("active", "expiring_soon", "expired", "revoked", "needs_recapture", "superseded")
# At most this many profiles and sessions in one GET /platform-sessions answer (newest first).
LIST_LIMIT = 100
# At most this many flagged sessions one new capture marks superseded.
SUPERSEDE_LIMIT = 100

EVENT_NEEDS_RECAPTURE = "platform_session.needs_recapture"
EVENT_RECAPTURED = "platform_session.recaptured"

# Events leave through this (credsvc.webhooks.Events.emit): (type, data); never a value.
Notify = Callable[[str, dict[str, Any]], None]

HEALTH_FIELDS = (
    "id",
    "user_id",
    "creator_profile_id",
    "platform",
    "captured_at",
    "expires_at",
    "cookies_expire_at",
    "cookie_count",
    "revoked_at",
    "needs_recapture_at",
    "recapture_reason",
    "superseded_by",
)
LISTED_FIELDS = ("id", "creator_profile_id", "platform", "captured_at", "expires_at")


def stored_reason(row: dict[str, Any]) -> str | None:
    """The row's recapture_reason as it may be shown or sent: one of REASONS, "other" for any
    other stored value (the column is plain text in Directus, anyone with write access there can
    put anything in it), None when the row is not flagged and holds none."""
    value = row.get("recapture_reason")
    if value in REASONS:
        return value
    if value is None and not row.get("needs_recapture_at"):
        return None
    return "other"


def deadline_of(row: dict[str, Any]) -> datetime | None:
    """The earlier of `expires_at` (what the extension reported) and `cookies_expire_at` (when
    every dated cookie has expired), or None when neither is known."""
    moments = [
        m
        for m in (
            parse_timestamp(row.get("expires_at")),
            parse_timestamp(row.get("cookies_expire_at")),
        )
        if m
    ]
    return min(moments) if moments else None


def status_of(row: dict[str, Any], now: datetime, expiring_soon: timedelta) -> str:
    """One of STATUSES, the strongest first (a revoked session is revoked, flagged or not)."""
    if row.get("revoked_at"):
        return "revoked"
    if row.get("superseded_by"):
        return "superseded"
    if row.get("needs_recapture_at"):
        return "needs_recapture"
    deadline = deadline_of(row)
    if deadline is not None and deadline <= now:
        return "expired"
    if deadline is not None and deadline <= now + expiring_soon:
        return "expiring_soon"
    return "active"


def list_platform_sessions(
    directus: DirectusClient, user_id: str, now: datetime, expiring_soon: timedelta
) -> dict[str, list[dict[str, Any]]]:
    """The user's own creator profiles and the sessions they captured for them, newest first.

    Ownership as get-platform-session decides it: the profile's current owner, and only the
    sessions that owner captured (a session stored while a profile was relabelled to someone
    else in Directus is neither listed nor served)."""
    owned = directus.find_items(
        profiles.COLLECTION,
        {"user_id": {"_eq": user_id}},
        fields=("id", "platform", "platform_username"),
        sort=("platform", "id"),
        limit=LIST_LIMIT,
    )
    if not owned:
        return {"profiles": [], "sessions": []}
    rows = directus.find_items(
        COLLECTION,
        {
            "creator_profile_id": {"_in": [profile["id"] for profile in owned]},
            "user_id": {"_eq": user_id},
        },
        fields=HEALTH_FIELDS,
        sort=("-captured_at", "-date_created"),
        limit=LIST_LIMIT,
    )
    sessions = [
        {
            **{name: row.get(name) for name in LISTED_FIELDS},
            "status": status_of(row, now, expiring_soon),
            "reason": stored_reason(row),
            "cookie_count": row.get("cookie_count"),
            "reported_at": row.get("needs_recapture_at"),
            "superseded_by": row.get("superseded_by"),
        }
        for row in rows
        if row.get("user_id") == user_id  # Directus filtered already; belt and braces
    ]
    return {
        "profiles": [
            {name: profile.get(name) for name in ("id", "platform", "platform_username")}
            for profile in owned
        ],
        "sessions": sessions,
    }


def report_platform_session(
    directus: DirectusClient,
    session_id: str,
    reason: str,
    now: datetime,
    notify: Notify | None = None,
) -> str:
    """Mark a session as needing re-capture; returns its status afterwards.

    Idempotent: a second report keeps the first time and reason. A revoked session stays
    revoked (nothing is written, "revoked" is answered): revocation is already final and
    stronger. Only the first report emits `platform_session.needs_recapture`."""
    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")  # the request schema refuses it first
    row = directus.get_item(COLLECTION, session_id, fields=HEALTH_FIELDS)
    if row is None:
        raise NotFound(f"Platform session {session_id} not found")
    if row.get("revoked_at") or row.get("needs_recapture_at") or row.get("superseded_by"):
        return status_of(row, now, timedelta(0))
    reported_at = iso(now)
    directus.update_item(
        COLLECTION, session_id, {"needs_recapture_at": reported_at, "recapture_reason": reason}
    )
    if notify is not None:
        notify(
            EVENT_NEEDS_RECAPTURE,
            {
                "session_id": session_id,
                "creator_profile_id": row["creator_profile_id"],
                "platform": row["platform"],
                "reason": reason,
            },
        )
    return "needs_recapture"


def supersede_flagged(
    directus: DirectusClient,
    user_id: str,
    profile_id: str,
    platform: str,
    new_session_id: str,
    notify: Notify | None = None,
) -> list[str]:
    """After a new capture for (profile, platform): mark that owner's sessions that need
    re-capture as superseded by it; returns their ids. Older *active* sessions are left alone:
    they stay usable fallbacks, and get-platform-session serves the newest usable one anyway.
    Emits `platform_session.recaptured` when something was superseded."""
    flagged = directus.find_items(
        COLLECTION,
        {
            "creator_profile_id": {"_eq": profile_id},
            "user_id": {"_eq": user_id},
            "platform": {"_eq": platform},
            "needs_recapture_at": {"_nnull": True},
            "superseded_by": {"_null": True},
            "revoked_at": {"_null": True},
        },
        fields=("id", "user_id", "needs_recapture_at", "superseded_by", "recapture_reason"),
        sort=("-needs_recapture_at",),
        limit=SUPERSEDE_LIMIT,
    )
    flagged = [
        row
        for row in flagged
        if row["id"] != new_session_id
        and row.get("user_id") == user_id
        and row.get("needs_recapture_at")
        and not row.get("superseded_by")
    ]
    ids = [row["id"] for row in flagged]
    if not ids:
        return []
    directus.update_items(
        COLLECTION, [{"id": row_id, "superseded_by": new_session_id} for row_id in ids]
    )
    if notify is not None:
        notify(
            EVENT_RECAPTURED,
            {
                "session_id": new_session_id,
                "creator_profile_id": profile_id,
                "platform": platform,
                "reason": stored_reason(flagged[0]),
                "superseded": ids,
            },
        )
    return ids


def recapture_reason(
    directus: DirectusClient, profile_id: str, owner: str, platform: str
) -> str | None:
    """When (profile, platform) has no usable session: the reason of the owner's newest
    session that was reported dead and not yet replaced, else None."""
    row = directus.find_one(
        COLLECTION,
        {
            "creator_profile_id": {"_eq": profile_id},
            "user_id": {"_eq": owner},
            "platform": {"_eq": platform},
            "revoked_at": {"_null": True},
            "needs_recapture_at": {"_nnull": True},
        },
        fields=("id", "user_id", "needs_recapture_at", "recapture_reason"),
        sort=("-captured_at", "-date_created"),
    )
    if row is None or row.get("user_id") != owner or not row.get("needs_recapture_at"):
        return None
    return stored_reason(row) or "other"

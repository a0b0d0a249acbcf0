"""Browser sessions captured by the extension: the `platform_sessions` collection."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from credsvc import cookies
from credsvc.crypto import Keyring
from credsvc.directus import DirectusClient, DirectusError
from credsvc.exceptions import Forbidden, NotFound
from credsvc.model import PLATFORM_SESSIONS
from credsvc.services import iso, parse_timestamp, profiles, session_health, utc_now
from credsvc.services.profiles import get_owned_profile

log = logging.getLogger("credsvc.platform_sessions")
COLLECTION = PLATFORM_SESSIONS.collection
FIELD = PLATFORM_SESSIONS.field
PUBLIC_FIELDS = ("id", "platform", "captured_at", "expires_at", "user_agent")


def store_platform_session(
    directus: DirectusClient,
    keyring: Keyring,
    user_id: str,
    profile_id: str,
    platform: str,
    session_cookies: list[cookies.Cookie],
    user_agent: str | None = None,
    expires_at: datetime | None = None,
    notify: session_health.Notify | None = None,
) -> dict[str, Any]:
    """Store a capture; it supersedes the owner's sessions of (profile, platform) that need
    re-capture (credsvc.services.session_health.supersede_flagged)."""
    get_owned_profile(directus, profile_id, user_id)
    session_id = str(uuid.uuid4())
    record = {
        "id": session_id,
        "user_id": user_id,
        "creator_profile_id": profile_id,
        "platform": platform,
        "cookie_count": len(session_cookies),
        "user_agent": user_agent,
        "captured_at": utc_now(),
        "expires_at": iso(expires_at),
        "cookies_expire_at": iso(cookies_expire_at(session_cookies)),
    }
    stored = cookies.to_extension(session_cookies)
    record[FIELD] = keyring.encrypt(stored, PLATFORM_SESSIONS.context(record))
    directus.create_item(COLLECTION, record)
    try:
        session_health.supersede_flagged(
            directus, user_id, profile_id, platform, session_id, notify
        )
    except DirectusError as exc:
        # The capture is stored and is what get-platform-session serves now; a 502 here would
        # only make the extension store it twice. The reported sessions stay needs_recapture.
        log.warning(
            "session %s stored; marking earlier reported sessions superseded failed (%s)",
            session_id,
            type(exc).__name__,
        )
    return {"id": session_id, "platform": platform, "cookie_count": len(session_cookies)}


def cookies_expire_at(session_cookies: list[cookies.Cookie]) -> datetime | None:
    """When every dated cookie has expired (the moment `cookies.session_expired` turns true),
    stored so that session health is known without decrypting; None without dated cookies."""
    dated = [cookie.expires for cookie in session_cookies if cookie.expires is not None]
    return datetime.fromtimestamp(max(dated), UTC) if dated else None


# What a revoked session's encrypted column holds instead of its cookies: the cookies are gone
# from storage, and a row whose `revoked_at` is cleared again in Directus still serves nothing.
REVOKED = {"revoked": True}


def get_platform_session(
    directus: DirectusClient, keyring: Keyring, profile_id: str, platform: str
) -> tuple[dict[str, Any], cookies.StoredCookies]:
    """The newest usable session that the profile's owner captured for (profile, platform),
    and its cookies: not revoked, not reported as needing re-capture, not superseded. When
    none is left but one was reported, the 404 says the session needs re-capture.

    Only sessions of the profile's current owner count: a session stored by someone the
    profile was briefly relabelled to (in Directus) is never served as the owner's.

    Stored cookies that today's validation refuses (rows written by the Node service) are left
    out and listed as problems (`cookies.read_stored`); a session none of whose cookies is
    usable is refused with a 404 that says so.
    """
    owner = profiles.get_profile(directus, profile_id)["user_id"]
    record = directus.find_one(
        COLLECTION,
        {
            "creator_profile_id": {"_eq": profile_id},
            "user_id": {"_eq": owner},
            "platform": {"_eq": platform},
            "revoked_at": {"_null": True},
            "needs_recapture_at": {"_null": True},
            "superseded_by": {"_null": True},
        },
        fields=tuple(dict.fromkeys(PUBLIC_FIELDS + PLATFORM_SESSIONS.row_fields)),
        sort=("-captured_at", "-date_created"),
    )
    if record is None or record.get("user_id") != owner:
        reason = session_health.recapture_reason(directus, profile_id, owner, platform)
        if reason is not None:
            raise NotFound(
                f"The {platform} session of creator profile {profile_id} needs re-capture "
                f"(reported: {reason}); no other usable session is stored"
            )
        raise NotFound(f"No active {platform} session for creator profile {profile_id}")
    stored = keyring.decrypt(record[FIELD], PLATFORM_SESSIONS.context(record))
    if stored == REVOKED:
        raise NotFound(f"No active {platform} session for creator profile {profile_id}")
    session_cookies = cookies.read_stored(stored)
    if not session_cookies.usable and session_cookies.problems:
        raise NotFound(
            f"The stored {platform} session of creator profile {profile_id} has no usable "
            f"cookie ({len(session_cookies.problems)} refused); capture it again"
        )
    return {name: record[name] for name in PUBLIC_FIELDS}, session_cookies


def revoke_platform_session(
    directus: DirectusClient, keyring: Keyring, user_id: str, session_id: str
) -> None:
    """Mark the caller's session revoked and replace its cookies with REVOKED (encrypted and
    bound like any value); revoking twice keeps the first revocation time."""
    session = directus.get_item(
        COLLECTION, session_id, fields=("revoked_at", *PLATFORM_SESSIONS.row_fields[:-1])
    )
    if session is None:
        raise NotFound(f"Platform session {session_id} not found")
    # The owner is the owner of the session's connection (the capturing user if it is gone).
    profile = directus.get_item(
        profiles.COLLECTION, session["creator_profile_id"], fields=("user_id",)
    )
    if (profile or session)["user_id"] != user_id:
        raise Forbidden()
    if session["revoked_at"] is None:
        # The Node service never serves a revoked row: the marker stays owner-bound even in
        # compatibility write mode.
        context = PLATFORM_SESSIONS.context(session, node_readable=False)
        tombstone = keyring.encrypt(REVOKED, context)
        directus.update_item(COLLECTION, session_id, {"revoked_at": utc_now(), FIELD: tombstone})


def is_expired(
    record: dict[str, Any], session_cookies: list[cookies.Cookie], now: datetime
) -> bool:
    """Expired when the session's `expires_at` has passed, or every cookie has expired."""
    expires_at = parse_timestamp(record.get("expires_at"))  # unreadable: the cookies decide
    if expires_at is not None and expires_at <= now:
        return True
    return cookies.session_expired(session_cookies, now)

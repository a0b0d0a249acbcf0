"""Browser sessions captured by the extension: the `platform_sessions` collection."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from credsvc import cookies
from credsvc.crypto import Keyring
from credsvc.directus import DirectusClient
from credsvc.model import PLATFORM_SESSIONS
from credsvc.services import forbidden, iso, not_found, profiles, utc_now
from credsvc.services.profiles import get_owned_profile

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
) -> dict[str, Any]:
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
    }
    stored = cookies.to_extension(session_cookies)
    record[FIELD] = keyring.encrypt(stored, PLATFORM_SESSIONS.context(record))
    directus.create_item(COLLECTION, record)
    return {"id": session_id, "platform": platform, "cookie_count": len(session_cookies)}


# What a revoked session's encrypted column holds instead of its cookies: the cookies are gone
# from storage, and a row whose `revoked_at` is cleared again in Directus still serves nothing.
REVOKED = {"revoked": True}


def get_platform_session(
    directus: DirectusClient, keyring: Keyring, profile_id: str, platform: str
) -> tuple[dict[str, Any], list[cookies.Cookie]]:
    """The newest non-revoked session that the profile's owner captured for (profile,
    platform), and its cookies.

    Only sessions of the profile's current owner count: a session stored by someone the
    profile was briefly relabelled to (in Directus) is never served as the owner's.
    """
    owner = profiles.get_profile(directus, profile_id)["user_id"]
    record = directus.find_one(
        COLLECTION,
        {
            "creator_profile_id": {"_eq": profile_id},
            "user_id": {"_eq": owner},
            "platform": {"_eq": platform},
            "revoked_at": {"_null": True},
        },
        fields=tuple(dict.fromkeys(PUBLIC_FIELDS + PLATFORM_SESSIONS.row_fields)),
        sort=("-captured_at", "-date_created"),
    )
    if record is None or record.get("user_id") != owner:
        raise not_found(f"No active {platform} session for creator profile {profile_id}")
    stored = keyring.decrypt(record[FIELD], PLATFORM_SESSIONS.context(record))
    if stored == REVOKED:
        raise not_found(f"No active {platform} session for creator profile {profile_id}")
    return {name: record[name] for name in PUBLIC_FIELDS}, cookies.from_extension(stored)


def revoke_platform_session(
    directus: DirectusClient, keyring: Keyring, user_id: str, session_id: str
) -> None:
    """Mark the caller's session revoked and replace its cookies with REVOKED (encrypted and
    bound like any value); revoking twice keeps the first revocation time."""
    session = directus.get_item(
        COLLECTION, session_id, fields=("revoked_at", *PLATFORM_SESSIONS.row_fields[:-1])
    )
    if session is None:
        raise not_found(f"Platform session {session_id} not found")
    # The owner is the owner of the session's connection (the capturing user if it is gone).
    profile = directus.get_item(
        profiles.COLLECTION, session["creator_profile_id"], fields=("user_id",)
    )
    if (profile or session)["user_id"] != user_id:
        raise forbidden()
    if session["revoked_at"] is None:
        tombstone = keyring.encrypt(REVOKED, PLATFORM_SESSIONS.context(session))
        directus.update_item(COLLECTION, session_id, {"revoked_at": utc_now(), FIELD: tombstone})


def is_expired(
    record: dict[str, Any], session_cookies: list[cookies.Cookie], now: datetime
) -> bool:
    """Expired when the session's `expires_at` has passed, or every cookie has expired."""
    expires_at = record.get("expires_at")
    if expires_at:
        if datetime.fromisoformat(expires_at.replace("Z", "+00:00")) <= now:
            return True
    return cookies.session_expired(session_cookies, now)

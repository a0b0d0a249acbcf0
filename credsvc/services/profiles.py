"""Creator profiles: the `platform_connections` collection."""

from __future__ import annotations

import uuid
from typing import Any

from credsvc import model
from credsvc.crypto import Keyring
from credsvc.directus import DirectusClient, DirectusResponseError
from credsvc.exceptions import Conflict, Forbidden, NotFound
from credsvc.model import PROFILES

COLLECTION = PROFILES.collection
FIELD = PROFILES.field
PROFILE_FIELDS = ("id", "user_id", "platform", "platform_username")


owner_key = model.owner_key


def get_profile(directus: DirectusClient, profile_id: str) -> dict[str, Any]:
    profile = directus.get_item(COLLECTION, profile_id, fields=PROFILE_FIELDS)
    if profile is None:
        raise NotFound(f"Creator profile {profile_id} not found")
    return profile


def get_owned_profile(directus: DirectusClient, profile_id: str, user_id: str) -> dict:
    """The profile, if `user_id` owns it: 404 when missing, 403 when someone else's."""
    profile = get_profile(directus, profile_id)
    if profile["user_id"] != user_id:
        raise Forbidden()
    return profile


def create_or_update_profile(
    directus: DirectusClient,
    keyring: Keyring,
    user_id: str,
    platform: str,
    credentials: dict,
    platform_username: str | None = None,
) -> tuple[str, bool]:
    """Create the caller's connection for `platform`, or update it. Returns (id, updated)."""
    key = owner_key(user_id, platform)
    existing = directus.find_one(
        COLLECTION, {"owner_platform": {"_eq": key}}, fields=PROFILE_FIELDS
    )
    if existing is None:
        profile_id = str(uuid.uuid4())
        record = {
            "id": profile_id,
            "user_id": user_id,
            "platform": platform,
            "owner_platform": key,
            "platform_username": platform_username,
        }
        record[FIELD] = keyring.encrypt(credentials, PROFILES.context(record))
        try:
            directus.create_item(COLLECTION, record)
            return profile_id, False
        except DirectusResponseError as exc:
            if exc.code != "RECORD_NOT_UNIQUE":
                raise
        # A concurrent call created it first: fall through and update that record.
        existing = directus.find_one(
            COLLECTION, {"owner_platform": {"_eq": key}}, fields=PROFILE_FIELDS
        )
        if existing is None:
            raise Conflict("Concurrent update, please retry")
    if existing["user_id"] != user_id or existing["platform"] != platform:
        # owner_platform says one owner, the owner columns another: a relabelled row.
        raise Forbidden()
    update_credentials(directus, keyring, existing, credentials, platform_username)
    return existing["id"], True


def update_credentials(
    directus: DirectusClient,
    keyring: Keyring,
    profile: dict[str, Any],
    credentials: dict,
    platform_username: str | None = None,
) -> None:
    """Replace the credentials of `profile` (a row read with PROFILE_FIELDS); the new value
    is bound to the owner columns as read."""
    changes: dict[str, Any] = {FIELD: keyring.encrypt(credentials, PROFILES.context(profile))}
    if platform_username is not None:
        changes["platform_username"] = platform_username
    directus.update_item(COLLECTION, profile["id"], changes)


def reveal_credentials(directus: DirectusClient, keyring: Keyring, profile_id: str) -> dict:
    profile = directus.get_item(COLLECTION, profile_id, fields=PROFILES.row_fields)
    if profile is None:
        raise NotFound(f"Creator profile {profile_id} not found")
    if not profile.get(FIELD):
        raise NotFound("No encrypted_credentials found")
    return keyring.decrypt(profile[FIELD], PROFILES.context(profile))

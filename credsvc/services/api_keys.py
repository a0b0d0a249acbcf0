"""Business API keys: the `api_keys` collection.

A key is `csk_` + 32 random bytes in base64url (47 characters). Only its SHA-256 (hex) is
stored, with a short display prefix so people can tell keys apart in `flask api-keys list`.
A key's state is read from Directus on every request (no cache), so a revocation takes effect
on the very next request. `last_used_at` is written at most once a minute per key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from credsvc.directus import DirectusClient, DirectusError
from credsvc.exceptions import NotFound
from credsvc.model import API_KEYS
from credsvc.services import iso, parse_timestamp, utc_now

COLLECTION = API_KEYS
KEY_PREFIX = "csk_"
KEY_PATTERN = re.compile(r"\Acsk_[A-Za-z0-9_-]{43}\Z")  # \Z: `$` would allow a trailing "\n"
DISPLAY_PREFIX_LENGTH = 12  # "csk_" + 8 characters: identifies a key, reveals ~48 bits
LAST_USED_INTERVAL = timedelta(minutes=1)
LIST_FIELDS = (
    "id",
    "business_id",
    "name",
    "key_prefix",
    "created_at",
    "last_used_at",
    "revoked_at",
)

log = logging.getLogger("credsvc.api_keys")


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: `secret` is shown once and never stored."""

    id: str
    business_id: str
    name: str | None
    prefix: str
    secret: str


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(directus: DirectusClient, business_id: str, name: str | None = None) -> NewKey:
    key = generate_key()
    new = NewKey(str(uuid.uuid4()), business_id, name, key[:DISPLAY_PREFIX_LENGTH], key)
    directus.create_item(
        COLLECTION,
        {
            "id": new.id,
            "business_id": business_id,
            "name": name,
            "key_hash": hash_key(key),
            "key_prefix": new.prefix,
            "created_at": utc_now(),
        },
    )
    return new


def list_keys(directus: DirectusClient, business_id: str | None = None) -> list[dict[str, Any]]:
    """Every key (optionally of one business), oldest first; never the hash."""
    query = {"business_id": {"_eq": business_id}} if business_id else None
    return directus.find_items(
        COLLECTION, query, fields=LIST_FIELDS, sort=("created_at",), limit=-1
    )


def revoke_key(directus: DirectusClient, key_id: str) -> tuple[dict[str, Any], bool]:
    """Revoke a key by id. Returns (key, was_already_revoked); NotFound if unknown."""
    try:
        key_id = str(uuid.UUID(key_id))
    except ValueError:
        raise NotFound(f"API key {key_id} not found") from None
    key = directus.get_item(COLLECTION, key_id, fields=LIST_FIELDS)
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    if key.get("revoked_at"):
        return key, True
    key["revoked_at"] = utc_now()
    directus.update_item(COLLECTION, key_id, {"revoked_at": key["revoked_at"]})
    return key, False


def find_key(directus: DirectusClient, presented: str) -> dict[str, Any] | None:
    """The stored key matching `presented`, or None when it is malformed or unknown."""
    if not KEY_PATTERN.fullmatch(presented):
        return None  # not worth a Directus round trip
    digest = hash_key(presented)
    key = directus.find_one(
        COLLECTION,
        {"key_hash": {"_eq": digest}},
        fields=("id", "business_id", "key_hash", "last_used_at", "revoked_at"),
    )
    # Checked again here so that a filter Directus ignored can never match the first row.
    if key is None or not hmac.compare_digest(str(key.get("key_hash", "")), digest):
        return None
    return key


def is_revoked(key: dict[str, Any]) -> bool:
    return bool(key.get("revoked_at"))


def touch(directus: DirectusClient, key: dict[str, Any], now: datetime | None = None) -> bool:
    """Record the use of `key` unless that was done less than a minute ago; True if written.

    Bookkeeping only: a failed write is logged, never turned into a failed request.
    """
    now = now or datetime.now(UTC)
    last = parse_timestamp(key.get("last_used_at"))
    if last is not None and now - last < LAST_USED_INTERVAL:
        return False
    try:
        directus.update_item(COLLECTION, key["id"], {"last_used_at": iso(now)})
    except DirectusError as exc:
        log.warning("could not record API key use", extra={"error_type": type(exc).__name__})
        return False
    return True

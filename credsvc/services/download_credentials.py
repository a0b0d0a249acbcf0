"""yt-dlp download credentials: the `download_credentials` collection."""

from __future__ import annotations

import uuid
from typing import Any

from credsvc import cookies
from credsvc.crypto import Keyring
from credsvc.directus import DirectusClient
from credsvc.exceptions import Conflict, Invalid, NotFound
from credsvc.model import DOWNLOAD_CREDENTIALS, PROFILES
from credsvc.services.profiles import get_owned_profile

COLLECTION = DOWNLOAD_CREDENTIALS.collection
FIELD = DOWNLOAD_CREDENTIALS.field
PUBLIC_FIELDS = ("id", "platform", "auth_type", "username")
MISMATCHED_OWNER = "Download credential does not belong to its profile's owner"


def create_download_credential(
    directus: DirectusClient, keyring: Keyring, user_id: str, data: dict[str, Any]
) -> str:
    """Store a password or Netscape cookie file for one of the caller's profiles."""
    get_owned_profile(directus, data["creator_profile_id"], user_id)
    credential_id = str(uuid.uuid4())
    record = {
        "id": credential_id,
        "user_id": user_id,
        "creator_profile_id": data["creator_profile_id"],
        "platform": data["platform"],
        "auth_type": data["auth_type"],
        "username": data.get("username"),
        "display_name": data.get("display_name"),
    }
    record[FIELD] = keyring.encrypt(data["credentials"], DOWNLOAD_CREDENTIALS.context(record))
    directus.create_item(COLLECTION, record)
    return credential_id


def reveal_download_credential(
    directus: DirectusClient, keyring: Keyring, credential_id: str
) -> dict[str, Any]:
    """The record's public fields plus its decrypted `credentials`."""
    fields = tuple(dict.fromkeys(PUBLIC_FIELDS + DOWNLOAD_CREDENTIALS.row_fields))
    record = directus.get_item(COLLECTION, credential_id, fields=fields)
    if record is None:
        raise NotFound(f"Download credential {credential_id} not found")
    # Stored by whoever owned the profile then; served only while that is still its owner (a
    # credential planted while the profile was relabelled in Directus is not the owner's).
    profile = directus.get_item(
        PROFILES.collection, record["creator_profile_id"], fields=("user_id",)
    )
    if profile is None or profile.get("user_id") != record["user_id"]:
        raise Conflict(MISMATCHED_OWNER)
    credentials = keyring.decrypt(record[FIELD], DOWNLOAD_CREDENTIALS.context(record))
    return {**{name: record[name] for name in PUBLIC_FIELDS}, "credentials": credentials}


def present(record: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Shape a revealed record for the requested `format`.

    json        the stored credentials as they were given (the spec's default)
    netscape    cookies auth: a normalized Netscape cookies.txt for yt-dlp's --cookies
    playwright  cookies auth: a list for Playwright's context.add_cookies()
    ytdlp       password auth: adds `ytdlp_options` for yt_dlp.YoutubeDL(...)

    A stored value these formats cannot be made from (a Node-era row: a cookies file none of
    whose lines is usable, a password row without a password) is a 409 conflict, like a value
    that cannot be decrypted: retrying cannot help, storing it again does.
    """
    credentials = record["credentials"]
    auth_type = record["auth_type"]
    out = {
        "id": record["id"],
        "platform": record["platform"],
        "auth_type": auth_type,
        "username": record.get("username"),
        "format": fmt,
    }
    if fmt == "json":
        return {**out, "credentials": credentials}
    if fmt == "ytdlp" and auth_type == "password":
        password = credentials.get("password") if isinstance(credentials, dict) else None
        if not isinstance(password, str):
            raise Conflict(
                f"The stored credentials of download credential {record['id']} hold no "
                "password; store them again",
            )
        options = {"username": record.get("username"), "password": password}
        return {**out, "credentials": credentials, "ytdlp_options": options}
    if fmt in ("netscape", "playwright") and auth_type == "cookies":
        # Read line by line (a file the Node service stored may hold lines that today's
        # validation refuses): the valid cookies are served, each refused line is a problem.
        text = credentials.get("cookies_netscape") if isinstance(credentials, dict) else None
        stored = cookies.read_stored_netscape(text)
        if not stored.usable:
            raise Conflict(
                f"The stored cookies file of download credential {record['id']} has no usable "
                f"cookie ({sum(p.dropped for p in stored.problems)} refused); store it again",
            )
        converted = cookies.render_stored(stored, fmt)
        key = "cookies_netscape" if fmt == "netscape" else "cookies"
        return {
            **out,
            "credentials": {key: converted.output},
            "problems": converted.problems_as_json(),
        }
    raise Invalid(f"format {fmt!r} is not available for auth_type {auth_type!r}")

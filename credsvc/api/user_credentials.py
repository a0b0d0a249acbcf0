"""Credentials API endpoints for signed-in users (browser extension, dashboard).

Guard: a Directus user access token. Ownership always comes from the token (g.user_id).
"""

from datetime import UTC, datetime, timedelta

from flask import Blueprint, g

from credsvc import cors, platforms
from credsvc.api import load_body, no_store, services
from credsvc.auth import require_user
from credsvc.schemas import credentials as schemas
from credsvc.services import download_credentials, platform_sessions, profiles, session_health

bp = Blueprint("user_credentials", __name__, url_prefix="/api/credentials")
cors.enable(bp)  # first: a browser's preflight is answered before the guard asks for a token
bp.before_request(require_user)
bp.after_request(no_store)


@bp.post("/create-profile")
def create_profile():
    """Create or update the caller's connection for a platform."""
    body = load_body(schemas.create_profile)
    app = services()
    profile_id, updated = profiles.create_or_update_profile(
        app.directus,
        app.keyring,
        g.user_id,
        body["platform"],
        body["credentials"],
        body.get("platform_username"),
    )
    return {"success": True, "id": profile_id, "updated": updated}


@bp.post("/update-profile-creds")
def update_profile_creds():
    """Replace the credentials of a connection the caller owns."""
    body = load_body(schemas.update_profile_creds)
    app = services()
    profile_id = body["creator_profile_id"]
    profile = profiles.get_owned_profile(app.directus, profile_id, g.user_id)
    profiles.update_credentials(
        app.directus, app.keyring, profile, body["credentials"], body.get("platform_username")
    )
    return {"success": True, "id": profile_id}


@bp.post("/create-download-cred")
def create_download_cred():
    """Store a yt-dlp password or Netscape cookie file for one of the caller's profiles."""
    body = load_body(schemas.create_download_cred)
    app = services()
    credential_id = download_credentials.create_download_credential(
        app.directus, app.keyring, g.user_id, body
    )
    return {"success": True, "id": credential_id}


@bp.post("/store-platform-session")
def store_platform_session():
    """Store browser cookies captured by the extension."""
    body = load_body(schemas.store_platform_session)
    app = services()
    stored = platform_sessions.store_platform_session(
        app.directus,
        app.keyring,
        g.user_id,
        body["creator_profile_id"],
        body["platform"],
        body["cookies"],
        user_agent=body.get("user_agent"),
        expires_at=body.get("expires_at"),
        notify=app.events.emit,
    )
    return {"success": True, **stored}


@bp.post("/revoke-platform-session")
def revoke_platform_session():
    """Mark one of the caller's sessions revoked; it is never served again."""
    body = load_body(schemas.revoke_platform_session)
    app = services()
    platform_sessions.revoke_platform_session(app.directus, app.keyring, g.user_id, body["id"])
    return {"success": True, "id": body["id"]}


@bp.get("/platforms")
def list_platforms():
    """The supported platforms: where their cookies live and which make a session."""
    return {
        "success": True,
        "platforms": [platform.public() for platform in platforms.PLATFORMS.values()],
    }


@bp.get("/platform-sessions")
def list_platform_sessions():
    """The caller's creator profiles and their sessions' health (never a value)."""
    app = services()
    listing = session_health.list_platform_sessions(
        app.directus,
        g.user_id,
        datetime.now(UTC),
        timedelta(hours=app.config.session_expiring_soon_hours),
    )
    return {"success": True, **listing}

"""Credentials API endpoints for signed-in users (browser extension, dashboard).

Guard: a Directus user access token. Ownership always comes from the token (g.user_id).
"""

from datetime import UTC, datetime, timedelta

from flask import Blueprint, g

from credsvc import cors, platforms
from credsvc.api import no_store, services
from credsvc.api.operations import (
    CREDENTIAL_ID,
    DIRECTUS_ERRORS,
    PROFILE_ID,
    SESSION_ID,
    operation,
)
from credsvc.auth import require_user
from credsvc.schemas import credentials as schemas
from credsvc.schemas import responses as res
from credsvc.services import download_credentials, platform_sessions, profiles, session_health

bp = Blueprint("user_credentials", __name__, url_prefix="/api/credentials")
cors.enable(bp)  # first: a browser's preflight is answered before the guard asks for a token
bp.before_request(require_user)
bp.after_request(no_store)


PASSWORD = {"password": "MyInstagramPassword123"}
EXTENSION_COOKIE = {
    "name": "sessionid",
    "value": "123456789%3AabcXYZ%3A28",
    "domain": ".instagram.com",
    "path": "/",
    "expires": 1924992000,
    "httpOnly": True,
    "secure": True,
}


@bp.post("/create-profile")
@operation(
    request=schemas.create_profile,
    request_example={"platform": "instagram", "credentials": PASSWORD},
    response=res.CreateProfileResponseSchema,
    example={"success": True, "id": PROFILE_ID, "updated": False},
    errors=DIRECTUS_ERRORS,
)
def create_profile(body):
    """Create or update the caller's connection for a platform."""
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
@operation(
    request=schemas.update_profile_creds,
    request_example={"creator_profile_id": PROFILE_ID, "credentials": PASSWORD},
    response=res.IdResponseSchema,
    example={"success": True, "id": PROFILE_ID},
    errors=(403, *DIRECTUS_ERRORS),
)
def update_profile_creds(body):
    """Replace the credentials of a connection the caller owns."""
    app = services()
    profile_id = body["creator_profile_id"]
    profile = profiles.get_owned_profile(app.directus, profile_id, g.user_id)
    profiles.update_credentials(
        app.directus, app.keyring, profile, body["credentials"], body.get("platform_username")
    )
    return {"success": True, "id": profile_id}


@bp.post("/create-download-cred")
@operation(
    request=schemas.create_download_cred,
    request_example={
        "platform": "youtube",
        "creator_profile_id": PROFILE_ID,
        "auth_type": "password",
        "credentials": {"password": "MyYouTubePassword123"},
    },
    response=res.IdResponseSchema,
    example={"success": True, "id": CREDENTIAL_ID},
    errors=(403, *DIRECTUS_ERRORS),
)
def create_download_cred(body):
    """Store a yt-dlp password or Netscape cookie file for one of the caller's profiles."""
    app = services()
    credential_id = download_credentials.create_download_credential(
        app.directus, app.keyring, g.user_id, body
    )
    return {"success": True, "id": credential_id}


@bp.post("/store-platform-session")
@operation(
    request=schemas.store_platform_session,
    request_example={
        "creator_profile_id": PROFILE_ID,
        "platform": "instagram",
        "cookies": [EXTENSION_COOKIE],
    },
    response=res.StorePlatformSessionResponseSchema,
    example={"success": True, "id": SESSION_ID, "platform": "instagram", "cookie_count": 1},
    errors=(403, *DIRECTUS_ERRORS),
)
def store_platform_session(body):
    """Store browser cookies captured by the extension."""
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
@operation(
    request=schemas.revoke_platform_session,
    request_example={"id": SESSION_ID},
    response=res.IdResponseSchema,
    example={"success": True, "id": SESSION_ID},
    errors=(403, *DIRECTUS_ERRORS),
)
def revoke_platform_session(body):
    """Mark one of the caller's sessions revoked; it is never served again."""
    app = services()
    platform_sessions.revoke_platform_session(app.directus, app.keyring, g.user_id, body["id"])
    return {"success": True, "id": body["id"]}


@bp.get("/platforms")
@operation(
    response=res.PlatformsResponseSchema,
    example={
        "success": True,
        "platforms": [
            {
                "platform": "instagram",
                "name": "Instagram",
                "cookie_domains": ["instagram.com"],
                "login_url": "https://www.instagram.com/accounts/login/",
                "session_cookies": ["sessionid"],
            }
        ],
    },
)
def list_platforms():
    """The supported platforms: where their cookies live and which make a session.

    From the one platform table (credsvc/platforms.py); docs/extension-api.md.
    """
    return {
        "success": True,
        "platforms": [platform.public() for platform in platforms.PLATFORMS.values()],
    }


@bp.get("/platform-sessions")
@operation(
    response=res.PlatformSessionsResponseSchema,
    example={
        "success": True,
        "profiles": [{"id": PROFILE_ID, "platform": "instagram", "platform_username": "me"}],
        "sessions": [
            {
                "id": SESSION_ID,
                "creator_profile_id": PROFILE_ID,
                "platform": "instagram",
                "status": "needs_recapture",
                "reason": "logged_out",
                "captured_at": "2026-01-15T10:30:00.000Z",
                "expires_at": "2026-12-31T23:59:59.000Z",
                "cookie_count": 3,
                "reported_at": "2026-01-20T08:00:00.000Z",
                "superseded_by": None,
            }
        ],
    },
    errors=(502, 504),
)
def list_platform_sessions():
    """The caller's creator profiles and their sessions' health, newest first (never a value).

    status: active, expiring_soon (within SESSION_EXPIRING_SOON_HOURS), expired, revoked,
    needs_recapture, superseded. docs/extension-api.md
    """
    app = services()
    listing = session_health.list_platform_sessions(
        app.directus,
        g.user_id,
        datetime.now(UTC),
        timedelta(hours=app.config.session_expiring_soon_hours),
    )
    return {"success": True, **listing}

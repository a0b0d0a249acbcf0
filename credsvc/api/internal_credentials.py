"""Credentials API endpoints for internal services only.

Guard: an internal caller's secret in X-RBAC-SYNC-SECRET, and the scope each route declares
(credsvc.callers). These routes and the workers' one are the only ones that return decrypted
credentials.
"""

from datetime import UTC, datetime

from flask import Blueprint

from credsvc import cookies
from credsvc.api import audit, no_store, services
from credsvc.api.operations import (
    CREDENTIAL_ID,
    DIRECTUS_ERRORS,
    PROFILE_ID,
    SESSION_ID,
    operation,
)
from credsvc.auth import require_internal, requires_scope
from credsvc.schemas import credentials as schemas
from credsvc.schemas import responses as res
from credsvc.services import download_credentials, platform_sessions, profiles, session_health

bp = Blueprint("internal_credentials", __name__, url_prefix="/api/credentials")
bp.before_request(require_internal)
bp.after_request(no_store)


@bp.post("/store")
@requires_scope("creator-credentials")
@operation(
    request=schemas.store,
    request_example={
        "creatorProfileId": PROFILE_ID,
        "credentials": {"api_key": "sk-proj-abc123xyz"},
    },
    response=res.StoreResponseSchema,
    example={"success": True, "creatorProfileId": PROFILE_ID, "updated": PROFILE_ID},
    errors=DIRECTUS_ERRORS,
)
def store(body):
    """Encrypt and save credentials on an existing profile."""
    app = services()
    profile_id = body["creatorProfileId"]
    profile = profiles.get_profile(app.directus, profile_id)
    profiles.update_credentials(app.directus, app.keyring, profile, body["credentials"])
    return {"success": True, "creatorProfileId": profile_id, "updated": profile_id}


@bp.post("/reveal")
@requires_scope("creator-credentials")
@operation(
    request=schemas.reveal,
    request_example={"creatorProfileId": PROFILE_ID},
    response=res.RevealResponseSchema,
    example={
        "success": True,
        "creatorProfileId": PROFILE_ID,
        "credentials": {"api_key": "sk-proj-abc123xyz"},
    },
    errors=DIRECTUS_ERRORS,
)
def reveal(body):
    """Decrypt a profile's credentials (audited)."""
    app = services()
    profile_id = body["creatorProfileId"]
    with audit("reveal", target_collection=profiles.COLLECTION, target_id=profile_id):
        credentials = profiles.reveal_credentials(app.directus, app.keyring, profile_id)
    return {"success": True, "creatorProfileId": profile_id, "credentials": credentials}


@bp.post("/reveal-download-cred")
@requires_scope("download-credentials")
@operation(
    request=schemas.reveal_download_cred,
    request_example={"id": CREDENTIAL_ID, "format": "json"},
    response=res.RevealDownloadCredResponseSchema,
    example={
        "success": True,
        "id": CREDENTIAL_ID,
        "platform": "youtube",
        "auth_type": "password",
        "username": "me@example.com",
        "format": "json",
        "credentials": {"password": "MyYouTubePassword123"},
    },
    errors=DIRECTUS_ERRORS,
)
def reveal_download_cred(body):
    """Decrypt a download credential, optionally converted for yt-dlp or Playwright (audited).

    `format` converts a cookie file for yt-dlp (netscape) or Playwright, or adds yt-dlp options
    to a password (ytdlp).
    """
    app = services()
    with audit(
        "reveal-download-cred",
        target_collection=download_credentials.COLLECTION,
        target_id=body["id"],
    ):
        record = download_credentials.reveal_download_credential(
            app.directus, app.keyring, body["id"]
        )
        # Inside the audit: a stored value the format cannot be made from is a refusal (409).
        presented = download_credentials.present(record, body.get("format", "json"))
    return {"success": True, **presented}


@bp.post("/get-platform-session")
@requires_scope("platform-sessions")
@operation(
    request=schemas.get_platform_session,
    request_example={"creator_profile_id": PROFILE_ID, "platform": "instagram"},
    response=res.GetPlatformSessionResponseSchema,
    example={
        "success": True,
        "id": SESSION_ID,
        "platform": "instagram",
        "cookies": [res.COOKIE_EXAMPLE],
        "format": "json",
        "captured_at": "2026-01-15T10:30:00.000Z",
        "expires_at": "2026-12-31T23:59:59.000Z",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
        "expired": False,
    },
    errors=DIRECTUS_ERRORS,
)
def get_platform_session(body):
    """The newest usable session's cookies for (profile, platform) (audited).

    Never a session reported as needing re-capture, or superseded: the next usable one, else
    404 saying the session needs re-capture. docs/extension-api.md
    """
    app = services()
    profile_id = body["creator_profile_id"]
    with audit(
        "get-platform-session", target_collection=platform_sessions.COLLECTION, target_id=profile_id
    ):
        record, stored = platform_sessions.get_platform_session(
            app.directus, app.keyring, profile_id, body["platform"]
        )
    fmt = body.get("format", "json")
    converted = cookies.render_stored(stored, fmt)  # problems: also the refused stored cookies
    return {
        "success": True,
        "id": record["id"],
        "platform": record["platform"],
        "cookies": converted.output,
        "format": fmt,
        "captured_at": record["captured_at"],
        "expires_at": record["expires_at"],
        "user_agent": record["user_agent"],
        "expired": platform_sessions.is_expired(record, list(stored.cookies), datetime.now(UTC)),
        **problems_of(converted),
    }


@bp.post("/report-platform-session")
@requires_scope("platform-sessions")
@operation(
    request=schemas.report_platform_session,
    request_example={"id": SESSION_ID, "reason": "logged_out"},
    response=res.ReportPlatformSessionResponseSchema,
    example={"success": True, "id": SESSION_ID, "status": "needs_recapture"},
    errors=DIRECTUS_ERRORS,
)
def report_platform_session(body):
    """A worker reports a session dead: it needs re-capture and is never served again (audited).

    Idempotent: a second report keeps the first time and reason. A revoked session stays
    revoked (answered as such). docs/extension-api.md
    """
    app = services()
    with audit(
        "report-platform-session",
        target_collection=platform_sessions.COLLECTION,
        target_id=body["id"],
        detail=body["reason"],  # one of session_health.REASONS (the schema refuses others)
    ):
        status = session_health.report_platform_session(
            app.directus, body["id"], body["reason"], datetime.now(UTC), notify=app.events.emit
        )
    return {"success": True, "id": body["id"], "status": status}


def problems_of(converted: cookies.Conversion) -> dict:
    """What a format could not represent (never values), only when there is something."""
    if not converted.problems:
        return {}
    return {"problems": converted.problems_as_json()}

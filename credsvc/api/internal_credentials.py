"""Credentials API endpoints for internal services only.

Guard: an internal caller's secret in X-RBAC-SYNC-SECRET, and the scope each route declares
(credsvc.callers). These routes and the workers' one are the only ones that return decrypted
credentials.
"""

from datetime import UTC, datetime

from flask import Blueprint

from credsvc import cookies
from credsvc.api import audit, load_body, no_store, services
from credsvc.auth import require_internal, requires_scope
from credsvc.schemas import credentials as schemas
from credsvc.services import download_credentials, platform_sessions, profiles, session_health

bp = Blueprint("internal_credentials", __name__, url_prefix="/api/credentials")
bp.before_request(require_internal)
bp.after_request(no_store)


@bp.post("/store")
@requires_scope("creator-credentials")
def store():
    """Encrypt and save credentials on an existing profile."""
    body = load_body(schemas.store)
    app = services()
    profile_id = body["creatorProfileId"]
    profile = profiles.get_profile(app.directus, profile_id)
    profiles.update_credentials(app.directus, app.keyring, profile, body["credentials"])
    return {"success": True, "creatorProfileId": profile_id, "updated": profile_id}


@bp.post("/reveal")
@requires_scope("creator-credentials")
def reveal():
    """Decrypt a profile's credentials."""
    body = load_body(schemas.reveal)
    app = services()
    profile_id = body["creatorProfileId"]
    with audit("reveal", target_collection=profiles.COLLECTION, target_id=profile_id):
        credentials = profiles.reveal_credentials(app.directus, app.keyring, profile_id)
    return {"success": True, "creatorProfileId": profile_id, "credentials": credentials}


@bp.post("/reveal-download-cred")
@requires_scope("download-credentials")
def reveal_download_cred():
    """Decrypt a download credential; `format` converts cookie files for yt-dlp/Playwright."""
    body = load_body(schemas.reveal_download_cred)
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
def get_platform_session():
    """The newest non-revoked session's cookies for (profile, platform)."""
    body = load_body(schemas.get_platform_session)
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
def report_platform_session():
    """A worker found a session dead: it needs re-capture and is never served again."""
    body = load_body(schemas.report_platform_session)
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

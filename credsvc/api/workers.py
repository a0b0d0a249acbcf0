"""The workers' side of the end-user API: decrypted cookies, ready to load into a browser.

Guard: an internal caller's secret in X-RBAC-SYNC-SECRET, like the other internal endpoints
(errors are `{"success": false, "error": "..."}`), with the `end-users` scope for the business
the body names (checked before anything is read). Every call leaves an audit row (who, which
business and end user, outcome), written before any value is handed out; no value is ever in it.
"""

from __future__ import annotations

from flask import Blueprint

from credsvc import cookies, platforms
from credsvc.api import audit, no_store, services
from credsvc.api.operations import DIRECTUS_ERRORS, operation
from credsvc.auth import authorize_business, require_internal, requires_scope
from credsvc.schemas import end_users as schemas
from credsvc.schemas import responses as res
from credsvc.services import end_users

bp = Blueprint("workers", __name__, url_prefix="/api/end-user-credentials")
bp.before_request(require_internal)
bp.after_request(no_store)


@bp.post("/reveal")
@requires_scope("end-users")
@operation(
    request=schemas.reveal,
    request_example={"businessId": "acme", "endUserId": "alice"},
    response=res.RevealEndUserResponseSchema,
    example={
        "success": True,
        "businessId": "acme",
        "endUserId": "alice",
        "format": "json",
        "platforms": {
            "reddit": {
                "cookies": [
                    {
                        "name": "reddit_session",
                        "value": "eyJhbGciOiJIUzI1NiJ9.example",
                        "domain": ".reddit.com",
                        "path": "/",
                        "expires": -1,
                        "httpOnly": True,
                        "secure": True,
                    }
                ],
                "missing": [],
            }
        },
    },
    errors=DIRECTUS_ERRORS,
)
def reveal(body):
    """An end user's cookies per platform, ready for a browser (audited).

    `format`: json (the extension's objects), netscape (a cookies.txt) or playwright.
    """
    business_id, end_user_id = authorize_business(body["businessId"]), body["endUserId"]
    app = services()
    fmt = body.get("format", cookies.DEFAULT_FORMAT)
    with audit(
        "reveal-end-user-credentials",
        target_collection=end_users.COLLECTION,
        business_id=business_id,
        end_user_id=end_user_id,
    ):
        found = end_users.reveal_cookies(
            app.directus, app.keyring, business_id, end_user_id, body.get("platforms")
        )
    answer = {}
    for name, platform_cookies in found.items():
        stored = {cookie.name for cookie in platform_cookies}
        answer[name] = {
            "cookies": cookies.render(platform_cookies, fmt).output,
            # Fields of this platform that were never uploaded: the session may be incomplete.
            "missing": [
                spec.field for spec in platforms.PLATFORMS[name].cookies if spec.name not in stored
            ],
        }
    return {
        "success": True,
        "businessId": business_id,
        "endUserId": end_user_id,
        "format": fmt,
        "platforms": answer,
    }

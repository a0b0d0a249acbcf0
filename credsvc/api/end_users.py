"""The end-user credentials API for businesses: /v1/end-users/{endUserId}/credentials.

Guard: a business API key (`Authorization: Bearer csk_...`), checked against Directus on every
request. The key decides the business; nothing in the request can name another one.
No answer of this blueprint ever carries a credential value or ciphertext. Errors are
`{"ok": false, "error": "..."}` (the envelope of this prefix: credsvc.errors.envelope_key).
"""

from __future__ import annotations

from flask import Blueprint, g, request

from credsvc.api import no_store, services
from credsvc.api.operations import DIRECTUS_ERRORS, operation
from credsvc.auth import require_api_key
from credsvc.errors import Invalid
from credsvc.schemas import end_users as schemas
from credsvc.schemas import responses as res
from credsvc.services import end_users

bp = Blueprint("end_users", __name__, url_prefix="/v1/end-users")


def check_end_user_id() -> None:
    """before_request, after the key: a bad endUserId is a 400 before the body is read."""
    end_user_id = (request.view_args or {}).get("end_user_id")
    problem = None if end_user_id is None else schemas.end_user_id_problem(end_user_id)
    if problem:
        raise Invalid(problem)


bp.before_request(require_api_key)
bp.before_request(check_end_user_id)
bp.after_request(no_store)

# 400: a bad endUserId; 403: a revoked key.
END_USER_ERRORS = (400, 403, *DIRECTUS_ERRORS)

# `path:` so that an id with an encoded slash ("alice%2Fbob" arrives decoded) still matches.
CREDENTIALS = "/<path:end_user_id>/credentials"


@bp.put(CREDENTIALS)
@operation(
    request=schemas.set_credentials,
    request_example={"twitterAuthToken": "a1b2c3d4e5f6", "twitterCt0": None},
    response=res.OkSchema,
    example={"ok": True},
    errors=END_USER_ERRORS,
)
def set_credentials(end_user_id: str, body):
    """Set credentials: the fields sent are set (null clears one), others stay as they are."""
    app = services()
    end_users.set_credentials(app.directus, app.keyring, g.business_id, end_user_id, body)
    return {"ok": True}


@bp.get(CREDENTIALS)
@operation(
    response=res.CredentialStatusResponseSchema,
    example={
        "ok": True,
        "endUserId": "alice",
        "platforms": {
            "twitter": {
                "configured": True,
                "fields": {"twitterAuthToken": True, "twitterCt0": False},
            }
        },
    },
    errors=END_USER_ERRORS,
)
def credential_status(end_user_id: str):
    """Which platforms and fields are configured: flags only, never values."""
    status = end_users.credential_status(services().directus, g.business_id, end_user_id)
    return {"ok": True, "endUserId": end_user_id, "platforms": status}


@bp.delete(CREDENTIALS)
@operation(response=res.OkSchema, example={"ok": True}, errors=END_USER_ERRORS)
def delete_credentials(end_user_id: str):
    """Delete every credential of the end user (deleting nothing is fine too)."""
    end_users.delete_credentials(services().directus, g.business_id, end_user_id)
    return {"ok": True}

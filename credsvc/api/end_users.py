"""The end-user credentials API for businesses: /v1/end-users/{endUserId}/credentials.

Guard: a business API key (`Authorization: Bearer csk_...`), checked against Directus on every
request. The key decides the business; nothing in the request can name another one.
No answer of this blueprint ever carries a credential value or ciphertext. Errors are
`{"ok": false, "error": "..."}` (the envelope of this prefix: credsvc.errors.envelope_key).
"""

from __future__ import annotations

from flask import Blueprint, g

from credsvc.api import load_body, no_store, services
from credsvc.auth import require_api_key
from credsvc.errors import BadRequest
from credsvc.schemas import end_users as schemas
from credsvc.services import end_users

bp = Blueprint("end_users", __name__, url_prefix="/v1/end-users")

bp.before_request(require_api_key)
bp.after_request(no_store)


def checked_end_user_id(end_user_id: str) -> str:
    problem = schemas.end_user_id_problem(end_user_id)
    if problem:
        raise BadRequest(problem)
    return end_user_id


# `path:` so that an id with an encoded slash ("alice%2Fbob" arrives decoded) still matches.
CREDENTIALS = "/<path:end_user_id>/credentials"


@bp.put(CREDENTIALS)
def set_credentials(end_user_id: str):
    """Set the fields sent (null clears one); fields not sent stay as they are."""
    end_user_id = checked_end_user_id(end_user_id)
    values = load_body(schemas.set_credentials)
    app = services()
    end_users.set_credentials(app.directus, app.keyring, g.business_id, end_user_id, values)
    return {"ok": True}


@bp.get(CREDENTIALS)
def credential_status(end_user_id: str):
    """Which platforms and fields are configured: flags only, never values."""
    end_user_id = checked_end_user_id(end_user_id)
    status = end_users.credential_status(services().directus, g.business_id, end_user_id)
    return {"ok": True, "endUserId": end_user_id, "platforms": status}


@bp.delete(CREDENTIALS)
def delete_credentials(end_user_id: str):
    """Delete every credential of the end user (deleting nothing is fine too)."""
    end_user_id = checked_end_user_id(end_user_id)
    end_users.delete_credentials(services().directus, g.business_id, end_user_id)
    return {"ok": True}

"""The audit trail of decrypting reads: who asked, for what, when, with what outcome.

Rows go to the `audit_log` collection and never carry a credential value. Auditing fails
closed: when the row cannot be written, the decrypted value is not handed out either.
"""

from __future__ import annotations

from credsvc.directus import DirectusClient
from credsvc.services import utc_now

COLLECTION = "audit_log"


def record_access(
    directus: DirectusClient,
    *,
    actor: str,
    action: str,
    outcome: str,
    target_collection: str | None = None,
    target_id: str | None = None,
    business_id: str | None = None,
    end_user_id: str | None = None,
    request_id: str | None = None,
) -> None:
    """Append one audit row; outcome is e.g. "ok", "not_found", "decrypt_failed"."""
    row = {
        "occurred_at": utc_now(),
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "target_collection": target_collection,
        "target_id": target_id,
        "business_id": business_id,
        "end_user_id": end_user_id,
        "request_id": request_id,
    }
    directus.create_item(COLLECTION, row)

"""The audit trail of decrypting reads: who asked, for what, when, with what outcome.

Rows go to the `audit_log` collection and never carry a credential value. Auditing fails
closed: when the row for a successful read cannot be written, the value is not handed out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from credsvc.crypto import CryptoError
from credsvc.directus import DirectusClient, DirectusError, DirectusTransportError
from credsvc.services import DomainError, utc_now

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
    detail: str | None = None,
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
        "detail": detail,
    }
    directus.create_item(COLLECTION, row)


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return exc.kind
    if isinstance(exc, CryptoError):
        return "decrypt_failed"
    if isinstance(exc, DirectusError):
        return "upstream_error"
    return "error"


@contextmanager
def audited(directus: DirectusClient, **fields) -> Iterator[None]:
    """Record the outcome of the decrypting read inside the block.

    Success is recorded before the caller can return the value (a failed write raises);
    a failure is recorded on a best-effort basis and the original error propagates. When
    Directus itself just failed to answer (down, reset, timed out), no row is attempted: it
    would only make the caller wait a second timeout (the service log still has the request).
    """
    try:
        yield
    except Exception as exc:
        if isinstance(exc, DirectusTransportError):
            raise
        try:
            record_access(directus, outcome=outcome_of(exc), **fields)
        except DirectusError:
            pass  # Directus is likely the reason we failed; the original error matters more.
        raise
    record_access(directus, outcome="ok", **fields)

"""The audit trail of decrypting reads: who asked, for what, when, with what outcome.

Rows go to the `audit_log` collection and never carry a credential value. Auditing fails
closed: when the row for a successful read cannot be written, the value is not handed out.

Rows of concurrent requests are written together (`GroupCommit`): one batch create instead of
one Directus round trip each, and still each request goes on only once its own row is
committed. Directus creates a batch in one transaction, so a row is never half written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from credsvc.crypto import CryptoError
from credsvc.directus import DirectusClient, DirectusError, DirectusTransportError
from credsvc.exceptions import ServiceError
from credsvc.model import AUDIT_LOG
from credsvc.services import utc_now

COLLECTION = AUDIT_LOG
# The audited actions that hand out a decrypted value (the views' `audit(<action>)` names).
# Other audited actions (a worker's report-platform-session) decrypt nothing: the reveals
# metric (credsvc.metrics) counts these only.
DECRYPTING_ACTIONS = frozenset(
    {"reveal", "reveal-download-cred", "get-platform-session", "reveal-end-user-credentials"}
)
# Rows one batch create carries at most; a longer queue is written in several batches.
MAX_BATCH = 64


@dataclass(eq=False)
class _Ticket:
    row: dict[str, Any]
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    leads: bool = False  # woken to write the next batch, not with its own outcome


class GroupCommit:
    """Group commit of audit rows across the threads of one process.

    The first caller with nothing in flight writes its row at once (a lone request pays one
    round trip, as before). Rows that arrive while a batch is in flight queue up; when that
    batch is committed its writer hands the queue to the oldest waiting caller, which writes
    the queue as one batch. Every caller returns only after the batch holding its row was
    committed, or raises that batch's error: nothing is acknowledged before it is durable.
    """

    def __init__(
        self, write_rows: Callable[[list[dict[str, Any]]], None], max_batch: int = MAX_BATCH
    ):
        self._write_rows = write_rows
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Ticket] = []
        self._busy = False  # a batch is being written

    def write(self, row: dict[str, Any]) -> None:
        ticket = _Ticket(row)
        with self._lock:
            self._waiting.append(ticket)
            leads = not self._busy
            self._busy = True
        if not leads:
            ticket.ready.wait()
            leads = ticket.leads
        if leads:
            self._write_next_batch()
        if ticket.error is not None:
            raise ticket.error

    def _write_next_batch(self) -> None:
        """Write the oldest waiting rows (the caller's among them), then wake their callers
        and hand the rest of the queue to its oldest caller."""
        with self._lock:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
        error: BaseException | None = None
        try:
            self._write_rows([ticket.row for ticket in batch])
        except BaseException as exc:  # handed to every caller of the batch, re-raised there
            error = exc
        with self._lock:
            successor = self._waiting[0] if self._waiting else None
            self._busy = successor is not None
        for ticket in batch:
            ticket.error = error
            ticket.ready.set()
        if successor is not None:
            successor.leads = True
            successor.ready.set()


class AuditTrail:
    """The `audit_log` writer of one process: rows built here, written by a GroupCommit."""

    def __init__(
        self,
        directus: DirectusClient,
        max_batch: int = MAX_BATCH,
        observer: Callable[[dict[str, Any], bool], None] | None = None,
    ):
        self.directus = directus
        self._commit = GroupCommit(self._create, max_batch)
        # Told of each row and whether it was committed (credsvc.metrics); never raises here.
        self.observer = observer

    def _create(self, rows: list[dict[str, Any]]) -> None:
        self.directus.append_items(COLLECTION, rows)

    def record(self, **fields: Any) -> None:
        """Append one row (see `row`); returns once it is committed, raises DirectusError."""
        entry = row(**fields)
        if self.observer is None:
            self._commit.write(entry)
            return
        try:
            self._commit.write(entry)
        except Exception:
            self.observer(entry, False)
            raise
        self.observer(entry, True)

    @contextmanager
    def audited(self, **fields: Any) -> Iterator[None]:
        """Record the outcome of the decrypting read inside the block.

        Success is recorded before the caller can return the value (a failed write raises);
        a failure is recorded on a best-effort basis and the original error propagates. When
        Directus itself just failed to answer (down, reset, timed out), no row is attempted:
        it would only make the caller wait a second timeout (the service log still has the
        request).
        """
        try:
            yield
        except Exception as exc:
            if isinstance(exc, DirectusTransportError):
                raise
            try:
                self.record(outcome=outcome_of(exc), **fields)
            except DirectusError:
                pass  # Directus is likely the reason we failed; the original error matters more.
            raise
        self.record(outcome="ok", **fields)


def row(
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
) -> dict[str, Any]:
    """One audit row; outcome is e.g. "ok", "not_found", "decrypt_failed"."""
    return {
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


# Every field of an audit row (what the role must be allowed to set, credsvc.services.readiness).
ROW_FIELDS = tuple(row(actor="", action="", outcome=""))
# The NOT NULL columns of audit_log (deploy/directus/schema.yaml), which every row sets.
REQUIRED_FIELDS = ("occurred_at", "action", "outcome")


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, ServiceError):
        return exc.outcome
    if isinstance(exc, CryptoError):
        return "decrypt_failed"
    if isinstance(exc, DirectusError):
        return "upstream_error"
    return "error"

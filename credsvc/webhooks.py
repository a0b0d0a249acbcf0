"""Signed webhooks: tell a product that a creator's session needs re-capture, or was re-captured.

Optional: WEBHOOK_URL and WEBHOOK_SECRET (credsvc.config), both or neither. Each event is one
POST of a JSON body

    {"id": "evt_<32 hex>", "type": "platform_session.needs_recapture",
     "created_at": "2026-11-25T18:00:00.000Z",
     "data": {"session_id": ..., "creator_profile_id": ..., "platform": ..., "reason": ...}}

with the headers

    X-Credsvc-Event-Id: evt_...                  the same on every retry; NOT signed
    X-Credsvc-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

Receivers dedup on the body's `id` (covered by the HMAC, returned by `verified_event_id`), never
on the header: anyone who captured one delivery could replay it within the window with a fresh
header value.

Events carry ids, a platform and a reason code, never a cookie or any other value.

Delivery is off the request thread: `WebhookSender.emit` queues the event and returns; one
daemon thread per process posts it, and retries a failure (connection error, timeout, any
non-2xx, a redirect included: redirects are never followed) with exponential backoff and
jitter, MAX_ATTEMPTS times in all, re-signing each attempt with a fresh timestamp. Durability
is best-effort: the queue lives in memory, so events still queued when the process stops are
lost (docs/webhooks.md). Failures are logged with the event
id, the attempt and the status or exception class: never the secret, the body, or the URL's
path or query (Discord and Slack put their secret in the path): scheme://host:port only.

`verified_event_id` (or `verify_signature`) is what a receiver runs (docs/webhooks.md shows it
standalone).
Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import ipaddress
import itertools
import json
import logging
import os
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

log = logging.getLogger("credsvc.webhooks")

SIGNATURE_HEADER = "X-Credsvc-Signature"
EVENT_ID_HEADER = "X-Credsvc-Event-Id"
MIN_SECRET_BYTES = 32
# A receiver refuses a signature whose timestamp is further than this from its clock.
REPLAY_WINDOW_SECONDS = 300
MAX_ATTEMPTS = 6  # the first try and five retries
BACKOFF_BASE_SECONDS = 2.0  # 2, 4, 8, 16, 32 s before the retries (times a jitter in [0.5, 1])
BACKOFF_MAX_SECONDS = 300.0
QUEUE_LIMIT = 1000  # events waiting in one process; beyond it new events are dropped (logged)
TIMEOUT = (3.05, 10.0)  # (connect, read) seconds per attempt
LOOPBACK_HOSTS = frozenset({"localhost"})
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")  # what v1 must look like before it is compared


class WebhookConfigError(ValueError):
    """WEBHOOK_URL / WEBHOOK_SECRET are unusable; never quotes the secret."""


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: bytes = field(repr=False)


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_target(url: str, secret: str) -> WebhookTarget | None:
    """The webhook target, or None when neither is set; raises WebhookConfigError when only
    one is set, the URL is not https (http only to a loopback address), or the secret is
    shorter than MIN_SECRET_BYTES."""
    url, secret = url.strip(), secret.strip()
    if not url and not secret:
        return None
    if not url or not secret:
        raise WebhookConfigError("WEBHOOK_URL and WEBHOOK_SECRET must be set together")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookConfigError("WEBHOOK_URL must be an https URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise WebhookConfigError("WEBHOOK_URL must use https (http only to a loopback address)")
    if parts.username or parts.password:
        raise WebhookConfigError("WEBHOOK_URL must not carry a user or password")
    raw = secret.encode("utf-8")
    if len(raw) < MIN_SECRET_BYTES:
        raise WebhookConfigError(f"WEBHOOK_SECRET must be at least {MIN_SECRET_BYTES} bytes")
    return WebhookTarget(url, raw)


# -- signing ---------------------------------------------------------------------------------


def _secret_bytes(secret: bytes | str) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def signature(secret: bytes | str, body: bytes, timestamp: int) -> str:
    """The X-Credsvc-Signature value for `body` sent at `timestamp` (unix seconds)."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(_secret_bytes(secret), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: bytes | str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance: int = REPLAY_WINDOW_SECONDS,
) -> bool:
    """What a receiver runs on the raw body and the X-Credsvc-Signature header: True when a
    v1 signature matches (constant-time) and its timestamp is within `tolerance` seconds of
    `now`. Never raises on a crafted header (a non-hex or non-ASCII v1 is simply refused).
    For dedup use `verified_event_id`: the X-Credsvc-Event-Id header is not signed."""
    items: dict[str, list[str]] = {}
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        items.setdefault(key, []).append(value)
    try:
        timestamp = int(items.get("t", [""])[0])
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).partition(",v1=")[2].encode("ascii")
    # compare_digest raises TypeError on a non-ASCII str: compare bytes of a checked shape.
    candidates = [v.encode("ascii") for v in items.get("v1", []) if _HEX_DIGEST.fullmatch(v)]
    return any(hmac.compare_digest(expected, given) for given in candidates)


def verified_event_id(
    secret: bytes | str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance: int = REPLAY_WINDOW_SECONDS,
) -> str | None:
    """The event id to dedup on: the `id` of the signed body when the signature verifies
    (`verify_signature`), else None. A receiver that has seen this id already drops the event."""
    if not verify_signature(secret, body, header, now=now, tolerance=tolerance):
        return None
    try:
        event = json.loads(body)
    except ValueError:
        return None
    event_id = event.get("id") if isinstance(event, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None


# -- events ----------------------------------------------------------------------------------


def new_event(type_: str, data: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": type_,
        "created_at": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "data": data,
    }


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode("utf-8")


class Events:
    """Where services send events. This one drops them: no webhook is configured."""

    def emit(self, type_: str, data: dict[str, Any]) -> None:
        """Queue an event; never raises into the request that caused it."""

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or in flight; True when that happened in time."""
        return True


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    event_id: str = field(compare=False)
    body: bytes = field(compare=False, repr=False)
    attempt: int = field(compare=False, default=1)


class WebhookSender(Events):
    """Posts events to one target from a daemon thread, with retries (module docstring)."""

    def __init__(
        self,
        target: WebhookTarget,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        timeout: tuple[float, float] = TIMEOUT,
        queue_limit: int = QUEUE_LIMIT,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.queue_limit = queue_limit
        self.rng = rng or random.Random()
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._where = _safe_url(target.url)

    def __repr__(self) -> str:
        return f"WebhookSender({self._where!r})"

    # -- producer side ---------------------------------------------------------------------

    def emit(self, type_: str, data: dict[str, Any]) -> None:
        event = new_event(type_, data)
        delivery = _Delivery(time.monotonic(), next(self._seq), event["id"], encode(event))
        with self._cond:
            if len(self._heap) >= self.queue_limit:
                log.error(
                    "webhook queue full (%d): event %s dropped", self.queue_limit, event["id"]
                )
                return
            heapq.heappush(self._heap, delivery)
            self._ensure_thread()
            self._cond.notify()

    def flush(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def _ensure_thread(self) -> None:
        # Started on first use, and again in a forked worker (a thread does not survive fork).
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="credsvc-webhooks", daemon=True)
            self._thread.start()

    # -- the delivery thread ---------------------------------------------------------------

    def _run(self) -> None:
        http = requests.Session()
        while True:
            with self._cond:
                while not self._heap or self._heap[0].due > time.monotonic():
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                delivery = heapq.heappop(self._heap)
                self._in_flight += 1
            try:
                self._attempt(http, delivery)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): exponential,
        capped, times a random factor in [0.5, 1] so receivers coming back are not stampeded."""
        delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return delay * self.rng.uniform(0.5, 1.0)

    def _attempt(self, http: requests.Session, delivery: _Delivery) -> None:
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: delivery.event_id,
            SIGNATURE_HEADER: signature(self.target.secret, delivery.body, int(time.time())),
        }
        try:
            # A redirect is a failure, never followed: it could take the signed event (and a
            # path that carries the receiver's secret) to another host.
            response = http.post(
                self.target.url,
                data=delivery.body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
            failure = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
            response.close()
        except requests.RequestException as exc:
            failure = type(exc).__name__
        except Exception as exc:  # never let the thread die
            failure = f"unexpected {type(exc).__name__}"
        if failure is None:
            log.info("webhook %s delivered (attempt %d)", delivery.event_id, delivery.attempt)
            return
        if delivery.attempt >= self.max_attempts:
            log.error(
                "webhook %s to %s failed (%s) on attempt %d/%d: giving up",
                delivery.event_id,
                self._where,
                failure,
                delivery.attempt,
                self.max_attempts,
            )
            return
        delay = self.backoff(delivery.attempt)
        log.warning(
            "webhook %s to %s failed (%s) on attempt %d/%d: retrying in %.1f s",
            delivery.event_id,
            self._where,
            failure,
            delivery.attempt,
            self.max_attempts,
            delay,
        )
        retry = _Delivery(
            time.monotonic() + delay,
            next(self._seq),
            delivery.event_id,
            delivery.body,
            delivery.attempt + 1,
        )
        with self._cond:
            heapq.heappush(self._heap, retry)


def _safe_url(url: str) -> str:
    """scheme://host[:port]: what logs may say about the target. No path (Discord and Slack
    webhook URLs carry their secret there), no query, no user."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def events_for(target: WebhookTarget | None) -> Events:
    """A sender for the configured target, or the sink that drops events."""
    return Events() if target is None else WebhookSender(target)

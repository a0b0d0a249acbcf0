"""User tokens confirmed by Directus itself: session-mode tokens, and every token of a process
without DIRECTUS_SECRET.

A token from `POST /auth/login {"mode": "session"}` (the `directus_session_token` cookie) has
the access-token claims plus `session`, and lives a day by default. Directus accepts it only
while that session row exists; logout, suspension, a password or e-mail change and deleting
the user delete the row. Its signature alone therefore proves nothing about today, so such a
token is shown to Directus itself (`DirectusClient.user_id_for_token`), and a confirmation is
remembered for a few seconds so a burst of requests costs one check. A process without
DIRECTUS_SECRET cannot check any signature, so it shows Directus every token the same way.

Only confirmations are remembered, never past the token's `exp`, keyed by the token's SHA-256
(the token itself is neither kept nor logged). A Directus that cannot be asked raises its
DirectusError: the caller fails closed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from credsvc.directus import DirectusClient

MAX_REMEMBERED = 10_000


def is_session_token(claims: Mapping[str, Any]) -> bool:
    """Directus itself checks the session of any token that carries the claim."""
    return "session" in claims


class LiveSessions:
    """Tokens Directus recently confirmed to this process (bounded, thread-safe)."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self.wall_clock = wall_clock
        self._confirmed: OrderedDict[bytes, float] = OrderedDict()  # key -> clock() deadline
        self._lock = threading.Lock()

    def is_live(self, directus: DirectusClient, token: str, claims: Mapping[str, Any]) -> bool:
        """True when Directus confirms (now, or within the last `ttl` seconds) that `token`
        is a valid token, and a live session if it has one, of the user `claims["id"]`.
        Raises DirectusError when it cannot be asked."""
        key = hashlib.sha256(token.encode()).digest()
        if self._remembered(key):
            return True
        # Not under the lock: one slow Directus call must not hold up every other request.
        if directus.user_id_for_token(token) != claims["id"]:
            return False
        self._remember(key, claims["exp"])
        return True

    def _remembered(self, key: bytes) -> bool:
        with self._lock:
            deadline = self._confirmed.get(key)
            if deadline is None:
                return False
            if self.clock() < deadline:
                return True
            del self._confirmed[key]
            return False

    def _remember(self, key: bytes, exp: float) -> None:
        # Never past the token's own expiry (exp is wall-clock; the deadline is monotonic).
        lifetime = min(self.ttl, exp - self.wall_clock())
        if lifetime <= 0:
            return
        with self._lock:
            self._confirmed.pop(key, None)
            while len(self._confirmed) >= self.max_entries:
                self._confirmed.popitem(last=False)  # the oldest confirmation goes first
            self._confirmed[key] = self.clock() + lifetime

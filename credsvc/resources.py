"""The live objects a Config describes, built in one place.

The app factory (credsvc.create_app) builds `Services` with `build_services`; the `flask`
commands (credsvc.cli) build the extra clients they need with `directus_client`. A Config holds
values only; everything here owns a connection pool or key material in use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from credsvc.config import Config, keyring_for
from credsvc.crypto import Keyring, Sealer, TransitClient
from credsvc.directus import DirectusClient
from credsvc.metrics import Metrics
from credsvc.services.audit import AuditTrail
from credsvc.services.sessions import LiveSessions
from credsvc.webhooks import Events, events_for


@dataclass
class Services:
    """What views need, stored at app.extensions["credsvc"]."""

    config: Config
    directus: DirectusClient
    keyring: Keyring | Sealer  # a Sealer (encrypt-only) when CREDSVC_MODE=ingest
    sessions: LiveSessions  # user tokens Directus recently confirmed (credsvc.auth)
    audit: AuditTrail  # audit_log rows, group-committed (credsvc.services.audit)
    # session events, signed webhooks when configured (credsvc.webhooks)
    events: Events = field(default_factory=Events)


SERVICE_NAMES = frozenset(f.name for f in fields(Services)) - {"config"}


def directus_client(
    config: Config,
    token: str | None = None,
    *,
    observer: Callable[..., None] | None = None,
    **options: Any,
) -> DirectusClient:
    """A client of the configured Directus with `token` (default: DIRECTUS_TOKEN); `options`
    go to DirectusClient (e.g. get_retries=0 for a check that reports what it sees at once)."""
    return DirectusClient(
        config.directus_url,
        config.directus_token if token is None else token,
        config.directus_timeout,
        observer=observer,
        **options,
    )


def transit_client(config: Config) -> TransitClient | None:
    """The client of CREDENTIALS_TRANSIT_*, or None when no transit key is configured."""
    transit = config.keys.transit
    if transit is None:
        return None
    return TransitClient(transit.addr, transit.token, transit.key, mount=transit.mount)


def build_keyring(config: Config) -> Keyring | Sealer:
    """The keyring of the configured keys (with its own transit client when there is one)."""
    return keyring_for(config.keys, transit_client(config))


def metrics_for(config: Config) -> Metrics:
    """The app's metrics registry: its callers' names as labels, multiprocess when configured."""
    return Metrics((caller.name for caller in config.callers), config.metrics_multiprocess_dir)


def build_services(config: Config, metrics: Metrics | None = None, **given: Any) -> Services:
    """Everything the views use, built from `config`; `given` replaces any of them by name
    (directus, keyring, sessions, audit, events), e.g. a test's recording event sink."""
    unknown = set(given) - SERVICE_NAMES
    if unknown:
        raise TypeError(f"no such service: {', '.join(sorted(unknown))}")
    metrics = metrics or metrics_for(config)

    def pick(name: str, build: Callable[[], Any]) -> Any:
        return given[name] if name in given else build()

    directus = pick("directus", lambda: directus_client(config, observer=metrics.directus_call))
    return Services(
        config,
        directus,
        pick("keyring", lambda: build_keyring(config)),
        pick("sessions", lambda: LiveSessions(config.session_check_cache_seconds)),
        pick("audit", lambda: AuditTrail(directus, observer=metrics.audit_row)),
        pick("events", lambda: events_for(config.webhook)),
    )

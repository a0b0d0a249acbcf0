"""credsvc: third-party credentials encrypted at rest, served to the services that need them.

`create_app` only wires: configuration, the Directus client, the keyring, logging, error
handlers and blueprints.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import Flask

from credsvc.config import Config
from credsvc.crypto import Keyring, Sealer
from credsvc.directus import DirectusClient
from credsvc.metrics import Metrics
from credsvc.metrics import init_app as init_metrics
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


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app from `environ` (default: os.environ); raises ConfigError when invalid."""
    from credsvc import api, cli, errors, logs

    config = Config.from_env(environ)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_content_length
    app.json.sort_keys = False
    metrics = Metrics((caller.name for caller in config.callers), config.metrics_multiprocess_dir)
    directus = DirectusClient(
        config.directus_url,
        config.directus_token,
        config.directus_timeout,
        observer=metrics.directus_call,
    )
    sessions = LiveSessions(config.session_check_cache_seconds)
    app.extensions["credsvc"] = Services(
        config,
        directus,
        config.keyring,
        sessions,
        AuditTrail(directus, observer=metrics.audit_row),
        events_for(config.webhook),
    )
    init_metrics(app, metrics)  # first: its before_request times the others
    logs.init_app(app, config.log_level)
    for warning in getattr(config.keyring, "warnings", ()):  # weaker settings in use
        logging.getLogger("credsvc.config").warning(warning)
    errors.init_app(app)
    api.init_app(app)
    cli.init_app(app)
    return app


def create_cli_app(error: Exception) -> Flask:
    """The app `flask` commands get when the configuration is invalid (wsgi.py): the project's
    commands still show in --help, `check` reports every problem and `keys generate` works;
    any other command stops with the problems (credsvc.cli.Unconfigured). It serves nothing."""
    from credsvc import cli

    app = Flask(__name__)
    app.extensions["credsvc"] = cli.Unconfigured(error)
    cli.init_app(app)
    return app

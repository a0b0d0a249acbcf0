"""credsvc: third-party credentials encrypted at rest, served to the services that need them.

`create_app` only wires: configuration, the Directus client, the keyring, logging, error
handlers and blueprints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask

from credsvc.config import Config
from credsvc.crypto import Keyring, Sealer
from credsvc.directus import DirectusClient
from credsvc.services.sessions import LiveSessions


@dataclass
class Services:
    """What views need, stored at app.extensions["credsvc"]."""

    config: Config
    directus: DirectusClient
    keyring: Keyring | Sealer  # a Sealer (encrypt-only) when CREDSVC_MODE=ingest
    sessions: LiveSessions  # user tokens Directus recently confirmed (credsvc.auth)


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app from `environ` (default: os.environ); raises ConfigError when invalid."""
    from credsvc import api, cli, errors, logs

    config = Config.from_env(environ)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_content_length
    app.json.sort_keys = False
    directus = DirectusClient(config.directus_url, config.directus_token, config.directus_timeout)
    sessions = LiveSessions(config.session_check_cache_seconds)
    app.extensions["credsvc"] = Services(config, directus, config.keyring, sessions)
    logs.init_app(app, config.log_level)
    errors.init_app(app)
    api.init_app(app)
    cli.init_app(app)
    return app

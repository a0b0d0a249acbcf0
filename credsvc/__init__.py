"""credsvc: third-party credentials encrypted at rest, served to the services that need them.

`create_app` only wires: configuration (credsvc.config, plain data), the resources built from
it (credsvc.resources: the Directus client, the keyring and its transit client, the audit
trail), logging, error handlers and blueprints.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from credsvc.config import Config
from credsvc.metrics import init_app as init_metrics
from credsvc.resources import Services, build_services, metrics_for

__all__ = ["Services", "create_app", "create_cli_app"]


def create_app(
    environ: Mapping[str, str] | None = None, *, config: Config | None = None, **services: Any
) -> Flask:
    """Build the app from `config`, else from `environ` (default: os.environ); raises
    ConfigError when invalid. `services` replace what would be built, by name (directus,
    keyring, sessions, audit, events: credsvc.resources.Services), e.g. in tests."""
    from credsvc import api, cli, errors, logs

    config = config if config is not None else Config.from_env(environ)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_content_length
    app.json.sort_keys = False
    metrics = metrics_for(config)
    app.extensions["credsvc"] = build_services(config, metrics, **services)
    init_metrics(app, metrics)  # first: its before_request times the others
    logs.init_app(app, config.log_level)
    with app.app_context():  # so the warnings go through this app's log handler
        for warning in config.warnings:  # weaker settings in use
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

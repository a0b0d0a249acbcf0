"""`flask` commands (run with `flask --app wsgi <group> <command>`; `.env` is loaded).

api-keys    create / list / revoke business API keys       (credsvc.cli.api_keys)
keys        key status and rewrap after a rotation         (credsvc.cli.keys)
check       the configuration, then Directus; the release step   (credsvc.cli.check)

Both talk to Directus as the operator role (DIRECTUS_OPERATOR_TOKEN, see `operator_directus`):
the service roles may neither create API keys nor rewrite every stored value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask, current_app

from credsvc.directus import DirectusClient, DirectusResponseError
from credsvc.resources import directus_client

OPERATOR_CLIENT = "credsvc.operator_directus"  # its key in app.extensions
REFUSED_HINT = "is DIRECTUS_OPERATOR_TOKEN the operator role's token?"


def operator_directus(app: Flask | None = None) -> DirectusClient:
    """The Directus client of the operator's commands: DIRECTUS_OPERATOR_TOKEN when it is set,
    else the process's own client (DIRECTUS_TOKEN), which a least-privilege role refuses."""
    app = app or current_app
    services = app.extensions["credsvc"]
    token = services.config.directus_operator_token
    if not token:
        return services.directus
    if OPERATOR_CLIENT not in app.extensions:
        app.extensions[OPERATOR_CLIENT] = directus_client(services.config, token)
    return app.extensions[OPERATOR_CLIENT]


@contextmanager
def refusal_explained() -> Iterator[None]:
    """A Directus 401/403 becomes a one-line error naming the token it needs."""
    try:
        yield
    except DirectusResponseError as exc:
        if exc.status not in (401, 403):
            raise
        raise click.ClickException(f"Directus refused ({exc.status}): {REFUSED_HINT}") from None


class Unconfigured:
    """app.extensions["credsvc"] of the app `flask` gets when the configuration is invalid
    (credsvc.create_cli_app): a command that needs the services stops with the problems, one
    line each; `check` and `keys generate` do not need them."""

    def __init__(self, error: Exception):
        self.error = error

    def __getattr__(self, name: str):
        raise click.ClickException(f"{self.error}\n(flask --app wsgi check lists every problem)")


def init_app(app: Flask) -> None:
    from credsvc.cli import api_keys, check, keys

    app.cli.add_command(api_keys.group)
    app.cli.add_command(keys.group)
    app.cli.add_command(check.check)

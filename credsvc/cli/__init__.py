"""`flask` commands (run with `flask --app wsgi <group> <command>`; `.env` is loaded).

api-keys    create / list / revoke business API keys       (credsvc.cli.api_keys)
keys        key status and rewrap after a rotation         (credsvc.cli.keys)

Both talk to Directus as the operator role (DIRECTUS_OPERATOR_TOKEN, see `operator_directus`):
the service roles may neither create API keys nor rewrite every stored value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask, current_app

from credsvc.directus import DirectusClient, DirectusResponseError

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
        config = services.config
        app.extensions[OPERATOR_CLIENT] = DirectusClient(
            config.directus_url, token, config.directus_timeout
        )
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


def init_app(app: Flask) -> None:
    from credsvc.cli import api_keys, keys

    app.cli.add_command(api_keys.group)
    app.cli.add_command(keys.group)

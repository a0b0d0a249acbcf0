"""`flask --app wsgi check`: the configuration, then the Directus it points at; exit 1 on any
problem. The credsvc app's release step (Procfile) runs it, so a bad config var stops a deploy
instead of crash-looping the web processes.

    flask --app wsgi check                every environment problem at once, one line each;
                                          then Directus (credsvc.services.directus_check)
    flask --app wsgi check --no-directus  the environment only

It runs without a complete configuration (wsgi.py gives the CLI an app even then) and reads
the environment itself (credsvc.config), `.env` included, as the server would.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

import click

from credsvc.config import Config, ConfigError, role_tokens
from credsvc.resources import directus_client
from credsvc.services import readiness
from credsvc.services.directus_check import check_directus


@click.command("check")
@click.option("--no-directus", is_flag=True, help="Check only the environment, not Directus.")
def check(no_directus: bool) -> None:
    """Check the configuration, then Directus; one line per problem, exit 1 if there is any."""
    sys.exit(run(directus=not no_directus))


def run(
    environ: Mapping[str, str] | None = None,
    *,
    directus: bool = True,
    echo: Callable[[str], None] = click.echo,
) -> int:
    """Print the findings; return the exit status (0: no problem)."""
    try:
        config = Config.from_env(environ)
    except ConfigError as exc:
        for problem in exc.problems:
            echo(f"problem: {problem}")
        echo(f"{_count(exc.problems)} in the environment; Directus not checked")
        return 1
    echo(f"ok: environment (CREDSVC_MODE={config.mode})")
    if not directus:
        return 0
    tokens = {"DIRECTUS_TOKEN": (config.mode, config.directus_token)}
    tokens.update(role_tokens(environ))
    # No retries: a check reports what it sees at once.
    clients = {
        name: directus_client(config, token, get_retries=0)
        for name, (_role, token) in tokens.items()
    }
    try:
        findings = check_directus(
            clients,
            role_of={name: role for name, (role, _token) in tokens.items()},
            audits=config.mode in readiness.AUDITING_MODES,
        )
    finally:
        for client in clients.values():
            client.close()
    problems = [finding.text for finding in findings if not finding.ok]
    for finding in findings:
        echo(f"{'ok' if finding.ok else 'problem'}: {finding.text}")
    if problems:
        echo(f"{_count(problems)} with Directus")
        return 1
    echo("all checks passed")
    return 0


def _count(problems: list) -> str:
    return f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"

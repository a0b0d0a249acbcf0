"""`flask api-keys ...`: create, list and revoke business API keys.

    flask --app wsgi api-keys create --business acme [--name "prod workers"]
    flask --app wsgi api-keys list [--business acme]
    flask --app wsgi api-keys revoke <key id>

`create` prints the key once; only its SHA-256 is stored. A revocation takes effect on the
next request that presents the key.
"""

import click
from flask.cli import with_appcontext

from credsvc.cli import operator_directus, refusal_explained
from credsvc.exceptions import NotFound
from credsvc.schemas.end_users import business_id_problem
from credsvc.services import api_keys

group = click.Group("api-keys", help="Create, list and revoke business API keys.")


def _directus():
    return operator_directus()


def _business_id(ctx, param, value):
    problem = None if value is None else business_id_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


@group.command("create")
@click.option(
    "--business",
    "business_id",
    required=True,
    callback=_business_id,
    help="The business the key acts for.",
)
@click.option("--name", default=None, help="A label, e.g. where the key is used.")
@with_appcontext
def create(business_id, name):
    """Create a key for a business and print it (the only time it is shown)."""
    with refusal_explained():
        new = api_keys.create_key(_directus(), business_id, name)
    click.echo(f"id:       {new.id}")
    click.echo(f"business: {new.business_id}")
    click.echo(f"key:      {new.secret}")
    click.echo("Store the key now: it is not shown again (only its hash is kept).", err=True)


@group.command("list")
@click.option(
    "--business",
    "business_id",
    default=None,
    callback=_business_id,
    help="Only this business's keys.",
)
@with_appcontext
def list_keys(business_id):
    """List keys: id, business, prefix, created, last used, revoked (never the key)."""
    with refusal_explained():
        keys = api_keys.list_keys(_directus(), business_id)
    if not keys:
        click.echo("No API keys.")
        return
    columns = (
        "id",
        "business_id",
        "key_prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
        "name",
    )
    rows = [tuple(str(key.get(column) or "-") for column in columns) for key in keys]
    headers = ("ID", "BUSINESS", "PREFIX", "CREATED", "LAST USED", "REVOKED", "NAME")
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


@group.command("revoke")
@click.argument("key_id")
@with_appcontext
def revoke(key_id):
    """Revoke a key by id; requests with it get 403 from now on."""
    try:
        with refusal_explained():
            key, already = api_keys.revoke_key(_directus(), key_id)
    except NotFound as exc:
        raise click.ClickException(exc.message) from None
    if already:
        click.echo(f"API key {key['id']} was already revoked at {key['revoked_at']}.")
    else:
        click.echo(f"Revoked API key {key['id']} of business {key['business_id']}.")

"""`flask api-keys ...` commands."""

import click

group = click.Group("api-keys", help="api-keys commands")

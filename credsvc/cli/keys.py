"""`flask keys ...` commands."""

import click

group = click.Group("keys", help="keys commands")

"""`flask` commands (run with `flask --app wsgi <group> <command>`; `.env` is loaded).

api-keys    create / list / revoke business API keys       (credsvc.cli.api_keys)
keys        key status and rewrap after a rotation         (credsvc.cli.keys)
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from credsvc.cli import api_keys, keys

    app.cli.add_command(api_keys.group)
    app.cli.add_command(keys.group)

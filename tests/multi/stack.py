"""Production-shaped stacks on loopback: PostgreSQL, Redis, N Directus, M credsvc (gunicorn).

Used by the multi-instance suite (tests/multi) and the bench scripts (bench/soak.py,
bench/restart.py). Every server is a real process on a free 127.0.0.1 port:

- PostgreSQL and Redis: throwaway servers from deploy/localdb.py;
- Directus: the Directus app's release step (deploy/directus/app.py apply_schema_and_guards) on the
  shared database, then N `directus start` processes on it with the same SECRET, sharing Redis
  for synchronisation, cache (CACHE_ENABLED with auto-purge) and the rate limiter;
- credsvc: gunicorn with the committed gunicorn.conf.py (`gunicorn wsgi:app`), instance i
  talking to Directus i % N, all with the same encryption key and internal secret.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from credsvc.config import refused_settings
from deploy.directus import app as directus_app
from deploy.directus import directusctl, provision
from deploy.localdb import Postgres, Redis, free_port
from tests import pg_template

ROOT = Path(__file__).resolve().parents[2]

TIMEOUT = (3.05, 30)


def redis_settings(redis_url: str) -> dict[str, str]:
    """Directus settings for several instances on one Redis (Directus docs: Synchronization,
    Cache, Rate limiting)."""
    return {
        "REDIS": redis_url,
        "SYNCHRONIZATION_STORE": "redis",
        "CACHE_ENABLED": "true",
        "CACHE_STORE": "redis",
        "CACHE_AUTO_PURGE": "true",
        "RATE_LIMITER_ENABLED": "true",
        "RATE_LIMITER_STORE": "redis",
        # Generous: the limiter is shared through Redis here, not exercised to its limit.
        "RATE_LIMITER_POINTS": "100000",
        "RATE_LIMITER_DURATION": "1",
    }


@dataclass
class DirectusNode:
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return self.env["PUBLIC_URL"]

    def start(self, timeout: float = 180) -> float:
        self.proc = directusctl.start(self.env, self.log)
        return directusctl.wait_ready(self.url, self.proc, self.log, timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None:
            directusctl.stop(self.proc)

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class CredsvcNode:
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def start(self, timeout: float = 60) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "wsgi:app"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}: {self.log}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not up within {timeout} s: {self.log}")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Stack:
    root: Path
    postgres: Postgres
    database: str
    redis: Redis | None
    secret: str
    admin: dict[str, str]
    role_tokens: dict[str, str]
    sync_secret: str
    encryption_key: str
    directus: list[DirectusNode] = field(default_factory=list)
    credsvc: list[CredsvcNode] = field(default_factory=list)
    http: requests.Session = field(default_factory=requests.Session)

    # -- helpers for tests and benches ----------------------------------------------------
    def app_env(self, directus_url: str, **overrides: str) -> dict[str, str]:
        """Settings of a credsvc (mode full) talking to `directus_url`."""
        env = {
            "DIRECTUS_URL": directus_url,
            "DIRECTUS_TOKEN": self.role_tokens["full"],
            "DIRECTUS_SECRET": self.secret,
            "RBAC_SYNC_SECRET": self.sync_secret,
            "CREDENTIALS_ENCRYPTION_KEY": self.encryption_key,
        }
        for name in refused_settings("full", env):
            del env[name]
        env.update(overrides)
        return env

    def sql(self, statement: str) -> str:
        return self.postgres.sql(statement, self.database)

    def new_user(self) -> dict[str, str]:
        """A Directus user (no role) and its access token, via the first Directus."""
        email, password = f"u-{secrets.token_hex(5)}@example.com", secrets.token_urlsafe(16)
        url = self.directus[0].url
        resp = self.http.post(
            f"{url}/users",
            json={"email": email, "password": password, "status": "active"},
            headers={"Authorization": f"Bearer {self.admin['token']}"},
            timeout=TIMEOUT,
        )
        resp.raise_for_status()
        login = self.http.post(
            f"{url}/auth/login", json={"email": email, "password": password}, timeout=TIMEOUT
        )
        login.raise_for_status()
        return {
            "id": resp.json()["data"]["id"],
            "token": login.json()["data"]["access_token"],
        }

    def stop(self) -> None:
        for node in self.credsvc:
            node.stop()
        for node in self.directus:
            node.stop()
        if self.redis is not None:
            self.redis.stop()
        self.postgres.stop()


def build(
    root: Path,
    *,
    directus: int = 2,
    credsvc: int = 2,
    redis: bool = True,
    workers: int = 1,
    threads: int = 4,
    extra_directus: dict[str, str] | None = None,
    template_dir: Path | None = None,
) -> Stack:
    """Start everything; on any failure stop what was started and re-raise.

    `template_dir`: where a dump of a prepared database is kept between runs (tests/pg_template);
    without it the release step runs every time."""
    directusctl.ensure_installed()
    postgres = Postgres().start()
    stack = Stack(
        root=root,
        postgres=postgres,
        database="",
        redis=None,
        secret=secrets.token_hex(32),
        admin={
            "email": f"admin-{secrets.token_hex(4)}@example.com",
            "password": secrets.token_urlsafe(18),
            "token": secrets.token_urlsafe(32),
        },
        role_tokens={role: secrets.token_urlsafe(32) for role in provision.ROLES},
        sync_secret="multi-sync-" + secrets.token_hex(12),
        encryption_key=secrets.token_hex(32),
    )
    try:
        stack.database = postgres.create_database()
        shared = dict(postgres.directus_settings(stack.database))
        if redis:
            stack.redis = Redis().start()
            shared.update(redis_settings(stack.redis.url))
        shared.update(extra_directus or {})
        shared["LOGIN_STALL_TIME"] = "0"
        for i in range(directus):
            port = free_port()
            env = directusctl.directus_env(
                data_dir=root / f"directus{i}", port=port, secret=stack.secret,
                passthrough=False, extra=shared,
            )  # fmt: skip
            stack.directus.append(DirectusNode(env, root / f"directus{i}.log"))
        first = stack.directus[0]
        previous = pg_template.restore(postgres, stack.database, template_dir)
        if previous is None:
            directus_app.apply_schema_and_guards(
                {**first.env, "ADMIN_TOKEN": stack.admin["token"]},
                stack.admin["email"],
                stack.admin["password"],
            )
            pg_template.save(postgres, stack.database, stack.admin, template_dir)
        first.start()
        if previous is not None:  # the dump's admin: new credentials for this stack
            resp = requests.patch(
                f"{first.url}/users/me",
                json=stack.admin,
                headers={"Authorization": f"Bearer {previous['token']}"},
                timeout=TIMEOUT,
            )
            resp.raise_for_status()
        for node in stack.directus[1:]:
            node.start()
        provision.provision(first.url, stack.role_tokens, admin_token=stack.admin["token"])
        for i in range(credsvc):
            env = {
                **{k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ},
                **stack.app_env(stack.directus[i % directus].url),
                "PORT": str(free_port()),
                "HOST": "127.0.0.1",
                "WEB_CONCURRENCY": str(workers),
                "GUNICORN_THREADS": str(threads),
                "LOG_LEVEL": "WARNING",
            }
            node = CredsvcNode(env, root / f"credsvc{i}.log")
            stack.credsvc.append(node)
            node.start()
    except BaseException:
        stack.stop()
        raise
    return stack


def post(base: str, route: str, headers: dict[str, str], body: Any, session=None):
    """POST JSON to credsvc; (status, body)."""
    resp = (session or requests).post(f"{base}{route}", headers=headers, json=body, timeout=30)
    return resp.status_code, resp.json()

"""The benchmark's stack on loopback: a throwaway Directus (SQLite), credsvc under gunicorn with
its production settings (gunicorn.conf.py), and an OpenBao dev server; plus seeding.

Everything lives in one temporary folder and is stopped when the `with` block ends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from credsvc.crypto import keyring_from_settings
from credsvc.model import PLATFORM_SESSIONS, PROFILES, owner_key
from deploy.directus import directusctl, provision
from tests.integration import openbao
from tests.integration.conftest import _free_port

ROOT = Path(__file__).resolve().parents[1]

CREDENTIALS = {"username": "fitcreator99", "password": "MySecurePass123!", "session_id": "abc"}
COOKIES = [
    {
        "name": "sessionid",
        "value": "123456789%3AabcXYZ%3A28",
        "domain": ".instagram.com",
        "path": "/",
        "expires": 1893456000,
        "httpOnly": True,
        "secure": True,
    }
]
SEED_BATCH = 500


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Service:
    """One credsvc under gunicorn."""

    url: str
    proc: subprocess.Popen

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def cpu_seconds(self) -> float:
        """CPU time of the gunicorn workers so far (they serve; the master only watches)."""
        return sum(cpu_seconds(pid) for pid in self.worker_pids())

    def worker_rss_mb(self) -> list[float]:
        out = []
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(round(int(line.split()[1]) / 1024, 1))
        return out


@dataclass
class Stack:
    tmp: Path
    directus_url: str
    admin_token: str
    service_token: str
    operator_token: str
    secret: str
    key: str
    sync_secret: str
    directus_env: dict[str, str]
    directus_proc: subprocess.Popen
    bao: openbao.OpenBao | None = None
    services: list[Service] = field(default_factory=list)
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def internal(self) -> dict[str, str]:
        return {"X-RBAC-SYNC-SECRET": self.sync_secret}

    def service_env(self, port: int) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DIRECTUS", "CRED"))},
            "PORT": str(port),
            "DIRECTUS_URL": self.directus_url,
            "DIRECTUS_TOKEN": self.service_token,
            "DIRECTUS_SECRET": self.secret,
            "RBAC_SYNC_SECRET": self.sync_secret,
            "CREDENTIALS_ENCRYPTION_KEY": self.key,
            "LOG_LEVEL": "WARNING",
        }

    def start_service(self, wsgi: str = "wsgi:app", extra: dict[str, str] | None = None) -> Service:
        """gunicorn with the committed gunicorn.conf.py (workers, threads, timeouts)."""
        port = _free_port()
        log = open(self.tmp / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 - lives with the proc
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", wsgi],  # run from ROOT: bench.* importable
            cwd=ROOT,
            env={**self.service_env(port), **(extra or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        service = Service(f"http://127.0.0.1:{port}", proc)
        wait_http(f"{service.url}/healthz", proc)
        self.services.append(service)
        return service

    def stop_service(self, service: Service) -> None:
        service.proc.terminate()
        service.proc.wait(timeout=20)
        self.services.remove(service)

    def restart_directus(
        self, extra: dict[str, str], while_stopped: Callable[[], None] = lambda: None
    ) -> None:
        """Directus again on the same database and port with other settings; `while_stopped`
        runs between (e.g. a change to the SQLite file that needs it closed)."""
        directusctl.stop(self.directus_proc)
        while_stopped()
        env = {**self.directus_env, **extra}
        self.directus_proc = directusctl.start(env, self.tmp / "directus.log")
        directusctl.wait_ready(self.directus_url, self.directus_proc, self.tmp / "directus.log")

    def user_token(self) -> str:
        """A real Directus user, signed in: its access token."""
        email, password = f"u-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
        self.http.post(
            f"{self.directus_url}/users",
            json={"email": email, "password": password, "status": "active"},
            headers=self.admin,
        ).raise_for_status()
        login = self.http.post(
            f"{self.directus_url}/auth/login", json={"email": email, "password": password}
        )
        login.raise_for_status()
        return login.json()["data"]["access_token"]

    def count(self, collection: str) -> int:
        answer = self.http.get(
            f"{self.directus_url}/items/{collection}",
            params={"aggregate[count]": "*"},
            headers=self.admin,
        )
        answer.raise_for_status()
        return int(answer.json()["data"][0]["count"])

    def seed_profiles_and_sessions(self, total: int) -> None:
        """Filler rows up to `total` profiles and `total` sessions, encrypted and bound exactly
        like the service binds them (other owners, so the measured record is one among many)."""
        ring = keyring_from_settings(self.key)
        have = self.count(PROFILES.collection)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        while have < total:
            n = min(SEED_BATCH, total - have)
            profiles, sessions = [], []
            for _ in range(n):
                user, platform = str(uuid.uuid4()), "instagram"
                profile = {
                    "id": str(uuid.uuid4()),
                    "user_id": user,
                    "platform": platform,
                    "owner_platform": owner_key(user, platform),
                }
                profile[PROFILES.field] = ring.encrypt(CREDENTIALS, PROFILES.context(profile))
                profiles.append(profile)
                session = {
                    "id": str(uuid.uuid4()),
                    "user_id": user,
                    "creator_profile_id": profile["id"],
                    "platform": platform,
                    "cookie_count": len(COOKIES),
                    "captured_at": now,
                }
                session[PLATFORM_SESSIONS.field] = ring.encrypt(
                    COOKIES, PLATFORM_SESSIONS.context(session)
                )
                sessions.append(session)
            for collection, rows in (
                (PROFILES.collection, profiles),
                (PLATFORM_SESSIONS.collection, sessions),
            ):
                self.http.post(
                    f"{self.directus_url}/items/{collection}",
                    json=rows,
                    params={"fields": "id"},
                    headers=self.admin,
                ).raise_for_status()
            have += n


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {proc.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready in {seconds} s")


@contextlib.contextmanager
def running(tmp: Path, directus_extra: dict[str, str] | None = None) -> Iterator[Stack]:
    directusctl.ensure_installed()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    admin_token = secrets.token_urlsafe(32)
    tokens = {"full": secrets.token_urlsafe(32), "operator": secrets.token_urlsafe(32)}
    secret = secrets.token_hex(32)
    env = directusctl.directus_env(
        data_dir=tmp,
        port=port,
        secret=secret,
        passthrough=False,
        extra={"LOGIN_STALL_TIME": "0", **(directus_extra or {})},
    )
    directusctl.bootstrap(
        env,
        f"bench-{secrets.token_hex(3)}@example.com",
        secrets.token_urlsafe(18),
        ADMIN_TOKEN=admin_token,
    )
    directusctl.apply_schema(env)
    proc = directusctl.start(env, tmp / "directus.log")
    stack = Stack(
        tmp=tmp,
        directus_url=url,
        admin_token=admin_token,
        service_token=tokens["full"],
        operator_token=tokens["operator"],
        secret=secret,
        key=secrets.token_hex(32),
        sync_secret=secrets.token_urlsafe(24),
        directus_env=dict(env),
        directus_proc=proc,
    )
    bao_proc = None
    try:
        directusctl.wait_ready(url, proc, tmp / "directus.log")
        provision.provision(url, tokens, admin_token=admin_token)
        bao_proc, stack.bao = openbao.start(tmp / "openbao.log")
        yield stack
    finally:
        for service in list(stack.services):
            with contextlib.suppress(Exception):
                stack.stop_service(service)
        if bao_proc is not None:
            openbao.stop(bao_proc)
        directusctl.stop(stack.directus_proc)

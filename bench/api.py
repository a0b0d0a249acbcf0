"""Request latency through credsvc against a real Directus: medians and ratios, one run.

    .venv/bin/python -m bench.api [--requests 300]

Starts a throwaway Directus (like the integration tests) and credsvc under gunicorn (its own
gunicorn.conf.py) on free loopback ports, creates a real Directus user and one profile, then
times sequential keep-alive requests:

- Directus alone: GET of the profile by id with the service token (the floor);
- credsvc `reveal`: guard + that lookup + AES-GCM decrypt + an audit row (one POST);
- credsvc `update-profile-creds`: JWT check + ownership lookup + encrypt + PATCH;
- in-process keyring encrypt/decrypt of the same credentials.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from credsvc.crypto import keyring_from_settings
from credsvc.model import PROFILES
from deploy.directus import directusctl, provision
from tests.integration.conftest import _free_port

ROOT = Path(__file__).resolve().parents[1]

CREDENTIALS = {"username": "fitcreator99", "password": "MySecurePass123!", "session_id": "abc"}


def timed_ms(call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready in {seconds} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    n = parser.parse_args().requests

    directusctl.ensure_installed()
    with tempfile.TemporaryDirectory(prefix="credsvc-bench-") as tmp:
        data_dir = Path(tmp)
        port, service_port = _free_port(), _free_port()
        url, service = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{service_port}"
        admin_token, service_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        secret = secrets.token_hex(32)
        env = directusctl.directus_env(
            data_dir=data_dir,
            port=port,
            secret=secret,
            passthrough=False,
            extra={"LOGIN_STALL_TIME": "0"},
        )
        directusctl.bootstrap(
            env,
            f"bench-{secrets.token_hex(3)}@example.com",
            secrets.token_urlsafe(18),
            ADMIN_TOKEN=admin_token,
        )
        directusctl.apply_schema(env)
        directus_proc = directusctl.start(env, data_dir / "directus.log")
        gunicorn = None
        try:
            directusctl.wait_ready(url, directus_proc, data_dir / "directus.log")
            provision.provision(url, {"full": service_token}, admin_token=admin_token)
            key = secrets.token_hex(32)
            sync = secrets.token_urlsafe(24)
            service_env = {
                **os.environ,
                "PORT": str(service_port),
                "DIRECTUS_URL": url,
                "DIRECTUS_TOKEN": service_token,
                "DIRECTUS_SECRET": secret,
                "RBAC_SYNC_SECRET": sync,
                "CREDENTIALS_ENCRYPTION_KEY": key,
                "LOG_LEVEL": "WARNING",
            }
            gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "wsgi:app", "--access-logfile", "/dev/null"],
                cwd=ROOT,
                env=service_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_http(f"{service}/readyz", gunicorn)

            http = requests.Session()
            email, password = f"u-{secrets.token_hex(3)}@example.com", secrets.token_urlsafe(12)
            http.post(
                f"{url}/users",
                json={"email": email, "password": password, "status": "active"},
                headers={"Authorization": f"Bearer {admin_token}"},
            ).raise_for_status()
            login = http.post(f"{url}/auth/login", json={"email": email, "password": password})
            jwt = login.json()["data"]["access_token"]
            user = {"Authorization": f"Bearer {jwt}"}
            internal = {"X-RBAC-SYNC-SECRET": sync}
            created = http.post(
                f"{service}/api/credentials/create-profile",
                headers=user,
                json={"platform": "instagram", "credentials": CREDENTIALS},
            )
            profile_id = created.json()["id"]

            def directus_get():
                http.get(
                    f"{url}/items/platform_connections/{profile_id}",
                    headers={"Authorization": f"Bearer {service_token}"},
                ).raise_for_status()

            def reveal():
                http.post(
                    f"{service}/api/credentials/reveal",
                    headers=internal,
                    json={"creatorProfileId": profile_id},
                ).raise_for_status()

            def update():
                http.post(
                    f"{service}/api/credentials/update-profile-creds",
                    headers=user,
                    json={"creator_profile_id": profile_id, "credentials": CREDENTIALS},
                ).raise_for_status()

            for call in (directus_get, reveal, update):
                timed_ms(call, 20)  # warm-up
            floor = statistics.median(timed_ms(directus_get, n))
            revealed = statistics.median(timed_ms(reveal, n))
            updated = statistics.median(timed_ms(update, n))

            ring = keyring_from_settings(key)
            # Bound like the service binds it: the row's id and owner columns (credsvc.model).
            row = http.get(
                f"{url}/items/platform_connections/{profile_id}",
                params={"fields": ",".join(PROFILES.row_fields)},
                headers={"Authorization": f"Bearer {service_token}"},
            ).json()["data"]
            context = PROFILES.context(row)
            token = ring.encrypt(CREDENTIALS, context)
            enc = statistics.median(timed_ms(lambda: ring.encrypt(CREDENTIALS, context), 2000))
            dec = statistics.median(timed_ms(lambda: ring.decrypt(token, context), 2000))

            print(f"requests per figure: {n} (sequential, keep-alive, medians)")
            print(f"Directus GET by id (floor)        {floor:7.2f} ms")
            print(
                f"credsvc reveal                    {revealed:7.2f} ms   "
                f"{revealed / floor:4.1f}x the floor (lookup + decrypt + audit POST)"
            )
            print(
                f"credsvc update-profile-creds      {updated:7.2f} ms   "
                f"{updated / floor:4.1f}x the floor (lookup + encrypt + PATCH)"
            )
            print(f"keyring encrypt / decrypt         {enc * 1000:7.1f} us / {dec * 1000:.1f} us")
        finally:
            if gunicorn is not None:
                gunicorn.terminate()
                gunicorn.wait(timeout=15)
            directusctl.stop(directus_proc)


if __name__ == "__main__":
    main()

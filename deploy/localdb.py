#!/usr/bin/env python3
"""Throwaway PostgreSQL and Redis servers on free loopback ports, the way production runs them.

    .venv/bin/python -m deploy.localdb [--tls]    # start both, print their URLs, Ctrl-C stops

Used by the PostgreSQL integration run (CREDSVC_TEST_DB=postgres), the multi-instance suite
(tests/multi), the bench scripts and the deployment walkthrough (docs/deployment.md).

PostgreSQL: `initdb` in a new temporary folder, `pg_ctl start` on a free port of 127.0.0.1 with
its unix socket in that folder, password authentication over TCP (a DATABASE_URL like a hosted
one), and optionally (--tls) TLS with a self-signed certificate, required of TCP clients.
Durability is switched off (fsync, synchronous_commit): the data is thrown away. PostgreSQL
refuses to run as root, so under root the server runs as the `postgres` system user that
Debian's package creates.

Redis: `redis-server --port <free> --save ''` (nothing written to disk), no password.

Both come from Debian's packages `postgresql` and `redis-server` (deploy/apt-packages.txt, which
`make` installs). A missing binary raises LocalServerError: callers fail, never skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
PG_USER = "credsvc"  # the cluster's superuser, as in a hosted DATABASE_URL
SERVICE_USER = "postgres"  # who runs the server when we are root


class LocalServerError(RuntimeError):
    """A throwaway server could not be found, started or used."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bin_dir() -> Path:
    """The newest Debian PostgreSQL bin folder (initdb and pg_ctl are not on PATH there)."""
    found = sorted(glob.glob(PG_BIN_GLOB), key=lambda p: int(Path(p).parent.name))
    if not found or not (Path(found[-1]) / "initdb").exists():
        raise LocalServerError(
            f"PostgreSQL is not installed (no initdb under {PG_BIN_GLOB}): "
            "apt-get install postgresql (`make` does it from deploy/apt-packages.txt)"
        )
    return Path(found[-1])


def _run_as() -> dict:
    """subprocess arguments that drop root to the postgres user (initdb refuses root)."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise LocalServerError(
            f"running as root and there is no `{SERVICE_USER}` user to run PostgreSQL as"
        ) from None
    return {"user": SERVICE_USER, "group": SERVICE_USER, "extra_groups": []}


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, SERVICE_USER, SERVICE_USER)


class Postgres:
    """A PostgreSQL cluster of its own in a temporary folder; stop() deletes everything."""

    def __init__(self, *, tls: bool = False) -> None:
        self.bin = pg_bin_dir()
        self.tls = tls
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        # Under /tmp, not pytest's 0700 folders: the postgres user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="credsvc-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.started = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Postgres:
        run_as = _run_as()
        _chown(self.root)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        _chown(pwfile)
        self._run(
            "initdb", "-D", str(self.data), "-U", PG_USER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        options = [
            f"-p {self.port}",
            f"-k {self.root}",
            "-c listen_addresses=127.0.0.1",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=200",
        ]
        if self.tls:
            options += self._make_certificate()
            # TCP clients must use TLS (as a hosted PostgreSQL demands): host -> hostssl.
            hba = self.data / "pg_hba.conf"
            lines = hba.read_text().splitlines()
            hba.write_text("\n".join(re.sub(r"^host\s", "hostssl ", ln) for ln in lines) + "\n")
        log = open(self.log, "ab")  # noqa: SIM115 - handed to the server process
        _chown(self.log)
        proc = subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
             "-t", "60", "-o", " ".join(options), "start"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=False,
            **run_as,
        )  # fmt: skip
        log.close()
        if proc.returncode != 0:
            raise LocalServerError(f"pg_ctl start failed:\n{self.log_tail()}")
        self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                stdin=subprocess.DEVNULL, capture_output=True, check=False, **_run_as(),
            )  # fmt: skip
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- use -------------------------------------------------------------------------------
    def url(self, database: str = PG_USER) -> str:
        """A DATABASE_URL for `database`, over TCP with the password (as a host gives one)."""
        return f"postgres://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def directus_settings(self, database: str) -> dict[str, str]:
        """Directus's DB_* settings for `database` (plain TCP, no TLS: a local test server)."""
        return {
            "DB_CLIENT": "pg",
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(self.port),
            "DB_DATABASE": database,
            "DB_USER": PG_USER,
            "DB_PASSWORD": self.password,
        }

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database; return its name."""
        name = name or f"t_{secrets.token_hex(6)}"
        self.sql(f'CREATE DATABASE "{name}"')
        return name

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement through psql on the unix socket; return its unaligned output."""
        proc = subprocess.run(
            [str(self.bin / "psql"), "-h", str(self.root), "-p", str(self.port), "-U", PG_USER,
             "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", statement],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise LocalServerError(f"psql failed ({statement[:80]}): {proc.stderr.strip()}")
        return proc.stdout.strip()

    def dump(self, database: str, target: Path) -> None:
        """Write `database` (schema, data, functions, triggers) as a plain SQL script."""
        tmp = target.with_name(f"{target.name}.{os.getpid()}")
        with open(tmp, "wb") as out:
            proc = subprocess.run(
                [str(self.bin / "pg_dump"), "-h", str(self.root), "-p", str(self.port),
                 "-U", PG_USER, "--no-owner", "--no-privileges", database],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, check=False,
            )  # fmt: skip
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise LocalServerError(f"pg_dump failed: {proc.stderr.decode()[-1500:]}")
        os.replace(tmp, target)

    def restore(self, source: Path, database: str) -> None:
        """Load a script written by dump() into the (empty) `database`."""
        proc = subprocess.run(
            [str(self.bin / "psql"), "-h", str(self.root), "-p", str(self.port), "-U", PG_USER,
             "-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(source)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise LocalServerError(f"restoring {source} failed: {proc.stderr[-1500:]}")

    def log_tail(self, size: int = 3000) -> str:
        if not self.log.exists():
            return ""
        return self.log.read_bytes()[-size:].decode("utf-8", "replace")

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run(
            [str(self.bin / tool), *args], stdin=subprocess.DEVNULL, capture_output=True,
            text=True, check=False, cwd=self.root, **_run_as(),
        )  # fmt: skip
        if proc.returncode != 0:
            raise LocalServerError(f"{tool} failed: {proc.stdout[-1500:]}{proc.stderr[-1500:]}")

    def _make_certificate(self) -> list[str]:
        """A self-signed certificate for localhost (what a hosted database often presents)."""
        if shutil.which("openssl") is None:
            raise LocalServerError("openssl is needed for a TLS PostgreSQL")
        cert, key = self.root / "server.crt", self.root / "server.key"
        subprocess.run(
            ["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost",
             "-newkey", "rsa:2048", "-keyout", str(key), "-out", str(cert)],
            stdin=subprocess.DEVNULL, capture_output=True, check=True,
        )  # fmt: skip
        key.chmod(0o600)
        for path in (cert, key):
            _chown(path)
        return ["-c ssl=on", f"-c ssl_cert_file={cert}", f"-c ssl_key_file={key}"]


class Redis:
    """redis-server on a free loopback port, nothing saved to disk."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise LocalServerError(
                "redis-server is not installed: apt-get install redis-server "
                "(`make` does it from deploy/apt-packages.txt)"
            )
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="credsvc-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> Redis:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root),
             "--logfile", str(self.root / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LocalServerError(f"redis-server exited with {self.proc.returncode}")
            if self.ping():
                return self
            time.sleep(0.05)
        raise LocalServerError(f"redis-server did not answer PING within {timeout} s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Redis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tls", action="store_true", help="PostgreSQL with a self-signed cert")
    args = parser.parse_args()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    with Postgres(tls=args.tls) as pg, Redis() as redis:
        pg.create_database("directus")
        print(f"DATABASE_URL={pg.url('directus')}")
        print(f"REDIS_URL={redis.url}")
        print("Ctrl-C stops both and deletes their data.", flush=True)
        try:
            while not stopping:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

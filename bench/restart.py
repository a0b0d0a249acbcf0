"""Restart: kill Directus in the middle of a write load; no acknowledged write may be lost.

    .venv/bin/python -m bench.restart [--before 15] [--after 20] [--threads 8]

Starts a production-shaped stack on loopback (tests/multi/stack.py: a throwaway PostgreSQL, one
Directus on it, credsvc under gunicorn with the committed gunicorn.conf.py) and a user per
client thread. Each client writes in a loop, alternating `create-profile` (create-or-update of
its user's connection for one of a few platforms) and `update-profile-creds` (on a connection it
created), every value carrying a sequence number. After --before seconds Directus is killed
(SIGKILL) and started again at once; the load runs on until --after seconds past its return.

Then it prints the figures and checks:
- no acknowledged write lost: for every connection, the value revealed after the run carries a
  sequence number at least that of the last write answered 200 (a write that failed may or may
  not have landed; one that succeeded must be there);
- no error outside the outage: every failed write ended between the kill and 5 s after
  Directus answered again.
Exit status 1 when a check fails. Every request goes to 127.0.0.1; the run stops by itself.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from tests.multi import stack as stacks

ROOT = Path(__file__).resolve().parents[1]

# The prepared-database dump the test suites keep (tests/pg_template.py): a faster start.
TEMPLATE_DIR = ROOT / ".pytest_cache" / "d" / "directus-pg-template"

PLATFORMS = ("instagram", "tiktok", "youtube")
GRACE = 5.0  # seconds after Directus is back during which errors still count as the outage


class Client(threading.Thread):
    """One user's writes: (end time, kind, status or exception name, platform, seq)."""

    def __init__(self, base: str, token: str, stop: threading.Event, clock: float) -> None:
        super().__init__(daemon=True)
        self.base, self.stop, self.clock = base, stop, clock
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.log: list[tuple[float, str, str, str, int]] = []
        self.errors: dict[str, int] = {}  # error message of a non-200 answer -> count
        self.ids: dict[str, str] = {}  # platform -> profile id (from a 200)
        self.acked: dict[str, int] = {}  # platform -> seq of its last 200

    def write(self, kind: str, platform: str, seq: int) -> None:
        value = {"username": f"u-{platform}", "password": f"seq-{seq:08d}"}
        if kind == "create":
            route, body = "create-profile", {"platform": platform, "credentials": value}
        else:
            route = "update-profile-creds"
            body = {"creator_profile_id": self.ids[platform], "credentials": value}
        try:
            resp = self.session.post(
                f"{self.base}/api/credentials/{route}", json=body, timeout=(3, 30)
            )
            outcome = str(resp.status_code)
            if resp.status_code == 200:
                self.ids[platform] = resp.json()["id"]
                self.acked[platform] = seq
            else:  # credsvc's error messages carry no credential (docs/security.md)
                message = f"{resp.status_code} {resp.json().get('error')}"
                self.errors[message] = self.errors.get(message, 0) + 1
        except requests.RequestException as exc:
            outcome = type(exc).__name__
        self.log.append((time.monotonic() - self.clock, kind, outcome, platform, seq))

    def run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            seq += 1
            platform = PLATFORMS[seq % len(PLATFORMS)]
            kind = "update" if platform in self.ids and seq % 2 == 0 else "create"
            self.write(kind, platform, seq)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=float, default=15, help="seconds of load before the kill")
    parser.add_argument("--after", type=float, default=20, help="seconds after Directus is back")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="keep the servers' logs in this new folder")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="a Directus setting, e.g. PRESSURE_LIMITER_ENABLED=false (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    with tempfile.TemporaryDirectory(prefix="credsvc-restart-") as tmp:
        if args.keep:
            args.keep.mkdir(parents=True)
            tmp = str(args.keep)
        print("starting PostgreSQL, Directus and credsvc (gunicorn)...", flush=True)
        stack = stacks.build(
            Path(tmp), directus=1, credsvc=1, redis=False, workers=2, threads=4,
            template_dir=TEMPLATE_DIR, extra_directus=settings,
        )  # fmt: skip
        try:
            return restart(stack, args)
        finally:
            stack.stop()


def restart(stack: stacks.Stack, args: argparse.Namespace) -> int:
    node, directus = stack.credsvc[0], stack.directus[0]
    users = [stack.new_user() for _ in range(args.threads)]
    stop = threading.Event()
    clock = time.monotonic()
    clients = [Client(node.url, user["token"], stop, clock) for user in users]
    for client in clients:
        client.start()
    time.sleep(args.before)
    killed = time.monotonic() - clock
    directus.kill()
    print(f"t={killed:6.1f} s  Directus killed (SIGKILL), starting it again", flush=True)
    directus.start()
    back = time.monotonic() - clock
    print(f"t={back:6.1f} s  Directus answers /server/ping again", flush=True)
    time.sleep(args.after)
    stop.set()
    for client in clients:
        client.join(60)
    ended = time.monotonic() - clock

    log = [entry for client in clients for entry in client.log]
    outcomes = Counter(entry[2] for entry in log)
    failed = [e for e in log if e[2] != "200"]
    outside = [e for e in failed if not (killed <= e[0] <= back + GRACE)]
    during = [e for e in log if killed <= e[0] <= back + GRACE]

    lost = []
    for user, client in zip(users, clients, strict=True):
        for platform, seq in client.acked.items():
            status, body = stacks.post(
                node.url,
                "/api/credentials/reveal",
                {"X-RBAC-SYNC-SECRET": stack.sync_secret},
                {"creatorProfileId": client.ids[platform]},
            )
            stored = int(body["credentials"]["password"][4:]) if status == 200 else -1
            if stored < seq:
                lost.append((user["id"], platform, seq, stored))
    rows = stack.sql("SELECT count(*) FROM platform_connections")

    print("\nrestart figures")
    print(f"  load               {args.threads} clients, {len(log)} writes in {ended:.1f} s")
    print(
        f"  outage             {back - killed:.1f} s (kill at {killed:.1f} s, back at {back:.1f} s)"
    )
    print(f"  outcomes           {dict(sorted(outcomes.items()))}")
    print(
        f"  writes in window   {len(during)} (kill .. back + {GRACE:.0f} s), failed {len(failed)}"
    )
    print(f"  errors outside     {len(outside)}")
    first_ok_after = min((e[0] for e in log if e[2] == "200" and e[0] > back), default=None)
    if first_ok_after is not None:
        print(f"  first 200 after    {first_ok_after - back:.2f} s after Directus was back")
    last_error = max((e[0] for e in failed), default=None)
    if last_error is not None:
        print(f"  last error at      {last_error - back:+.2f} s relative to Directus back")
    acked = sum(len(c.acked) for c in clients)
    print(f"  connections        {acked} acknowledged, {rows} rows (one per user and platform)")
    print(f"  lost acknowledged  {len(lost)}")
    messages = Counter()
    for client in clients:
        messages.update(client.errors)
    for message, count in messages.most_common():
        print(f"    {count:5d} x {message}")
    for entry in outside[:10]:
        print(f"    error outside the window: t={entry[0]:.1f} s {entry[1]} -> {entry[2]}")
    for entry in lost[:10]:
        print(f"    lost: user {entry[0]} {entry[1]} acked seq {entry[2]}, stored {entry[3]}")
    return 1 if lost or outside or int(rows) < acked else 0


if __name__ == "__main__":
    sys.exit(main())

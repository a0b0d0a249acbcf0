"""Soak: reveal at a steady fraction of the measured capacity for a long time; errors and RSS.

    .venv/bin/python -m bench.soak [--minutes 30] [--fraction 0.8] [--threads 16]

Starts a production-shaped stack on loopback (tests/multi/stack.py: a throwaway PostgreSQL, one
Directus on it, credsvc under gunicorn with the committed gunicorn.conf.py), creates a user and
a profile, then:

1. measures the reveal capacity: closed loop, --threads clients, --calibrate seconds;
2. holds --fraction of it (open loop: requests are sent on a fixed schedule, whatever the
   answers) for --minutes, printing a line a minute;
3. prints the figures: requests, errors (any non-200 or transport failure), latency
   percentiles, and the RSS of every gunicorn worker at the start of the soak and at its end
   (growth in %), and whether any worker was replaced; then a verdict. It exits non-zero on
   any error, a worker whose RSS grew 10% or more, or a worker replaced.

Every request goes to 127.0.0.1. The run stops by itself; Ctrl-C stops it early (figures so far).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from tests.multi import stack as stacks

ROOT = Path(__file__).resolve().parents[1]

# The prepared-database dump the test suites keep (tests/pg_template.py): a faster start.
TEMPLATE_DIR = ROOT / ".pytest_cache" / "d" / "directus-pg-template"

CREDENTIALS = {"username": "soak-user", "password": "soak-" + secrets.token_hex(8)}


# The soak's memory goal: a worker's RSS grows less than this over the run.
MAX_RSS_GROWTH_PERCENT = 10


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Reveal:
    """One reveal call per `__call__`, a keep-alive session per thread."""

    def __init__(self, base: str, sync_secret: str, profile_id: str) -> None:
        self.url = f"{base}/api/credentials/reveal"
        self.headers = {"X-RBAC-SYNC-SECRET": sync_secret}
        self.body = {"creatorProfileId": profile_id}
        self.local = threading.local()

    def __call__(self) -> bool:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        try:
            resp = session.post(self.url, headers=self.headers, json=self.body, timeout=(3, 30))
            return resp.status_code == 200 and resp.json()["credentials"] == CREDENTIALS
        except (requests.RequestException, ValueError):
            return False


def closed_loop(call: Reveal, threads: int, seconds: float) -> float:
    """Requests per second of successful calls with `threads` clients back to back."""
    done, stop = [0], time.monotonic() + seconds
    lock = threading.Lock()

    def client() -> None:
        while time.monotonic() < stop:
            if call():
                with lock:
                    done[0] += 1

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return done[0] / seconds


def open_loop(call: Reveal, rate: float, seconds: float, threads: int) -> dict:
    """Send `rate` requests per second on a fixed schedule for `seconds`; per-minute lines."""
    interval = threads / rate  # each of `threads` clients sends every `interval` seconds
    lock = threading.Lock()
    results: list[tuple[float, float, bool]] = []  # (sent at, latency, ok)
    started = time.monotonic()
    stop = started + seconds
    late = [0]

    def client(offset: float) -> None:
        due = started + offset
        while due < stop:
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            elif now - due > interval:
                with lock:
                    late[0] += 1  # behind schedule: the server (or this machine) is saturated
            sent = time.monotonic()
            ok = call()
            with lock:
                results.append((sent - started, time.monotonic() - sent, ok))
            due += interval

    workers = [
        threading.Thread(target=client, args=(i * interval / threads,), daemon=True)
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    minute = 1
    try:
        while any(w.is_alive() for w in workers):
            time.sleep(1)
            if time.monotonic() - started >= minute * 60:
                with lock:
                    window = [r for r in results if (minute - 1) * 60 <= r[0] < minute * 60]
                lat = [r[1] * 1000 for r in window]
                print(
                    f"  minute {minute:3d}: {len(window) / 60:6.1f} req/s, "
                    f"errors {sum(not r[2] for r in window)}, "
                    f"p50 {percentile(lat, 0.5):6.1f} ms, p99 {percentile(lat, 0.99):6.1f} ms",
                    flush=True,
                )
                minute += 1
    except KeyboardInterrupt:
        print("  interrupted: figures so far", flush=True)
    with lock:
        return {"results": list(results), "late": late[0], "elapsed": time.monotonic() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--fraction", type=float, default=0.8)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--calibrate", type=float, default=20, help="seconds")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="credsvc-soak-") as tmp:
        print("starting PostgreSQL, Directus and credsvc (gunicorn)...", flush=True)
        stack = stacks.build(
            Path(tmp),
            directus=1,
            credsvc=1,
            redis=False,
            workers=args.workers,
            threads=4,
            template_dir=TEMPLATE_DIR,
        )
        try:
            return soak(stack, args)
        finally:
            stack.stop()


def soak(stack: stacks.Stack, args: argparse.Namespace) -> int:
    node = stack.credsvc[0]
    user = stack.new_user()
    status, body = stacks.post(
        node.url,
        "/api/credentials/create-profile",
        {"Authorization": f"Bearer {user['token']}"},
        {"platform": "instagram", "credentials": CREDENTIALS},
    )
    assert status == 200, body
    call = Reveal(node.url, stack.sync_secret, body["id"])
    closed_loop(call, args.threads, 5)  # warm-up
    capacity = closed_loop(call, args.threads, args.calibrate)
    rate = capacity * args.fraction
    print(
        f"reveal capacity: {capacity:.1f} req/s ({args.threads} clients, {args.calibrate:.0f} s); "
        f"soak at {args.fraction:.0%}: {rate:.1f} req/s for {args.minutes:g} min",
        flush=True,
    )
    pids = node.worker_pids()
    rss_start = {pid: rss_kib(pid) for pid in pids}
    run = open_loop(call, rate, args.minutes * 60, args.threads)
    pids_end = node.worker_pids()
    rss_end = {pid: rss_kib(pid) for pid in pids_end if pid in rss_start}

    results = run["results"]
    latencies = [r[1] * 1000 for r in results]
    errors = sum(not r[2] for r in results)
    print("\nsoak figures")
    print(f"  duration           {run['elapsed'] / 60:.1f} min")
    print(f"  target rate        {rate:.1f} req/s ({args.fraction:.0%} of {capacity:.1f})")
    print(f"  achieved rate      {len(results) / run['elapsed']:.1f} req/s")
    print(f"  requests           {len(results)}")
    print(f"  errors             {errors}")
    print(f"  behind schedule    {run['late']} sends")
    print(
        f"  latency ms         p50 {percentile(latencies, 0.5):.1f}  "
        f"p99 {percentile(latencies, 0.99):.1f}  max {max(latencies, default=0):.1f}  "
        f"mean {statistics.fmean(latencies) if latencies else 0:.1f}"
    )
    growths = []
    for pid in pids:
        if pid in rss_end:
            growth = (rss_end[pid] - rss_start[pid]) / rss_start[pid] * 100
            growths.append(growth)
            print(
                f"  worker {pid} RSS     {rss_start[pid] / 1024:.1f} MiB -> "
                f"{rss_end[pid] / 1024:.1f} MiB ({growth:+.1f}%)"
            )
        else:
            print(f"  worker {pid}         replaced during the soak")
    replaced = sorted(set(pids_end) - set(pids))
    if replaced:
        print(f"  new workers        {replaced}")
    # The goal (docs/operations.md): no error, every worker's RSS within MAX_RSS_GROWTH_PERCENT,
    # no worker replaced (a replaced worker's growth cannot be told).
    over = [g for g in growths if g >= MAX_RSS_GROWTH_PERCENT]
    verdict = "pass" if not (errors or over or replaced or len(growths) < len(pids)) else "FAIL"
    print(
        f"  verdict            {verdict} (errors {errors}, workers over "
        f"{MAX_RSS_GROWTH_PERCENT}% RSS growth {len(over)}, replaced {len(pids) - len(growths)})"
    )
    return 0 if verdict == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())

"""Rewrap throughput against a real Directus: prints records/s (median of runs).

    .venv/bin/python -m bench.rewrap [--records 5000] [--runs 3] [--batch-size 100] [--item-api]

Starts a throwaway Directus exactly like the integration tests (deploy/directus/directusctl.py,
SQLite in a temporary folder, free loopback port), seeds `--records` download_credentials rows
under an old key (a quarter in the legacy format), then for each run rotates to a fresh key and
times `rewrap_collection` over all of them. The seeding time is not counted.

Each run also says where the time went, per record: the wall time, the CPU time of this
process (credsvc's side: selection parsing, AES-GCM rewrap, JSON), the wall time spent waiting
on Directus per request kind (the SEARCH selection; the guarded batch write: a POST to the
credsvc-batch endpoint, or with --item-api a PATCH through Directus's item API), and the CPU
time of the Directus (node) process itself, read from /proc/<pid>/stat.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from credsvc.crypto import keyring_from_settings
from credsvc.directus import DirectusClient
from credsvc.services import keys as key_service
from deploy.directus import directusctl, provision
from tests.integration.conftest import _free_port
from tests.integration.test_rewrap import COLLECTION, FIELD, seed_rows

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its own threads; the node sqlite3 worker threads too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--item-api", action="store_true", help="write through /items, not the batch endpoint"
    )
    args = parser.parse_args()

    directusctl.ensure_installed()
    with tempfile.TemporaryDirectory(prefix="credsvc-bench-") as tmp:
        data_dir = Path(tmp)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        admin_token, operator_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        env = directusctl.directus_env(
            data_dir=data_dir, port=port, secret=secrets.token_hex(32), passthrough=False
        )
        directusctl.bootstrap(
            env,
            f"bench-{secrets.token_hex(3)}@example.com",
            secrets.token_urlsafe(18),
            ADMIN_TOKEN=admin_token,
        )
        directusctl.apply_schema(env)
        proc = directusctl.start(env, data_dir / "directus.log")
        try:
            directusctl.wait_ready(url, proc, data_dir / "directus.log")
            # The rewrap job runs as the operator role, like `flask keys rewrap`.
            provision.provision(url, {"operator": operator_token}, admin_token=admin_token)
            keys = [secrets.token_hex(32) for _ in range(args.runs + 1)]
            started = time.perf_counter()
            seed_rows(
                url,
                admin_token,
                args.records,
                keyring_from_settings(keys[0]),
                bytes.fromhex(keys[0]),
                "bench",
            )
            print(f"seeded {args.records} rows in {time.perf_counter() - started:.1f} s")
            waits: dict[str, float] = {}

            def observe(call) -> None:
                waits[call.method] = waits.get(call.method, 0.0) + call.seconds

            client = DirectusClient(url, operator_token, (3.05, 60.0), observer=observe)
            client.batch_endpoint = not args.item_api
            rates = []
            for run in range(1, args.runs + 1):
                ring = keyring_from_settings(
                    keys[0], keys=",".join(f"k{i}:{keys[i]}" for i in range(1, run + 1))
                )
                waits.clear()
                node_cpu, own_cpu = cpu_seconds(proc.pid), time.process_time()
                started = time.perf_counter()
                result = key_service.rewrap_collection(
                    client, ring, COLLECTION, FIELD, batch_size=args.batch_size
                )
                seconds = time.perf_counter() - started
                node_cpu = cpu_seconds(proc.pid) - node_cpu
                own_cpu = time.process_time() - own_cpu
                assert result.rewrapped == args.records and result.failed == 0, result
                rates.append(result.rewrapped / seconds)
                print(
                    f"run {run}: {result.rewrapped} records to k{run} in {seconds:.2f} s "
                    f"= {rates[-1]:.0f} records/s"
                )
                per_row = 1000 / args.records
                waited = ", ".join(f"{m} {t * per_row:.2f}" for m, t in sorted(waits.items()))
                print(
                    f"  ms per record: wall {seconds * per_row:.2f}; waiting on Directus "
                    f"{waited}; Directus CPU {node_cpu * per_row:.2f}; "
                    f"credsvc CPU {own_cpu * per_row:.2f}"
                )
            print(
                f"rewrap (batch {args.batch_size}, "
                f"{'item API' if args.item_api else 'credsvc-batch'}): "
                f"median {statistics.median(rates):.0f} records/s over {args.runs} runs"
            )
        finally:
            directusctl.stop(proc)


if __name__ == "__main__":
    main()

"""`make bench`: credsvc side by side with OpenBao and raw Directus, every figure in one run.

    .venv/bin/python -m bench.run [--seconds 8] [--large 100000] [--quick]

One stack on loopback (bench/stack.py): Directus on SQLite, credsvc under gunicorn with its
production settings, an OpenBao dev server. Load comes from wrk (bench/wrk.py), `-t2 -c16`.
Figures (each a ratio of two measurements of this run):

    P1  credsvc reveal requests/s / OpenBao KV v2 read requests/s (a secret of the same size)
    P2  reveal requests/s, p50 and p99 / a direct Directus GET of the same record
    P3  keyring encrypt and decrypt of a record / the raw AESGCM call on the same bytes
    P4  reveal and get-platform-session p50 with --large records / with --small records
    P5  rewrap records/s (keys rewrap's job on --rewrap download credentials)
    P6  gunicorn worker RSS at start and after --rss-requests requests
    A   audit group commit: reveal requests/s with it / with one audit POST per reveal
    B   the credsvc-batch endpoint: reveal requests/s and rewrap records/s with it / through
        Directus's item API (both with the group commit)

Writes bench/results/latest.json and bench/results/latest.png, prints one table, and puts
the table into docs/benchmarks.md between its markers. Every load counts its failures
(transport errors and non-2xx answers); a figure measured with failures says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench import stack as bench_stack
from bench import wrk
from credsvc.crypto import keyring_from_settings
from credsvc.directus import DirectusClient
from credsvc.model import PROFILES
from credsvc.services import keys as key_service
from tests.integration.test_rewrap import COLLECTION as REWRAP_COLLECTION
from tests.integration.test_rewrap import FIELD as REWRAP_FIELD
from tests.integration.test_rewrap import seed_rows

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
TABLE_START, TABLE_END = "<!-- bench:table:start -->", "<!-- bench:table:end -->"

GOALS = {  # issue 12's goals, reported next to each figure (tests verify behaviour, not speed)
    "P1 reveal rps / OpenBao KV rps": ">= 0.5 with a proven cache",
    "P2 reveal rps / Directus GET rps": ">= 0.9",
    "P2 reveal p50 / Directus GET p50": "<= 1.10",
    "P4 reveal p50 large / small": "<= 1.2",
    "P4 get-platform-session p50 large / small": "<= 1.2",
    "P5 rewrap records/s": ">= 2000",
    "P6 worker RSS after / at start - 1": "< 0.10",
    "P6 worker RSS MB after the requests": "<= 80 per worker",
}


def timed_us(call, n: int) -> float:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def crypto_figures(key_hex: str) -> dict[str, float]:
    """P3: the keyring (JSON + format + binding + AES-GCM) against the bare AESGCM call."""
    ring = keyring_from_settings(key_hex)
    row = {"id": "b7e4c1b2-0000-4000-8000-000000000001", "user_id": "u", "platform": "instagram"}
    context = PROFILES.context(row)
    token = ring.encrypt(bench_stack.CREDENTIALS, context)
    data = json.dumps(bench_stack.CREDENTIALS).encode()
    aead, nonce, aad = AESGCM(bytes.fromhex(key_hex)), os.urandom(12), b"x" * 64
    sealed = aead.encrypt(nonce, data, aad)
    n = 5000
    enc = timed_us(lambda: ring.encrypt(bench_stack.CREDENTIALS, context), n)
    dec = timed_us(lambda: ring.decrypt(token, context), n)
    raw_enc = timed_us(lambda: aead.encrypt(nonce, data, aad), n)
    raw_dec = timed_us(lambda: aead.decrypt(nonce, sealed, aad), n)
    return {
        "encrypt_us": round(enc, 2),
        "decrypt_us": round(dec, 2),
        "raw_encrypt_us": round(raw_enc, 2),
        "raw_decrypt_us": round(raw_dec, 2),
    }


def rewrap_figure(
    st: bench_stack.Stack, records: int, *, batch_endpoint: bool = True
) -> dict[str, float]:
    """P5: seed `records` download credentials under the service key (a quarter legacy), rotate
    to a new key, time the rewrap job (guarded writes) as `flask keys rewrap` runs it; then
    delete the rows again, so the next measurement starts from the same state.
    `batch_endpoint=False`: the job writes through Directus's item API (figure B)."""
    old = st.key
    seeded = seed_rows(
        st.directus_url,
        st.admin_token,
        records,
        keyring_from_settings(old),
        bytes.fromhex(old),
        f"bench-{secrets.token_hex(2)}",
    )
    ring = keyring_from_settings(old, keys=f"k2:{secrets.token_hex(32)}", active="k2")
    client = DirectusClient(st.directus_url, st.operator_token, (3.05, 120.0))
    client.batch_endpoint = batch_endpoint
    started = time.perf_counter()
    result = key_service.rewrap_collection(client, ring, REWRAP_COLLECTION, REWRAP_FIELD)
    seconds = time.perf_counter() - started
    admin = DirectusClient(st.directus_url, st.admin_token, (3.05, 120.0))
    ids = list(seeded)
    for start in range(0, len(ids), 1000):
        admin.delete_items(REWRAP_COLLECTION, ids[start : start + 1000])
    return {
        "records": result.rewrapped,
        "failed": result.failed,
        "seconds": round(seconds, 2),
        "records_per_s": round(result.rewrapped / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rewrap", type=int, default=20_000)
    parser.add_argument("--rss-requests", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness")
    parser.add_argument("--no-doc", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.small, args.large, args.rewrap = 2, 50, 200, 200
        args.rss_requests = 2000

    loads: dict[str, wrk.Load] = {}

    def load(name, url, **kw):
        loads[name] = wrk.run(name, url, seconds=args.seconds, connections=args.connections, **kw)
        figures = loads[name]
        print(
            f"  {name:34} {figures.rps:9.1f} req/s  p50 {figures.p50_ms:7.2f} ms  "
            f"p99 {figures.p99_ms:7.2f} ms  failures {figures.failures}",
            flush=True,
        )
        return figures

    started = time.monotonic()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    with (
        tempfile.TemporaryDirectory(prefix="credsvc-bench-") as tmp,
        bench_stack.running(Path(tmp)) as st,
    ):
        print("stack up: Directus (SQLite), credsvc (gunicorn.conf.py), OpenBao dev", flush=True)
        svc = st.start_service()
        before = st.start_service("bench.wsgi_direct_audit:app")
        item_api = st.start_service("bench.wsgi_item_api:app")
        user = {"Authorization": f"Bearer {st.user_token()}"}
        created = st.http.post(
            f"{svc.url}/api/credentials/create-profile",
            headers=user,
            json={"platform": "instagram", "credentials": bench_stack.CREDENTIALS},
        )
        created.raise_for_status()
        profile_id = created.json()["id"]
        st.http.post(
            f"{svc.url}/api/credentials/store-platform-session",
            headers=user,
            json={
                "creator_profile_id": profile_id,
                "platform": "instagram",
                "cookies": bench_stack.COOKIES,
            },
        ).raise_for_status()
        bao_headers = {"X-Vault-Token": st.bao.root_token}
        st.http.post(
            f"{st.bao.addr}/v1/secret/data/bench",
            headers=bao_headers,
            json={"data": bench_stack.CREDENTIALS},
        ).raise_for_status()

        reveal = {
            "method": "POST",
            "headers": st.internal,
            "body": {"creatorProfileId": profile_id},
        }
        session = {
            "method": "POST",
            "headers": st.internal,
            "body": {"creator_profile_id": profile_id, "platform": "instagram"},
        }
        st.seed_profiles_and_sessions(args.small)
        # Warm-up before the first RSS reading: every route the loads use, on every worker
        # (the first calls import and build what a route needs; that is not growth). A new
        # connection each time (no session), so the requests reach both workers.
        for _ in range(100):
            requests.get(f"{svc.url}/healthz", timeout=30)
            requests.post(
                f"{svc.url}/api/credentials/reveal",
                headers=st.internal,
                json=reveal["body"],
                timeout=30,
            ).raise_for_status()
            requests.post(
                f"{svc.url}/api/credentials/get-platform-session",
                headers=st.internal,
                json=session["body"],
                timeout=30,
            ).raise_for_status()
            requests.post(f"{svc.url}/api/credentials/reveal", json=reveal["body"], timeout=30)
        rss_start = svc.worker_rss_mb()

        print(f"loads with {args.small} profiles and sessions:", flush=True)
        load("openbao kv read", f"{st.bao.addr}/v1/secret/data/bench", headers=bao_headers)
        load(
            "directus get (same record)",
            f"{st.directus_url}/items/platform_connections/{profile_id}",
            headers={"Authorization": f"Bearer {st.service_token}"},
        )
        load("reveal", f"{svc.url}/api/credentials/reveal", **reveal)
        load("reveal, audit POST each (before)", f"{before.url}/api/credentials/reveal", **reveal)
        load("reveal, item API (before)", f"{item_api.url}/api/credentials/reveal", **reveal)
        load("get-platform-session", f"{svc.url}/api/credentials/get-platform-session", **session)
        load("healthz", f"{svc.url}/healthz")

        seeding = time.monotonic()
        st.seed_profiles_and_sessions(args.large)
        print(
            f"seeded to {args.large} profiles and sessions in "
            f"{time.monotonic() - seeding:.0f} s; loads again:",
            flush=True,
        )
        load("reveal @large", f"{svc.url}/api/credentials/reveal", **reveal)
        load(
            "get-platform-session @large",
            f"{svc.url}/api/credentials/get-platform-session",
            **session,
        )

        print("in-process crypto (P3) and rewrap (P5)", flush=True)
        crypto = crypto_figures(st.key)
        rewrap = rewrap_figure(st, args.rewrap)
        rewrap_items = rewrap_figure(st, args.rewrap // 4, batch_endpoint=False)

        # Requests the measured service (svc) has served so far.
        served = sum(
            v.requests
            for k, v in loads.items()
            if not k.startswith(("openbao", "directus", "reveal, "))
        )
        while served < args.rss_requests:
            # Real reveals run at Directus's pace (tens a second: 100,000 would take the better
            # part of an hour), so the rest of the 100,000 are refused reveals (no secret:
            # 401): the same route, body parsing, guard, error exit, access log and metrics,
            # at thousands a second, but no Directus call. A 401 is what this load expects,
            # so its "failures" are not the service's. Reported apart from the loads above.
            top_up = wrk.run(
                "refused reveal (RSS top-up)",
                f"{svc.url}/api/credentials/reveal",
                method="POST",
                body={"creatorProfileId": profile_id},
                seconds=max(args.seconds, 10),
                connections=args.connections,
            )
            served += top_up.requests
        rss_end = svc.worker_rss_mb()
        topped_up = served - sum(
            v.requests
            for k, v in loads.items()
            if not k.startswith(("openbao", "directus", "reveal, "))
        )

    results = figures_of(
        loads, crypto, rewrap, rewrap_items, rss_start, rss_end, served, topped_up, args
    )
    results["seconds_total"] = round(time.monotonic() - started)
    # The machine is shared: its load average (1, 5, 15 min) before and after the run.
    results["machine"]["load_average"] = {
        "start": load_at_start,
        "end": [round(x, 2) for x in os.getloadavg()],
    }
    write_results(results, args)


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def figures_of(
    loads, crypto, rewrap, rewrap_items, rss_start, rss_end, served, topped_up, args
) -> dict:
    bao, get = loads["openbao kv read"], loads["directus get (same record)"]
    rev, rev_before = loads["reveal"], loads["reveal, audit POST each (before)"]
    rev_items = loads["reveal, item API (before)"]
    ses, rev_l, ses_l = (
        loads["get-platform-session"],
        loads["reveal @large"],
        loads["get-platform-session @large"],
    )
    growth = [(end - start) / start for start, end in zip(rss_start, rss_end, strict=False)]
    figures = {
        "P1 reveal rps / OpenBao KV rps": ratio(rev.rps, bao.rps),
        "P2 reveal rps / Directus GET rps": ratio(rev.rps, get.rps),
        "P2 reveal p50 / Directus GET p50": ratio(rev.p50_ms, get.p50_ms),
        "P2 reveal p99 / Directus GET p99": ratio(rev.p99_ms, get.p99_ms),
        "P3 encrypt / raw AESGCM encrypt": ratio(crypto["encrypt_us"], crypto["raw_encrypt_us"]),
        "P3 decrypt / raw AESGCM decrypt": ratio(crypto["decrypt_us"], crypto["raw_decrypt_us"]),
        "P4 reveal p50 large / small": ratio(rev_l.p50_ms, rev.p50_ms),
        "P4 get-platform-session p50 large / small": ratio(ses_l.p50_ms, ses.p50_ms),
        "P5 rewrap records/s": rewrap["records_per_s"],
        "P6 worker RSS after / at start - 1": round(max(growth), 3) if growth else float("nan"),
        "P6 worker RSS MB after the requests": max(rss_end) if rss_end else float("nan"),
        "A reveal rps group commit / one POST each": ratio(rev.rps, rev_before.rps),
        "B reveal rps credsvc-batch / item API": ratio(rev.rps, rev_items.rps),
        "B rewrap records/s credsvc-batch / item API": ratio(
            rewrap["records_per_s"], rewrap_items["records_per_s"]
        ),
    }
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "settings": {
            k: getattr(args, k)
            for k in ("seconds", "connections", "small", "large", "rewrap", "rss_requests")
        },
        "loads": {name: figures.as_dict() for name, figures in loads.items()},
        "crypto": crypto,
        "rewrap": rewrap,
        "rewrap_item_api": rewrap_items,
        "rss_mb": {
            "start": rss_start,
            "end": rss_end,
            "requests": served,
            "of_which_top_up": topped_up,
        },
        "figures": figures,
        "failures": sum(f.failures for f in loads.values())
        + rewrap["failed"]
        + rewrap_items["failed"],
    }


def machine() -> dict:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
    }


def table(results: dict) -> str:
    rows = ["| load | requests/s | p50 ms | p99 ms | failures |", "|---|---:|---:|---:|---:|"]
    for name, f in results["loads"].items():
        rows.append(
            f"| {name} | {f['rps']:,.1f} | {f['p50_ms']} | {f['p99_ms']} | {f['failures']} |"
        )
    rows += ["", "| figure | value | goal |", "|---|---:|---|"]
    for name, value in results["figures"].items():
        rows.append(f"| {name} | {value} | {GOALS.get(name, '')} |")
    c, r, m = results["crypto"], results["rewrap"], results["rss_mb"]
    ri = results["rewrap_item_api"]
    rows += [
        "",
        f"Crypto per record: encrypt {c['encrypt_us']} µs (raw AESGCM {c['raw_encrypt_us']} µs), "
        f"decrypt {c['decrypt_us']} µs (raw {c['raw_decrypt_us']} µs). "
        f"Rewrap: {r['records']} records in {r['seconds']} s, {r['failed']} failed "
        f"(through the item API: {ri['records']} in {ri['seconds']} s, {ri['failed']} failed). "
        f"Worker RSS MB: {m['start']} at start, {m['end']} after {m['requests']:,} requests "
        f"({m['requests'] - m['of_which_top_up']:,} of them the loads above, "
        f"{m['of_which_top_up']:,} refused reveals: 401 without the secret, no Directus call). "
        f"Failures in all loads: {results['failures']}.",
        "",
        f"Machine: {results['machine']['cpus']} CPUs ({results['machine']['cpu']}), "
        f"{results['machine']['memory_gb']} GB, Python {results['machine']['python']}; "
        f"run {results['when']}, {results['seconds_total']} s; load average (1/5/15 min) "
        f"{results['machine']['load_average']['start']} at start, "
        f"{results['machine']['load_average']['end']} at the end (a shared machine: compare "
        "ratios within one run).",
    ]
    return "\n".join(rows)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["loads"])
    rps = [results["loads"][n]["rps"] for n in names]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.barh(names, rps, color="#4a7bb7")
    ax.set_xscale("log")
    ax.set_xlabel("requests/s (log scale), wrk -t2 -c16")
    ax.invert_yaxis()
    for y, value in enumerate(rps):
        ax.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
    ax.set_title(f"credsvc vs OpenBao vs Directus, {results['when']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(results: dict, args) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    # A --quick run checks the harness: its figures never replace the recorded ones.
    name = "quick" if args.quick else "latest"
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    chart(results, RESULTS / f"{name}.png")
    text = table(results)
    print()
    print(text)
    if not args.no_doc and not args.quick and DOC.exists():
        doc = DOC.read_text()
        if TABLE_START in doc and TABLE_END in doc:
            head, rest = doc.split(TABLE_START, 1)
            DOC.write_text(
                head + TABLE_START + "\n" + text + "\n" + TABLE_END + rest.split(TABLE_END, 1)[1]
            )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(f"\nresults: bench/results/latest.json, bench/results/latest.png (commit {commit})")


if __name__ == "__main__":
    main()

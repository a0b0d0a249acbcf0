"""Where Directus spends its time per request: a V8 CPU profile of the Directus process while
credsvc reveals under load, summarised by package and by function.

    .venv/bin/python -m bench.profile_directus [--seconds 15] [--load reveal|get|audit]

Directus runs with `NODE_OPTIONS=--cpu-prof` (Node writes the profile when the process
exits); wrk loads credsvc `reveal` (or a direct Directus GET, or audit-row creates); the
profile is read and printed: self time by package, inclusive time of the functions that
dominate, and the milliseconds of Directus CPU per request. The raw .cpuprofile is kept in
bench/results/ (open it in Chrome DevTools' Performance panel).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench import stack as bench_stack
from bench import wrk
from credsvc.crypto import keyring_from_settings
from credsvc.directus import DirectusClient
from credsvc.services import keys as key_service
from tests.integration.test_rewrap import COLLECTION as REWRAP_COLLECTION
from tests.integration.test_rewrap import FIELD as REWRAP_FIELD
from tests.integration.test_rewrap import seed_rows

RESULTS = Path(__file__).resolve().parent / "results"
IDLE = {"(idle)", "(program)"}


def package_of(url: str, function: str) -> str:
    if not url:
        return function if function.startswith("(") else "(native)"
    if url.startswith("node:"):
        return "node:" + url.removeprefix("node:").split("/")[0]
    match = re.search(r"node_modules/((?:@[^/]+/)?[^/]+)", url)
    return match.group(1) if match else "(other)"


def summarise(profile: dict, requests: int, window: tuple[float, float], top: int = 25) -> dict:
    """Shares of Directus's busy CPU time during `window` (time.monotonic() seconds: V8 stamps
    samples with the same monotonic clock), so start-up and shutdown are left out."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {}
    for node in profile["nodes"]:
        for child in node.get("children", ()):
            parent[child] = node["id"]
    self_us: Counter[int] = Counter()
    stamp = profile["startTime"]
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=False):
        stamp += delta
        if window[0] <= stamp / 1e6 <= window[1]:
            self_us[sample] += max(delta, 0)

    by_package: Counter[str] = Counter()
    inclusive: defaultdict[str, float] = defaultdict(float)
    busy = 0.0
    for node_id, micros in self_us.items():
        frame = nodes[node_id]["callFrame"]
        name = frame["functionName"] or "(anonymous)"
        if name in IDLE:
            continue
        busy += micros
        by_package[package_of(frame["url"], name)] += micros
        seen = set()
        current = node_id
        while current is not None:  # every distinct function on the stack gets the time once
            f = nodes[current]["callFrame"]
            key = f"{f['functionName'] or '(anonymous)'} {package_of(f['url'], '')}"
            if key not in seen:
                seen.add(key)
                inclusive[key] += micros
            current = parent.get(current)
    inclusive.pop("(root) (native)", None)
    return {
        "busy_ms": round(busy / 1000, 1),
        "requests": requests,
        "cpu_ms_per_request": round(busy / 1000 / requests, 3) if requests else None,
        "self_by_package": [
            (name, round(us / busy * 100, 1)) for name, us in by_package.most_common(top)
        ],
        "inclusive_by_function": [
            (name, round(us / busy * 100, 1))
            for name, us in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--load", choices=("reveal", "get", "rewrap"), default="reveal")
    parser.add_argument("--rewrap", type=int, default=5000, help="rows for --load rewrap")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--directus-env",
        action="append",
        default=[],
        help="NAME=value for Directus (repeatable), e.g. LOG_LEVEL=warn",
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.directus_env)

    with (
        tempfile.TemporaryDirectory(prefix="credsvc-profile-") as tmp,
        bench_stack.running(Path(tmp), extra) as st,
    ):
        svc = st.start_service()
        user = {"Authorization": f"Bearer {st.user_token()}"}
        created = st.http.post(
            f"{svc.url}/api/credentials/create-profile",
            headers=user,
            json={"platform": "instagram", "credentials": bench_stack.CREDENTIALS},
        )
        created.raise_for_status()
        profile_id = created.json()["id"]
        profiles = Path(tmp) / "cpuprofiles"
        st.restart_directus({"NODE_OPTIONS": f"--cpu-prof --cpu-prof-dir={profiles}"})
        if args.load == "rewrap":
            seed_rows(
                st.directus_url,
                st.admin_token,
                args.rewrap,
                keyring_from_settings(st.key),
                bytes.fromhex(st.key),
                "profile",
            )
            ring = keyring_from_settings(st.key, keys=f"k2:{secrets.token_hex(32)}", active="k2")
        started = time.monotonic()
        if args.load == "rewrap":
            client = DirectusClient(st.directus_url, st.operator_token, (3.05, 120.0))
            result = key_service.rewrap_collection(client, ring, REWRAP_COLLECTION, REWRAP_FIELD)
            seconds = time.monotonic() - started
            load = wrk.Load(
                "rewrap (rows)",
                result.rewrapped,
                round(seconds, 2),
                round(result.rewrapped / seconds, 1),
                0.0,
                0.0,
                result.failed,
            )
        elif args.load == "reveal":
            load = wrk.run(
                "reveal",
                f"{svc.url}/api/credentials/reveal",
                method="POST",
                headers=st.internal,
                body={"creatorProfileId": profile_id},
                seconds=args.seconds,
                connections=args.connections,
            )
        else:
            load = wrk.run(
                "directus get",
                f"{st.directus_url}/items/platform_connections/{profile_id}",
                headers={"Authorization": f"Bearer {st.service_token}"},
                seconds=args.seconds,
                connections=args.connections,
            )
        window = (started, time.monotonic())
        st.restart_directus({})  # SIGTERM: Node writes the profile as it exits
        written = sorted(profiles.glob("*.cpuprofile"))
        if not written:
            raise SystemExit("Directus wrote no CPU profile (did it exit cleanly?)")
        RESULTS.mkdir(exist_ok=True)
        kept = RESULTS / f"directus-{args.load}.cpuprofile"
        shutil.copy(written[-1], kept)
        summary = summarise(json.loads(written[-1].read_text()), load.requests, window)

    print(
        f"load: {load.name}: {load.requests} requests, {load.rps} req/s, p50 {load.p50_ms} ms, "
        f"failures {load.failures}; Directus settings: {extra or 'defaults'}"
    )
    print(
        f"Directus CPU busy {summary['busy_ms']} ms = {summary['cpu_ms_per_request']} ms "
        "per credsvc request"
    )
    print("\nself time by package (% of busy):")
    for name, share in summary["self_by_package"]:
        print(f"  {share:5.1f}%  {name}")
    print("\ninclusive time by function (% of busy):")
    for name, share in summary["inclusive_by_function"]:
        print(f"  {share:5.1f}%  {name}")
    print(f"\nprofile: {kept.relative_to(RESULTS.parent.parent)}")
    (RESULTS / f"directus-{args.load}-summary.json").write_text(
        json.dumps({"load": load.as_dict(), "settings": extra, **summary}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()

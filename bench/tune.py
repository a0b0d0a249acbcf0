"""One change at a time: the reveal load under each tuning step, with its ratio to the step
before, all in one run on one stack.

    .venv/bin/python -m bench.tune [--seconds 8]

Each step adds one change to the previous one (Directus settings, the audit_log collection's
accountability, gunicorn workers/threads), restarts what it changes, and measures with wrk:
a direct Directus GET of the record (the floor), credsvc reveal, and the rewrap job's rate.
Results go to bench/results/tune.json; the table is printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench import stack as bench_stack
from bench import wrk
from bench.run import rewrap_figure

RESULTS = Path(__file__).resolve().parent / "results"
# Directus's own defaults to start from (directusctl.DIRECTUS_TUNING is the tuned state).
BASELINE = {"CACHE_SCHEMA_FREEZE_ENABLED": "false"}

# (name, Directus settings added, gunicorn settings added, audit_log accountability or None)
STEPS: list[tuple[str, dict[str, str], dict[str, str], str | None]] = [
    ("Directus defaults, no audit batching (before)", {}, {}, None),
    ("+ audit group commit", {}, {}, None),
    (
        "+ CACHE_SCHEMA_FREEZE_ENABLED=true (now the default)",
        {"CACHE_SCHEMA_FREEZE_ENABLED": "true"},
        {},
        None,
    ),
    ("+ Directus LOG_LEVEL=warn", {"LOG_LEVEL": "warn"}, {}, None),
    ("+ audit_log accountability off", {}, {}, "off"),
    ("+ gunicorn 8 threads", {}, {"GUNICORN_THREADS": "8"}, None),
    ("+ gunicorn 3 workers", {}, {"WEB_CONCURRENCY": "3"}, None),
]


def set_audit_accountability(st: bench_stack.Stack, value: str | None) -> None:
    st.http.patch(
        f"{st.directus_url}/collections/audit_log",
        json={"meta": {"accountability": value}},
        headers=st.admin,
    ).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rewrap", type=int, default=3000)
    args = parser.parse_args()

    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="credsvc-tune-") as tmp,
        bench_stack.running(Path(tmp), BASELINE) as st,
    ):
        jwt = st.user_token()
        directus_env: dict[str, str] = dict(BASELINE)
        service_env: dict[str, str] = {}
        svc = None
        for step, (name, d_env, s_env, accountability) in enumerate(STEPS):
            if d_env:
                directus_env.update(d_env)
                st.restart_directus(directus_env)
            if accountability == "off":
                set_audit_accountability(st, None)
            service_env.update(s_env)
            if svc is not None:
                st.stop_service(svc)
            wsgi = "wsgi_direct_audit:app" if step == 0 else "wsgi:app"
            svc = st.start_service(wsgi, service_env)
            created = st.http.post(
                f"{svc.url}/api/credentials/create-profile",
                headers={"Authorization": f"Bearer {jwt}"},
                json={"platform": f"p{step}", "credentials": bench_stack.CREDENTIALS},
            )
            created.raise_for_status()
            profile_id = created.json()["id"]
            get = wrk.run(
                "directus get",
                f"{st.directus_url}/items/platform_connections/{profile_id}",
                headers={"Authorization": f"Bearer {st.service_token}"},
                seconds=args.seconds,
            )
            reveal = wrk.run(
                "reveal",
                f"{svc.url}/api/credentials/reveal",
                method="POST",
                headers=st.internal,
                body={"creatorProfileId": profile_id},
                seconds=args.seconds,
            )
            rewrap = rewrap_figure(st, args.rewrap)
            row = {
                "step": name,
                "directus_get": get.as_dict(),
                "reveal": reveal.as_dict(),
                "rewrap": rewrap,
            }
            rows.append(row)
            before = rows[-2] if len(rows) > 1 else None
            change = (
                f"x{reveal.rps / before['reveal']['rps']:.2f} reveal rps vs previous"
                if before
                else "baseline"
            )
            print(
                f"{name:48} get {get.rps:7.1f}/s  reveal {reveal.rps:6.1f}/s "
                f"p50 {reveal.p50_ms:7.1f} ms  fail {get.failures + reveal.failures}  "
                f"rewrap {rewrap['records_per_s']:6.0f}/s  {change}",
                flush=True,
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tune.json").write_text(
        json.dumps(
            {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "steps": rows}, indent=2
        )
        + "\n"
    )
    print()
    print(
        "| step | Directus GET req/s | reveal req/s | reveal p50 ms | reveal / GET | "
        "vs previous step | rewrap records/s | failures |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for i, row in enumerate(rows):
        g, r = row["directus_get"], row["reveal"]
        prev = f"{r['rps'] / rows[i - 1]['reveal']['rps']:.2f}" if i else "–"
        print(
            f"| {row['step']} | {g['rps']:.1f} | {r['rps']:.1f} | {r['p50_ms']} | "
            f"{r['rps'] / g['rps']:.2f} | {prev} | {row['rewrap']['records_per_s']:.0f} | "
            f"{g['failures'] + r['failures'] + row['rewrap']['failed']} |"
        )


if __name__ == "__main__":
    main()

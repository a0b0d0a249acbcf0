"""One change at a time: the reveal load under each tuning step, with its ratio to the state
before that step, all in one run on one stack.

    .venv/bin/python bench/tune.py [--seconds 8] [--rows 20000] [--rewrap 3000]

The stack starts from Directus's own defaults and credsvc before the audit group commit, with
`--rows` profiles and sessions seeded (so the indexes have something to do). Each step makes
one change (Directus settings, the audit_log collection's accountability, an index of
platform_sessions, the Directus client's connection pool, gunicorn workers/threads), restarts
what it changes, and measures with wrk: a direct Directus GET of the record (the floor),
credsvc reveal, get-platform-session, and the rewrap job's rate. Steps are cumulative, except
those marked "tried, reverted": measured, then undone, so the steps after them start from the
state before. Each ratio is to the state the step changed (the last kept step).
Results go to bench/results/tune.json; the table is printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import stack as bench_stack
import wrk
from run import rewrap_figure

RESULTS = Path(__file__).resolve().parent / "results"
# Directus's own defaults to start from (directusctl.DIRECTUS_TUNING is the tuned state).
BASELINE = {"CACHE_SCHEMA_FREEZE_ENABLED": "false"}
SESSION_FILTER_COLUMNS = ("creator_profile_id", "user_id", "platform")  # platform_sessions.py
COMPOSITE = "bench_platform_sessions_profile_user_platform"


@dataclass
class Step:
    name: str
    directus: dict[str, str] = field(default_factory=dict)  # Directus settings (restart)
    service: dict[str, str] = field(default_factory=dict)  # credsvc env (gunicorn restart)
    accountability: str | None = "unchanged"  # audit_log meta.accountability
    sql: list[str] = field(default_factory=list)  # run on the SQLite file
    revert_sql: list[str] = field(default_factory=list)
    reverted: bool = False  # measured, then undone


def index_sql(tmp_db: Path, drop: bool) -> list[str]:
    """DROP (or CREATE again) the schema's single-column indexes of the session filter."""
    with sqlite3.connect(tmp_db) as db:
        rows = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'platform_sessions' AND sql IS NOT NULL"
        ).fetchall()
    chosen = [
        (name, sql)
        for name, sql in rows
        if any(f"(`{c}`)" in sql or f'("{c}")' in sql for c in SESSION_FILTER_COLUMNS)
    ]
    if len(chosen) != len(SESSION_FILTER_COLUMNS):
        raise SystemExit(f"expected {len(SESSION_FILTER_COLUMNS)} schema indexes, got {rows}")
    return [f'DROP INDEX "{name}"' for name, _ in chosen] if drop else [s for _, s in chosen]


def steps(db: Path) -> list[Step]:
    drop, create = index_sql(db, drop=True), index_sql(db, drop=False)
    composite = (
        f'CREATE INDEX "{COMPOSITE}" ON platform_sessions '
        '("creator_profile_id", "user_id", "platform")'
    )
    return [
        Step(
            "Directus defaults, one audit POST a reveal (before)",
            service={"BENCH_DIRECT_AUDIT": "1"},
        ),
        Step("+ audit group commit (production)", service={"BENCH_DIRECT_AUDIT": "0"}),
        Step(
            "+ CACHE_SCHEMA_FREEZE_ENABLED=true (production)",
            directus={"CACHE_SCHEMA_FREEZE_ENABLED": "true"},
        ),
        Step(
            "- the schema's indexes of the session filter (tried, reverted)",
            sql=drop,
            revert_sql=create,
            reverted=True,
        ),
        Step(
            "+ composite index (creator_profile_id, user_id, platform) (tried, reverted)",
            sql=[composite],
            revert_sql=[f'DROP INDEX "{COMPOSITE}"'],
            reverted=True,
        ),
        Step(
            "client pool 2, below the 4 threads (tried, reverted)",
            service={"BENCH_DIRECTUS_POOL": "2"},
            reverted=True,
        ),
        Step("+ client pool 32 (default 10)", service={"BENCH_DIRECTUS_POOL": "32"}),
        Step("+ Directus LOG_LEVEL=warn", directus={"LOG_LEVEL": "warn"}),
        Step("+ audit_log accountability off (no activity row)", accountability=None),
        Step("+ gunicorn 8 threads", service={"GUNICORN_THREADS": "8"}),
        Step("+ gunicorn 3 workers", service={"WEB_CONCURRENCY": "3"}),
    ]


def set_audit_accountability(st: bench_stack.Stack, value: str | None) -> None:
    st.http.patch(
        f"{st.directus_url}/collections/audit_log",
        json={"meta": {"accountability": value}},
        headers=st.admin,
    ).raise_for_status()


def run_sql(db: Path, statements: list[str]) -> None:
    with sqlite3.connect(db, timeout=30) as conn:
        for statement in statements:
            conn.execute(statement)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rewrap", type=int, default=3000)
    args = parser.parse_args()

    rows: list[dict] = []
    with (
        tempfile.TemporaryDirectory(prefix="credsvc-tune-") as tmp,
        bench_stack.running(Path(tmp), BASELINE) as st,
    ):
        db = Path(st.directus_env["DB_FILENAME"])
        jwt = {"Authorization": f"Bearer {st.user_token()}"}
        seeding = time.monotonic()
        st.seed_profiles_and_sessions(args.rows)
        print(f"seeded {args.rows} profiles and sessions in {time.monotonic() - seeding:.0f} s")
        directus_env: dict[str, str] = dict(BASELINE)
        service_env: dict[str, str] = {}
        kept: dict | None = None  # the measurement of the state the next step changes
        svc = None
        for number, step in enumerate(steps(db)):
            saved = dict(service_env)
            if step.directus:
                directus_env.update(step.directus)
                st.restart_directus(directus_env)
            if step.accountability != "unchanged":
                set_audit_accountability(st, step.accountability)
            run_sql(db, step.sql)
            service_env.update(step.service)
            if svc is None or step.service or step.directus:
                if svc is not None:
                    st.stop_service(svc)
                svc = st.start_service("wsgi_tune:app", service_env)
            row = measure(st, svc, jwt, number, args)
            row["step"] = step.name
            row["reverted"] = step.reverted
            base = kept or row
            row["vs_before"] = {
                k: round(row[k]["rps"] / base[k]["rps"], 2) for k in ("reveal", "session")
            }
            rows.append(row)
            print(
                f"{step.name:72} get {row['directus_get']['rps']:6.1f}/s  "
                f"reveal {row['reveal']['rps']:6.1f}/s (x{row['vs_before']['reveal']})  "
                f"session {row['session']['rps']:6.1f}/s (x{row['vs_before']['session']})  "
                f"rewrap {row['rewrap']['records_per_s']:5.0f}/s  fail {failures(row)}",
                flush=True,
            )
            if step.reverted:
                run_sql(db, step.revert_sql)
                if step.service:
                    service_env = saved
                    st.stop_service(svc)
                    svc = st.start_service("wsgi_tune:app", service_env)
            else:
                kept = row
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tune.json").write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "rows": args.rows,
                "steps": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print()
    print(table(rows))


def measure(st: bench_stack.Stack, svc: bench_stack.Service, jwt, number: int, args) -> dict:
    created = st.http.post(
        f"{svc.url}/api/credentials/create-profile",
        headers=jwt,
        json={"platform": f"p{number}", "credentials": bench_stack.CREDENTIALS},
    )
    created.raise_for_status()
    profile_id = created.json()["id"]
    st.http.post(
        f"{svc.url}/api/credentials/store-platform-session",
        headers=jwt,
        json={
            "creator_profile_id": profile_id,
            "platform": f"p{number}",
            "cookies": bench_stack.COOKIES,
        },
    ).raise_for_status()
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
    session = wrk.run(
        "get-platform-session",
        f"{svc.url}/api/credentials/get-platform-session",
        method="POST",
        headers=st.internal,
        body={"creator_profile_id": profile_id, "platform": f"p{number}"},
        seconds=args.seconds,
    )
    return {
        "directus_get": get.as_dict(),
        "reveal": reveal.as_dict(),
        "session": session.as_dict(),
        "rewrap": rewrap_figure(st, args.rewrap),
    }


def failures(row: dict) -> int:
    return (
        sum(row[k]["failures"] for k in ("directus_get", "reveal", "session"))
        + row["rewrap"]["failed"]
    )


def table(rows: list[dict]) -> str:
    out = [
        "| step | Directus GET req/s | reveal req/s | reveal p50 ms | reveal × | "
        "session req/s | session p50 ms | session × | rewrap records/s | failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        g, r, s = row["directus_get"], row["reveal"], row["session"]
        first = row is rows[0]
        out.append(
            f"| {row['step']} | {g['rps']:.1f} | {r['rps']:.1f} | {r['p50_ms']} | "
            f"{'–' if first else row['vs_before']['reveal']} | {s['rps']:.1f} | {s['p50_ms']} | "
            f"{'–' if first else row['vs_before']['session']} | "
            f"{row['rewrap']['records_per_s']:.0f} | {failures(row)} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    main()

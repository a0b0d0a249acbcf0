"""One change at a time: the reveal load under each tuning step, with its ratio to the state
before that step, all in one run on one stack.

    .venv/bin/python -m bench.tune [--seconds 8] [--rows 20000] [--rewrap 2000]

The stack starts from Directus's own defaults (SQLite in its rollback-journal mode) and credsvc
before the audit group commit and the credsvc-batch endpoint, with `--rows` profiles and
sessions seeded (so the indexes have something to do). Each step makes one change (Directus
settings, SQLite's journal mode, the batch endpoint, the audit_log collection's accountability,
an index of platform_sessions, the Directus client's connection pool, gunicorn
workers/threads), restarts
what it changes, and measures with wrk: a direct Directus GET of the record (the floor),
credsvc reveal, get-platform-session, and the rewrap job's rate. The state before each step is
measured again right before the change, so every ratio compares two measurements taken back
to back (the machine is shared). Steps are cumulative, except those marked "tried, reverted":
measured, then undone, so the steps after them start from the state before.
Results go to bench/results/tune.json; the table is printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import stack as bench_stack
from bench import wrk
from bench.run import rewrap_figure

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
    journal: str | None = None  # SQLite journal_mode to switch to (Directus stopped meanwhile)
    revert_journal: str | None = None
    reverted: bool = False  # measured, then undone


def index_sql(tmp_db: Path, drop: bool) -> list[str]:
    """DROP (or CREATE again) the schema's single-column indexes of the session filter."""
    with contextlib.closing(sqlite3.connect(tmp_db)) as db:
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
            service={"BENCH_DIRECT_AUDIT": "1", "BENCH_BATCH_ENDPOINT": "0"},
        ),
        Step("+ audit group commit (production)", service={"BENCH_DIRECT_AUDIT": "0"}),
        Step(
            "+ CACHE_SCHEMA_FREEZE_ENABLED=true (production)",
            directus={"CACHE_SCHEMA_FREEZE_ENABLED": "true"},
        ),
        Step(
            "+ credsvc-batch endpoint for audit rows and rewrap (production)",
            service={"BENCH_BATCH_ENDPOINT": "1"},
        ),
        Step(
            "+ SQLite journal_mode=WAL (tried, reverted)",
            journal="wal",
            revert_journal="delete",
            reverted=True,
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


def uses_endpoint(service_env: dict[str, str]) -> bool:
    return service_env.get("BENCH_BATCH_ENDPOINT", "1") == "1"


def set_journal(db: Path, mode: str | None) -> None:
    """SQLite's journal mode (Directus stopped: a switch needs the file to itself)."""
    if mode is None:
        return
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        got = conn.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]
    if got != mode:
        raise SystemExit(f"{db}: journal_mode {mode} refused ({got})")


def run_sql(db: Path, statements: list[str]) -> None:
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn, conn:
        for statement in statements:
            conn.execute(statement)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rewrap", type=int, default=2000)
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
        svc: bench_stack.Service | None = None
        for number, step in enumerate(steps(db)):
            # The state this step changes, measured again right before the change: the
            # machine is shared, so a ratio compares two loads taken back to back.
            before = (
                measure(st, svc, jwt, number, args, uses_endpoint(service_env))
                if svc is not None
                else None
            )
            saved = dict(service_env)
            if step.directus or step.journal:
                directus_env.update(step.directus)
                st.restart_directus(directus_env, lambda j=step.journal: set_journal(db, j))
            if step.accountability != "unchanged":
                set_audit_accountability(st, step.accountability)
            run_sql(db, step.sql)
            service_env.update(step.service)
            if svc is None or step.service or step.directus:
                if svc is not None:
                    st.stop_service(svc)
                svc = st.start_service("bench.wsgi_tune:app", service_env)
            row = measure(st, svc, jwt, number, args, uses_endpoint(service_env))
            row["step"] = step.name
            row["reverted"] = step.reverted
            row["before"] = before
            base = before or row
            row["vs_before"] = {
                k: round(row[k]["rps"] / base[k]["rps"], 2) for k in ("reveal", "session")
            }
            row["vs_before"]["rewrap"] = round(
                row["rewrap"]["records_per_s"] / base["rewrap"]["records_per_s"], 2
            )
            rows.append(row)
            print(
                f"{step.name:72} get {row['directus_get']['rps']:6.1f}/s  "
                f"reveal {base['reveal']['rps']:6.1f} -> {row['reveal']['rps']:6.1f}/s "
                f"Directus {base['reveal']['directus_cpu_ms']} -> "
                f"{row['reveal']['directus_cpu_ms']} ms "
                f"(x{row['vs_before']['reveal']})  session {base['session']['rps']:6.1f} -> "
                f"{row['session']['rps']:6.1f}/s (x{row['vs_before']['session']})  rewrap "
                f"{base['rewrap']['records_per_s']:5.0f} -> "
                f"{row['rewrap']['records_per_s']:5.0f}/s  fail {failures(row)}",
                flush=True,
            )
            if step.reverted:
                run_sql(db, step.revert_sql)
                if step.revert_journal:
                    st.restart_directus(
                        directus_env, lambda j=step.revert_journal: set_journal(db, j)
                    )
                if step.service:
                    service_env = saved
                    st.stop_service(svc)
                    svc = st.start_service("bench.wsgi_tune:app", service_env)
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


def measure(
    st: bench_stack.Stack,
    svc: bench_stack.Service,
    jwt,
    number: int,
    args,
    batch_endpoint: bool,
) -> dict:
    """The Directus GET floor, reveal, get-platform-session (wrk) and the rewrap rate (the
    rewrap through the batch endpoint when the service uses it)."""
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

    def load(name: str, url: str, **kw) -> dict:
        """One wrk load, plus what each request cost in CPU: Directus (the node process) and
        credsvc (the gunicorn workers). CPU per request barely depends on how much of the
        shared machine the run got; requests/s does."""
        node, service = bench_stack.cpu_seconds(st.directus_proc.pid), svc.cpu_seconds()
        figures = wrk.run(name, url, seconds=args.seconds, **kw).as_dict()
        n = max(figures["requests"], 1)
        figures["directus_cpu_ms"] = round(
            (bench_stack.cpu_seconds(st.directus_proc.pid) - node) * 1000 / n, 2
        )
        figures["credsvc_cpu_ms"] = round((svc.cpu_seconds() - service) * 1000 / n, 2)
        return figures

    return {
        "directus_get": load(
            "directus get",
            f"{st.directus_url}/items/platform_connections/{profile_id}",
            headers={"Authorization": f"Bearer {st.service_token}"},
        ),
        "reveal": load(
            "reveal",
            f"{svc.url}/api/credentials/reveal",
            method="POST",
            headers=st.internal,
            body={"creatorProfileId": profile_id},
        ),
        "session": load(
            "get-platform-session",
            f"{svc.url}/api/credentials/get-platform-session",
            method="POST",
            headers=st.internal,
            body={"creator_profile_id": profile_id, "platform": f"p{number}"},
        ),
        "rewrap": rewrap_figure(st, args.rewrap, batch_endpoint=batch_endpoint),
    }


def failures(row: dict) -> int:
    return (
        sum(row[k]["failures"] for k in ("directus_get", "reveal", "session"))
        + row["rewrap"]["failed"]
    )


def table(rows: list[dict]) -> str:
    out = [
        "| step | reveal req/s before → after | × | Directus CPU ms a reveal before → after "
        "| × | get-platform-session req/s before → after | × | Directus CPU ms a session "
        "before → after | × | rewrap records/s before → after | × | failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def pair(before: float | None, after: float) -> list[str]:
        if before is None:
            return [f"{after:.1f}", "–"]
        return [f"{before:.1f} → {after:.1f}", f"{after / before:.2f}" if before else "–"]

    for row in rows:
        b = row["before"] or {}

        def get(k: str, key: str, b: dict = b) -> float | None:
            return b[k][key] if b else None

        cells = (
            pair(get("reveal", "rps"), row["reveal"]["rps"])
            + pair(get("reveal", "directus_cpu_ms"), row["reveal"]["directus_cpu_ms"])
            + pair(get("session", "rps"), row["session"]["rps"])
            + pair(get("session", "directus_cpu_ms"), row["session"]["directus_cpu_ms"])
            + pair(get("rewrap", "records_per_s"), row["rewrap"]["records_per_s"])
        )
        out.append(f"| {row['step']} | " + " | ".join(cells) + f" | {failures(row)} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()

"""`flask check` against a real Directus: every role token, every collection and column, the
rewrap guard triggers, the audit trail; a wrong token, a role without audit create and missing
triggers are each one problem line; nothing is written."""

from __future__ import annotations

import secrets
from contextlib import contextmanager

import pytest

from credsvc.cli.check import run
from credsvc.model import ENCRYPTED_COLUMNS
from tests.integration.conftest import directusctl
from tests.integration.test_rewrap_guard import new_row

pytestmark = pytest.mark.integration


def full_env(directus, **overrides: str) -> dict[str, str]:
    tokens = {
        "DIRECTUS_INGEST_TOKEN": directus.role_tokens["ingest"],
        "DIRECTUS_WORKER_TOKEN": directus.role_tokens["worker"],
    }
    return directus.service_env(**{**tokens, **overrides})


def check(env) -> tuple[int, list[str]]:
    lines: list[str] = []
    return run(env, echo=lines.append), lines


@contextmanager
def a_row_of(directus, collection: str):
    """One row of `collection` (its encrypted field holds a placeholder), deleted afterwards."""
    column = next(c for c in ENCRYPTED_COLUMNS if c.collection == collection)
    row = new_row(collection, "v5:k0:placeholder")
    resp = directus.admin_request("POST", f"/items/{collection}", row)
    assert resp.status_code == 200, resp.text
    try:
        yield row, column
    finally:
        directus.admin_request("DELETE", f"/items/{collection}/{row['id']}")


def audit_row_count(directus) -> int:
    resp = directus.admin_request("GET", "/items/audit_log", params={"aggregate[count]": "*"})
    return int(resp.json()["data"][0]["count"])


def test_a_complete_deployment_passes_and_nothing_is_written(directus):
    before = audit_row_count(directus)
    with a_row_of(directus, "platform_connections") as (row, column):
        status, lines = check(full_env(directus))
        stored = directus.items(column.collection, fields=f"{column.field},rewrap_guard")
    assert status == 0, "\n".join(lines)
    assert lines[0] == "ok: environment (CREDSVC_MODE=full)"
    assert "ok: DIRECTUS_TOKEN (full role): reads, creates audit rows" in lines
    for name, role in (
        ("DIRECTUS_INGEST_TOKEN", "ingest"),
        ("DIRECTUS_WORKER_TOKEN", "worker"),
        ("DIRECTUS_OPERATOR_TOKEN", "operator"),
    ):
        assert f"ok: {name} ({role} role): Directus knows it" in lines
    for encrypted in ENCRYPTED_COLUMNS:
        assert any(
            line.startswith(f"ok: {encrypted.collection}: ") and "rewrap_guard" in line
            for line in lines
        ), encrypted.collection
    assert "ok: platform_connections: rewrap guard enforced" in lines
    assert lines[-1] == "all checks passed"
    # The guard probe changed nothing; the audit probe wrote nothing.
    [after] = [r for r in stored if r[column.field] == row[column.field]]
    assert after["rewrap_guard"] is None
    assert audit_row_count(directus) == before


def test_a_wrong_role_token_is_one_problem_naming_its_variable(directus):
    wrong = secrets.token_urlsafe(32)
    status, lines = check(full_env(directus, DIRECTUS_WORKER_TOKEN=wrong))
    assert status == 1
    problems = [line for line in lines if line.startswith("problem: ")]
    assert problems == [
        "problem: DIRECTUS_WORKER_TOKEN: Directus refuses this token (401): expected the static "
        "token of the worker role"
    ]
    assert lines[-1] == "1 problem with Directus"
    assert not any(wrong in line for line in lines)


def test_a_wrong_directus_token_and_a_role_without_audit_create(directus):
    status, lines = check(full_env(directus, DIRECTUS_TOKEN=secrets.token_urlsafe(32)))
    assert status == 1
    assert lines[1].startswith("problem: DIRECTUS_TOKEN (full role): unauthorized: ")
    status, lines = check(full_env(directus, DIRECTUS_TOKEN=directus.role_tokens["ingest"]))
    assert status == 1
    assert lines[1].startswith("problem: DIRECTUS_TOKEN (full role): audit_not_writable: ")


def test_an_unreachable_directus_stops_the_check(directus):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status, lines = check(full_env(directus, DIRECTUS_URL=f"http://127.0.0.1:{port}"))
    assert status == 1
    assert lines[1:] == [
        "problem: DIRECTUS_TOKEN (full role): unreachable: Directus is not reachable",
        "problem: DIRECTUS_URL: Directus must answer there; stopped here",
        "2 problems with Directus",
    ]


def test_missing_guard_triggers_are_a_problem(directus):
    if directus.postgres is None:  # the trigger names of guards.mjs, per database
        drops = [
            f'DROP TRIGGER IF EXISTS "credsvc_rewrap_guard{name}_platform_sessions"'
            for name in ("", "_reset", "_insert")
        ]
    else:
        drops = ['DROP TRIGGER IF EXISTS "credsvc_rewrap_guard" ON "platform_sessions"']
    try:
        with a_row_of(directus, "platform_sessions") as (row, column):
            directus.execute_sql(*drops)
            status, lines = check(full_env(directus))
            stored = directus.items("platform_sessions", fields="id,rewrap_guard")
    finally:
        directusctl.install_guards(directus.env)
    assert status == 1
    problems = [line for line in lines if line.startswith("problem: ")]
    assert problems == [
        "problem: platform_sessions: the database does not enforce rewrap_guard: install the "
        "triggers (deploy/directus/guards.mjs, run by directusctl.apply_schema)"
    ]
    # The probe value was cleared again.
    assert [r["rewrap_guard"] for r in stored if r["id"] == row["id"]] == [None]


@pytest.mark.parametrize("mode", ["ingest", "worker"])
def test_each_split_mode_passes_with_only_its_own_token(directus, mode):
    from tests.integration.test_readiness import mode_env

    status, lines = check({**mode_env(directus, mode), "DIRECTUS_OPERATOR_TOKEN": ""})
    assert status == 0, "\n".join(lines)
    assert f"ok: DIRECTUS_TOKEN ({mode} role): " in "\n".join(lines)

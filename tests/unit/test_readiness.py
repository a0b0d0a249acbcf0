"""/readyz and credsvc.services.readiness at the wire: each fault kind has its own reason."""

from __future__ import annotations

import threading

import pytest
import requests

from credsvc import create_app
from credsvc.services import audit, readiness
from tests.conftest import DIRECTUS, TEST_ENV
from tests.unit.test_callers import mode_env

PC = f"{DIRECTUS}/items/platform_connections"
PERMISSIONS = f"{DIRECTUS}/permissions/me"
UPSTREAM_SECRET = "upstream-body-canary-0451"  # what a Directus error body might carry


def may_create_audit(fields=("*",), access="full") -> dict:
    """GET /permissions/me as Directus 11+ answers it for a role that may create audit rows."""
    other = {"access": "none"}
    return {
        "data": {
            "platform_connections": {"read": {"access": "full", "fields": ["*"]}},
            "audit_log": {
                "read": other,
                "create": {"access": access, "fields": list(fields)},
                "update": other,
                "delete": other,
                "share": other,
            },
        }
    }


def refusal(status: int, code: str) -> dict:
    return {
        "status": status,
        "json": {"errors": [{"message": UPSTREAM_SECRET, "extensions": {"code": code}}]},
    }


def not_ready(response, reason: str) -> str:
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"success", "error"} and body["success"] is False
    assert body["error"].startswith(f"not ready: {reason}: "), body["error"]
    text = response.get_data(as_text=True)
    assert UPSTREAM_SECRET not in text and TEST_ENV["DIRECTUS_TOKEN"] not in text
    return body["error"]


def test_ready_when_the_read_passes_and_the_role_may_create_audit_rows(client, directus_wire):
    read = directus_wire.get(PC, json={"data": []})
    permissions = directus_wire.get(PERMISSIONS, json=may_create_audit())
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json() == {"status": "ready"}
    assert "limit=0" in read.calls[0].request.url
    assert len(permissions.calls) == 1
    # The strict wire fails the test on any call not registered: no POST to audit_log, ever.


def test_the_fields_credsvc_writes_are_enough(client, directus_wire):
    directus_wire.get(PC, json={"data": []})
    directus_wire.get(PERMISSIONS, json=may_create_audit(audit.ROW_FIELDS, access="partial"))
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    "fault, reason, says",
    [
        ({"body": requests.ConnectionError("refused")}, "unreachable", "not reachable"),
        ({"body": requests.ReadTimeout("slow")}, "unreachable", "did not answer in time"),
        ({"status": 200, "body": "<html>a proxy page</html>"}, "unreachable", "not reachable"),
        (refusal(401, "INVALID_CREDENTIALS"), "unauthorized", "DIRECTUS_TOKEN (401)"),
        (refusal(403, "FORBIDDEN"), "forbidden", "may not read platform_connections (403)"),
        (refusal(500, "INTERNAL_SERVER_ERROR"), "upstream_error", "Directus answered 500"),
    ],
    ids=["refused", "timeout", "not-directus", "401", "403", "500"],
)
def test_each_fault_of_the_read_has_its_reason(client, directus_wire, fault, reason, says):
    directus_wire.get(PC, **fault)
    assert says in not_ready(client.get("/readyz"), reason)


@pytest.mark.parametrize(
    "fault, reason, says",
    [
        (
            {"json": {"data": {"platform_connections": {"read": {"access": "full"}}}}},
            "audit_not_writable",
            "may not create audit_log rows",
        ),
        ({"json": may_create_audit(access="none")}, "audit_not_writable", "may not create"),
        (
            {"json": may_create_audit(fields=("occurred_at", "action", "outcome"))},
            "audit_not_writable",
            "may not set actor, target_collection",
        ),
        ({"json": {"data": []}}, "unreachable", "not reachable"),
        (refusal(403, "FORBIDDEN"), "forbidden", "may not read its permissions (403)"),
        (refusal(401, "TOKEN_EXPIRED"), "unauthorized", "(401)"),
        (refusal(503, "SERVICE_UNAVAILABLE"), "upstream_error", "Directus answered 503"),
        ({"body": requests.ConnectionError("reset")}, "unreachable", "not reachable"),
    ],
    ids=["no-audit", "none", "too-few-fields", "not-a-mapping", "403", "401", "503", "reset"],
)
def test_an_audit_trail_that_cannot_be_written_is_not_ready(
    client, directus_wire, fault, reason, says
):
    directus_wire.get(PC, json={"data": []})
    directus_wire.get(PERMISSIONS, **fault)
    assert says in not_ready(client.get("/readyz"), reason)


def test_an_ingest_process_writes_no_audit_rows_so_it_does_not_probe_them(directus_wire):
    # The strict wire fails the test on any call not registered here (no POST audit_log).
    directus_wire.get(PC, json={"data": []})
    client = create_app(mode_env("ingest")).test_client()
    assert client.get("/readyz").status_code == 200


def test_a_worker_probes_the_audit_trail(directus_wire):
    directus_wire.get(PC, json={"data": []})
    directus_wire.get(PERMISSIONS, json=may_create_audit(access="none"))
    client = create_app(mode_env("worker")).test_client()
    not_ready(client.get("/readyz"), "audit_not_writable")


def test_healthz_never_asks_directus(client, directus_wire):
    # Nothing registered: any Directus call would fail the test at teardown.
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_anonymous_readyz_calls_reach_directus_once_per_cache_window(client, directus_wire):
    """/readyz needs no auth: without the cache every call would cost Directus two
    authenticated requests. Concurrent callers share the one probe in flight."""
    read = directus_wire.get(PC, json={"data": []})
    permissions = directus_wire.get(PERMISSIONS, json=may_create_audit())
    answers = []
    workers = [
        threading.Thread(target=lambda: answers.append(client.get("/readyz").status_code))
        for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for _ in range(20):
        answers.append(client.get("/readyz").status_code)
    assert answers == [200] * 28
    assert len(read.calls) == 1 and len(permissions.calls) == 1
    assert 1 <= readiness.CACHE_SECONDS <= 10


def test_a_failure_is_cached_too_and_the_probe_runs_again_after_the_window():
    calls = []
    clock = [1000.0]

    def probe():
        calls.append(clock[0])
        return readiness.NotReady("unreachable", "Directus is not reachable")

    cached = readiness.CachedProbe(seconds=5, clock=lambda: clock[0])
    assert str(cached(probe)) == "unreachable: Directus is not reachable"
    clock[0] += 4.9
    assert cached(probe) is not None and len(calls) == 1
    clock[0] += 0.2
    cached(probe)
    assert calls == [1000.0, 1005.1]

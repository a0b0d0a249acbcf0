"""/readyz and credsvc.services.readiness at the wire: each fault kind has its own reason."""

from __future__ import annotations

import json

import pytest
import requests

from credsvc import create_app
from credsvc.services.readiness import AUDIT_REQUIRED
from tests.conftest import DIRECTUS, TEST_ENV
from tests.unit.test_callers import mode_env

PC = f"{DIRECTUS}/items/platform_connections"
AUDIT = f"{DIRECTUS}/items/audit_log"
UPSTREAM_SECRET = "upstream-body-canary-0451"  # what a Directus error body might carry
NULLS_REFUSED = {
    "errors": [
        {
            "message": f'Validation failed for field "{name}". Value can\'t be null.',
            "extensions": {"field": name, "type": "nnull", "code": "FAILED_VALIDATION"},
        }
        for name in AUDIT_REQUIRED
    ]
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


def test_ready_when_the_read_passes_and_the_audit_probe_is_refused_for_its_nulls(
    client, directus_wire
):
    read = directus_wire.get(PC, json={"data": []})
    probe = directus_wire.post(AUDIT, status=400, json=NULLS_REFUSED)
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json() == {"status": "ready"}
    assert "limit=0" in read.calls[0].request.url
    # The probe row carries only the NOT NULL columns, each null: Directus must refuse it.
    assert json.loads(probe.calls[0].request.body) == dict.fromkeys(AUDIT_REQUIRED)


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
        (refusal(403, "FORBIDDEN"), "audit_not_writable", "may not create audit_log rows (403)"),
        ({"status": 200, "json": {"data": {"id": "x"}}}, "audit_not_writable", "accepted a row"),
        (
            {"status": 400, "json": {"errors": [{"extensions": {"code": "INVALID_PAYLOAD"}}]}},
            "upstream_error",
            "Directus answered 400",
        ),
        (refusal(401, "TOKEN_EXPIRED"), "unauthorized", "(401)"),
        (refusal(503, "SERVICE_UNAVAILABLE"), "upstream_error", "Directus answered 503"),
        ({"body": requests.ConnectionError("reset")}, "unreachable", "not reachable"),
        (
            {
                "status": 400,
                "json": {
                    "errors": [
                        {"extensions": {"field": "occurred_at", "code": "FAILED_VALIDATION"}},
                        {"extensions": {"field": "tenant", "code": "FAILED_VALIDATION"}},
                    ]
                },
            },
            "upstream_error",
            "Directus answered 400",
        ),
    ],
    ids=["403", "accepted", "other-400", "401", "503", "reset", "other-field-null"],
)
def test_an_audit_trail_that_cannot_be_written_is_not_ready(
    client, directus_wire, fault, reason, says
):
    directus_wire.get(PC, json={"data": []})
    directus_wire.post(AUDIT, **fault)
    assert says in not_ready(client.get("/readyz"), reason)


def test_an_ingest_process_writes_no_audit_rows_so_it_does_not_probe_them(directus_wire):
    # The strict wire fails the test on any call not registered here (no POST audit_log).
    directus_wire.get(PC, json={"data": []})
    client = create_app(mode_env("ingest")).test_client()
    assert client.get("/readyz").status_code == 200


def test_a_worker_probes_the_audit_trail(directus_wire):
    directus_wire.get(PC, json={"data": []})
    directus_wire.post(AUDIT, **refusal(403, "FORBIDDEN"))
    client = create_app(mode_env("worker")).test_client()
    not_ready(client.get("/readyz"), "audit_not_writable")


def test_healthz_never_asks_directus(client, directus_wire):
    # Nothing registered: any Directus call would fail the test at teardown.
    assert client.get("/healthz").get_json() == {"status": "ok"}

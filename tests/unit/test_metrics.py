"""credsvc.metrics and GET /metrics: guarded, counting, never labelled with an id or a secret."""

from __future__ import annotations

import json
import re

import pytest
import requests
import responses
from prometheus_client.parser import text_string_to_metric_families

from credsvc import create_app
from credsvc.crypto import encrypt_json
from credsvc.directus import DirectusCall, DirectusResponseError, DirectusTransportError
from credsvc.metrics import OTHER, directus_resource
from tests.conftest import AUDIT, DIRECTUS, TEST_ENV, mint_token
from tests.unit.test_callers import SECRETS, as_caller, callers_env

METRICS_TOKEN = "metrics-token-for-unit-tests-0123456789"
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}
PC = f"{DIRECTUS}/items/platform_connections"
ITEMS = re.compile(re.escape(DIRECTUS) + r"/items/.*")
CREDS = {"username": "canary-user-name", "password": "canary-Pass-0451!"}

# Values a request carries that must never become a label: ids of every kind and secrets.
CANARY_PROFILE = "c0a1e5c3-0000-4c9d-8e7f-ca0a7c0a7c01"
CANARY_USER = "c0a1e5c3-1111-4c9d-8e7f-ca0a7c0a7c02"
CANARY_END_USER = "canary-end-user-7f3a"
CANARY_BUSINESS = "canarybiz7f3a"
CANARY_API_KEY = "csk_canaryapikey7f3a0123456789"
CANARY_PATH = "/canary-path-7f3a"


def metrics_env(**overrides: str) -> dict[str, str]:
    return callers_env(**{"METRICS_TOKEN": METRICS_TOKEN, **overrides})


@pytest.fixture
def env():
    return metrics_env()


def scrape(client) -> dict[tuple[str, tuple], float]:
    """The exposition as {(sample name, sorted labels): value}."""
    response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# -- the endpoint ---------------------------------------------------------------------------


def test_there_is_no_metrics_route_without_a_token():
    client = create_app(dict(TEST_ENV)).test_client()
    response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 404
    assert response.get_json() == {"success": False, "error": "Not found"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
        {"Authorization": f"Bearer {METRICS_TOKEN[:-1]}"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
        {"Authorization": METRICS_TOKEN},
        {"Authorization": "Bearer "},
        {"X-RBAC-SYNC-SECRET": TEST_ENV["RBAC_SYNC_SECRET"]},
    ],
    ids=["none", "wrong", "longer", "shorter", "basic", "no-scheme", "empty", "sync-secret"],
)
def test_metrics_refuses_without_the_right_token(client, headers):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"success": False, "error": "Unauthorized"}
    assert b"credsvc_" not in response.data


def test_a_short_metrics_token_is_refused_at_startup():
    from credsvc.config import Config, ConfigError

    with pytest.raises(ConfigError, match="METRICS_TOKEN must be at least 16 characters"):
        Config.from_env(metrics_env(METRICS_TOKEN="short"))


@pytest.mark.parametrize("mode", ["full", "ingest", "worker"])
def test_every_mode_serves_metrics_and_keeps_it_out_of_the_api_document(mode):
    from tests.unit.test_callers import mode_env

    app = create_app(dict(mode_env(mode), METRICS_TOKEN=METRICS_TOKEN))
    client = app.test_client()
    assert client.get("/metrics", headers=SCRAPE).status_code == 200
    assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]


# -- counters move --------------------------------------------------------------------------


def test_requests_are_counted_by_route_and_status(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get(CANARY_PATH).status_code == 404
    after = scrape(client)
    key = {"route": "/healthz", "method": "GET", "status": "200"}
    assert (
        value(after, "credsvc_http_requests_total", **key)
        - value(before, "credsvc_http_requests_total", **key)
        == 3
    )
    assert (
        value(after, "credsvc_http_requests_total", route="unmatched", method="GET", status="404")
        == 1
    )
    assert (
        value(after, "credsvc_http_request_duration_seconds_count", route="/healthz", method="GET")
        == value(
            before, "credsvc_http_request_duration_seconds_count", route="/healthz", method="GET"
        )
        + 3
    )


def test_reveals_audits_and_decrypt_failures_are_counted_by_caller(client, directus_wire):
    audit = directus_wire.post(AUDIT, json={"data": {}})
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    row = {"id": CANARY_PROFILE, "user_id": CANARY_USER, "platform": "instagram"}
    directus_wire.get(
        PC, json={"data": [{**row, "encrypted_credentials": encrypt_json(CREDS, key)}]}
    )
    body = {"creatorProfileId": CANARY_PROFILE}
    for _ in range(2):
        response = client.post(
            "/api/credentials/reveal", headers=as_caller("creator-sync"), json=body
        )
        assert response.status_code == 200
    directus_wire.replace("GET", PC, json={"data": [{**row, "encrypted_credentials": "a:b:c"}]})
    response = client.post("/api/credentials/reveal", headers=as_caller("creator-sync"), json=body)
    assert response.status_code == 409
    # The default caller, and a caller outside its scope (403, audited as forbidden).
    directus_wire.replace(
        "GET", PC, json={"data": [{**row, "encrypted_credentials": encrypt_json(CREDS, key)}]}
    )
    assert (
        client.post(
            "/api/credentials/reveal", headers=as_caller("rbac-sync"), json=body
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/credentials/reveal", headers=as_caller("downloader"), json=body
        ).status_code
        == 403
    )
    assert len(audit.calls) == 5

    samples = scrape(client)
    assert value(samples, "credsvc_reveals_total", caller="creator-sync", action="reveal") == 2
    assert value(samples, "credsvc_reveals_total", caller="rbac-sync", action="reveal") == 1
    assert value(samples, "credsvc_reveals_total", caller="downloader", action="reveal") == 0
    assert value(samples, "credsvc_decrypt_failures_total", action="reveal") == 1
    assert value(samples, "credsvc_audit_writes_total", outcome="ok", result="written") == 3
    assert (
        value(samples, "credsvc_audit_writes_total", outcome="decrypt_failed", result="written")
        == 1
    )
    assert value(samples, "credsvc_audit_writes_total", outcome="forbidden", result="written") == 1
    assert (
        value(
            samples,
            "credsvc_http_requests_total",
            route="/api/credentials/reveal",
            method="POST",
            status="200",
        )
        == 3
    )


def test_a_failed_audit_write_is_counted_as_failed_and_reveals_nothing(client, directus_wire):
    directus_wire.post(AUDIT, status=403, json={"errors": [{"message": "no"}]})
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    row = {"id": CANARY_PROFILE, "user_id": CANARY_USER, "platform": "instagram"}
    directus_wire.get(
        PC, json={"data": [{**row, "encrypted_credentials": encrypt_json(CREDS, key)}]}
    )
    response = client.post(
        "/api/credentials/reveal",
        headers=as_caller("creator-sync"),
        json={"creatorProfileId": CANARY_PROFILE},
    )
    assert response.status_code == 502
    samples = scrape(client)
    assert value(samples, "credsvc_audit_writes_total", outcome="ok", result="failed") == 1
    assert value(samples, "credsvc_reveals_total", caller="creator-sync", action="reveal") == 0
    assert value(samples, "credsvc_directus_errors_total", kind="403") == 1


@pytest.mark.parametrize(
    "fault, kind",
    [
        ({"status": 401, "json": {"errors": []}}, "401"),
        ({"status": 403, "json": {"errors": []}}, "403"),
        ({"status": 500, "json": {"errors": []}}, "5xx"),
        ({"status": 200, "body": "<html>proxy</html>"}, "bad_response"),
        ({"body": requests.ConnectionError("refused")}, "connection"),
        ({"body": requests.ReadTimeout("slow")}, "timeout"),
    ],
)
def test_directus_errors_are_counted_by_kind(client, directus_wire, fault, kind):
    directus_wire.get(PC, **fault)
    assert client.get("/readyz").status_code == 503
    samples = scrape(client)
    assert value(samples, "credsvc_directus_errors_total", kind=kind) == 1
    assert (
        sum(v for (name, _), v in samples.items() if name == "credsvc_directus_errors_total") == 1
    )
    assert (
        value(
            samples,
            "credsvc_directus_request_duration_seconds_count",
            method="GET",
            resource="items/platform_connections",
        )
        == 1
    )


@pytest.mark.parametrize(
    "path, resource",
    [
        ("/items/platform_connections", "items/platform_connections"),
        (f"/items/platform_connections/{CANARY_PROFILE}", "items/platform_connections"),
        ("/items/end_user_credentials/abcdef", "items/end_user_credentials"),
        ("/users/me", "users/me"),
        ("/permissions/me", "permissions/me"),
        (f"/users/{CANARY_USER}", "users"),
        ("/Items/X", OTHER),
        ("/", OTHER),
        ("/items/a?filter=x", "items/a"),
        ("/credsvc-batch/append/audit_log", "credsvc-batch/append"),
        ("/credsvc-batch/guarded-update/platform_sessions", "credsvc-batch/guarded-update"),
        (f"/credsvc-batch/{CANARY_PROFILE}", "credsvc-batch"),
    ],
)
def test_directus_resources_never_carry_an_id(path, resource):
    assert directus_resource(path) == resource


def test_error_kinds_come_from_a_closed_set():
    def kind(error):
        return DirectusCall("GET", "/x", 0.1, error).error_kind

    assert kind(None) is None
    assert kind(DirectusResponseError(404, "GET", "/x", "")) == "404"
    assert kind(DirectusResponseError(503, "GET", "/x", "")) == "5xx"
    assert kind(DirectusTransportError("garbage")) == "bad_response"


# -- no id, no secret ------------------------------------------------------------------------


def drive_canary_requests(client, directus_wire) -> None:
    """Requests of every audience, each carrying canary ids (and some secrets) in its path,
    headers and body; whatever they are answered."""
    key = bytes.fromhex(TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"])
    row = {"id": CANARY_PROFILE, "user_id": CANARY_USER, "platform": "instagram"}
    # A real reveal (first match wins), then empty answers for everything else.
    directus_wire.get(
        PC, json={"data": [{**row, "encrypted_credentials": encrypt_json(CREDS, key)}]}
    )
    directus_wire.add(responses.GET, ITEMS, json={"data": []})
    directus_wire.add(responses.POST, ITEMS, json={"data": {}})
    directus_wire.add(responses.POST, AUDIT, json={"data": {}})
    directus_wire.add(responses.PATCH, ITEMS, json={"data": {}})
    directus_wire.add(responses.GET, f"{DIRECTUS}/users/me", json={"data": {"id": CANARY_USER}})
    directus_wire.add(responses.GET, f"{DIRECTUS}/permissions/me", json={"data": {}})  # /readyz
    user = {"Authorization": f"Bearer {mint_token(CANARY_USER)}"}
    calls = [
        (
            "post",
            "/api/credentials/reveal",
            as_caller("creator-sync"),
            {"creatorProfileId": CANARY_PROFILE},
        ),
        (
            "post",
            "/api/credentials/reveal-download-cred",
            as_caller("downloader"),
            {"id": CANARY_PROFILE},
        ),
        (
            "post",
            "/api/end-user-credentials/reveal",
            as_caller("acme-workers"),
            {"businessId": CANARY_BUSINESS, "endUserId": CANARY_END_USER},
        ),
        (
            "post",
            "/api/end-user-credentials/reveal",
            as_caller("acme-workers"),
            {"businessId": "acme", "endUserId": CANARY_END_USER},
        ),
        (
            "post",
            "/api/credentials/update-profile-creds",
            user,
            {"id": CANARY_PROFILE, "credentials": CREDS},
        ),
        (
            "get",
            f"/v1/end-users/{CANARY_END_USER}/credentials",
            {"Authorization": f"Bearer {CANARY_API_KEY}"},
            None,
        ),
        ("get", f"{CANARY_PATH}/{CANARY_END_USER}", {}, None),
        (
            "post",
            "/api/credentials/reveal",
            {"X-RBAC-SYNC-SECRET": "wrong-" + SECRETS["downloader"]},
            {},
        ),
        ("get", "/metrics", {"Authorization": f"Bearer {CANARY_API_KEY}"}, None),
    ]
    for method, path, headers, body in calls:
        response = getattr(client, method)(path, headers=headers, json=body)
        assert response.status_code < 600
    assert client.get("/readyz").status_code in (200, 503)


def test_no_label_value_ever_carries_an_id_or_a_secret(client, directus_wire):
    drive_canary_requests(client, directus_wire)
    text = client.get("/metrics", headers=SCRAPE).get_data(as_text=True)
    # The requests were counted (the test would prove nothing otherwise) ...
    assert 'route="/api/end-user-credentials/reveal"' in text
    assert 'route="/v1/end-users/<path:end_user_id>/credentials"' in text
    assert 'caller="creator-sync"' in text and 'outcome="forbidden"' in text
    assert 'outcome="not_found"' in text
    # ... and nothing they carried is in the exposition.
    canaries = [
        CANARY_PROFILE,
        CANARY_USER,
        CANARY_END_USER,
        CANARY_BUSINESS,
        CANARY_API_KEY,
        CANARY_PATH,
        "7f3a",
        "ca0a7c0a7c0",
        CREDS["password"],
        METRICS_TOKEN,
        TEST_ENV["DIRECTUS_TOKEN"],
        TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"],
        *SECRETS.values(),
    ]
    leaked = [canary for canary in canaries if canary in text]
    assert not leaked, leaked
    # Every label value is from a closed vocabulary: rules, names, statuses, kinds.
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for name, label in sample.labels.items():
                assert re.fullmatch(r"[A-Za-z0-9_./<>:+-]{1,80}", label), (name, label)
                assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}", label), (name, label)


def test_audit_observer_maps_unknown_outcomes_and_actors_to_other():
    from credsvc.metrics import Metrics

    metrics = Metrics(("creator-sync",))
    metrics.audit_row(
        {"outcome": CANARY_BUSINESS, "actor": "user:" + CANARY_USER, "action": "x"}, True
    )
    metrics.audit_row(
        {"outcome": "ok", "actor": "api-key:" + CANARY_PROFILE, "action": "reveal"}, True
    )
    metrics.audit_row(
        {"outcome": "ok", "actor": "internal:" + CANARY_END_USER, "action": "reveal"}, True
    )
    text = metrics.exposition().decode()
    assert CANARY_BUSINESS not in text and CANARY_USER not in text and CANARY_END_USER not in text
    assert 'credsvc_reveals_total{action="reveal",caller="other"} 2.0' in text
    assert json.dumps("other") and 'outcome="other"' in text


def test_a_worker_report_is_audited_but_not_counted_as_a_reveal(client, directus_wire):
    """report-platform-session writes an audit row with outcome ok, but decrypts nothing."""
    directus_wire.post(AUDIT, json={"data": {}})
    session = "c0a1e5c3-2222-4c9d-8e7f-ca0a7c0a7c03"
    directus_wire.get(
        f"{DIRECTUS}/items/platform_sessions",
        json={"data": [{"id": session, "user_id": CANARY_USER, "creator_profile_id": CANARY_PROFILE,
                       "platform": "instagram", "revoked_at": None, "needs_recapture_at": None,
                       "superseded_by": None}]},
    )  # fmt: skip
    directus_wire.patch(f"{DIRECTUS}/items/platform_sessions/{session}", json={"data": {}})
    response = client.post(
        "/api/credentials/report-platform-session",
        headers=as_caller("session-reader"),
        json={"id": session, "reason": "logged_out"},
    )
    assert response.status_code == 200, response.get_json()
    samples = scrape(client)
    assert value(samples, "credsvc_audit_writes_total", outcome="ok", result="written") == 1
    reveals = {k: v for k, v in samples.items() if k[0] == "credsvc_reveals_total"}
    assert not any(reveals.values()), reveals


def test_only_the_decrypting_actions_count_as_reveals():
    from credsvc.metrics import Metrics
    from credsvc.services.audit import DECRYPTING_ACTIONS

    assert DECRYPTING_ACTIONS == {
        "reveal",
        "reveal-download-cred",
        "get-platform-session",
        "reveal-end-user-credentials",
    }
    metrics = Metrics(("session-reader",))
    for action in ("report-platform-session", "update-profile-creds", *DECRYPTING_ACTIONS):
        metrics.audit_row(
            {"outcome": "ok", "actor": "internal:session-reader", "action": action}, True
        )
    text = metrics.exposition().decode()
    assert "report-platform-session" not in text.split("credsvc_reveals_total")[-1]
    for action in DECRYPTING_ACTIONS:
        assert f'credsvc_reveals_total{{action="{action}",caller="session-reader"}} 1.0' in text

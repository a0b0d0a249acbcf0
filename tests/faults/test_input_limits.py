"""Hostile input shapes on every endpoint of both API families: oversized bodies (413),
malformed JSON (400), wrong content types (415), unknown routes (404), wrong methods (405).
All JSON, all in the family's shape. tests/unit/test_errors.py covers the renderer and one
credentials route; this extends the same checks to every route, and to /v1/.

Requests carry valid auth so they get past the guards: the end-user guard's API-key lookup is
answered by the loopback fault server in "ok" mode with canned rows.
"""

from __future__ import annotations

import pytest

from credsvc import create_app
from tests.conftest import TEST_ENV
from tests.faults.catalog import ENDPOINTS, rows_for
from tests.faults.server import FaultServer

MAX_BODY = 4096
BODY_ENDPOINTS = [e for e in ENDPOINTS if e.body is not None]
RESULTS: list[tuple[str, bool]] = []


@pytest.fixture(scope="module")
def client():
    with FaultServer(get="ok", write="ok") as upstream:
        app = create_app(
            {**TEST_ENV, "DIRECTUS_URL": upstream.url, "MAX_CONTENT_LENGTH": str(MAX_BODY)}
        )
        upstream.rows = rows_for(app)
        yield app.test_client()


def shape_ok(response, family: str, status: int, message: str | None = None) -> bool:
    if response.status_code != status or response.mimetype != "application/json":
        return False
    body = response.get_json()
    flag = "ok" if family == "end-user" else "success"
    if set(body) != {flag, "error"} or body[flag] is not False:
        return False
    return message is None or body["error"] == message


def record(name: str, ok: bool) -> bool:
    RESULTS.append((name, ok))
    return ok


CASES = {
    "oversized": (
        b'{"a": "' + b"x" * (MAX_BODY + 10) + b'"}',
        "application/json",
        413,
        "Request body too large",
    ),
    "malformed json": (b'{"a": ', "application/json", 400, "Invalid JSON body"),
    "json array": (b"[1, 2, 3]", "application/json", 400, "JSON body must be an object"),
    "NaN": (b'{"a": NaN}', "application/json", 400, "Invalid JSON body"),
    "not utf-8": (b"\xff\xfe\x00", "application/json", 400, "Invalid JSON body"),
    "text/plain": (b'{"a": 1}', "text/plain", 415, "Content-Type must be application/json"),
    "form": (
        b"a=1",
        "application/x-www-form-urlencoded",
        415,
        "Content-Type must be application/json",
    ),
    "no content type": (b'{"a": 1}', None, 415, "Content-Type must be application/json"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=lambda e: e.name)
def test_bad_bodies(client, endpoint, case):
    data, content_type, status, message = CASES[case]
    response = client.open(
        endpoint.path,
        method=endpoint.method,
        headers=endpoint.headers,
        data=data,
        content_type=content_type,
    )
    assert record(
        f"{endpoint.name}/{case}", shape_ok(response, endpoint.family, status, message)
    ), response.get_data(as_text=True)


ROUTING = [
    ("GET", "/nope", "credentials", 404, "Not found"),
    ("POST", "/api/credentials/nope", "credentials", 404, "Not found"),
    ("GET", "/v1/nope", "end-user", 404, "Not found"),
    ("GET", "/v1/end-users/alice", "end-user", 404, "Not found"),
    ("GET", "/v1/end-users/alice/credentials/extra", "end-user", 404, "Not found"),
    ("POST", "/v1/end-users/alice/credentials", "end-user", 405, "Method not allowed"),
    ("PATCH", "/v1/end-users/alice/credentials", "end-user", 405, "Method not allowed"),
    ("GET", "/api/credentials/reveal", "credentials", 405, "Method not allowed"),
    ("PUT", "/api/end-user-credentials/reveal", "credentials", 405, "Method not allowed"),
    ("DELETE", "/api/credentials/create-profile", "credentials", 405, "Method not allowed"),
    ("POST", "/healthz", "credentials", 405, "Method not allowed"),
    ("POST", "/openapi.json", "credentials", 405, "Method not allowed"),
]


@pytest.mark.parametrize("method, path, family, status, message", ROUTING)
def test_unknown_routes_and_wrong_methods(client, method, path, family, status, message):
    response = client.open(path, method=method)
    ok = shape_ok(response, family, status, message)
    if status == 405:
        ok = ok and bool(response.headers.get("Allow"))
    assert record(f"{method} {path}", ok), response.get_data(as_text=True)


END_USER_IDS = {
    "257 characters": ("a" * 257, 400),
    "control character": ("al%01ice", 400),
    "256 characters": ("a" * 256, 200),
}


@pytest.mark.parametrize("case", sorted(END_USER_IDS))
def test_end_user_id_limits(client, case):
    end_user_id, status = END_USER_IDS[case]
    key = next(e for e in ENDPOINTS if e.name == "end_users.credential_status").headers
    response = client.get(f"/v1/end-users/{end_user_id}/credentials", headers=key)
    ok = response.status_code == status and (
        status == 200 or shape_ok(response, "end-user", status)
    )
    assert record(f"endUserId {case}", ok), response.get_data(as_text=True)


@pytest.mark.parametrize(
    "header, message",
    [
        (None, "Missing Authorization header"),
        ("Bearer csk_short", "Invalid API key"),
        ("Basic Zm9vOmJhcg==", "Invalid API key"),
    ],
)
def test_end_user_auth_errors_use_the_ok_shape(client, header, message):
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/v1/end-users/alice/credentials", headers=headers)
    assert record(f"auth {header}", shape_ok(response, "end-user", 401, message))


def test_counts():
    failed = [name for name, ok in RESULTS if not ok]
    print(f"\ninput limits and shapes: cases={len(RESULTS)} failed={len(failed)}")
    assert RESULTS and not failed, failed


def test_the_catalog_comes_from_the_views():
    """Every Directus-backed view is in the catalog, with its guard's headers and a body."""
    names = {e.name for e in ENDPOINTS}
    assert {
        "health.readyz",
        "user_credentials.create_profile",
        "workers.reveal",
        "end_users.set_credentials",
        "end_users.delete_credentials",
    } <= names
    assert not names & {
        "health.healthz",
        "openapi.openapi_document",
        "user_credentials.list_platforms",
    }
    assert len(ENDPOINTS) == 16
    for endpoint in ENDPOINTS:
        assert endpoint.path.startswith("/") and "<" not in endpoint.path, endpoint
        if endpoint.path.startswith("/api/"):
            assert endpoint.headers, endpoint.name
    assert len(BODY_ENDPOINTS) == 12

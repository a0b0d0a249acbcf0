"""/readyz against a real Directus: a wrong token, a role without a permission, a role that may
not write audit rows, an unreachable Directus; and the probes write nothing."""

from __future__ import annotations

import secrets

import pytest

from credsvc import create_app
from credsvc.crypto import generate_keypair, generate_signing_pair

pytestmark = pytest.mark.integration


def readyz(env: dict[str, str]):
    return create_app(env).test_client().get("/readyz")


def reason_of(response) -> str:
    assert response.status_code == 503, response.get_data(as_text=True)
    return response.get_json()["error"]


def audit_row_count(directus) -> int:
    resp = directus.admin_request("GET", "/items/audit_log", params={"aggregate[count]": "*"})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["data"][0]["count"])


def mode_env(directus, mode: str) -> dict[str, str]:
    if mode != "ingest":
        return directus.service_env(CREDSVC_MODE=mode)
    public, signing = generate_keypair()[1], generate_signing_pair()[0]
    return directus.service_env(
        CREDSVC_MODE=mode,
        CREDENTIALS_INGEST_PUBLIC_KEY=public,
        CREDENTIALS_INGEST_SIGNING_KEY=signing,
    )


@pytest.mark.parametrize("mode", ["full", "worker", "ingest"])
def test_each_role_is_ready_with_its_own_token(directus, mode):
    response = readyz(mode_env(directus, mode))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"status": "ready"}


def test_a_wrong_token_is_unauthorized(directus):
    wrong = secrets.token_urlsafe(32)
    reason = reason_of(readyz(directus.service_env(DIRECTUS_TOKEN=wrong)))
    assert reason.startswith("not ready: unauthorized: ") and "DIRECTUS_TOKEN (401)" in reason
    assert wrong not in reason


def test_a_role_without_audit_create_is_not_ready(directus):
    # The ingest role reads platform_connections but may not create audit rows; a full-mode
    # process reveals, so it must write them.
    env = directus.service_env(DIRECTUS_TOKEN=directus.role_tokens["ingest"])
    reason = reason_of(readyz(env))
    assert reason.startswith("not ready: audit_not_writable: "), reason
    assert reason.endswith("DIRECTUS_TOKEN's role may not create audit_log rows"), reason


def test_a_user_with_no_permission_is_forbidden(directus):
    user_id, _email, _password = directus.create_user()
    token = secrets.token_urlsafe(32)
    resp = directus.admin_request("PATCH", f"/users/{user_id}", {"token": token})
    assert resp.status_code == 200, resp.text
    try:
        reason = reason_of(readyz(directus.service_env(DIRECTUS_TOKEN=token)))
        assert reason == (
            "not ready: forbidden: DIRECTUS_TOKEN's role may not read platform_connections (403)"
        )
    finally:
        directus.admin_request("DELETE", f"/users/{user_id}")


def test_an_unreachable_directus_is_unreachable(directus):
    import socket

    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = directus.service_env(DIRECTUS_URL=f"http://127.0.0.1:{port}")
    assert reason_of(readyz(env)) == "not ready: unreachable: Directus is not reachable"


def test_readiness_probes_leave_no_audit_row(directus):
    before = audit_row_count(directus)
    client = create_app(directus.service_env()).test_client()
    for _ in range(3):
        assert client.get("/readyz").status_code == 200
    assert audit_row_count(directus) == before

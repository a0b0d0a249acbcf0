"""The credentials API's two guards (user JWT, shared secret) and upstream errors in its shape."""

from __future__ import annotations

import pytest

from tests.conftest import INTERNAL_HEADERS, user_headers
from tests.unit.credentials_api.wire import (
    OWNER,
    PC,
    PROFILE,
    assert_error,
)

# -- guards and upstream errors -------------------------------------------------------------

USER_ROUTES = [
    "create-profile",
    "update-profile-creds",
    "create-download-cred",
    "store-platform-session",
    "revoke-platform-session",
]
INTERNAL_ROUTES = ["store", "reveal", "reveal-download-cred", "get-platform-session"]


@pytest.mark.parametrize("route", USER_ROUTES)
def test_user_routes_refuse_the_shared_secret(client, directus_wire, route):
    response = client.post(f"/api/credentials/{route}", headers=INTERNAL_HEADERS, json={})
    assert_error(response, 401, "Unauthorized")


@pytest.mark.parametrize("route", INTERNAL_ROUTES)
def test_internal_routes_refuse_user_tokens(client, directus_wire, route):
    response = client.post(f"/api/credentials/{route}", headers=user_headers(OWNER), json={})
    assert_error(response, 401, "Unauthorized")
    response = client.post(f"/api/credentials/{route}", json={})
    assert_error(response, 401, "Unauthorized")


def test_upstream_caller_error_is_relayed_in_spec_shape(client, directus_wire):
    body = '{"errors":[{"message":"Invalid UUID"}]}'
    directus_wire.get(PC, status=400, body=body)
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert_error(response, 400, f"Directus 400 /items/platform_connections: {body}")


@pytest.mark.parametrize("status, expected", [(401, 502), (403, 502), (500, 502), (503, 502)])
def test_upstream_server_or_token_problems_are_502(client, directus_wire, status, expected):
    directus_wire.get(PC, status=status, json={"errors": []})
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, json={"creatorProfileId": PROFILE}
    )
    assert_error(response, expected)

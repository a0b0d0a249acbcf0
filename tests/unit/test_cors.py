"""CORS (credsvc.cors, credsvc.origins): only for configured origins, only on the user-JWT
routes; preflights answered without a token; never on shared-secret or API-key routes."""

from __future__ import annotations

import pytest

from credsvc import create_app
from credsvc.config import Config, ConfigError
from tests.conftest import DIRECTUS, INTERNAL_HEADERS, TEST_ENV, user_headers

DASHBOARD = "https://dashboard.example.com"
LOCAL = "http://localhost:3000"
OTHER = "https://evil.example.net"
USER_ROUTE = "/api/credentials/create-profile"
PREFLIGHT = {"Access-Control-Request-Method": "POST"}


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control")}


@pytest.fixture
def env():
    return {**TEST_ENV, "CORS_ALLOWED_ORIGINS": f" {DASHBOARD} , {LOCAL},"}


def test_origins_are_parsed_in_order_without_blanks(app):
    assert app.extensions["credsvc"].config.cors_allowed_origins == (DASHBOARD, LOCAL)


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "https://*.example.com",
        f"{DASHBOARD},*",
        "null",
        "dashboard.example.com",
        "ftp://dashboard.example.com",
        "https://dashboard.example.com/",
        "https://dashboard.example.com/app",
        "https://dashboard.example.com?x=1",
        "https://dashboard.example.com#top",
        "https://user:pw@dashboard.example.com",
        "https://Dashboard.example.com",
        "https://dashboard.example.com:443",
        "http://localhost:80",
        "http://localhost:99999",
        "http://localhost:port",
        "https://",
    ],
)
def test_malformed_or_wildcard_origins_refuse_to_start(value):
    with pytest.raises(ConfigError, match="CORS_ALLOWED_ORIGINS"):
        Config.from_env({**TEST_ENV, "CORS_ALLOWED_ORIGINS": value})


def test_a_refused_origin_is_named_without_other_settings():
    with pytest.raises(ConfigError) as exc:
        Config.from_env({**TEST_ENV, "CORS_ALLOWED_ORIGINS": "*"})
    assert "wildcard" in str(exc.value) and TEST_ENV["RBAC_SYNC_SECRET"] not in str(exc.value)


def test_allowed_origin_gets_its_origin_back_on_a_success(client, directus_wire):
    directus_wire.get(f"{DIRECTUS}/items/platform_connections", json={"data": []})
    directus_wire.post(f"{DIRECTUS}/items/platform_connections", json={"data": {}})
    response = client.post(
        USER_ROUTE,
        headers={**user_headers(), "Origin": DASHBOARD},
        json={"platform": "instagram", "credentials": {"password": "pw"}},
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_second_allowed_origin_gets_its_own_origin(client):
    response = client.post(USER_ROUTE, headers={**user_headers(), "Origin": LOCAL}, json={})
    assert response.status_code == 400
    assert response.headers["Access-Control-Allow-Origin"] == LOCAL


@pytest.mark.parametrize("origin", [OTHER, DASHBOARD + ".evil.net", DASHBOARD.upper(), "null"])
def test_other_origin_gets_no_cors_header(client, origin):
    response = client.post(USER_ROUTE, headers={**user_headers(), "Origin": origin}, json={})
    assert response.status_code == 400  # served as before: the browser is what refuses
    assert cors_headers(response) == {}
    assert "Origin" in response.headers["Vary"]


def test_no_origin_gets_no_cors_header(client):
    response = client.post(USER_ROUTE, headers=user_headers(), json={})
    assert response.status_code == 400
    assert cors_headers(response) == {}


def test_401_carries_the_cors_headers_so_the_browser_can_read_the_error(client):
    response = client.post(USER_ROUTE, headers={"Origin": DASHBOARD}, json={})
    assert response.status_code == 401
    assert response.get_json() == {"success": False, "error": "Unauthorized"}
    assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD


def test_preflight_is_answered_without_authentication(client):
    response = client.options(USER_ROUTE, headers={**PREFLIGHT, "Origin": DASHBOARD})
    assert response.status_code == 204
    assert response.data == b""
    assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/credentials/update-profile-creds",
        "/api/credentials/create-download-cred",
        "/api/credentials/store-platform-session",
        "/api/credentials/revoke-platform-session",
    ],
)
def test_every_user_route_answers_preflights(client, path):
    response = client.options(path, headers={**PREFLIGHT, "Origin": DASHBOARD})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD


def test_preflight_from_another_origin_is_refused(client):
    response = client.options(USER_ROUTE, headers={**PREFLIGHT, "Origin": OTHER})
    assert response.status_code == 403
    assert response.get_json()["success"] is False
    assert cors_headers(response) == {}


@pytest.mark.parametrize(
    "path, headers",
    [
        ("/api/credentials/reveal", {}),
        ("/api/credentials/store", {}),
        ("/api/credentials/get-platform-session", {}),
        ("/api/credentials/reveal-download-cred", {}),
        ("/api/end-user-credentials/reveal", {}),
        ("/v1/end-users/bob/credentials", {}),
        ("/api/credentials/reveal", INTERNAL_HEADERS),
    ],
)
def test_internal_and_api_key_routes_never_speak_cors(client, path, headers):
    preflight = client.options(path, headers={**PREFLIGHT, "Origin": DASHBOARD})
    assert preflight.status_code in (401, 404)  # the route's own guard answers, nothing else
    assert cors_headers(preflight) == {}
    assert "Allow" not in preflight.headers  # not even the methods of the route
    request = client.post(path, headers={**headers, "Origin": DASHBOARD}, json={})
    assert cors_headers(request) == {}
    assert "Origin" not in request.headers.get("Vary", "")


def test_cors_is_off_by_default():
    client = create_app(TEST_ENV).test_client()
    preflight = client.options(USER_ROUTE, headers={**PREFLIGHT, "Origin": DASHBOARD})
    assert preflight.status_code == 401  # no preflight handling: the guard answers as before
    assert cors_headers(preflight) == {}
    response = client.post(USER_ROUTE, headers={**user_headers(), "Origin": DASHBOARD}, json={})
    assert response.status_code == 400 and cors_headers(response) == {}


def test_every_jwt_blueprint_answers_preflights_before_its_guard_and_no_other_does(app):
    """A blueprint added later with the user guard gets CORS by calling cors.enable first;
    one with the shared secret or an API key must never call it."""
    from credsvc import cors
    from credsvc.auth import require_api_key, require_internal, require_user

    guarded = {"user": [], "other": []}
    for name, hooks in app.before_request_funcs.items():
        if require_user in hooks:
            guarded["user"].append(name)
            assert hooks.index(cors.answer_preflight) < hooks.index(require_user), name
            assert cors.add_cors_headers in app.after_request_funcs[name], name
        if require_internal in hooks or require_api_key in hooks:
            guarded["other"].append(name)
            assert cors.answer_preflight not in hooks, name
            assert cors.add_cors_headers not in app.after_request_funcs.get(name, []), name
    assert "user_credentials" in guarded["user"]
    assert {"internal_credentials", "end_users", "workers"} <= set(guarded["other"])

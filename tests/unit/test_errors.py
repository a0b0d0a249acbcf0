"""One error shape for everything: werkzeug errors, limits, media types, bad JSON."""

from __future__ import annotations

import pytest
from werkzeug import exceptions

from credsvc.errors import render_error
from tests.conftest import INTERNAL_HEADERS

ALL_HTTP_ERRORS = [
    cls for cls in vars(exceptions).values()
    if isinstance(cls, type) and issubclass(cls, exceptions.HTTPException)
    and cls.code and cls.code >= 400
]


@pytest.mark.parametrize("cls", ALL_HTTP_ERRORS, ids=lambda cls: cls.__name__)
def test_every_werkzeug_exception_renders_json(app, cls):
    with app.test_request_context("/api/credentials/reveal"):
        try:
            error = cls()
        except TypeError:
            error = cls(None)
        response = render_error(error)
    assert response.status_code == cls.code
    body = response.get_json()
    assert body["success"] is False and isinstance(body["error"], str)


def test_end_user_paths_use_the_ok_shape(app):
    with app.test_request_context("/v1/end-users/alice/credentials"):
        response = render_error(exceptions.NotFound())
    assert response.get_json() == {"ok": False, "error": "Not found"}


def test_unknown_route_and_wrong_method(client):
    response = client.get("/nope")
    assert response.status_code == 404 and response.get_json() == {
        "success": False, "error": "Not found"}
    response = client.get("/api/credentials/reveal")
    assert response.status_code == 405 and response.get_json()["success"] is False
    assert "POST" in response.headers["Allow"]


def test_oversized_body_is_413(client, env):
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS,
        data=b'{"creatorProfileId": "' + b"x" * (1024 * 1024 + 10) + b'"}',
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.get_json() == {"success": False, "error": "Request body too large"}


@pytest.mark.parametrize(
    "data, content_type, status, message",
    [
        ("{bad json", "application/json", 400, "Invalid JSON body"),
        ("[1, 2]", "application/json", 400, "JSON body must be an object"),
        ('{"a": NaN}', "application/json", 400, "Invalid JSON body"),
        (b"\xff\xfe", "application/json", 400, "Invalid JSON body"),
        ('{"creatorProfileId": "x"}', "text/plain", 415, "Content-Type must be application/json"),
        ('{"creatorProfileId": "x"}', None, 415, "Content-Type must be application/json"),
    ],
)
def test_body_parsing_errors(client, data, content_type, status, message):
    response = client.post(
        "/api/credentials/reveal", headers=INTERNAL_HEADERS, data=data, content_type=content_type
    )
    assert response.status_code == status
    assert response.get_json() == {"success": False, "error": message}


def test_unexpected_exception_is_json_500_without_details(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret-detail-that-must-not-leak")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"success": False, "error": "Internal server error"}


def test_health(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_a_filter_value_directus_would_reinterpret_is_400_and_never_sent(client, directus_wire):
    """The client's backstop: a business id stored before the input checks existed ("null")
    would have filtered `business_id IS NULL`. It stops at the client, as a 400 naming the
    field, in the /v1/ shape; end_user_credentials is never asked."""
    from credsvc.directus import FILTER_VALUE_RULE
    from tests.unit.test_end_users import AUTH, EUC, accept_key

    accept_key(directus_wire, business="null")
    for method in ("GET", "DELETE", "PUT"):
        response = client.open("/v1/end-users/alice/credentials", method=method, headers=AUTH,
                               json={"redditSession": "r"})
        assert response.status_code == 400
        assert response.get_json() == {"ok": False, "error": f"business_id {FILTER_VALUE_RULE}"}
    assert not [call for call in directus_wire.calls if call.request.url.startswith(EUC)]

"""One error shape for everything: the exception tree, werkzeug errors, limits, media types,
bad JSON; and the one function that picks the envelope of a path."""

from __future__ import annotations

import pytest
from werkzeug import exceptions

from credsvc import errors
from credsvc import exceptions as tree
from credsvc.crypto import CryptoError, DecryptionUnavailable
from credsvc.directus import (
    DirectusFilterError,
    DirectusResponseError,
    DirectusTimeout,
    DirectusTransportError,
)
from credsvc.errors import envelope_key, error_body, render_error
from credsvc.services import audit
from tests.conftest import INTERNAL_HEADERS

CREDENTIALS_PATH = "/api/credentials/reveal"
END_USER_PATH = "/v1/end-users/alice/credentials"

# Every class of the tree, with the status and audit outcome the contract gives it.
TREE = [
    (tree.ServiceError, 500, "error"),
    (tree.Invalid, 400, "invalid"),
    (tree.Unauthorized, 401, "error"),
    (tree.Forbidden, 403, "forbidden"),
    (tree.NotFound, 404, "not_found"),
    (tree.Conflict, 409, "conflict"),
    (tree.UnsupportedMedia, 415, "error"),
    (tree.Unavailable, 503, "error"),
]


def every_subclass(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *every_subclass(sub)}
    return found


def test_the_table_lists_the_whole_tree():
    """A class added to credsvc.exceptions without a row here fails, so it gets tested."""
    assert {cls for cls, _, _ in TREE} == {tree.ServiceError, *every_subclass(tree.ServiceError)}


@pytest.mark.parametrize("path, key", [(CREDENTIALS_PATH, "success"), (END_USER_PATH, "ok")])
@pytest.mark.parametrize("cls, status, outcome", TREE, ids=lambda v: getattr(v, "__name__", v))
def test_every_class_of_the_tree_renders_its_status_and_message(
    app, cls, status, outcome, path, key
):
    with app.test_request_context(path):
        given = render_error(cls("a public message"))
        default = render_error(cls())
    assert given.status_code == default.status_code == status
    assert given.get_json() == {key: False, "error": "a public message"}
    assert default.get_json() == {key: False, "error": cls.message}
    assert audit.outcome_of(cls()) == outcome


def test_the_domain_classes_keep_the_contract_defaults():
    assert tree.Forbidden().message == "Forbidden"
    assert tree.Unauthorized().message == "Unauthorized"
    assert tree.UnsupportedMedia().message == "Content-Type must be application/json"
    assert tree.ServiceError().message == "Internal server error"


@pytest.mark.parametrize(
    "exc, status, message",
    [
        (
            DirectusResponseError(404, "GET", "/items/x", '{"errors": []}'),
            404,
            'Directus 404 /items/x: {"errors": []}',
        ),
        (DirectusResponseError(409, "POST", "/items/x", "dup"), 409, "Directus 409 /items/x: dup"),
        (DirectusResponseError(401, "GET", "/items/x", "internals"), 502, "Directus 401 /items/x"),
        (
            DirectusResponseError(500, "GET", "/items/x", "stack trace"),
            502,
            "Directus 500 /items/x",
        ),
        (DirectusTimeout("slow"), 504, "Directus did not answer in time"),
        (DirectusTransportError("reset"), 502, "Directus is unavailable"),
        (
            DirectusFilterError("business_id"),
            400,
            "business_id must not be true, false or null, in any case, or start with '$' "
            "(Directus reads them as keywords)",
        ),
        (DecryptionUnavailable("no key here"), 503, "This deployment cannot decrypt"),
        (CryptoError("tag mismatch"), 409, "Stored credentials could not be decrypted"),
        (RuntimeError("secret detail"), 500, "Internal server error"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_foreign_exceptions_are_mapped_once(app, exc, status, message):
    assert errors.public_error(exc) == (status, message)
    with app.test_request_context(CREDENTIALS_PATH):
        response = render_error(exc)
    assert response.status_code == status
    assert response.get_json() == {"success": False, "error": message}


@pytest.mark.parametrize(
    "path, key",
    [
        ("/v1/end-users/alice/credentials", "ok"),
        ("/v1/", "ok"),
        ("/v1/nope", "ok"),
        ("/api/credentials/reveal", "success"),
        ("/api/end-user-credentials/reveal", "success"),
        ("/healthz", "success"),
        ("/readyz", "success"),
        ("/", "success"),
        ("/v1", "success"),  # not under /v1/
        ("/v10/end-users", "success"),
        ("/api/v1/x", "success"),
    ],
)
def test_envelope_key_is_decided_by_the_path(path, key):
    assert envelope_key(path) == key
    assert error_body("m", path) == {key: False, "error": "m"}


ALL_HTTP_ERRORS = [
    cls
    for cls in vars(exceptions).values()
    if isinstance(cls, type)
    and issubclass(cls, exceptions.HTTPException)
    and cls.code
    and cls.code >= 400
]


@pytest.mark.parametrize("path, key", [(CREDENTIALS_PATH, "success"), (END_USER_PATH, "ok")])
@pytest.mark.parametrize("cls", ALL_HTTP_ERRORS, ids=lambda cls: cls.__name__)
def test_every_werkzeug_exception_renders_json(app, cls, path, key):
    with app.test_request_context(path):
        try:
            error = cls()
        except TypeError:
            error = cls(None)
        response = render_error(error)
    assert response.status_code == cls.code
    assert response.mimetype == "application/json"
    expected = errors.HTTP_MESSAGES.get(cls.code, error.name)
    assert response.get_json() == {key: False, "error": expected}


def raised_in_a_view(app, exc: BaseException, path: str):
    """Answer of a request whose view raises `exc`: what the app's registered handler does."""

    def view(**_):
        raise exc

    app.add_url_rule(path, "raises", view, methods=["GET"])
    return app.test_client().get(path)


@pytest.mark.parametrize("path, key", [("/api/raises", "success"), ("/v1/raises", "ok")])
@pytest.mark.parametrize("cls", ALL_HTTP_ERRORS, ids=lambda cls: cls.__name__)
def test_every_werkzeug_exception_raised_in_a_view_reaches_the_handler(app, cls, path, key):
    try:
        error = cls()
    except TypeError:
        error = cls(None)
    response = raised_in_a_view(app, error, path)
    assert response.status_code == cls.code
    assert response.get_json() == {
        key: False,
        "error": errors.HTTP_MESSAGES.get(cls.code, error.name),
    }


@pytest.mark.parametrize("path, key", [("/api/raises", "success"), ("/v1/raises", "ok")])
@pytest.mark.parametrize("cls, status, outcome", TREE, ids=lambda v: getattr(v, "__name__", v))
def test_every_class_raised_in_a_view_reaches_the_handler(app, cls, status, outcome, path, key):
    response = raised_in_a_view(app, cls("said"), path)
    assert response.status_code == status
    assert response.get_json() == {key: False, "error": "said"}


def test_end_user_paths_use_the_ok_shape(app):
    with app.test_request_context("/v1/end-users/alice/credentials"):
        response = render_error(exceptions.NotFound())
    assert response.get_json() == {"ok": False, "error": "Not found"}


def test_unknown_route_and_wrong_method(client):
    response = client.get("/nope")
    assert response.status_code == 404 and response.get_json() == {
        "success": False,
        "error": "Not found",
    }
    response = client.get("/api/credentials/reveal")
    assert response.status_code == 405 and response.get_json()["success"] is False
    assert "POST" in response.headers["Allow"]


def test_oversized_body_is_413(client, env):
    response = client.post(
        "/api/credentials/reveal",
        headers=INTERNAL_HEADERS,
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


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_probes_answer_errors_through_the_one_renderer(client, path):
    response = client.post(path)
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.get_json() == {"success": False, "error": "Method not allowed"}


def test_a_filter_value_directus_would_reinterpret_is_400_and_never_sent(client, directus_wire):
    """The client's backstop: a business id stored before the input checks existed ("null")
    would have filtered `business_id IS NULL`. It stops at the client, as a 400 naming the
    field, in the /v1/ shape; end_user_credentials is never asked."""
    from credsvc.directus import FILTER_VALUE_RULE
    from tests.unit.end_user_api.wire import AUTH, EUC, accept_key

    accept_key(directus_wire, business="null")
    for method in ("GET", "DELETE", "PUT"):
        response = client.open(
            "/v1/end-users/alice/credentials",
            method=method,
            headers=AUTH,
            json={"redditSession": "r"},
        )
        assert response.status_code == 400
        assert response.get_json() == {"ok": False, "error": f"business_id {FILTER_VALUE_RULE}"}
    assert not [call for call in directus_wire.calls if call.request.url.startswith(EUC)]

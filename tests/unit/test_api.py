"""The HTTP layer's own rules (credsvc.api): paths match exactly as sent and never redirect;
request bodies are JSON objects of bounded depth."""

from __future__ import annotations

import json

import pytest

from credsvc import create_app
from credsvc.api import MAX_JSON_DEPTH, nested_deeper_than
from tests.conftest import INTERNAL_HEADERS, user_headers
from tests.unit.end_user_api.wire import AUTH, EUC, accept_key

# -- no slash merging, no redirect ----------------------------------------------------------

# (method, path, audience) for every route family; the path is one that exists.
ROUTES = [
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/openapi.json", None),
    ("POST", "/api/credentials/create-profile", "user"),
    ("POST", "/api/credentials/reveal", "internal"),
    ("POST", "/api/end-user-credentials/reveal", "internal"),
    ("PUT", "/v1/end-users/bob/credentials", "api-key"),
    ("GET", "/v1/end-users/bob/credentials", "api-key"),
    ("DELETE", "/v1/end-users/bob/credentials", "api-key"),
]


def variants(path: str) -> list[str]:
    """`path` with a doubled slash at each inner slash, and with trailing slashes."""
    slashes = [i for i, char in enumerate(path) if char == "/" and i > 0]
    doubled = [path[:i] + "/" + path[i:] for i in slashes]
    return [*doubled, path + "/", path + "//"]


def headers_for(audience: str | None) -> dict[str, str]:
    if audience == "user":
        return user_headers()
    if audience == "internal":
        return dict(INTERNAL_HEADERS)
    if audience == "api-key":
        return dict(AUTH)
    return {}


def assert_json_error(response, path: str, statuses=(400, 404, 405)) -> None:
    assert response.status_code in statuses, (path, response.status_code, response.location)
    assert response.mimetype == "application/json", path
    body = response.get_json()
    flag = "ok" if path.startswith("/v1/") else "success"
    assert set(body) == {flag, "error"} and body[flag] is False, body
    assert isinstance(body["error"], str) and body["error"]


CASES = [
    (method, variant, audience) for method, path, audience in ROUTES for variant in variants(path)
]


@pytest.mark.parametrize(("method", "path", "audience"), CASES)
def test_slash_variants_of_every_route_are_json_errors_never_redirects(
    client, directus_wire, method, path, audience
):
    accept_key(directus_wire)
    response = client.open(path, method=method, headers=headers_for(audience), json={})
    assert not 300 <= response.status_code < 400, (path, response.location)
    assert_json_error(response, path)
    # Nothing but an API-key lookup may have reached Directus.
    assert all("/items/api_keys" in call.request.url for call in directus_wire.calls)


@pytest.mark.parametrize("method", ["DELETE", "PUT", "GET"])
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("/v1/end-users//bob/credentials", 404),  # "/bob": not the end user "bob"
        ("/v1/end-users/%2Fbob/credentials", 404),  # arrives decoded as the line above
        ("/v1/end-users/%2F%2Fbob/credentials", 404),
        ("/v1/end-users///bob/credentials", 404),
        ("/v1/end-users//credentials", 404),  # empty id
        ("/v1/end-users/%2F/credentials", 404),
        ("/v1/end-users/bob%2F/credentials", 400),  # "bob/"
        ("/v1/end-users/bob//credentials", 400),
        ("/v1/end-users/a%2F%2Fb/credentials", 400),  # "a//b"
        ("/v1/end-users/a//b/credentials", 400),
        ("/v1/end-users/%2E/credentials", 400),  # "."
        ("/v1/end-users/a%2F%2E%2E%2Fb/credentials", 400),  # "a/../b"
        ("/v1//end-users/bob/credentials", 404),
        ("/v1/end-users/bob/credentials/", 404),
    ],
)
def test_end_user_ids_that_a_normaliser_would_rewrite_never_reach_directus(
    client, directus_wire, method, raw, status
):
    accept_key(directus_wire)
    response = client.open(raw, method=method, headers=AUTH, json={"redditSession": "r"})
    assert_json_error(response, raw, statuses=(status,))
    assert not [call for call in directus_wire.calls if call.request.url.startswith(EUC)]


def test_a_redirect_the_router_would_make_is_a_json_404(env):
    """The before_request net: even a rule that ends in "/" (werkzeug's classic 308 when asked
    without it) answers a JSON 404, not a redirect."""
    app = create_app(env)
    methods = ["GET", "POST", "DELETE"]
    app.add_url_rule("/probe/", "probe", lambda: {"probe": True}, methods=methods)
    for method in methods:
        response = app.test_client().open("/probe", method=method, json={})
        assert_json_error(response, "/probe", statuses=(404,))
        assert response.location is None


def test_url_map_merges_no_slashes(app):
    assert app.url_map.merge_slashes is False
    assert app.url_map.redirect_defaults is False


# -- JSON depth -----------------------------------------------------------------------------

DEEP = 100_000
TOO_DEEP = f"JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
BODY_ENDPOINTS = [
    ("POST", "/api/credentials/create-profile", "user"),
    ("POST", "/api/credentials/store", "internal"),
    ("POST", "/api/end-user-credentials/reveal", "internal"),
    ("PUT", "/v1/end-users/alice/credentials", "api-key"),
]


def nested(depth: int, kind: str = "array") -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


DEEP_BODIES = {
    "arrays": nested(DEEP),
    "objects": nested(DEEP, "object"),
    "inside a field": '{"credentials": ' + nested(DEEP) + "}",
    "mixed": '{"a": [' * (DEEP // 2) + "1" + "]}" * (DEEP // 2),
}


@pytest.mark.parametrize("body", sorted(DEEP_BODIES))
@pytest.mark.parametrize(("method", "path", "audience"), BODY_ENDPOINTS)
def test_deeply_nested_bodies_are_400_everywhere(
    client, directus_wire, method, path, audience, body
):
    accept_key(directus_wire)
    response = client.open(
        path,
        method=method,
        headers=headers_for(audience),
        data=DEEP_BODIES[body],
        content_type="application/json",
    )
    assert_json_error(response, path, statuses=(400,))
    assert response.get_json()["error"] == TOO_DEEP
    assert all("/items/api_keys" in call.request.url for call in directus_wire.calls)


@pytest.mark.parametrize(("method", "path", "audience"), BODY_ENDPOINTS)
@pytest.mark.parametrize(
    "data",
    ["[" * DEEP, '{"a":' * DEEP, "[" * DEEP + "[]"],
    ids=["open arrays", "open objects", "open arrays around a pair"],
)
def test_unbalanced_deep_bodies_are_invalid_json(
    client, directus_wire, method, path, audience, data
):
    accept_key(directus_wire)
    response = client.open(
        path,
        method=method,
        headers=headers_for(audience),
        data=data,
        content_type="application/json",
    )
    assert_json_error(response, path, statuses=(400,))
    assert response.get_json()["error"] == "Invalid JSON body"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_depth_is_checked_in_every_encoding_the_parser_reads(client, encoding):
    data = ('{"creatorProfileId": ' + nested(DEEP) + "}").encode(encoding)
    response = client.post(
        "/api/credentials/reveal",
        headers=INTERNAL_HEADERS,
        data=data,
        content_type="application/json",
    )
    assert_json_error(response, "/api/credentials/reveal", statuses=(400,))
    assert response.get_json()["error"] == TOO_DEEP


def test_the_depth_limit_counts_the_body_as_level_one(client):
    def reveal(depth: int):
        body = '{"creatorProfileId": ' + nested(depth - 1) + "}"
        return client.post(
            "/api/credentials/reveal",
            headers=INTERNAL_HEADERS,
            data=body,
            content_type="application/json",
        ).get_json()["error"]

    assert reveal(MAX_JSON_DEPTH).startswith("creatorProfileId")  # parsed, then validated
    assert reveal(MAX_JSON_DEPTH + 1) == TOO_DEEP


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": []}], "c": {}}', 4),
        ('{"a": "[[[[[[[[ not brackets ]]"}', 1),
        ('{"a": "quote \\" [[[[ still a string", "b": [[]]}', 3),
        ('["\\\\", [["x"]]]', 3),
        ("[{}, [{}], [[[]]]]", 4),
    ],
)
def test_nested_deeper_than_counts_levels_outside_strings(text, depth):
    json.loads(text)  # the cases are valid JSON
    assert not nested_deeper_than(text, depth)
    assert nested_deeper_than(text, depth - 1)


def test_nested_deeper_than_is_fast_on_a_full_body_of_brackets():
    import time

    text = "[" + ",".join(["[]"] * 300_000) + "]"
    started = time.perf_counter()
    assert not nested_deeper_than(text, MAX_JSON_DEPTH)
    assert time.perf_counter() - started < 5  # a pass per level, not per bracket


def test_a_body_within_the_limit_still_reaches_the_view(client, directus_wire):
    deep_value = nested(MAX_JSON_DEPTH - 2)  # body {credentials {x: ...}} = limit
    response = client.post(
        "/api/credentials/store",
        headers=INTERNAL_HEADERS,
        data='{"creatorProfileId": "nope", "credentials": {"x": ' + deep_value + "}}",
        content_type="application/json",
    )
    assert response.get_json()["error"].startswith("creatorProfileId")

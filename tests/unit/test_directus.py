"""The Directus client, at the wire: requests, typed errors, timeouts, retries."""

from __future__ import annotations

import json
import socket

import pytest
import requests
import responses
from responses import matchers

from credsvc.directus import (
    FILTER_VALUE_RULE,
    DirectusClient,
    DirectusFilterError,
    DirectusResponseError,
    DirectusTimeout,
    DirectusTransportError,
)

BASE = "http://directus.test"


@pytest.fixture
def client():
    return DirectusClient(BASE, "svc-token", timeout=(0.5, 1.0))


@pytest.fixture
def wire():
    with responses.RequestsMock() as mock:
        yield mock


def test_find_one_sends_json_filter_token_and_timeout(client, wire):
    call = wire.get(
        f"{BASE}/items/platform_connections",
        match=[
            matchers.query_param_matcher(
                {"limit": "1", "filter": '{"id":{"_eq":"x"}}', "fields": "id,user_id"}
            ),
            matchers.header_matcher({"Authorization": "Bearer svc-token"}),
            matchers.request_kwargs_matcher({"timeout": (0.5, 1.0)}),
        ],
        json={"data": [{"id": "x", "user_id": "u"}]},
    )
    assert client.get_item("platform_connections", "x", fields=("id", "user_id")) == {
        "id": "x",
        "user_id": "u",
    }
    assert call.call_count == 1


def test_missing_item_is_none_not_an_error(client, wire):
    wire.get(f"{BASE}/items/platform_connections", json={"data": []})
    assert client.get_item("platform_connections", "nope") is None


def test_create_and_update_bodies(client, wire):
    wire.post(
        f"{BASE}/items/c",
        match=[matchers.json_params_matcher({"a": 1})],
        json={"data": {"id": "1", "a": 1}},
    )
    wire.patch(f"{BASE}/items/c/1", match=[matchers.json_params_matcher({"a": 2})], status=204)
    wire.patch(
        f"{BASE}/items/c",
        match=[matchers.json_params_matcher([{"id": "1", "a": 3}])],
        json={"data": [{"id": "1"}]},
    )
    wire.delete(f"{BASE}/items/c", match=[matchers.json_params_matcher(["1"])], status=204)
    assert client.create_item("c", {"a": 1})["id"] == "1"
    assert client.update_item("c", "1", {"a": 2}) is None
    assert client.update_items("c", [{"id": "1", "a": 3}]) == [{"id": "1"}]
    client.delete_items("c", ["1"])
    client.delete_items("c", [])  # nothing to send


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 503])
def test_error_status_keeps_status_path_body_and_code(client, wire, status):
    body = {"errors": [{"message": "nope", "extensions": {"code": "RECORD_NOT_UNIQUE"}}]}
    wire.post(f"{BASE}/items/c", status=status, json=body)
    with pytest.raises(DirectusResponseError) as info:
        client.create_item("c", {})
    error = info.value
    assert (error.status, error.method, error.path) == (status, "POST", "/items/c")
    assert error.code == "RECORD_NOT_UNIQUE"
    assert str(error) == f"Directus {status} /items/c: {json.dumps(body)}"


def test_error_body_is_truncated(client, wire):
    wire.post(f"{BASE}/items/c", status=400, body="x" * 5000)
    with pytest.raises(DirectusResponseError) as info:
        client.create_item("c", {})
    assert len(info.value.body) == 500 and info.value.code is None
    assert info.value.errors == () and info.value.message is None
    assert str(info.value) == "Directus 400 /items/c: " + "x" * 500


def test_a_long_body_is_parsed_whole_before_the_message_is_cut(client, wire):
    """The code of a long answer comes after the first 500 characters: it is still read."""
    long_message = "Value " + "v" * 700 + " has to be unique."
    body = json.dumps(
        {
            "errors": [
                {"message": long_message, "extensions": {"code": "RECORD_NOT_UNIQUE"}},
                {"message": "second", "extensions": {"code": "OTHER", "field": "f"}},
            ]
        }
    )
    assert body.index("RECORD_NOT_UNIQUE") > 500
    wire.post(f"{BASE}/items/c", status=400, body=body)
    with pytest.raises(DirectusResponseError) as info:
        client.create_item("c", {})
    error = info.value
    assert (error.status, error.code, error.message) == (400, "RECORD_NOT_UNIQUE", long_message)
    assert [e["extensions"]["code"] for e in error.errors] == ["RECORD_NOT_UNIQUE", "OTHER"]
    assert str(error) == f"Directus 400 /items/c: {body[:500]}"  # the message stays bounded
    assert error.body == body[:500]


@pytest.mark.parametrize(
    "body",
    [
        "",
        "<html>502 Bad Gateway</html>",
        "[1, 2]",
        '{"errors": "nope"}',
        '{"errors": []}',
        '{"errors": [1, "x"]}',
        '{"errors": [{"message": 5, "extensions": {"code": 7}}]}',
        '{"errors": [{"extensions": "x"}]}',
    ],
)
def test_a_body_without_a_directus_error_has_no_code_or_message(client, wire, body):
    wire.get(f"{BASE}/items/c", status=500, body=body)
    with pytest.raises(DirectusResponseError) as info:
        client.find_items("c")
    assert (info.value.status, info.value.code, info.value.message) == (500, None, None)


# -- helpers at the wire: every path the services need, written by the client only -----------


def test_find_items_sends_filter_fields_sort_limit_and_page(client, wire):
    wire.get(
        f"{BASE}/items/c",
        match=[
            matchers.query_param_matcher(
                {
                    "filter": '{"a":{"_eq":"x"}}',
                    "fields": "id,a",
                    "sort": "-created_at,id",
                    "limit": "-1",
                    "page": "3",
                }
            )
        ],
        json={"data": [{"id": "1", "a": "x"}]},
    )
    rows = client.find_items(
        "c",
        {"a": {"_eq": "x"}},
        fields=("id", "a"),
        sort=("-created_at", "id"),
        limit=-1,
        page=3,
    )
    assert rows == [{"id": "1", "a": "x"}]


def test_search_items_carries_the_query_in_the_body(client, wire):
    ids = [f"{n:08d}-0000-0000-0000-000000000000" for n in range(300)]  # too long for a URL
    flt = {"_and": [{"f": {"_nnull": True}}, {"id": {"_nin": ids}}]}
    call = wire.add(
        "SEARCH",
        f"{BASE}/items/c",
        match=[
            matchers.query_string_matcher(""),
            matchers.json_params_matcher(
                {"query": {"filter": flt, "fields": ["id", "f"], "sort": ["id"], "limit": 50}}
            ),
        ],
        json={"data": [{"id": "a", "f": "v"}]},
    )
    assert client.search_items("c", flt, fields=("id", "f"), sort=("id",), limit=50) == [
        {"id": "a", "f": "v"}
    ]
    assert call.call_count == 1


def test_search_items_without_sort_and_with_nothing_found(client, wire):
    wire.add(
        "SEARCH",
        f"{BASE}/items/c",
        match=[
            matchers.json_params_matcher({"query": {"filter": {}, "fields": ["id"], "limit": 100}})
        ],
        json={"data": []},
    )
    assert client.search_items("c", {}, fields=("id",)) == []


def test_create_items_is_one_batch(client, wire):
    wire.post(
        f"{BASE}/items/c",
        match=[matchers.json_params_matcher([{"a": 1}, {"a": 2}])],
        json={"data": [{"id": "1"}, {"id": "2"}]},
    )
    assert client.create_items("c", [{"a": 1}, {"a": 2}]) == [{"id": "1"}, {"id": "2"}]


def test_updates_may_limit_what_directus_reads_back(client, wire):
    wire.patch(
        f"{BASE}/items/c/1",
        match=[
            matchers.query_param_matcher({"fields": "id"}),
            matchers.json_params_matcher({"a": 2}),
        ],
        json={"data": {"id": "1"}},
    )
    wire.patch(
        f"{BASE}/items/c",
        match=[
            matchers.query_param_matcher({"fields": "id"}),
            matchers.json_params_matcher([{"id": "1", "a": 3}]),
        ],
        json={"data": [{"id": "1"}]},
    )
    assert client.update_item("c", "1", {"a": 2}, fields=("id",)) == {"id": "1"}
    assert client.update_items("c", [{"id": "1", "a": 3}], fields=("id",)) == [{"id": "1"}]


def test_check_access_reads_no_row(client, wire):
    plain = wire.get(
        f"{BASE}/items/c",
        match=[matchers.query_param_matcher({"limit": "0"})],
        json={"data": []},
    )
    named = wire.get(
        f"{BASE}/items/c",
        match=[matchers.query_param_matcher({"limit": "0", "fields": "id,rewrap_guard"})],
        json={"data": []},
    )
    client.check_access("c")
    client.check_access("c", fields=("id", "rewrap_guard"))
    assert plain.call_count == named.call_count == 1


def test_check_access_raises_what_directus_refuses(client, wire):
    forbidden = {"errors": [{"message": "no", "extensions": {"code": "FORBIDDEN"}}]}
    wire.get(f"{BASE}/items/c", status=403, json=forbidden)
    with pytest.raises(DirectusResponseError) as info:
        client.check_access("c", fields=("missing",))
    assert (info.value.status, info.value.code) == (403, "FORBIDDEN")


def test_current_user_id_asks_with_the_clients_own_token(client, wire):
    wire.get(
        f"{BASE}/users/me",
        match=[
            matchers.query_param_matcher({"fields": "id"}),
            matchers.header_matcher({"Authorization": "Bearer svc-token"}),
        ],
        json={"data": {"id": "user-1"}},
    )
    assert client.current_user_id() == "user-1"


def test_current_user_id_raises_when_the_token_is_refused(client, wire):
    wire.get(f"{BASE}/users/me", status=401, json={"errors": [{"message": "Invalid token"}]})
    with pytest.raises(DirectusResponseError) as info:
        client.current_user_id()
    assert info.value.status == 401 and "svc-token" not in str(info.value)


@pytest.mark.parametrize("data", [None, {}, {"id": 5}, ["user-1"]])
def test_current_user_id_without_an_id_is_no_usable_answer(client, wire, data):
    wire.get(f"{BASE}/users/me", json={"data": data})
    with pytest.raises(DirectusTransportError):
        client.current_user_id()


def test_user_id_for_token_sends_that_token_only(client, wire):
    wire.get(
        f"{BASE}/users/me",
        match=[matchers.header_matcher({"Authorization": "Bearer user-jwt"})],
        json={"data": {"id": "user-2"}},
    )
    assert client.user_id_for_token("user-jwt") == "user-2"
    assert client.session.headers["Authorization"] == "Bearer svc-token"


@pytest.mark.parametrize("status, expected", [(401, None), (403, None)])
def test_user_id_for_a_refused_token_is_none(client, wire, status, expected):
    wire.get(f"{BASE}/users/me", status=status, json={"errors": []})
    assert client.user_id_for_token("user-jwt") is expected


def test_user_id_for_token_on_another_status_is_no_usable_answer(client, wire):
    wire.get(f"{BASE}/users/me", status=400, body="user-jwt echoed")
    with pytest.raises(DirectusTransportError) as info:
        client.user_id_for_token("user-jwt")
    assert "user-jwt" not in str(info.value)


def test_permissions_are_the_roles_own(client, wire):
    answer = {"audit_log": {"create": {"access": "full", "fields": ["*"]}}}
    wire.get(
        f"{BASE}/permissions/me",
        match=[matchers.header_matcher({"Authorization": "Bearer svc-token"})],
        json={"data": answer},
    )
    assert client.permissions() == answer


@pytest.mark.parametrize(
    "failure, expected",
    [
        (requests.ConnectTimeout("slow"), DirectusTimeout),
        (requests.ReadTimeout("slow"), DirectusTimeout),
        (requests.ConnectionError("refused"), DirectusTransportError),
    ],
)
def test_transport_failures_are_typed(client, wire, failure, expected):
    wire.post(f"{BASE}/items/c", body=failure)
    with pytest.raises(expected):
        client.create_item("c", {})


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"nodata": 1}', "[1,2]"])
def test_garbage_answers_are_transport_errors(client, wire, body):
    wire.get(f"{BASE}/items/c", body=body, status=200)
    with pytest.raises(DirectusTransportError):
        client.find_items("c")


def test_count_items_uses_aggregate(client, wire):
    wire.get(
        f"{BASE}/items/c",
        match=[matchers.query_param_matcher({"aggregate[count]": "*"})],
        json={"data": [{"count": "42"}]},
    )
    assert client.count_items("c") == 42


# -- filter values Directus would reinterpret ------------------------------------------------

# Directus's parseFilter turns exactly "true"/"false" into booleans and "null"/"NULL" into null,
# and replaces $NOW / $CURRENT_* variables; other cases of the words are refused as a margin.
REINTERPRETED = [
    "null",
    "NULL",
    "true",
    "false",
    "Null",
    "TRUE",
    "False",
    "$NOW",
    "$NOW(-1 day)",
    "$CURRENT_USER",
    "$CURRENT_ROLE",
    "$CURRENT_ROLES",
    "$CURRENT_POLICIES",
    "$CURRENT_USER.id",
]


@pytest.mark.parametrize("value", REINTERPRETED)
@pytest.mark.parametrize(
    "build",
    [
        lambda v: {"business_id": {"_eq": v}},
        lambda v: {"business_id": {"_in": ["acme", v]}},
        lambda v: {"_and": [{"id": {"_eq": "x"}}, {"business_id": {"_neq": v}}]},
        lambda v: {"business_id": v},
    ],
    ids=["_eq", "_in", "_and", "shorthand"],
)
def test_filter_values_directus_would_reinterpret_never_leave(client, wire, value, build):
    # `wire` fails on any request it was not told about: none may be sent.
    with pytest.raises(DirectusFilterError) as caught:
        client.find_items("api_keys", build(value))
    assert caught.value.field == "business_id"
    assert str(caught.value) == f"business_id {FILTER_VALUE_RULE}"  # names the field only
    with pytest.raises(DirectusFilterError):
        client.count_items("api_keys", build(value))
    with pytest.raises(DirectusFilterError):
        client.request("SEARCH", "/items/api_keys", json_body={"query": {"filter": build(value)}})
    assert len(wire.calls) == 0


@pytest.mark.parametrize("value", ["nullable", "null ", " true", "truthy", "0", "", "a$NOW", 5])
def test_filter_values_directus_keeps_as_they_are_are_sent(client, wire, value):
    call = wire.get(
        f"{BASE}/items/api_keys",
        match=[
            matchers.query_param_matcher(
                {
                    "limit": "100",
                    "filter": json.dumps({"business_id": {"_eq": value}}, separators=(",", ":")),
                }
            )
        ],
        json={"data": []},
    )
    assert client.find_items("api_keys", {"business_id": {"_eq": value}}) == []
    assert call.call_count == 1


def test_booleans_and_null_as_json_values_stay_allowed(client, wire):
    wire.get(f"{BASE}/items/c", json={"data": []})
    assert client.find_items("c", {"revoked_at": {"_null": True}, "x": {"_eq": None}}) == []


# -- retries: pinned to the documented figure (credsvc.directus.GET_RETRIES) -------------------

# Written here, not read from the code under test: a GET is sent 1 + 2 times, a write once.
GET_ATTEMPTS = 3
WRITE_ATTEMPTS = 1
WRITES = {  # method -> (path, the client call)
    "POST": ("/items/c", lambda client: client.create_item("c", {"a": 1})),
    "PATCH": ("/items/c/1", lambda client: client.update_item("c", "1", {"a": 1})),
    "DELETE": ("/items/c", lambda client: client.delete_items("c", ["1"])),
}


@pytest.mark.parametrize("status", [502, 503])
def test_a_get_is_sent_three_times_while_directus_is_briefly_unavailable(client, wire, status):
    call = wire.get(f"{BASE}/items/c", status=status, json={"errors": []})
    with pytest.raises(DirectusResponseError) as info:
        client.find_items("c")
    assert info.value.status == status
    assert call.call_count == GET_ATTEMPTS


def test_a_get_retried_after_a_503_returns_the_later_answer(client, wire):
    wire.get(f"{BASE}/items/c", status=503, json={"errors": []})
    wire.get(f"{BASE}/items/c", json={"data": [{"id": "1"}]})
    assert client.find_items("c") == [{"id": "1"}]
    assert len(wire.calls) == 2


@pytest.mark.parametrize("status", [500, 504, 401, 403, 429])
def test_a_get_is_sent_once_on_any_other_error_status(client, wire, status):
    call = wire.get(f"{BASE}/items/c", status=status, json={"errors": []})
    with pytest.raises(DirectusResponseError):
        client.find_items("c")
    assert call.call_count == 1


@pytest.mark.parametrize("status", [502, 503])
@pytest.mark.parametrize("method", sorted(WRITES))
def test_a_write_is_sent_once_whatever_the_status(client, wire, method, status):
    path, write = WRITES[method]
    call = wire.add(method, f"{BASE}{path}", status=status, json={"errors": []})
    with pytest.raises(DirectusResponseError):
        write(client)
    assert call.call_count == WRITE_ATTEMPTS


@pytest.fixture
def refusing_directus(monkeypatch):
    """A client aimed at a port that is bound but not listening (every connect is refused),
    and a count of the connections it tried. Real sockets: `responses` never retries a
    connection error, urllib3 does."""
    import urllib3.util.connection

    attempts = []
    connect = urllib3.util.connection.create_connection

    def counting(address, *args, **kwargs):
        attempts.append(address)
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counting)
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        yield DirectusClient(f"http://127.0.0.1:{port}", "svc-token", timeout=(0.5, 1.0)), attempts


def test_a_get_tries_three_connections_when_directus_refuses(refusing_directus):
    client, attempts = refusing_directus
    with pytest.raises(DirectusTransportError) as info:
        client.find_items("c")
    assert not isinstance(info.value, DirectusTimeout)
    assert len(attempts) == GET_ATTEMPTS


@pytest.mark.parametrize("method", sorted(WRITES))
def test_a_write_tries_one_connection_when_directus_refuses(refusing_directus, method):
    client, attempts = refusing_directus
    _, write = WRITES[method]
    with pytest.raises(DirectusTransportError):
        write(client)
    assert len(attempts) == WRITE_ATTEMPTS

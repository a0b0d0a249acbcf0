"""A synchronous Directus items client. Imports nothing from Flask.

Exception tree:

    DirectusError                       anything that went wrong talking to Directus
    ├── DirectusTransportError          no usable answer: refused, reset, garbage
    │   └── DirectusTimeout             connect or read timeout
    └── DirectusResponseError           Directus answered with a 4xx/5xx status: .status,
                                        .method, .path; the whole body parsed once into
                                        .code and .message (the first error's) and .errors

    DirectusFilterError (ValueError)    refused before sending: a filter value Directus would
                                        not read as the string it is (keeps .field)

"Not found" is not an error here: Directus answers 403 for a missing item, so lookups go
through filtered list queries and return None when nothing matches.

Callers use the helpers below and never write a Directus path: items (`get_item`, `find_one`,
`find_items`, `search_items`, `count_items`, `create_item(s)`, `update_item(s)`,
`delete_items`, `check_access`), the batch writes (`append_items`, `update_items_guarded`) and
the token's own user and permissions (`current_user_id`,
`user_id_for_token`, `permissions`). `request` is the transport they share.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

MAX_BODY_IN_MESSAGE = 500

# The retry policy, in one number: a GET is sent at most 1 + GET_RETRIES = 3 times, again only
# after a connection that failed before anything was sent (refused, connect timeout) or a
# 502/503 (Directus briefly unavailable, e.g. behind a proxy during a restart). Two retries
# absorb a momentary outage while keeping a failing request at three round trips. Writes, and
# GETs failing any other way, are sent exactly once (`GetOnlyRetry`, `Retry` below).
# tests/unit/test_directus.py and tests/faults pin these numbers; change them together.
GET_RETRIES = 2

# The credsvc-batch Directus extension (deploy/directus/extensions/credsvc-batch/index.mjs): a
# batch of audit rows, or of guarded rewrap updates, in one transaction, permission-checked once
# per batch instead of once per row. A Directus without it (one credsvc did not set up) answers
# 404 ROUTE_NOT_FOUND, and the client then writes through the item API instead.
BATCH_ENDPOINT = "/credsvc-batch"
# Rows in one request to it (deploy/directus/directusctl.py hands the endpoint this limit; it
# refuses a longer batch): callers cut longer batches.
BATCH_MAX_ROWS = 1000

# Directus's filter parser (`parseFilter` in @directus/utils, 13.5.5 in Directus 12.4.0) does
# not keep every string a string: the exact values "true" and "false" become booleans,
# "null" and "NULL" become null (so `{"_eq": "null"}` matches rows where the field IS NULL), and
# a value starting with a dynamic variable ($NOW, $CURRENT_USER, $CURRENT_ROLE(S),
# $CURRENT_POLICIES) is replaced by that variable's value. Refused here with a margin: the three
# words in any letter case, and any value starting with "$".
FILTER_KEYWORDS = frozenset({"true", "false", "null"})
FILTER_VALUE_RULE = (
    "must not be true, false or null, in any case, or start with '$' "
    "(Directus reads them as keywords)"
)


def reinterpreted_in_filter(value: object) -> bool:
    """Whether Directus would read this filter value as something other than the string."""
    return isinstance(value, str) and (value.lower() in FILTER_KEYWORDS or value.startswith("$"))


class DirectusFilterError(ValueError):
    """A filter value Directus would reinterpret (see `reinterpreted_in_filter`); never sent."""

    def __init__(self, field: str):
        self.field = field
        super().__init__(f"{field} {FILTER_VALUE_RULE}")


def _check_filter(node: Any, field: str = "filter") -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            # Operators ("_eq", "_in", "_and" ...) keep the name of the field they apply to.
            _check_filter(value, field if str(key).startswith("_") else str(key))
    elif isinstance(node, list | tuple):
        for value in node:
            _check_filter(value, field)
    elif reinterpreted_in_filter(node):
        raise DirectusFilterError(field)


def filter_param(filter: Mapping[str, Any]) -> str:
    """The `filter` query parameter; raises DirectusFilterError instead of sending a value
    Directus would reinterpret."""
    _check_filter(filter)
    return json.dumps(filter, separators=(",", ":"))


class DirectusError(Exception):
    """Root of every Directus failure."""


class DirectusTransportError(DirectusError):
    """Directus could not be reached, dropped the connection, or answered garbage."""


class DirectusTimeout(DirectusTransportError):
    """Directus did not connect or answer within the configured timeout."""


class DirectusResponseError(DirectusError):
    """Directus answered with an error status.

    The whole body is parsed here, once: `errors` holds the objects of its `errors` array
    (empty when the body is not Directus's error JSON); `code` and `message` are the first
    object's `extensions.code` and `message`. str() quotes the first MAX_BODY_IN_MESSAGE
    characters of the body, which are all that is kept of it, as `body`. credsvc.errors relays
    that text only for a caller-caused 4xx (the contract's "Directus <status> <path>: <body>"),
    never for Directus's own failures; what credsvc sends holds ciphertexts, hashes and ids,
    never a plaintext credential, so an echo of it carries none.
    """

    def __init__(self, status: int, method: str, path: str, body: str):
        self.status = status
        self.method = method
        self.path = path
        self.errors = _error_objects(body)
        first = self.errors[0] if self.errors else {}
        extensions = first.get("extensions")
        code = extensions.get("code") if isinstance(extensions, dict) else None
        self.code: str | None = code if isinstance(code, str) else None
        message = first.get("message")
        self.message: str | None = message if isinstance(message, str) else None
        self.body = body[:MAX_BODY_IN_MESSAGE]
        super().__init__(f"Directus {status} {path}: {self.body}")


def _error_objects(body: str) -> tuple[dict[str, Any], ...]:
    """The objects of a Directus error body's `errors` array; () for any other body."""
    try:
        errors = json.loads(body)["errors"]
    except (ValueError, KeyError, TypeError):
        return ()
    if not isinstance(errors, list):
        return ()
    return tuple(error for error in errors if isinstance(error, dict))


@dataclass(frozen=True)
class DirectusCall:
    """One finished call, as the client's observer sees it (never a body or a header)."""

    method: str
    path: str  # as sent, ids included: an observer must not use it as a label unreduced
    seconds: float
    error: DirectusError | None

    @property
    def error_kind(self) -> str | None:
        """How the call failed, from a closed set: timeout, connection, bad_response (not
        Directus JSON), the status code of a 4xx answer ("401"), 5xx; None when it did not."""
        exc = self.error
        if exc is None:
            return None
        if isinstance(exc, DirectusTimeout):
            return "timeout"
        if isinstance(exc, DirectusResponseError):
            return "5xx" if exc.status >= 500 else str(exc.status)
        # A body that is not Directus JSON (requests' JSONDecodeError is a ValueError too).
        if isinstance(exc.__cause__, ValueError | KeyError | TypeError) or exc.__cause__ is None:
            return "bad_response"
        return "connection"


class GetOnlyRetry(Retry):
    """urllib3 retries a failed connection whatever the method (nothing was sent yet) and
    applies `allowed_methods` only to statuses and read errors. Here a write is never retried
    at all: its first failure is final, as if its retries were used up."""

    def increment(self, method: str | None = None, *args: Any, **kwargs: Any) -> Retry:
        if method is not None and not self._is_method_retryable(method):
            return Retry.increment(self.new(total=0), method, *args, **kwargs)
        return super().increment(method, *args, **kwargs)


class DirectusClient:
    """Owns one keep-alive session, the base URL, the service token and the timeouts."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: tuple[float, float] = (3.05, 10.0),
        *,
        get_retries: int = GET_RETRIES,
        pool_size: int = 10,
        observer: Callable[[DirectusCall], None] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # Told of every call once it ended (credsvc.metrics); called on the request's thread.
        self.observer = observer
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}"})
        # Only idempotent GETs are retried, and only when nothing was sent or Directus said
        # it is briefly unavailable; a read timeout is never retried (it would double the wait).
        retry = GetOnlyRetry(
            total=get_retries,
            connect=get_retries,
            # False, not 0: 0 wraps a read timeout in MaxRetryError, which requests turns
            # into a ConnectionError (502); False re-raises it as a ReadTimeout (504).
            read=False,
            other=0,
            status=get_retries,
            status_forcelist=(502, 503),
            allowed_methods=frozenset({"GET"}),
            backoff_factor=0.05,
            # A Retry-After (e.g. 30 s on a 503) would hold the worker far past the timeout.
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # False once Directus answered that it has no credsvc-batch endpoint.
        self.batch_endpoint = True

    def close(self) -> None:
        self.session.close()

    # -- transport ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return the decoded `data` member (None for 204).

        `headers` override the session's for this call only (e.g. a user's own token)."""
        if self.observer is None:
            return self._exchange(method, path, params, json_body, headers)
        started = time.perf_counter()
        try:
            data = self._exchange(method, path, params, json_body, headers)
        except DirectusError as exc:
            self.observer(DirectusCall(method, path, time.perf_counter() - started, exc))
            raise
        self.observer(DirectusCall(method, path, time.perf_counter() - started, None))
        return data

    def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> Any:
        if method == "SEARCH" and isinstance(json_body, Mapping):
            # SEARCH carries its query, filter included, in the body (services.keys).
            query = json_body.get("query")
            if isinstance(query, Mapping) and "filter" in query:
                _check_filter(query["filter"])
        url = self.base_url + path
        try:
            response = self.session.request(
                method, url, params=params, json=json_body, headers=headers, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise DirectusTimeout(f"Directus timed out on {method} {path}") from exc
        except requests.RequestException as exc:
            raise DirectusTransportError(
                f"Directus unreachable on {method} {path}: {type(exc).__name__}"
            ) from exc
        if response.status_code >= 400:
            raise DirectusResponseError(response.status_code, method, path, response.text)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()["data"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DirectusTransportError(
                f"Directus answered {method} {path} with a body that is not Directus JSON"
            ) from exc

    # -- items --------------------------------------------------------------------------

    def find_items(
        self,
        collection: str,
        filter: Mapping[str, Any] | None = None,
        *,
        fields: Iterable[str] | None = None,
        sort: Iterable[str] | None = None,
        limit: int = 100,
        page: int | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if filter:
            params["filter"] = filter_param(filter)
        if fields:
            params["fields"] = ",".join(fields)
        if sort:
            params["sort"] = ",".join(sort)
        if page:
            params["page"] = page
        return self.request("GET", f"/items/{collection}", params=params) or []

    def find_one(self, collection: str, filter: Mapping[str, Any], **kwargs) -> dict | None:
        rows = self.find_items(collection, filter, limit=1, **kwargs)
        return rows[0] if rows else None

    def get_item(self, collection: str, item_id: str, **kwargs) -> dict[str, Any] | None:
        """The item with this id, or None when there is none (never a 403 for "missing")."""
        return self.find_one(collection, {"id": {"_eq": item_id}}, **kwargs)

    def count_items(self, collection: str, filter: Mapping[str, Any] | None = None) -> int:
        params: dict[str, Any] = {"aggregate[count]": "*"}
        if filter:
            params["filter"] = filter_param(filter)
        data = self.request("GET", f"/items/{collection}", params=params)
        return int(data[0]["count"]) if data else 0

    def create_item(self, collection: str, data: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/items/{collection}", json_body=dict(data))

    def create_items(self, collection: str, items: list[Mapping[str, Any]]) -> list[dict]:
        """Batch create; all-or-nothing in Directus."""
        return self.request("POST", f"/items/{collection}", json_body=list(items)) or []

    def search_items(
        self,
        collection: str,
        filter: Mapping[str, Any],
        *,
        fields: Iterable[str],
        sort: Iterable[str] = (),
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """A query too long for a URL (e.g. a filter listing many ids): `SEARCH /items`
        carries it, filter included, in the body."""
        query: dict[str, Any] = {"filter": dict(filter), "fields": list(fields)}
        if sort:
            query["sort"] = list(sort)
        query["limit"] = limit
        return self.request("SEARCH", f"/items/{collection}", json_body={"query": query}) or []

    def update_item(
        self,
        collection: str,
        item_id: str,
        data: Mapping[str, Any],
        fields: tuple[str, ...] | None = None,
    ) -> dict:
        """`fields` limits what Directus reads back and returns (e.g. ("id",))."""
        params = {"fields": ",".join(fields)} if fields else None
        return self.request(
            "PATCH", f"/items/{collection}/{item_id}", params=params, json_body=dict(data)
        )

    def update_items(
        self,
        collection: str,
        items: list[Mapping[str, Any]],
        fields: tuple[str, ...] | None = None,
    ) -> list[dict]:
        """Batch update: each element carries its own `id`; all-or-nothing in Directus.
        `fields` limits what Directus reads back and returns (e.g. ("id",))."""
        params = {"fields": ",".join(fields)} if fields else None
        return (
            self.request("PATCH", f"/items/{collection}", params=params, json_body=list(items))
            or []
        )

    def append_items(self, collection: str, rows: list[Mapping[str, Any]]) -> None:
        """Create rows nothing reads back (the audit trail): all-or-nothing, one transaction."""
        if not self._batch(f"/append/{collection}", rows):
            self.create_items(collection, rows)

    def update_items_guarded(self, collection: str, items: list[Mapping[str, Any]]) -> None:
        """Guarded batch update (the rewrap): each item is exactly its `id`, the new value and
        the guard; all-or-nothing, and a guard abort fails the whole batch."""
        if not self._batch(f"/guarded-update/{collection}", items):
            self.update_items(collection, items, fields=("id",))

    def _batch(self, path: str, rows: list[Mapping[str, Any]]) -> bool:
        """POST `rows` to the credsvc-batch endpoint; False when this Directus has none."""
        if not self.batch_endpoint:
            return False
        try:
            self.request("POST", BATCH_ENDPOINT + path, json_body=list(rows))
        except DirectusResponseError as exc:
            if exc.status == 404 and exc.code == "ROUTE_NOT_FOUND":
                self.batch_endpoint = False
                return False
            raise
        return True

    def delete_items(self, collection: str, ids: list[str]) -> None:
        if ids:
            self.request("DELETE", f"/items/{collection}", json_body=list(ids))

    def check_access(self, collection: str, fields: Iterable[str] | None = None) -> None:
        """Raise unless Directus answers an authenticated read of `collection`, and of
        `fields` when given (Directus answers 403 naming a field the role may not read or
        that does not exist). Reads no row."""
        params: dict[str, Any] = {"limit": 0}
        if fields:
            params["fields"] = ",".join(fields)
        self.request("GET", f"/items/{collection}", params=params)

    # -- the token's own user and permissions -------------------------------------------

    def current_user_id(self) -> str:
        """The id of the user this client's token belongs to (`GET /users/me`). A token
        Directus refuses raises DirectusResponseError (401), as any call would."""
        return self._user_id(None)

    def permissions(self) -> Any:
        """What the token's role may do (`GET /permissions/me`, Directus 11+): collection ->
        action -> {"access": "none" | "partial" | "full", "fields": [...]}, as Directus
        answers it; the caller checks the shape."""
        return self.request("GET", "/permissions/me")

    def _user_id(self, token: str | None) -> str:
        """`GET /users/me` with the client's token, or with `token` for this call only."""
        headers = None if token is None else {"Authorization": f"Bearer {token}"}
        data = self.request("GET", "/users/me", params={"fields": "id"}, headers=headers)
        user_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(user_id, str):
            raise DirectusTransportError("Directus answered GET /users/me without a user id")
        return user_id

    # -- users' own tokens --------------------------------------------------------------

    def user_id_for_token(self, token: str) -> str | None:
        """The user id Directus reports for `token` itself (`GET /users/me`), or None when
        Directus refuses the token (401/403: ended session, expired, bad signature).

        Directus answers `/users/me` with at least the id even to a user who may read nothing.
        Any other answer neither confirms nor refuses the token, so it is no usable answer
        (DirectusTransportError). The token travels only in the Authorization header."""
        try:
            return self._user_id(token)
        except DirectusResponseError as exc:
            if exc.status in (401, 403):
                return None
            raise DirectusTransportError(
                f"Directus answered {exc.status} when asked who a token belongs to"
            ) from exc

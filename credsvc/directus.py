"""A synchronous Directus items client. Imports nothing from Flask.

Exception tree:

    DirectusError                       anything that went wrong talking to Directus
    ├── DirectusTransportError          no usable answer: refused, reset, garbage
    │   └── DirectusTimeout             connect or read timeout
    └── DirectusResponseError           Directus answered with a 4xx/5xx status
                                        (keeps .status, .method, .path, .body, .code)

"Not found" is not an error here: Directus answers 403 for a missing item, so lookups go
through filtered list queries and return None when nothing matches.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

MAX_BODY_IN_MESSAGE = 500


class DirectusError(Exception):
    """Root of every Directus failure."""


class DirectusTransportError(DirectusError):
    """Directus could not be reached, dropped the connection, or answered garbage."""


class DirectusTimeout(DirectusTransportError):
    """Directus did not connect or answer within the configured timeout."""


class DirectusResponseError(DirectusError):
    """Directus answered with an error status; the upstream status and body are kept."""

    def __init__(self, status: int, method: str, path: str, body: str):
        self.status = status
        self.method = method
        self.path = path
        self.body = body[:MAX_BODY_IN_MESSAGE]
        super().__init__(f"Directus {status} {path}: {self.body}")

    @property
    def code(self) -> str | None:
        """The first `extensions.code` of the Directus error body, if any."""
        try:
            return json.loads(self.body)["errors"][0]["extensions"]["code"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None


class DirectusClient:
    """Owns one keep-alive session, the base URL, the service token and the timeouts."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: tuple[float, float] = (3.05, 10.0),
        *,
        get_retries: int = 2,
        pool_size: int = 10,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}"})
        # Only idempotent GETs are retried, and only when nothing was sent or Directus said
        # it is briefly unavailable; a read timeout is never retried (it would double the wait).
        retry = Retry(
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
    ) -> Any:
        """Send one request and return the decoded `data` member (None for 204)."""
        url = self.base_url + path
        try:
            response = self.session.request(
                method, url, params=params, json=json_body, timeout=self.timeout
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
            params["filter"] = json.dumps(filter, separators=(",", ":"))
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
            params["filter"] = json.dumps(filter, separators=(",", ":"))
        data = self.request("GET", f"/items/{collection}", params=params)
        return int(data[0]["count"]) if data else 0

    def create_item(self, collection: str, data: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/items/{collection}", json_body=dict(data))

    def create_items(self, collection: str, items: list[Mapping[str, Any]]) -> list[dict]:
        """Batch create; all-or-nothing in Directus."""
        return self.request("POST", f"/items/{collection}", json_body=list(items)) or []

    def update_item(self, collection: str, item_id: str, data: Mapping[str, Any]) -> dict:
        return self.request("PATCH", f"/items/{collection}/{item_id}", json_body=dict(data))

    def update_items(self, collection: str, items: list[Mapping[str, Any]]) -> list[dict]:
        """Batch update: each element carries its own `id`; all-or-nothing in Directus."""
        return self.request("PATCH", f"/items/{collection}", json_body=list(items)) or []

    def delete_items(self, collection: str, ids: list[str]) -> None:
        if ids:
            self.request("DELETE", f"/items/{collection}", json_body=list(ids))

    def check_access(self, collection: str) -> None:
        """Raise unless Directus answers an authenticated read of `collection`."""
        self.request("GET", f"/items/{collection}", params={"limit": 0})

"""Every Directus-backed endpoint of both API families, with valid auth and a valid body, and
the canned Directus rows that let each request get as far as its first write.

The endpoints come from the views (credsvc.openapi.operations): every operation that declares
a Directus error (502) or the readiness 503, with the headers of its blueprint's guard, its
path parameters filled in and its declared request example as the body. The canned rows below
use the examples' ids (credsvc.api.operations), so a new view with a request example joins
the fault and input-limit batteries by itself.

Used by the fault tests: with reads answered by `rows_for(app)` and writes failing, every
endpoint reaches the write it would make; with reads failing, it fails at its first call.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from credsvc import create_app, model
from credsvc.api import operations as declared
from credsvc.openapi import BUSINESS_KEY as BUSINESS_KEY_SCHEME
from credsvc.openapi import RULE_ARGUMENT, SHARED_SECRET, USER_JWT, auth_scheme, operations
from tests.conftest import INTERNAL_HEADERS, TEST_ENV, user_headers

OWNER = "6f1c2a9e-3b7d-4e5f-9a0b-1c2d3e4f5a6b"
PROFILE = declared.PROFILE_ID
CREDENTIAL = declared.CREDENTIAL_ID
SESSION = declared.SESSION_ID
KEY_ID = "9e8d7c6b-5a49-4382-9716-0a1b2c3d4e5f"
END_USER_ROW = "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9"
BUSINESS = "acme"
END_USER = "alice"
API_KEY = "csk_" + "K" * 43
COOKIE = {
    "name": "sessionid",
    "value": "fault-cookie-value",
    "domain": ".instagram.com",
    "path": "/",
    "expires": 1924992000,
    "httpOnly": True,
    "secure": True,
}
# The values sealed in the canned rows; no answer may ever show one.
STORED_SECRETS = ("fault-password-value", "fault-cookie-value", "fault-reddit-session")
# Request fields that are not secret (ids, names, choices); every other string sent is.
NOT_SECRET = {
    "platform",
    "creator_profile_id",
    "creatorProfileId",
    "id",
    "auth_type",
    "format",
    "reason",
    "businessId",
    "endUserId",
    "name",
    "domain",
    "path",
    "sameSite",
}


def secrets_in(body: Any, key: str = "") -> list[str]:
    """The secret string values of a request body (credentials, cookie values, tokens)."""
    if isinstance(body, dict):
        return [s for k, v in body.items() for s in secrets_in(v, k)]
    if isinstance(body, list):
        return [s for item in body for s in secrets_in(item, key)]
    if isinstance(body, str) and key not in NOT_SECRET and len(body) >= 6:
        return [body]
    return []


@dataclass(frozen=True)
class Endpoint:
    name: str  # the Flask endpoint, e.g. "internal_credentials.reveal"
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    @property
    def family(self) -> str:
        return "end-user" if self.path.startswith("/v1/") else "credentials"

    @property
    def writes(self) -> bool:
        """True when a successful call writes to Directus (decrypting reads write audit rows;
        /readyz only reads the role's permissions, credsvc.services.readiness)."""
        return self.method != "GET"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (*STORED_SECRETS, *secrets_in(self.body))

    def call(self, client):
        kwargs: dict[str, Any] = {"headers": self.headers}
        if self.body is not None:
            kwargs["json"] = self.body
        return client.open(self.path, method=self.method, **kwargs)


USER = user_headers(OWNER)
BUSINESS_KEY = {"Authorization": f"Bearer {API_KEY}"}
HEADERS = {
    None: {},
    USER_JWT: USER,
    SHARED_SECRET: INTERNAL_HEADERS,
    BUSINESS_KEY_SCHEME: BUSINESS_KEY,
}
# Path parameters of the routes, filled with the canned rows' values.
PATH_VALUES = {"end_user_id": END_USER}
DIRECTUS_STATUSES = {502, 503}


def endpoints(app) -> list[Endpoint]:
    """The app's Directus-backed operations, ready to call."""
    found = []
    for (rule, method), (name, operation) in sorted(operations(app).items()):
        if not DIRECTUS_STATUSES & set(operation.errors):
            continue  # answers from the process alone (/healthz, /platforms, the document)
        if operation.request is not None and operation.request_example is None:
            raise LookupError(f"{name}: declare a request_example (the fault catalog's body)")
        path = RULE_ARGUMENT.sub(lambda m: PATH_VALUES[m.group(1)], rule)
        found.append(
            Endpoint(
                name, method, path, dict(HEADERS[auth_scheme(app, name)]), operation.request_example
            )
        )
    return found


ENDPOINTS: list[Endpoint] = endpoints(create_app(TEST_ENV))


def rows_for(app, *, key_used_recently: bool = True):
    """A `rows` callback for FaultServer: plausible Directus rows for every collection."""
    keyring = app.extensions["credsvc"].keyring

    def sealed(column: model.EncryptedColumn, row: dict[str, Any], value: Any) -> dict:
        """`row` with `value` encrypted into it, bound to the row's id and owner columns."""
        return {**row, column.field: keyring.encrypt(value, column.context(row))}

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    end_user_hash = hashlib.sha256(END_USER.encode()).hexdigest()
    tables: dict[str, list[dict[str, Any]]] = {
        "platform_connections": [
            sealed(
                model.PROFILES,
                {
                    "id": PROFILE,
                    "user_id": OWNER,
                    "platform": "instagram",
                    "platform_username": None,
                },
                {"password": STORED_SECRETS[0]},
            )
        ],
        "download_credentials": [
            sealed(
                model.DOWNLOAD_CREDENTIALS,
                {
                    "id": CREDENTIAL,
                    "user_id": OWNER,
                    "creator_profile_id": PROFILE,
                    "platform": "youtube",
                    "auth_type": "password",
                    "username": None,
                },
                {"password": STORED_SECRETS[0]},
            )
        ],
        "platform_sessions": [
            sealed(
                model.PLATFORM_SESSIONS,
                {
                    "id": SESSION,
                    "user_id": OWNER,
                    "creator_profile_id": PROFILE,
                    "platform": "instagram",
                    "revoked_at": None,
                    "captured_at": now,
                    "expires_at": None,
                    "user_agent": None,
                },
                [COOKIE],
            )
        ],
        "api_keys": [
            {
                "id": KEY_ID,
                "business_id": BUSINESS,
                "key_hash": hashlib.sha256(API_KEY.encode()).hexdigest(),
                "last_used_at": now if key_used_recently else None,
                "revoked_at": None,
            }
        ],
        "end_user_credentials": [
            sealed(
                model.END_USER_CREDENTIALS,
                {
                    "id": END_USER_ROW,
                    "business_id": BUSINESS,
                    "end_user_hash": end_user_hash,
                    "field": "redditSession",
                    "slot": "x" * 64,
                },
                STORED_SECRETS[2],
            )
        ],
    }

    def rows(method: str, path: str, query: dict[str, list[str]]) -> Any:
        if method != "GET":
            return {}
        if path == "/permissions/me":  # the readiness probe: may create audit rows
            return {"audit_log": {"create": {"access": "full", "fields": ["*"]}}}
        collection = path.strip("/").split("/")[1] if path.startswith("/items/") else ""
        filter_text = (query.get("filter") or ["{}"])[0]
        wanted = json.loads(filter_text) if filter_text else {}
        # Absent rows make create-profile and the end-user PUT go on to create (POST).
        if "owner_platform" in wanted or "slot" in wanted:
            return []
        return tables.get(collection, [])

    return rows


def new_uuid() -> str:
    return str(uuid.uuid4())

"""Every Directus-backed endpoint of both API families, with valid auth and a valid body, and
the canned Directus rows that let each request get as far as its first write.

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

from credsvc import model
from tests.conftest import INTERNAL_HEADERS, user_headers

OWNER = "6f1c2a9e-3b7d-4e5f-9a0b-1c2d3e4f5a6b"
PROFILE = "d3f21c8e-4a5b-4c9d-8e7f-1a2b3c4d5e6f"
CREDENTIAL = "a1b2c3d4-5e6f-4a8b-9c0d-e1f2a3b4c5d6"
SESSION = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
KEY_ID = "9e8d7c6b-5a49-4382-9716-0a1b2c3d4e5f"
END_USER_ROW = "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9"
BUSINESS = "acme"
END_USER = "alice"
API_KEY = "csk_" + "K" * 43
COOKIE = {"name": "sessionid", "value": "fault-cookie-value", "domain": ".instagram.com",
          "path": "/", "expires": 1924992000, "httpOnly": True, "secure": True}
SECRET_VALUES = ("fault-password-value", "fault-cookie-value", "fault-reddit-session",
                 "fault-twitter-token", "fault-twitter-ct0")


@dataclass(frozen=True)
class Endpoint:
    name: str
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
        return self.name not in ("end-user status", "platform-sessions", "readyz")

    def call(self, client):
        kwargs: dict[str, Any] = {"headers": self.headers}
        if self.body is not None:
            kwargs["json"] = self.body
        return client.open(self.path, method=self.method, **kwargs)


def _api(name: str, headers: dict[str, str], body: dict[str, Any]) -> Endpoint:
    return Endpoint(name, "POST", f"/api/credentials/{name}", headers, body)


USER = user_headers(OWNER)
BUSINESS_KEY = {"Authorization": f"Bearer {API_KEY}"}
END_USER_PATH = f"/v1/end-users/{END_USER}/credentials"

ENDPOINTS: list[Endpoint] = [
    Endpoint("readyz", "GET", "/readyz"),
    _api("create-profile", USER, {"platform": "instagram",
                                  "credentials": {"password": SECRET_VALUES[0]}}),
    _api("update-profile-creds", USER, {"creator_profile_id": PROFILE,
                                        "credentials": {"password": SECRET_VALUES[0]}}),
    _api("create-download-cred", USER, {"platform": "youtube", "creator_profile_id": PROFILE,
                                        "auth_type": "password",
                                        "credentials": {"password": SECRET_VALUES[0]}}),
    _api("store-platform-session", USER, {"creator_profile_id": PROFILE,
                                          "platform": "instagram", "cookies": [COOKIE]}),
    _api("revoke-platform-session", USER, {"id": SESSION}),
    Endpoint("platform-sessions", "GET", "/api/credentials/platform-sessions", USER),
    _api("store", INTERNAL_HEADERS, {"creatorProfileId": PROFILE,
                                     "credentials": {"password": SECRET_VALUES[0]}}),
    _api("reveal", INTERNAL_HEADERS, {"creatorProfileId": PROFILE}),
    _api("reveal-download-cred", INTERNAL_HEADERS, {"id": CREDENTIAL}),
    _api("get-platform-session", INTERNAL_HEADERS, {"creator_profile_id": PROFILE,
                                                    "platform": "instagram"}),
    _api("report-platform-session", INTERNAL_HEADERS, {"id": SESSION, "reason": "logged_out"}),
    Endpoint("workers reveal", "POST", "/api/end-user-credentials/reveal", INTERNAL_HEADERS,
             {"businessId": BUSINESS, "endUserId": END_USER}),
    Endpoint("end-user set", "PUT", END_USER_PATH, BUSINESS_KEY,
             {"twitterAuthToken": SECRET_VALUES[3], "twitterCt0": SECRET_VALUES[4]}),
    Endpoint("end-user status", "GET", END_USER_PATH, BUSINESS_KEY),
    Endpoint("end-user delete", "DELETE", END_USER_PATH, BUSINESS_KEY),
]


def rows_for(app, *, key_used_recently: bool = True):
    """A `rows` callback for FaultServer: plausible Directus rows for every collection."""
    keyring = app.extensions["credsvc"].keyring

    def sealed(column: model.EncryptedColumn, row: dict[str, Any], value: Any) -> dict:
        """`row` with `value` encrypted into it, bound to the row's id and owner columns."""
        return {**row, column.field: keyring.encrypt(value, column.context(row))}

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    end_user_hash = hashlib.sha256(END_USER.encode()).hexdigest()
    tables: dict[str, list[dict[str, Any]]] = {
        "platform_connections": [sealed(model.PROFILES, {
            "id": PROFILE, "user_id": OWNER, "platform": "instagram", "platform_username": None,
        }, {"password": SECRET_VALUES[0]})],
        "download_credentials": [sealed(model.DOWNLOAD_CREDENTIALS, {
            "id": CREDENTIAL, "user_id": OWNER, "creator_profile_id": PROFILE,
            "platform": "youtube", "auth_type": "password", "username": None,
        }, {"password": SECRET_VALUES[0]})],
        "platform_sessions": [sealed(model.PLATFORM_SESSIONS, {
            "id": SESSION, "user_id": OWNER, "creator_profile_id": PROFILE,
            "platform": "instagram", "revoked_at": None, "captured_at": now,
            "expires_at": None, "user_agent": None,
        }, [COOKIE])],
        "api_keys": [{
            "id": KEY_ID, "business_id": BUSINESS,
            "key_hash": hashlib.sha256(API_KEY.encode()).hexdigest(),
            "last_used_at": now if key_used_recently else None, "revoked_at": None,
        }],
        "end_user_credentials": [sealed(model.END_USER_CREDENTIALS, {
            "id": END_USER_ROW, "business_id": BUSINESS, "end_user_hash": end_user_hash,
            "field": "redditSession", "slot": "x" * 64,
        }, SECRET_VALUES[2])],
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

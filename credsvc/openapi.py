"""The OpenAPI 3 document of both API families, built with apispec from the marshmallow schemas.

One table, `ROUTES`, says for every (Flask rule, method) which request schema the view loads,
what it answers on success (schema + example), which errors it can answer and which guard
protects it. Views stay untouched; a unit test checks that the table and `app.url_map` list
the same routes, so a new view cannot go undocumented.

The document is built once per app and cached in `app.extensions`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema, fields

from credsvc.schemas import credentials as req
from credsvc.schemas import end_users as end_user_req
from credsvc.schemas import responses as res

TITLE = "credsvc"
VERSION = "1.0.0"
OPENAPI_VERSION = "3.0.3"
CACHE_KEY = "credsvc.openapi"

# -- auth schemes -----------------------------------------------------------------------------

USER_JWT = "directusJwt"
SHARED_SECRET = "rbacSyncSecret"
BUSINESS_KEY = "businessApiKey"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    USER_JWT: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Directus user access token (HS256, issuer `directus`), as returned "
        "by Directus `POST /auth/login`. Password-reset, invite and share tokens are refused.",
    },
    SHARED_SECRET: {
        "type": "apiKey",
        "in": "header",
        "name": "X-RBAC-SYNC-SECRET",
        "description": "An internal caller's secret (INTERNAL_CALLER_<NAME>_SECRET, or "
        "RBAC_SYNC_SECRET for the default caller with every scope; the _PREVIOUS one during "
        "a rotation). A caller outside the route's scope gets 403. Never send it from client "
        "code.",
    },
    BUSINESS_KEY: {
        "type": "http",
        "scheme": "bearer",
        "description": "A business API key issued with `flask api-keys create`.",
    },
}

# -- errors -----------------------------------------------------------------------------------

ERROR_DESCRIPTIONS = {
    400: "Invalid JSON, or a field failed validation (the message names the field); "
    "also a 400 relayed from Directus",
    401: "Missing or invalid credentials",
    403: "The caller may not use this record, the API key is revoked, or the internal "
    "caller lacks the route's scope",
    404: "No such record",
    409: "A concurrent change (retry); or, on a decrypting read, a stored value that cannot "
    "be decrypted (`Stored credentials could not be decrypted`: store it again), or a stored "
    "download credential the requested format cannot be made from (store it again)",
    413: "Request body too large",
    415: "Content-Type must be application/json",
    422: "Directus refused the data (its status is relayed)",
    500: "Internal error",
    502: "Directus is unavailable or answered with an error",
    503: "Not ready: Directus unreachable, the token refused (401) or a permission missing "
    "(403), or the audit trail not writable; the error names which (readiness probe)",
    504: "Directus did not answer in time",
}

BODY_ERRORS = (400, 413, 415)
DIRECTUS_ERRORS = (404, 409, 422, 500, 502, 504)


@dataclass(frozen=True)
class Operation:
    """What one (rule, method) takes and answers."""

    summary: str
    tag: str
    response: type[Schema]
    example: dict[str, Any] | None = None
    request: Schema | None = None
    auth: str | None = None
    errors: tuple[int, ...] = ()
    status: int = 200
    description: str | None = None
    extra_responses: dict[int, tuple[type[Schema], str]] = field(default_factory=dict)

    def error_statuses(self) -> list[int]:
        statuses = set(self.errors)
        if self.auth:
            statuses.add(401)
        if self.auth == SHARED_SECRET:
            statuses.add(403)  # a known caller outside the route's scope
        if self.request is not None:
            statuses.update(BODY_ERRORS)
        return sorted(statuses - {self.status} - set(self.extra_responses))


PROFILE_ID = "d3f21c8e-4a5b-4c9d-8e7f-1a2b3c4d5e6f"
CREDENTIAL_ID = "a1b2c3d4-5e6f-4a8b-9c0d-e1f2a3b4c5d6"
SESSION_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
COOKIE = {
    "name": "sessionid",
    "value": "123456789%3AabcXYZ%3A28",
    "domain": ".instagram.com",
    "path": "/",
    "expires": 1735689600,
    "httpOnly": True,
    "secure": True,
}

CRED = "credentials"
END_USERS = "end-users"
WORKERS = "workers"
PROBES = "probes"
END_USER_CREDENTIALS = "/v1/end-users/<path:end_user_id>/credentials"
END_USER_ERRORS = (400, 403, *DIRECTUS_ERRORS)  # 400: a bad endUserId; 403: a revoked key

ROUTES: dict[tuple[str, str], Operation] = {
    # -- probes and the document ------------------------------------------------------------
    ("/healthz", "GET"): Operation(
        "Liveness: the process is alive", PROBES, res.HealthSchema, {"status": "ok"}
    ),
    ("/readyz", "GET"): Operation(
        "Readiness: Directus takes the token, grants the reads and (auditing modes) audit rows",
        PROBES,
        res.ReadySchema,
        {"status": "ready"},
        errors=(500,),
        extra_responses={503: (res.CredentialsErrorSchema, ERROR_DESCRIPTIONS[503])},
    ),
    ("/openapi.json", "GET"): Operation(
        "This document", PROBES, res.OpenApiDocumentSchema, errors=(500,)
    ),
    # -- credentials API, Directus user JWT ---------------------------------------------------
    ("/api/credentials/create-profile", "POST"): Operation(
        "Create or update the caller's connection for a platform",
        CRED,
        res.CreateProfileResponseSchema,
        {"success": True, "id": PROFILE_ID, "updated": False},
        request=req.create_profile,
        auth=USER_JWT,
        errors=DIRECTUS_ERRORS,
    ),
    ("/api/credentials/update-profile-creds", "POST"): Operation(
        "Replace the credentials of a connection the caller owns",
        CRED,
        res.IdResponseSchema,
        {"success": True, "id": PROFILE_ID},
        request=req.update_profile_creds,
        auth=USER_JWT,
        errors=(403, *DIRECTUS_ERRORS),
    ),
    ("/api/credentials/create-download-cred", "POST"): Operation(
        "Store a yt-dlp password or Netscape cookie file for one of the caller's profiles",
        CRED,
        res.IdResponseSchema,
        {"success": True, "id": CREDENTIAL_ID},
        request=req.create_download_cred,
        auth=USER_JWT,
        errors=(403, *DIRECTUS_ERRORS),
    ),
    ("/api/credentials/store-platform-session", "POST"): Operation(
        "Store browser cookies captured by the extension",
        CRED,
        res.StorePlatformSessionResponseSchema,
        {"success": True, "id": SESSION_ID, "platform": "instagram", "cookie_count": 1},
        request=req.store_platform_session,
        auth=USER_JWT,
        errors=(403, *DIRECTUS_ERRORS),
    ),
    ("/api/credentials/revoke-platform-session", "POST"): Operation(
        "Mark one of the caller's sessions revoked",
        CRED,
        res.IdResponseSchema,
        {"success": True, "id": SESSION_ID},
        request=req.revoke_platform_session,
        auth=USER_JWT,
        errors=(403, *DIRECTUS_ERRORS),
    ),
    ("/api/credentials/platforms", "GET"): Operation(
        "The supported platforms: cookie domains, login page, the cookies of a session",
        CRED,
        res.PlatformsResponseSchema,
        {
            "success": True,
            "platforms": [
                {
                    "platform": "instagram",
                    "name": "Instagram",
                    "cookie_domains": ["instagram.com"],
                    "login_url": "https://www.instagram.com/accounts/login/",
                    "session_cookies": ["sessionid"],
                }
            ],
        },
        auth=USER_JWT,
        description="From the one platform table (credsvc/platforms.py); docs/extension-api.md",
    ),
    ("/api/credentials/platform-sessions", "GET"): Operation(
        "The caller's creator profiles and their sessions' health, newest first (no values)",
        CRED,
        res.PlatformSessionsResponseSchema,
        {
            "success": True,
            "profiles": [{"id": PROFILE_ID, "platform": "instagram", "platform_username": "me"}],
            "sessions": [
                {
                    "id": SESSION_ID,
                    "creator_profile_id": PROFILE_ID,
                    "platform": "instagram",
                    "status": "needs_recapture",
                    "reason": "logged_out",
                    "captured_at": "2026-01-15T10:30:00.000Z",
                    "expires_at": "2026-12-31T23:59:59.000Z",
                    "cookie_count": 3,
                    "reported_at": "2026-01-20T08:00:00.000Z",
                    "superseded_by": None,
                }
            ],
        },
        auth=USER_JWT,
        errors=(502, 504),
        description="status: active, expiring_soon (within SESSION_EXPIRING_SOON_HOURS), "
        "expired, revoked, needs_recapture, superseded. docs/extension-api.md",
    ),
    # -- credentials API, shared secret ------------------------------------------------------
    ("/api/credentials/store", "POST"): Operation(
        "Encrypt and save credentials on an existing profile",
        CRED,
        res.StoreResponseSchema,
        {"success": True, "creatorProfileId": PROFILE_ID, "updated": PROFILE_ID},
        request=req.store,
        auth=SHARED_SECRET,
        errors=DIRECTUS_ERRORS,
    ),
    ("/api/credentials/reveal", "POST"): Operation(
        "Decrypt a profile's credentials (audited)",
        CRED,
        res.RevealResponseSchema,
        {
            "success": True,
            "creatorProfileId": PROFILE_ID,
            "credentials": {"api_key": "sk-proj-abc123xyz"},
        },
        request=req.reveal,
        auth=SHARED_SECRET,
        errors=DIRECTUS_ERRORS,
    ),
    ("/api/credentials/reveal-download-cred", "POST"): Operation(
        "Decrypt a download credential, optionally converted for yt-dlp or Playwright (audited)",
        CRED,
        res.RevealDownloadCredResponseSchema,
        {
            "success": True,
            "id": CREDENTIAL_ID,
            "platform": "youtube",
            "auth_type": "password",
            "username": "me@example.com",
            "format": "json",
            "credentials": {"password": "MyYouTubePassword123"},
        },
        request=req.reveal_download_cred,
        auth=SHARED_SECRET,
        errors=DIRECTUS_ERRORS,
    ),
    ("/api/credentials/get-platform-session", "POST"): Operation(
        "The newest usable session's cookies for (profile, platform) (audited)",
        CRED,
        res.GetPlatformSessionResponseSchema,
        {
            "success": True,
            "id": SESSION_ID,
            "platform": "instagram",
            "cookies": [COOKIE],
            "format": "json",
            "captured_at": "2026-01-15T10:30:00.000Z",
            "expires_at": "2026-12-31T23:59:59.000Z",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
            "expired": False,
        },
        request=req.get_platform_session,
        auth=SHARED_SECRET,
        errors=DIRECTUS_ERRORS,
        description="Never a session reported as needing re-capture, or superseded: the next "
        "usable one, else 404 saying the session needs re-capture. docs/extension-api.md",
    ),
    ("/api/credentials/report-platform-session", "POST"): Operation(
        "A worker reports a session dead: it needs re-capture and is never served again (audited)",
        CRED,
        res.ReportPlatformSessionResponseSchema,
        {"success": True, "id": SESSION_ID, "status": "needs_recapture"},
        request=req.report_platform_session,
        auth=SHARED_SECRET,
        errors=DIRECTUS_ERRORS,
        description="Idempotent: a second report keeps the first time and reason. A revoked "
        "session stays revoked (answered as such). docs/extension-api.md",
    ),
    # -- end-user API, business API key -------------------------------------------------------
    (END_USER_CREDENTIALS, "PUT"): Operation(
        "Set credentials: the fields sent are set (null clears one), others stay",
        END_USERS,
        res.OkSchema,
        {"ok": True},
        request=end_user_req.set_credentials,
        auth=BUSINESS_KEY,
        errors=END_USER_ERRORS,
    ),
    (END_USER_CREDENTIALS, "GET"): Operation(
        "Which platforms and fields are configured (flags only, never values)",
        END_USERS,
        res.CredentialStatusResponseSchema,
        {
            "ok": True,
            "endUserId": "alice",
            "platforms": {
                "twitter": {
                    "configured": True,
                    "fields": {"twitterAuthToken": True, "twitterCt0": False},
                }
            },
        },
        auth=BUSINESS_KEY,
        errors=END_USER_ERRORS,
    ),
    (END_USER_CREDENTIALS, "DELETE"): Operation(
        "Delete every credential of the end user",
        END_USERS,
        res.OkSchema,
        {"ok": True},
        auth=BUSINESS_KEY,
        errors=END_USER_ERRORS,
    ),
    # -- workers, shared secret ---------------------------------------------------------------
    ("/api/end-user-credentials/reveal", "POST"): Operation(
        "An end user's cookies per platform, ready for a browser (audited)",
        WORKERS,
        res.RevealEndUserResponseSchema,
        {
            "success": True,
            "businessId": "acme",
            "endUserId": "alice",
            "format": "json",
            "platforms": {
                "reddit": {
                    "cookies": [
                        {
                            "name": "reddit_session",
                            "value": "...",
                            "domain": ".reddit.com",
                            "path": "/",
                            "httpOnly": True,
                            "secure": True,
                        }
                    ],
                    "missing": [],
                }
            },
        },
        request=end_user_req.reveal,
        auth=SHARED_SECRET,
        errors=DIRECTUS_ERRORS,
    ),
}

# -- building ---------------------------------------------------------------------------------

RULE_ARGUMENT = re.compile(r"<(?:[a-zA-Z_][a-zA-Z0-9_]*(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
PATH_PARAMETER_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 256}


def openapi_path(rule: str) -> str:
    """`/v1/end-users/<end_user_id>/credentials` -> `/v1/end-users/{end_user_id}/credentials`."""
    return RULE_ARGUMENT.sub(lambda m: "{" + m.group(1) + "}", rule)


# Served but not API: the Prometheus exposition (text format; docs/operations.md "Metrics").
NOT_API_ENDPOINTS = ("static", "metrics.exposition")


def app_routes(app: Flask) -> set[tuple[str, str]]:
    """Every (rule, method) the app serves, apart from NOT_API_ENDPOINTS, HEAD and OPTIONS."""
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in NOT_API_ENDPOINTS
        for method in (rule.methods or ()) - IGNORED_METHODS
    }


def error_schema_for(rule: str) -> type[Schema]:
    return res.EndUserErrorSchema if rule.startswith("/v1/") else res.CredentialsErrorSchema


def _json(schema: Any, example: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _operation(rule: str, operation: Operation, path_parameters: list[str]) -> dict[str, Any]:
    error_schema = error_schema_for(rule)
    responses: dict[str, Any] = {
        str(operation.status): {
            "description": operation.summary,
            "content": _json(operation.response, operation.example),
        }
    }
    for status, (schema, description) in operation.extra_responses.items():
        responses[str(status)] = {"description": description, "content": _json(schema)}
    for status in operation.error_statuses():
        responses[str(status)] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": _json(error_schema),
        }
    spec: dict[str, Any] = {
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": responses,
        "security": [{operation.auth: []}] if operation.auth else [],
    }
    if operation.description:
        spec["description"] = operation.description
    if path_parameters:
        spec["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": dict(PATH_PARAMETER_SCHEMA)}
            for name in path_parameters
        ]
    if operation.request is not None:
        spec["requestBody"] = {"required": True, "content": _json(type(operation.request))}
    return spec


def _dict_length(self, field: fields.Field, ret: dict[str, Any], **kwargs) -> dict[str, Any]:
    """apispec writes a Length validator on a Dict as minLength; for objects it is minProperties."""
    if isinstance(field, fields.Dict):
        for name, replacement in (("minLength", "minProperties"), ("maxLength", "maxProperties")):
            if name in ret:
                ret[replacement] = ret.pop(name)
    return {}


def _new_spec() -> APISpec:
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": "Third-party credentials encrypted at rest in Directus. "
            "/api/credentials/* answers errors as {success: false, error}; /v1/* as "
            "{ok: false, error}."
        },
    )
    plugin.converter.add_attribute_function(_dict_length)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    return spec


def _build(app: Flask) -> dict[str, Any]:
    spec = _new_spec()
    served = app_routes(app)
    by_path: dict[str, dict[str, Any]] = {}
    parameters: dict[str, list[str]] = {}
    for (rule, method), operation in sorted(ROUTES.items()):
        if (rule, method) not in served:
            continue  # documented but not registered in this app: never advertise it
        path = openapi_path(rule)
        parameters[path] = RULE_ARGUMENT.findall(rule)
        by_path.setdefault(path, {})[method.lower()] = _operation(rule, operation, parameters[path])
    for path, operations in by_path.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def build_spec(app: Flask) -> dict[str, Any]:
    """The app's OpenAPI document, built on first use and then cached."""
    document = app.extensions.get(CACHE_KEY)
    if document is None:
        document = app.extensions[CACHE_KEY] = _build(app)
    return document

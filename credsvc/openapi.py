"""The OpenAPI 3 document of both API families, built from the views' own declarations.

Each view states its contract once, with `@operation` (credsvc.api.operations): request schema,
success response schema and example, the errors its work can answer; summary and description
are its docstring. This module walks `app.url_map` and adds what follows from where the view
lives: the path and method, the path parameters, the auth scheme of the blueprint's guard
(`GUARD_SCHEMES`) with its 401 (and 403 for a caller outside a shared-secret route's scope),
400/413/415 for a JSON body, the error shape of the path's family (credsvc.errors.error_body),
an operationId (the Flask endpoint, e.g. `internal_credentials.reveal`) and a tag per blueprint
(described by the first line of the blueprint module's docstring). A view with no declaration
stops the build (`Undeclared`); a unit test builds every mode's document.

The document is built once per app and cached in `app.extensions`.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema, fields

from credsvc.api.operations import NotInTheApi, Operation, operation_of
from credsvc.auth import require_api_key, require_internal, require_user
from credsvc.errors import envelope_key
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

# -- building ---------------------------------------------------------------------------------

RULE_ARGUMENT = re.compile(r"<(?:[a-zA-Z_][a-zA-Z0-9_]*(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
PATH_PARAMETER_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 256}
# Flask's own static route, were the app ever given a static folder.
FLASK_ENDPOINTS = ("static",)


class Undeclared(LookupError):
    """A served view without @operation or @not_in_the_api."""


def openapi_path(rule: str) -> str:
    """`/v1/end-users/<end_user_id>/credentials` -> `/v1/end-users/{end_user_id}/credentials`."""
    return RULE_ARGUMENT.sub(lambda m: "{" + m.group(1) + "}", rule)


def declarations(app: Flask) -> list[tuple[str, str, str, Operation | NotInTheApi | None]]:
    """(rule, method, endpoint, declaration) for every route the app serves, HEAD and OPTIONS
    apart, sorted; the declaration is None for a view that has none."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FLASK_ENDPOINTS:
            continue
        declared = operation_of(app.view_functions[rule.endpoint])
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            found.append((rule.rule, method, rule.endpoint, declared))
    return sorted(found, key=lambda item: item[:3])


def operations(app: Flask) -> dict[tuple[str, str], tuple[str, Operation]]:
    """(rule, method) -> (endpoint, Operation) for every API route; Undeclared names the views
    that declare nothing."""
    undeclared = sorted({e for _, _, e, declared in declarations(app) if declared is None})
    if undeclared:
        raise Undeclared(
            f"views without @operation or @not_in_the_api (credsvc.api.operations): {undeclared}"
        )
    return {
        (rule, method): (endpoint, declared)
        for rule, method, endpoint, declared in declarations(app)
        if isinstance(declared, Operation)
    }


def app_routes(app: Flask) -> set[tuple[str, str]]:
    """Every (rule, method) of the JSON API the app serves."""
    return set(operations(app))


# The guards of credsvc.auth, by the scheme they check.
GUARD_SCHEMES = {
    require_user: USER_JWT,
    require_internal: SHARED_SECRET,
    require_api_key: BUSINESS_KEY,
}


def blueprint_of(endpoint: str) -> str | None:
    return endpoint.rpartition(".")[0] or None


def auth_scheme(app: Flask, endpoint: str) -> str | None:
    """The scheme of the guard the endpoint's blueprint runs before every request, if any."""
    guards = app.before_request_funcs.get(blueprint_of(endpoint), [])
    schemes = {GUARD_SCHEMES[guard] for guard in guards if guard in GUARD_SCHEMES}
    if len(schemes) > 1:
        raise ValueError(f"{endpoint}: more than one guard ({sorted(schemes)})")
    return schemes.pop() if schemes else None


def error_statuses(operation: Operation, auth: str | None) -> list[int]:
    statuses = set(operation.errors)
    if auth:
        statuses.add(401)
    if auth == SHARED_SECRET:
        statuses.add(403)  # a known caller outside the route's scope
    if operation.request is not None:
        statuses.update(BODY_ERRORS)
    return sorted(statuses - {operation.status})


def error_schema_for(rule: str) -> type[Schema]:
    """The family\'s error shape, as the renderer decides it for this path."""
    return res.EndUserErrorSchema if envelope_key(rule) == "ok" else res.CredentialsErrorSchema


def _json(schema: Any, example: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _operation(rule: str, endpoint: str, operation: Operation, auth: str | None) -> dict[str, Any]:
    error_schema = error_schema_for(rule)
    responses: dict[str, Any] = {
        str(operation.status): {
            "description": operation.summary,
            "content": _json(operation.response, operation.example),
        }
    }
    for status in error_statuses(operation, auth):
        responses[str(status)] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": _json(error_schema),
        }
    spec: dict[str, Any] = {
        "operationId": endpoint,
        "summary": operation.summary,
        "tags": [blueprint_of(endpoint) or "app"],
        "responses": responses,
        "security": [{auth: []}] if auth else [],
    }
    if operation.description:
        spec["description"] = operation.description
    path_parameters = RULE_ARGUMENT.findall(rule)
    if path_parameters:
        spec["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": dict(PATH_PARAMETER_SCHEMA)}
            for name in path_parameters
        ]
    if operation.request is not None:
        spec["requestBody"] = {
            "required": True,
            "content": _json(type(operation.request), operation.request_example),
        }
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
            "/api/credentials/* answers errors as {success: false, error}; the end-user API "
            "as {ok: false, error}."
        },
    )
    plugin.converter.add_attribute_function(_dict_length)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for name, schema in res.REFERENCED_SCHEMAS.items():
        spec.components.schema(name, schema=schema)
    return spec


def _tag(app: Flask, blueprint: str) -> dict[str, str]:
    module = sys.modules.get(app.blueprints[blueprint].import_name)
    doc = (module.__doc__ or "").strip() if module else ""
    tag = {"name": blueprint}
    if doc:
        tag["description"] = " ".join(doc.split("\n\n")[0].split())
    return tag


def _build(app: Flask) -> dict[str, Any]:
    spec = _new_spec()
    by_path: dict[str, dict[str, Any]] = {}
    blueprints = set()
    for (rule, method), (endpoint, operation) in sorted(operations(app).items()):
        auth = auth_scheme(app, endpoint)
        blueprints.add(blueprint_of(endpoint) or "app")
        by_path.setdefault(openapi_path(rule), {})[method.lower()] = _operation(
            rule, endpoint, operation, auth
        )
    # Tags in the order the blueprints are registered (credsvc.api.BLUEPRINTS): probes first.
    for blueprint in [*app.blueprints, *sorted(blueprints - set(app.blueprints))]:
        if blueprint in blueprints:
            spec.tag(_tag(app, blueprint) if blueprint in app.blueprints else {"name": blueprint})
    for path, path_operations in by_path.items():
        spec.path(path=path, operations=path_operations)
    return spec.to_dict()


def build_spec(app: Flask) -> dict[str, Any]:
    """The app's OpenAPI document, built on first use and then cached."""
    document = app.extensions.get(CACHE_KEY)
    if document is None:
        document = app.extensions[CACHE_KEY] = _build(app)
    return document

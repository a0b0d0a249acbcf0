"""HTTP layer: one blueprint per audience and resource family, each with one guard.

health                  /healthz /readyz                       no auth
openapi                 /openapi.json /docs                    no auth
user_credentials        /api/credentials/*  (7 endpoints)      Directus user JWT
internal_credentials    /api/credentials/*  (5 endpoints)      X-RBAC-SYNC-SECRET + scope
end_users               /v1/end-users/{endUserId}/credentials  business API key
workers                 /api/end-user-credentials/reveal       X-RBAC-SYNC-SECRET + scope

Which of them a process serves depends on CREDSVC_MODE: `BLUEPRINTS` below. Each view declares
its contract with `@operation` (credsvc.api.operations); /openapi.json is built from those.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, current_app, g, request
from marshmallow import Schema, ValidationError
from werkzeug.routing import RequestRedirect

from credsvc.errors import Invalid, NotFound, UnsupportedMedia


def services():
    """The app's Directus client, keyring and config (see credsvc.create_app)."""
    return current_app.extensions["credsvc"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Arrays and objects inside each other, the body itself being level 1. The parser recurses once
# per level, so a deep body is refused before it is parsed.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")


def nested_deeper_than(text: str, limit: int) -> bool:
    """Whether the JSON text nests arrays/objects more than `limit` levels deep.

    Each pass removes the innermost bracket pairs, i.e. one level. Text whose brackets do not
    pair up stops the passes early (False): the parser then refuses it as invalid JSON.
    """
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(limit):
        if not brackets:
            return False
        reduced = _INNERMOST_PAIR.sub("", brackets)
        if reduced == brackets:
            return False
        brackets = reduced
    return bool(brackets)


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object: 415 for another media type, 400 for bad JSON."""
    if request.mimetype != "application/json":
        raise UnsupportedMedia()
    raw = request.get_data(cache=True)  # MAX_CONTENT_LENGTH applies here (413)
    try:
        # Decoded as json.loads decodes bytes (UTF-8, -16 or -32), so the depth check and the
        # parser read the same text.
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError:
        raise Invalid("Invalid JSON body") from None
    if nested_deeper_than(text, MAX_JSON_DEPTH):
        raise Invalid(f"JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # RecursionError: unbalanced, e.g. "[" * 100_000
        raise Invalid("Invalid JSON body") from None
    if not isinstance(data, dict):
        raise Invalid("JSON body must be an object")
    return data


def validation_message(messages: Any, prefix: str = "") -> str:
    """Flatten marshmallow's error dict into "field: message; other: message"."""
    if isinstance(messages, dict):
        parts = [
            validation_message(value, f"{prefix}.{key}" if prefix else str(key))
            for key, value in sorted(messages.items(), key=lambda item: str(item[0]))
        ]
        return "; ".join(parts)
    if isinstance(messages, list):
        text = " ".join(str(message) for message in messages)
    else:
        text = str(messages)
    return f"{prefix}: {text}" if prefix else text


def load_body(schema: Schema) -> dict[str, Any]:
    """Read and validate the JSON body with `schema`; 400 naming each bad field."""
    try:
        return schema.load(read_json_object())
    except ValidationError as exc:
        raise Invalid(validation_message(exc.messages)) from None


def audit(action: str, **target: str):
    """Audit the decrypting read inside the `with` block; actor and request id come from the
    request (see credsvc.services.audit.AuditTrail.audited)."""
    return services().audit.audited(
        actor=g.actor,
        action=action,
        request_id=g.get("request_id"),
        **target,
    )


def no_store(response):
    """Credential-bearing answers must never be cached by a proxy or the browser."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


# The blueprints each CREDSVC_MODE serves (credsvc.config.MODES): the one place that decides.
# A blueprint left out is not registered at all, so its paths answer the JSON 404.
# Every mode serves the probes, its own /openapi.json and the /docs page rendering it (static,
# no data, no auth: a worker's page documents the internal routes its callers use).
PROBES = ("health", "openapi")
BLUEPRINTS: dict[str, tuple[str, ...]] = {
    "full": (*PROBES, "user_credentials", "internal_credentials", "end_users", "workers"),
    # encrypt-only: takes credentials from users and businesses, reveals nothing
    "ingest": (*PROBES, "user_credentials", "end_users"),
    # decrypting: serves internal callers only
    "worker": (*PROBES, "internal_credentials", "workers"),
}


def refuse_redirects() -> None:
    """before_request: the router never answers 3xx. Clients follow a 308 with the same method,
    body and key, so a redirect of /v1/end-users//bob/credentials to .../bob/credentials made a
    DELETE wipe another end user. What the router would redirect is a 404 instead."""
    if isinstance(request.routing_exception, RequestRedirect):
        raise NotFound()


def init_routing(app: Flask) -> None:
    """Paths match exactly as sent: "//" is never merged into "/", nothing redirects."""
    app.url_map.merge_slashes = False
    app.url_map.redirect_defaults = False
    # Also catches what is left (a rule ending in "/" asked without it): app-level hooks run
    # before the routing exception is raised.
    app.before_request(refuse_redirects)


def init_app(app: Flask) -> None:
    init_routing(app)
    from credsvc.api import (
        end_users,
        health,
        internal_credentials,
        openapi,
        user_credentials,
        workers,
    )

    modules = (health, openapi, user_credentials, internal_credentials, end_users, workers)
    by_name = {module.bp.name: module.bp for module in modules}
    for name in BLUEPRINTS[app.extensions["credsvc"].config.mode]:
        app.register_blueprint(by_name[name])

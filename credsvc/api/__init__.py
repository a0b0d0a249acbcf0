"""HTTP layer: one blueprint per audience and resource family, each with one guard.

health                  /healthz /readyz                       no auth
openapi                 /openapi.json                          no auth
user_credentials        /api/credentials/*  (5 endpoints)      Directus user JWT
internal_credentials    /api/credentials/*  (4 endpoints)      X-RBAC-SYNC-SECRET
end_users               /v1/end-users/{endUserId}/credentials  business API key
workers                 /api/end-user-credentials/reveal       X-RBAC-SYNC-SECRET
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, current_app, g, request
from marshmallow import Schema, ValidationError

from credsvc.errors import BadRequest, UnsupportedMedia
from credsvc.services.audit import audited


def services():
    """The app's Directus client, keyring and config (see credsvc.create_app)."""
    return current_app.extensions["credsvc"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object: 415 for another media type, 400 for bad JSON."""
    if request.mimetype != "application/json":
        raise UnsupportedMedia()
    raw = request.get_data(cache=True)  # MAX_CONTENT_LENGTH applies here (413)
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Invalid JSON body") from None
    if not isinstance(data, dict):
        raise BadRequest("JSON body must be an object")
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
        raise BadRequest(validation_message(exc.messages)) from None


def audit(action: str, **target: str):
    """Audit the decrypting read inside the `with` block; actor and request id come from the
    request (see credsvc.services.audit.audited)."""
    return audited(
        services().directus,
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


def init_app(app: Flask) -> None:
    from credsvc.api import (
        end_users,
        health,
        internal_credentials,
        openapi,
        user_credentials,
        workers,
    )

    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(user_credentials.bp)
    app.register_blueprint(internal_credentials.bp)
    app.register_blueprint(end_users.bp)
    app.register_blueprint(workers.bp)

"""Every failure leaves the service through `render_error`, in the JSON envelope of its path.

The one exception tree. The classes of credsvc.exceptions are raised by services, guards and
views, and each states its status; everything else is mapped by `public_error`:

    Exception
    ├── ServiceError (credsvc.exceptions)  its status and message; bare: 500
    │   ├── Invalid                 400     invalid JSON, validation failures (naming the
    │   │                                   field), a format an auth type does not offer
    │   ├── Unauthorized            401     "Unauthorized", or what the API key guard says
    │   ├── Forbidden               403     "Forbidden", a revoked key, a refused Origin
    │   ├── NotFound                404     "<what> <id> not found"
    │   ├── Conflict                409     a concurrent update, an owner mismatch
    │   ├── UnsupportedMedia        415     "Content-Type must be application/json"
    │   └── Unavailable             503     /readyz: "not ready: <reason>: <message>"
    ├── werkzeug HTTPException              its own status (404 route, 405, 413 ...)
    ├── DirectusError (credsvc.directus)
    │   ├── DirectusResponseError           caller-caused 4xx -> same status,
    │   │                                   "Directus <status> <path>: <body>"
    │   │                                   anything else -> 502 "Directus <status> <path>"
    │   └── DirectusTransportError  502     "Directus is unavailable"
    │       └── DirectusTimeout     504     "Directus did not answer in time"
    ├── DirectusFilterError         400     a filter value Directus would read as a keyword
    ├── CryptoError (credsvc.crypto) 409    "Stored credentials could not be decrypted": the
    │   │                                   stored value is refused (tampered, relabelled, a
    │   │                                   legacy value no configured key or derivation
    │   │                                   opens); retrying cannot help, storing it again
    │   │                                   does. Logged (type only) and audited.
    │   └── DecryptionUnavailable   503     "This deployment cannot decrypt" (ingest mode,
    │                                       transit refused)
    └── anything else               500     "Internal server error" (logged, type only)

Which envelope an answer on a path uses is `envelope_key`'s decision, and nobody else's.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from credsvc.crypto import CryptoError, DecryptionUnavailable
from credsvc.directus import (
    DirectusError,
    DirectusFilterError,
    DirectusResponseError,
    DirectusTimeout,
)
from credsvc.exceptions import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    Unauthorized,
    Unavailable,
    UnsupportedMedia,
)

__all__ = [
    "Conflict",
    "Forbidden",
    "Invalid",
    "NotFound",
    "ServiceError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMedia",
    "envelope_key",
    "error_body",
    "init_app",
    "public_error",
    "render_error",
]

log = logging.getLogger("credsvc.errors")

# Upstream statuses that mean "the request we relayed was wrong", not "Directus is broken".
CALLER_CAUSED_UPSTREAM = {400, 404, 409, 413, 422}

HTTP_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Content-Type must be application/json",
}

DECRYPT_FAILED = "Stored credentials could not be decrypted"


def public_error(exc: BaseException) -> tuple[int, str]:
    """The status and message the caller is told for `exc` (the tree above)."""
    if isinstance(exc, ServiceError):
        return exc.status, exc.message
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        return status, HTTP_MESSAGES.get(status, exc.name)
    if isinstance(exc, DirectusFilterError):
        # Refused before it reached Directus; the message names the field, not the value.
        return Invalid.status, str(exc)
    if isinstance(exc, DirectusResponseError):
        if exc.status in CALLER_CAUSED_UPSTREAM:
            return exc.status, str(exc)
        # Directus's own failure: its body may carry internals (stack traces, SQL); not relayed.
        return 502, f"Directus {exc.status} {exc.path}"
    if isinstance(exc, DirectusTimeout):
        return 504, "Directus did not answer in time"
    if isinstance(exc, DirectusError):
        return 502, "Directus is unavailable"
    if isinstance(exc, DecryptionUnavailable):
        # About this deployment (encrypt-only, transit refused), not about the stored value.
        return 503, exc.public_message
    if isinstance(exc, CryptoError):
        return 409, DECRYPT_FAILED
    return ServiceError.status, ServiceError.message


def envelope_key(path: str) -> str:
    """The member that says success or failure in an answer on `path`: "ok" in the end-user
    API (every path under /v1/), "success" in the credentials API and everywhere else."""
    return "ok" if path.startswith("/v1/") else "success"


def error_body(message: str, path: str) -> dict:
    return {envelope_key(path): False, "error": message}


def render_error(exc: BaseException) -> Response:
    """The one place an error becomes a response."""
    status, message = public_error(exc)
    if status >= 500:
        # Type and status only: exception messages may quote upstream bodies.
        log.error("request failed", extra={"status": status, "error_type": type(exc).__name__})
    elif isinstance(exc, CryptoError):
        # A refused stored value is the data's problem, not the caller's, and worth a look.
        log.warning(
            "stored value refused", extra={"status": status, "error_type": type(exc).__name__}
        )
    response = jsonify(error_body(message, request.path))
    response.status_code = status
    if getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(Exception, render_error)

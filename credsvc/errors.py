"""Every failure leaves the service through `render_error`, in one JSON shape per API family.

Exception tree (HTTP-facing classes carry their status):

    ApiError                        status + public message
    ├── BadRequest          400     invalid JSON, validation failures (message names the field)
    ├── Unauthorized        401     "Unauthorized"
    ├── Forbidden           403     "Forbidden"
    ├── NotFound            404
    └── UnsupportedMedia    415

Other sources, mapped in `to_api_error`:
    services.DomainError            invalid 400, not_found 404, forbidden 403, conflict 409
    werkzeug HTTPException          its own status (404 route, 405, 413 ...)
    DirectusResponseError           caller-caused 4xx -> same status,
                                    "Directus <status> <path>: <body>"
                                    anything else -> 502 "Directus <status> <path>" (no body)
    DirectusTimeout                 504
    DirectusFilterError             400 (a filter value Directus would read as a keyword)
    DirectusTransportError          502
    DecryptionUnavailable           503 "This deployment cannot decrypt" (ingest mode, transit)
    CryptoError                     409 "Stored credentials could not be decrypted": the stored
                                    value is refused (tampered, relabelled, a legacy value no
                                    configured key or derivation opens); retrying cannot help,
                                    storing it again does. Logged (type only) and audited.
    anything else                   500 "Internal server error" (logged with a traceback-free line)

The credentials API answers `{"success": false, "error": ...}`; the end-user API under /v1/
answers `{"ok": false, "error": ...}`.
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
from credsvc.services import DomainError

log = logging.getLogger("credsvc.errors")


class ApiError(Exception):
    status = 500
    message = "Internal server error"

    def __init__(self, message: str | None = None, status: int | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        if status is not None:
            self.status = status


class BadRequest(ApiError):
    status = 400
    message = "Bad request"


class Unauthorized(ApiError):
    status = 401
    message = "Unauthorized"


class Forbidden(ApiError):
    status = 403
    message = "Forbidden"


class NotFound(ApiError):
    status = 404
    message = "Not found"


class UnsupportedMedia(ApiError):
    status = 415
    message = "Content-Type must be application/json"


# Upstream statuses that mean "the request we relayed was wrong", not "Directus is broken".
CALLER_CAUSED_UPSTREAM = {400, 404, 409, 413, 422}

DOMAIN_STATUS = {"invalid": 400, "not_found": 404, "forbidden": 403, "conflict": 409}

HTTP_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Content-Type must be application/json",
}


def to_api_error(exc: BaseException) -> ApiError:
    """Translate any exception into the ApiError that will be rendered."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, DomainError):
        return ApiError(exc.message, DOMAIN_STATUS[exc.kind])
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        return ApiError(HTTP_MESSAGES.get(status, exc.name), status)
    if isinstance(exc, DirectusFilterError):
        # Refused before it reached Directus; the message names the field, not the value.
        return BadRequest(str(exc))
    if isinstance(exc, DirectusResponseError):
        if exc.status in CALLER_CAUSED_UPSTREAM:
            return ApiError(str(exc), exc.status)
        # Directus's own failure: its body may carry internals (stack traces, SQL); not relayed.
        return ApiError(f"Directus {exc.status} {exc.path}", 502)
    if isinstance(exc, DirectusTimeout):
        return ApiError("Directus did not answer in time", 504)
    if isinstance(exc, DirectusError):
        return ApiError("Directus is unavailable", 502)
    if isinstance(exc, DecryptionUnavailable):
        # About this deployment (encrypt-only, transit refused), not about the stored value.
        return ApiError(exc.public_message, 503)
    if isinstance(exc, CryptoError):
        return ApiError(DECRYPT_FAILED, 409)
    return ApiError()


DECRYPT_FAILED = "Stored credentials could not be decrypted"


def error_body(message: str, path: str) -> dict:
    if path.startswith("/v1/"):
        return {"ok": False, "error": message}
    return {"success": False, "error": message}


def render_error(exc: BaseException) -> Response:
    """The one place an error becomes a response."""
    error = to_api_error(exc)
    if error.status >= 500:
        # Type and status only: exception messages may quote upstream bodies.
        log.error(
            "request failed",
            extra={"status": error.status, "error_type": type(exc).__name__},
        )
    elif isinstance(exc, CryptoError):
        # A refused stored value is the data's problem, not the caller's, and worth a look.
        log.warning(
            "stored value refused",
            extra={"status": error.status, "error_type": type(exc).__name__},
        )
    response = jsonify(error_body(error.message, request.path))
    response.status_code = error.status
    if getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(Exception, render_error)

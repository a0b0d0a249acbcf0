"""The failures a request can end in, each with the HTTP status and message its caller sees.

Services, guards and views raise these; `credsvc.errors.render_error` turns them (and every
other exception) into the one JSON error shape. The whole tree, with the foreign exceptions
the renderer maps, is drawn in credsvc.errors. Imports nothing from Flask.

    ServiceError            500  root: status, public message, audit outcome
    ├── Invalid             400  invalid      well-formed but unusable input (names the field)
    ├── Unauthorized        401               no usable credentials
    ├── Forbidden           403  forbidden    authenticated, but not this caller's
    ├── NotFound            404  not_found
    ├── Conflict            409  conflict     stored state disagrees; retrying may help
    ├── UnsupportedMedia    415
    └── Unavailable         503               /readyz: Directus cannot serve this process

The status is stated here only: a class's `status` is the status of its answer. `outcome` is
the audit row's outcome (credsvc.services.audit) and a closed metrics label (credsvc.metrics).
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be served; the message is public (it reaches the caller)."""

    status: int = 500
    message: str = "Internal server error"
    outcome: str = "error"

    def __init__(self, message: str | None = None):
        if message is not None:
            self.message = message
        super().__init__(self.message)


class Invalid(ServiceError):
    status = 400
    message = "Bad request"
    outcome = "invalid"


class Unauthorized(ServiceError):
    status = 401
    message = "Unauthorized"


class Forbidden(ServiceError):
    status = 403
    message = "Forbidden"
    outcome = "forbidden"


class NotFound(ServiceError):
    status = 404
    message = "Not found"
    outcome = "not_found"


class Conflict(ServiceError):
    status = 409
    message = "Conflict"
    outcome = "conflict"


class UnsupportedMedia(ServiceError):
    status = 415
    message = "Content-Type must be application/json"


class Unavailable(ServiceError):
    status = 503
    message = "Service unavailable"

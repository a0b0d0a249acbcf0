"""What a view says about itself: the one place a route's contract is written down.

    @bp.post("/reveal")
    @requires_scope("creator-credentials")
    @operation(request=schemas.reveal, response=res.RevealResponseSchema, errors=DIRECTUS_ERRORS,
               example={...}, request_example={...})
    def reveal(body):
        \"\"\"Decrypt a profile's credentials (audited).\"\"\"

`@operation` puts an `Operation` on the view (`operation_of(view)` reads it back) and, when it
names a request schema, loads the JSON body with it (`load_body`: 415, 400 naming the field) and
passes it to the view as `body`. The docstring's first line is the summary, the rest the
description. Everything else about the route is derived where it already lives: the path and
method from the route decorator, the auth scheme from the blueprint's guard, 401/403 from that
guard, 400/413/415 from having a body (credsvc.openapi builds the document from `app.url_map`).

A view that answers something other than the JSON API (the Prometheus text, the docs page) says
so with `@not_in_the_api(reason)`; a view with neither decorator fails the route coverage test
and makes the document refuse to build.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema

from credsvc.api import load_body

# Errors a route that reads or writes Directus can answer (credsvc.errors.to_api_error).
DIRECTUS_ERRORS = (404, 409, 422, 500, 502, 504)

# Ids used by the examples, so that examples of related routes tell one story.
PROFILE_ID = "d3f21c8e-4a5b-4c9d-8e7f-1a2b3c4d5e6f"
CREDENTIAL_ID = "a1b2c3d4-5e6f-4a8b-9c0d-e1f2a3b4c5d6"
SESSION_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"

ATTRIBUTE = "api_operation"


@dataclass(frozen=True)
class Operation:
    """What one view takes and answers."""

    summary: str
    response: type[Schema]
    example: dict[str, Any] | None = None
    request: Schema | None = None
    request_example: dict[str, Any] | None = None
    errors: tuple[int, ...] = ()
    description: str | None = None
    status: int = 200


@dataclass(frozen=True)
class NotInTheApi:
    """A view served by the app but not part of the JSON API (no OpenAPI operation)."""

    reason: str


def _docstring(view: Callable) -> tuple[str, str | None]:
    doc = inspect.getdoc(view)
    if not doc:
        raise TypeError(f"{view.__qualname__}: a declared view needs a docstring (its summary)")
    summary, _, rest = doc.partition("\n\n")
    return " ".join(summary.split()).rstrip("."), (" ".join(rest.split()) or None)


def operation(
    *,
    response: type[Schema],
    example: dict[str, Any] | None = None,
    request: Schema | None = None,
    request_example: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (),
) -> Callable[[Callable], Callable]:
    """Declare the view's request schema (loaded and passed as `body`), its success response
    schema and example, and the error statuses its own work can answer."""

    def declare(view: Callable) -> Callable:
        summary, description = _docstring(view)
        declared = Operation(
            summary=summary,
            description=description,
            response=response,
            example=example,
            request=request,
            request_example=request_example,
            errors=tuple(errors),
        )
        if request is None:
            declared_view = view
        else:

            @functools.wraps(view)
            def declared_view(*args: Any, **kwargs: Any) -> Any:
                return view(*args, body=load_body(request), **kwargs)

        setattr(declared_view, ATTRIBUTE, declared)
        return declared_view

    return declare


def not_in_the_api(reason: str) -> Callable[[Callable], Callable]:
    """Declare a served view that is deliberately not an API operation, and why."""

    def declare(view: Callable) -> Callable:
        setattr(view, ATTRIBUTE, NotInTheApi(reason))
        return view

    return declare


def operation_of(view: Callable) -> Operation | NotInTheApi | None:
    """The view's declaration, or None when it has none."""
    return getattr(view, ATTRIBUTE, None)

"""CORS for the signed-in user's endpoints only (a browser dashboard on another origin).

Off unless CORS_ALLOWED_ORIGINS lists origins (credsvc.config). A blueprint opts in with
`enable(bp)`, called *before* its guard is registered, so that a preflight (an OPTIONS carrying
Origin and Access-Control-Request-Method, which a browser sends without the Authorization header)
is answered before the guard would refuse it:

    allowed origin      204, Access-Control-Allow-Origin: <origin>, the route's methods,
                        Allow-Headers "Authorization, Content-Type", Max-Age, Vary: Origin
    any other origin    403 JSON, no Access-Control-* header
    CORS off            not a preflight at all: the guard answers, as on every other route

Every answer of an opted-in blueprint to an allowed origin, errors included (a 401 from the guard
goes through the blueprint's after_request too), carries Access-Control-Allow-Origin, so the
browser lets the dashboard read the JSON error. Authentication is a bearer header, never a
cookie, so Access-Control-Allow-Credentials is never sent.

Blueprints of the shared secret and of business API keys never call `enable`: their answers
carry no CORS header and their preflights meet their guard (401, nothing else said).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from credsvc.errors import Forbidden

ALLOWED_HEADERS = "Authorization, Content-Type"
MAX_AGE_SECONDS = 600  # how long a browser may reuse a preflight answer


def _allowed() -> tuple[str, ...]:
    return current_app.extensions["credsvc"].config.cors_allowed_origins


def _is_preflight() -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def answer_preflight() -> Response | None:
    """before_request, ahead of the guard: answer a preflight without authentication."""
    allowed = _allowed()
    if not allowed or not _is_preflight():
        return None
    if request.headers.get("Origin") not in allowed:
        raise Forbidden("Origin not allowed")
    methods = sorted((request.url_rule.methods or set()) - {"OPTIONS", "HEAD"})
    response = current_app.response_class(status=204)
    response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
    return response  # after_request adds Allow-Origin and Vary


def add_cors_headers(response: Response) -> Response:
    """after_request: Allow-Origin for an allowed origin, on every answer (errors too)."""
    allowed = _allowed()
    if not allowed:
        return response
    response.vary.add("Origin")  # the answer differs by Origin: caches must key on it
    origin = request.headers.get("Origin")
    if origin in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response


def enable(bp: Blueprint) -> None:
    """Serve CORS on `bp`; call it before `bp.before_request(<guard>)`."""
    bp.before_request(answer_preflight)
    bp.after_request(add_cors_headers)

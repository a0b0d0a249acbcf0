"""GET /metrics: the Prometheus exposition (credsvc.metrics), for a scraper holding METRICS_TOKEN.

Registered only when METRICS_TOKEN is set (credsvc.metrics.init_app); otherwise the path is the
JSON 404 like any unknown path. Not part of the API contract or /openapi.json: it answers the
Prometheus text format, and its failures (401) leave through credsvc.errors like every other.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from credsvc.api.operations import not_in_the_api
from credsvc.errors import Unauthorized

bp = Blueprint("metrics", __name__)


def require_metrics_token() -> None:
    """before_request guard: `Authorization: Bearer <METRICS_TOKEN>`, compared in constant time."""
    expected = current_app.extensions["credsvc"].config.metrics_token.encode()
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    # Werkzeug decodes header bytes as latin-1; encoding back recovers the exact bytes sent.
    given = presented.strip().encode("latin-1", errors="replace")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given, expected):
        raise Unauthorized()


bp.before_request(require_metrics_token)


@bp.get("/metrics")
@not_in_the_api("the Prometheus text format, for a scraper (docs/operations.md)")
def exposition():
    """Every counter and histogram, summed over the gunicorn workers."""
    from credsvc.metrics import EXTENSION

    body = current_app.extensions[EXTENSION].exposition()
    response = Response(body, content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response

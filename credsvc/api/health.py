"""Liveness and readiness probes."""

from flask import Blueprint, jsonify

from credsvc.api import services
from credsvc.directus import DirectusError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Directus answers an authenticated read with the service token."""
    try:
        services().directus.check_access("platform_connections")
    except DirectusError:
        response = jsonify({"success": False, "error": "Directus is not reachable"})
        response.status_code = 503
        return response
    return {"status": "ready"}

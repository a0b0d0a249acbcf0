"""Liveness and readiness probes.

/healthz answers from the process alone (cheap: an orchestrator calls it often). /readyz asks
Directus (credsvc.services.readiness): an authenticated read with this process's token and,
where requests audit, an audit create Directus must refuse; 503 with the reason otherwise.
"""

from flask import Blueprint

from credsvc.api import services
from credsvc.errors import ApiError
from credsvc.services import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Directus is reachable, takes the token, grants the reads and (auditing modes) audit rows."""
    app = services()
    problem = readiness.probe(app.directus, audits=app.config.mode in readiness.AUDITING_MODES)
    if problem is not None:
        raise ApiError(f"not ready: {problem}", 503)
    return {"status": "ready"}

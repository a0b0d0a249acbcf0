"""Liveness and readiness probes.

/healthz answers from the process alone (cheap: an orchestrator calls it often). /readyz asks
Directus (credsvc.services.readiness): an authenticated read with this process's token and,
where requests audit, the role's audit_log create permission; 503 with the reason otherwise.
It needs no auth, so its answer is reused for readiness.CACHE_SECONDS (per app, per process).
"""

from flask import Blueprint, current_app

from credsvc.api import services
from credsvc.api.operations import operation
from credsvc.errors import Unavailable
from credsvc.schemas import responses as res
from credsvc.services import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation(response=res.HealthSchema, example={"status": "ok"})
def healthz():
    """The process is alive."""
    return {"status": "ok"}


@bp.get("/readyz")
@operation(response=res.ReadySchema, example={"status": "ready"}, errors=(500, 503))
def readyz():
    """Directus is reachable, takes the token, grants the reads and (auditing modes) audit rows."""
    app = services()
    cached = current_app.extensions.setdefault("credsvc.readiness", readiness.CachedProbe())
    problem = cached(
        lambda: readiness.probe(app.directus, audits=app.config.mode in readiness.AUDITING_MODES)
    )
    if problem is not None:
        raise Unavailable(f"not ready: {problem}")
    return {"status": "ready"}

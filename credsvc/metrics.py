"""Prometheus metrics: what the service did, counted by labels from closed sets only.

    credsvc_http_requests_total{route,method,status}    every answer, by URL rule (not path)
    credsvc_http_request_duration_seconds{route,method} latency histogram
    credsvc_directus_request_duration_seconds{method,resource}
                                                        each Directus call, ids cut off
    credsvc_directus_errors_total{kind}                 timeout, connection, bad_response,
                                                        a 4xx status ("403"), 5xx
    credsvc_decrypt_failures_total{action}              audited reads that could not decrypt
    credsvc_audit_writes_total{outcome,result}          audit rows; result written or failed
    credsvc_reveals_total{caller,action}                values handed out, by named caller

No label value comes from a request as sent: a route is Flask's URL rule (`/v1/end-users/
<endUserId>/credentials`), a caller is one of the configured names (credsvc.callers), anything
else is "other". So no user, profile, end-user or business id, and no secret, reaches the
exposition (tests/unit/test_metrics.py drives requests with canary ids to prove it).

Exposition: `GET /metrics` with `Authorization: Bearer <METRICS_TOKEN>` (credsvc.api.metrics);
without METRICS_TOKEN there is no such route. Under gunicorn each worker is a process: with
PROMETHEUS_MULTIPROC_DIR set, prometheus_client keeps every worker's values in files there and
the endpoint sums them (gunicorn.conf.py empties the folder at start and drops dead workers'
gauges). docs/operations.md "Metrics".
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from credsvc.directus import DirectusCall
from credsvc.services.audit import DECRYPTING_ACTIONS

EXTENSION = "credsvc.metrics"  # its key in app.extensions
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # a request no URL rule matched (its path is not a label)
# Seconds; a credsvc request is a few Directus round trips, Directus timeouts are 3 s / 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Directus path segments kept as a label: lower-case names only (`items/audit_log`,
# `users/me`, `credsvc-batch/append`); an id has digits, or sits after the collection, and is
# cut off.
_NAME = re.compile(r"[a-z_]{1,64}(?:-[a-z_]{1,64})?")
# credsvc.services.audit.outcome_of, plus the guard's "forbidden".
OUTCOMES = frozenset(
    {"ok", "invalid", "not_found", "forbidden", "conflict", "decrypt_failed", "upstream_error"}
    | {"error"}
)
INTERNAL_ACTOR = "internal:"  # credsvc.callers.Caller.actor


def directus_resource(path: str) -> str:
    """`/items/platform_connections/<id>` -> `items/platform_connections`; at most two
    lower-case name segments, so no id can become a label."""
    kept = []
    for segment in path.split("?", 1)[0].strip("/").split("/")[:2]:
        if not _NAME.fullmatch(segment):
            break
        kept.append(segment)
    return "/".join(kept) or OTHER


class Metrics:
    """The metrics of one app, in their own registry (tests build many apps per process)."""

    def __init__(self, callers: Iterable[str] = (), multiprocess_dir: str = ""):
        self.callers = frozenset(callers)
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "credsvc_http_requests",
            "HTTP answers by URL rule, method and status.",
            ("route", "method", "status"),
            registry=r,
        )
        self.request_seconds = Histogram(
            "credsvc_http_request_duration_seconds",
            "Time to answer, by URL rule and method.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.directus_seconds = Histogram(
            "credsvc_directus_request_duration_seconds",
            "Directus calls by method and resource (ids cut off), failed ones included.",
            ("method", "resource"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.directus_errors = Counter(
            "credsvc_directus_errors",
            "Failed Directus calls by kind: timeout, connection, bad_response, a 4xx status, 5xx.",
            ("kind",),
            registry=r,
        )
        self.decrypt_failures = Counter(
            "credsvc_decrypt_failures",
            "Audited reads whose stored value could not be decrypted.",
            ("action",),
            registry=r,
        )
        self.audit_writes = Counter(
            "credsvc_audit_writes",
            "Audit rows by outcome; result is written or failed (Directus refused or failed).",
            ("outcome", "result"),
            registry=r,
        )
        self.reveals = Counter(
            "credsvc_reveals",
            "Decrypted values handed out (audited ok, decrypting actions), by caller and action.",
            ("caller", "action"),
            registry=r,
        )

    # -- observers ----------------------------------------------------------------------

    def directus_call(self, call: DirectusCall) -> None:
        """The Directus client's observer (credsvc.directus.DirectusClient)."""
        method = call.method if call.method in METHODS | {"SEARCH"} else OTHER
        self.directus_seconds.labels(method, directus_resource(call.path)).observe(call.seconds)
        if call.error_kind is not None:
            self.directus_errors.labels(call.error_kind).inc()

    def audit_row(self, row: dict, written: bool) -> None:
        """The audit trail's observer (credsvc.services.audit): one row, written or not."""
        outcome = row.get("outcome") if row.get("outcome") in OUTCOMES else OTHER
        action = _name_or_other(row.get("action"))
        self.audit_writes.labels(outcome, "written" if written else "failed").inc()
        if outcome == "decrypt_failed":
            self.decrypt_failures.labels(action).inc()
        if outcome == "ok" and written and row.get("action") in DECRYPTING_ACTIONS:
            self.reveals.labels(self.caller_of(row.get("actor")), action).inc()

    def caller_of(self, actor: object) -> str:
        """A configured caller's name, else "other" (a user or an API key: never its id)."""
        if isinstance(actor, str) and actor.startswith(INTERNAL_ACTOR):
            name = actor[len(INTERNAL_ACTOR) :]
            if name in self.callers:
                return name
        return OTHER

    # -- HTTP ---------------------------------------------------------------------------

    def start_request(self) -> None:
        g.metrics_started = time.perf_counter()

    def end_request(self, response):
        started = g.pop("metrics_started", None)
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        method = request.method if request.method in METHODS else OTHER
        self.requests.labels(route, method, str(response.status_code)).inc()
        if started is not None:
            self.request_seconds.labels(route, method).observe(time.perf_counter() - started)
        return response

    def exposition(self) -> bytes:
        """The text format; under gunicorn with PROMETHEUS_MULTIPROC_DIR, every worker's sum."""
        if not self.multiprocess_dir:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry)


# Actions are the names views give `audit(...)` and the guard's URL rules: code, not input.
# Checked anyway, so a label can never carry more than a short name.
_ACTION = re.compile(r"[a-z0-9/<>_-]{1,64}", re.IGNORECASE)


def _name_or_other(value: object) -> str:
    return value if isinstance(value, str) and _ACTION.fullmatch(value) else OTHER


def init_app(app: Flask, metrics: Metrics) -> None:
    """Count every request (call it before the other hooks are registered, so that it times
    them); serve GET /metrics when METRICS_TOKEN is set."""
    from credsvc.api import metrics as endpoint

    app.extensions[EXTENSION] = metrics
    app.before_request(metrics.start_request)
    app.after_request(metrics.end_request)
    if app.extensions["credsvc"].config.metrics_token:
        app.register_blueprint(endpoint.bp)

"""Structured logs: one JSON object a line on stderr, each with the request id.

Nothing that could carry a credential is logged: no bodies, no headers, no query strings,
no exception messages (only their type). A redaction filter is the second line of defence:
it masks the configured secrets and anything shaped like a bearer token or JWT, in the message
and in the extra fields, and drops tracebacks and stacks (tests/unit/test_logs.py).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Flask, g, has_request_context, request

from credsvc.accesslog import REQUEST_ID

TOKEN_SHAPES = re.compile(
    r"(?i)(bearer\s+)\S+|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
)
EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "error_type", "actor", "event")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = getattr(g, "request_id", None)
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, default=str)


class RedactingFilter(logging.Filter):
    """Masks secret values and token shapes in the final message and in the extra fields, and
    drops tracebacks and stacks."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        cleaned = TOKEN_SHAPES.sub(lambda m: (m.group(1) or "") + "[redacted]", text)
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "[redacted]")
        return cleaned

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # A path or an actor is logged as the client sent it: a token pasted into a URL too.
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, self.redact(value))
        # Tracebacks and stacks may quote local variables and exception messages: type only
        # (JsonFormatter's error_type).
        if record.exc_info and record.exc_info[0] is not None:
            record.error_type = getattr(record, "error_type", None) or record.exc_info[0].__name__
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def configure(level: str, secrets: list[str]) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger("credsvc")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler


def init_app(app: Flask, level: str) -> None:
    config = app.extensions["credsvc"].config
    secrets = [config.directus_token, config.directus_operator_token, config.directus_secret]
    secrets += [s.decode("utf-8", "replace") for c in config.callers for s in c.secrets]
    secrets.append(config.metrics_token)
    if config.webhook is not None:
        # The whole URL and its path + query too: Discord and Slack keep their secret there.
        target = urlsplit(config.webhook.url)
        path_and_query = target.path + (f"?{target.query}" if target.query else "")
        secrets += [config.webhook.url, path_and_query, target.path]
        secrets.append(config.webhook.secret.decode("utf-8", "replace"))
    # Flask names app.logger after the import name, "credsvc": the same logger configure()
    # sets up. Reset Flask's side first, or it would remove the JSON handler again.
    app.logger.handlers.clear()
    app.logger.propagate = True
    configure(level, secrets)
    access = logging.getLogger("credsvc.access")

    @app.before_request
    def start_request():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        access.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.get("started", 0)) * 1000, 1),
                "actor": g.get("actor"),
            },
        )
        return response

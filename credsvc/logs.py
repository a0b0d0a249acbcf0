"""Structured logs: one JSON object a line on stderr, each with the request id.

Nothing that could carry a credential is logged: no bodies, no headers, no query strings,
no exception messages (only their type). A redaction filter is the second line of defence:
it masks the configured secrets and anything shaped like a bearer token or JWT, in the message
and in the extra fields, and drops tracebacks and stacks (tests/unit/test_logs.py).

Logging is configured per app: each app has its own handler (its level, its secrets), kept in
app.extensions[EXTENSION]. Module loggers ("credsvc.errors", ...) are process-wide, so one
`AppRouter`, installed once on the "credsvc" logger, hands each record to the handler of the
app in whose context it was logged; a record logged outside any app context (a background
thread) goes to the app built last. Two apps in one process (tests) keep their own settings,
and building an app removes no handler anyone else installed. The "credsvc" logger does not
propagate: a root handler would write records this module has not redacted.
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

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from flask.logging import default_handler

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


EXTENSION = "credsvc.logs"  # the app's handler, in app.extensions
LOGGER = "credsvc"  # every logger of the package is below it


class AppRouter(logging.Handler):
    """Hands each record to the handler of the current app (outside any app context: of the
    app built last). The one process-wide piece of credsvc's logging, installed once."""

    def __init__(self) -> None:
        super().__init__()
        # A strong reference: the handler holds no app, and records of a background thread
        # must still be written (redacted) after the app that started it is gone.
        self.latest: logging.Handler | None = None

    def target(self) -> logging.Handler | None:
        if has_app_context():
            handler = current_app.extensions.get(EXTENSION)
            if handler is not None:
                return handler
        return self.latest

    def emit(self, record: logging.LogRecord) -> None:
        handler = self.target()
        # Handler.handle applies the filters (redaction) and the format, not the level: the
        # logger checks that, and the logger is shared, so the level is checked here.
        if handler is not None and record.levelno >= handler.level:
            handler.handle(record)


def app_handler(level: str, secrets: list[str]) -> logging.Handler:
    """One app's handler: JSON lines on stderr, at `level`, with `secrets` masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(secrets))
    handler.setLevel(level)
    return handler


def router() -> AppRouter:
    """The AppRouter on the "credsvc" logger, installed on first use."""
    logger = logging.getLogger(LOGGER)
    for handler in logger.handlers:
        if isinstance(handler, AppRouter):
            return handler
    installed = AppRouter()
    logger.addHandler(installed)
    logger.propagate = False
    return installed


def handler_of(app: Flask) -> logging.Handler:
    """The handler `init_app` gave `app`."""
    return app.extensions[EXTENSION]


# Key settings whose value is key material: "key" or "id:key,id:key" (credsvc.config).
KEY_MATERIAL_SETTINGS = ("single_key", "keys", "ingest_private", "legacy_key")


def key_material(config) -> list[str]:
    """The configured keys as given, whole and entry by entry, and the transit token."""
    found = []
    for name, value in config.keys.strings:
        if name in KEY_MATERIAL_SETTINGS and value:
            found.append(value)
            found += [entry.partition(":")[2] or entry for entry in value.split(",")]
    found.append(config.keys.ingest_signing)
    if config.keys.transit is not None:
        found.append(config.keys.transit.token)
    # "transit" names the transit key in CREDENTIALS_KEYS; it is a word, not a secret.
    return [value.strip() for value in found if value.strip() not in ("", "transit")]


def secrets_of(config) -> list[str]:
    """Every configured value a log line must never show."""
    secrets = [config.directus_token, config.directus_operator_token, config.directus_secret]
    secrets += key_material(config)
    secrets += [s.decode("utf-8", "replace") for c in config.callers for s in c.secrets]
    secrets.append(config.metrics_token)
    if config.webhook is not None:
        # The whole URL and its path + query too: Discord and Slack keep their secret there.
        target = urlsplit(config.webhook.url)
        path_and_query = target.path + (f"?{target.query}" if target.query else "")
        secrets += [config.webhook.url, path_and_query, target.path]
        secrets.append(config.webhook.secret.decode("utf-8", "replace"))
    return secrets


def init_app(app: Flask, level: str) -> None:
    handler = app_handler(level, secrets_of(app.extensions["credsvc"].config))
    app.extensions[EXTENSION] = handler
    routing = router()  # before app.logger is first read, so Flask adds no handler of its own
    routing.latest = handler
    logger = logging.getLogger(LOGGER)  # Flask's app.logger: named after the import name
    # Flask's default handler writes plain, unredacted lines: never on this logger.
    logger.removeHandler(default_handler)
    # Lowered to the most verbose level an app asks for, never raised: each app's handler
    # keeps to its own level (AppRouter.emit).
    if logger.level == logging.NOTSET or handler.level < logger.level:
        logger.setLevel(handler.level)
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

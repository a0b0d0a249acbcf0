"""gunicorn's access log as one JSON object a line, built by a JSON encoder.

gunicorn.conf.py names `JsonAccessLogger` as its `logger_class`. Each request gives

    {"ts": ..., "logger": "gunicorn.access", "method": ..., "path": ..., "status": ...,
     "bytes": ..., "duration_us": ..., "request_id": ...}

`path` has no query string (nothing a client put in a URL by mistake is logged). Every value
goes through `json.dumps` with ASCII escapes, so no path, however crafted (quotes, newlines,
U+2028), can end the line or add a field. The request id is the one the app echoed in
X-Request-ID, kept only when it has the shape of `REQUEST_ID`.

Imports nothing from Flask: gunicorn loads it in its master process.
"""

from __future__ import annotations

import json
import re
import traceback
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger

# An incoming X-Request-ID is echoed only when it has this shape (credsvc.logs); \Z, not `$`,
# which would also let a trailing newline through.
REQUEST_ID = re.compile(r"\A[A-Za-z0-9._-]{1,64}\Z")


def _header(headers: Any, name: str) -> str | None:
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items or ():
        if str(key).lower() == name:
            return value
    return None


def _status(status: Any) -> int | None:
    try:
        return int(str(status).split(None, 1)[0])
    except (ValueError, IndexError):
        return None


def _path(environ: dict[str, Any]) -> str:
    # WSGI hands the decoded path over as latin-1 code points; read the bytes as UTF-8 like the
    # app does (werkzeug), so "/v1/end-users/%C3%BC/..." is logged as "ü".
    raw = environ.get("PATH_INFO", "")
    try:
        return raw.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return raw


def access_entry(resp: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
    """The fields of one access line (see the module docstring)."""
    request_id = _header(getattr(resp, "headers", None), "x-request-id")
    return {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "logger": "gunicorn.access",
        "method": environ.get("REQUEST_METHOD"),
        "path": _path(environ),
        "status": _status(getattr(resp, "status", None)),
        "bytes": getattr(resp, "sent", None),
        "duration_us": request_time.seconds * 1_000_000 + request_time.microseconds,
        "request_id": request_id if REQUEST_ID.fullmatch(request_id or "") else None,
    }


class JsonAccessLogger(Logger):
    """gunicorn's Logger with `access` writing one JSON line; error logging is unchanged."""

    def access(self, resp, req, environ, request_time) -> None:
        if not getattr(self, "access_log_enabled", True):  # older gunicorn lacks the flag
            return
        try:
            line = json.dumps(access_entry(resp, environ, request_time), default=str)
        except Exception:
            self.error(traceback.format_exc())
            return
        self.access_log.info("%s", line)

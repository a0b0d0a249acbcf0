"""A loopback HTTP server that misbehaves on purpose, standing in for a broken Directus.

    with FaultServer(get="hang", write="503") as upstream:
        app = create_app({..., "DIRECTUS_URL": upstream.url})
        ...
        upstream.seen     # every request that arrived: method, path, query, body

Each mode really does what it says on the socket, separately for reads (GET) and writes
(POST/PATCH/DELETE):

    ok               200 with Directus JSON from `rows(method, path, query)` (default: no rows)
    refuse           nothing listens on the port (the URL points at a closed port)
    reset            reads the request line and headers, then closes with SO_LINGER 0 (RST)
                     before reading the body: the connection dies mid-request
    hang             reads the request, then answers nothing for `hang` seconds and closes
    500 502 503      a Directus-style error body (with a fake stack trace in it)
    503-retry-after  503 with `Retry-After: 30`
    garbage          non-HTTP bytes, then close
    html             200 text/html
    not-directus     200 application/json without Directus's `data` member
    truncated        200 whose body is shorter than its Content-Length

Bounded: at most `max_connections` connections are served at once (more are closed at
once), every socket has a timeout, `hang` is capped, and `stop()` ends all of it.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from credsvc.directus import BATCH_ENDPOINT
from credsvc.model import AUDIT_LOG

AUDIT_APPEND = f"{BATCH_ENDPOINT}/append/{AUDIT_LOG}"

MODES = (
    "ok",
    "refuse",
    "reset",
    "hang",
    "500",
    "502",
    "503",
    "503-retry-after",
    "garbage",
    "html",
    "not-directus",
    "truncated",
)
MAX_HANG = 10.0
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
# What a broken upstream might put in an error body; none of it may reach a client.
UPSTREAM_LEAK = "FAULT-SERVER-INTERNAL Traceback (most recent call last): at knex.query"

Rows = Callable[[str, str, dict[str, list[str]]], Any]


@dataclass(frozen=True)
class Seen:
    """One request as the fault server received it (body is None when not read)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes | None
    at: float

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PATCH", "PUT", "DELETE")

    @property
    def collection(self) -> str | None:
        """The collection written or read: /items/<c>[/...] or /credsvc-batch/<op>/<c>."""
        parts = self.path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "items":
            return parts[1]
        if len(parts) == 3 and "/" + parts[0] == BATCH_ENDPOINT:
            return parts[2]
        return None


def _no_rows(method: str, path: str, query: dict[str, list[str]]) -> Any:
    return [] if method == "GET" else {}


class FaultServer:
    def __init__(
        self,
        get: str = "ok",
        write: str | None = None,
        *,
        rows: Rows = _no_rows,
        hang: float = 3.0,
        max_connections: int = 32,
    ):
        write = get if write is None else write
        for mode in (get, write):
            if mode not in MODES:
                raise ValueError(f"unknown fault mode {mode!r}")
        if "refuse" in (get, write) and get != write:
            raise ValueError("refuse applies to the whole server")
        self.get_mode, self.write_mode = get, write
        self.rows = rows
        self.hang = min(hang, MAX_HANG)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self.port = 0

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        if self.get_mode == "refuse":
            sock.close()  # the port was free a moment ago and now nothing listens on it
            return self
        sock.listen(64)
        sock.settimeout(0.1)
        self._listener = sock
        thread = threading.Thread(target=self._accept_loop, name="fault-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=MAX_HANG + 1)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- what arrived -----------------------------------------------------------------------

    def requests(self, method: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if method is None or s.method == method]

    def writes(self) -> list[Seen]:
        return [s for s in self.requests() if s.is_write]

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()

    # -- serving ----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                conn.close()  # over the bound: refuse this one rather than queue it
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(2.0)
            head, rest = self._read_head(conn)
            if head is None:
                return
            request_line, headers = head
            method, target = request_line[0], request_line[1]
            mode = self.get_mode if method in ("GET", "HEAD") else self.write_mode
            parts = urlsplit(target)
            query = parse_qs(parts.query)
            if mode == "reset":
                self._record(method, parts.path, query, None)
                self._reset(conn)
                return
            length = min(int(headers.get("content-length", "0") or 0), MAX_BODY_BYTES)
            body = self._read_body(conn, rest, length)
            self._record(method, parts.path, query, body)
            self._answer(conn, mode, method, parts.path, query, body)
        except (OSError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
            self._slots.release()

    def _record(self, method, path, query, body) -> None:
        with self._lock:
            self.seen.append(Seen(method, path, query, body, time.monotonic()))

    @staticmethod
    def _read_head(conn: socket.socket):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return None, b""
            data += chunk
            if len(data) > MAX_HEADER_BYTES:
                return None, b""
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        request_line = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return (request_line, headers), rest

    @staticmethod
    def _read_body(conn: socket.socket, rest: bytes, length: int) -> bytes:
        body = rest
        while len(body) < length:
            chunk = conn.recv(min(65536, length - len(body)))
            if not chunk:
                break
            body += chunk
        return body[:length]

    @staticmethod
    def _reset(conn: socket.socket) -> None:
        # l_onoff=1, l_linger=0: close() sends RST instead of FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def _answer(self, conn, mode: str, method: str, path: str, query, body=None) -> None:
        if mode == "hang":
            self._stop.wait(self.hang)
            return
        if mode == "garbage":
            conn.sendall(b"\x00\x13\x37 this is not HTTP \xff\xfe\r\n\r\n")
            return
        if mode == "ok" and _nulls_in_audit_row(method, path, body):
            # As Directus does for NOT NULL columns.
            error = {
                "errors": [
                    {
                        "message": "Value can't be null.",
                        "extensions": {"field": name, "code": "FAILED_VALIDATION"},
                    }
                    for name in _nulls_in_audit_row(method, path, body)
                ]
            }
            conn.sendall(_response(400, "application/json", json.dumps(error).encode()))
            return
        if mode == "ok":
            payload = json.dumps({"data": self.rows(method, path, query)}).encode()
            conn.sendall(_response(200, "application/json", payload))
            return
        if mode in ("500", "502", "503", "503-retry-after"):
            status = int(mode[:3])
            error = {
                "errors": [
                    {"message": UPSTREAM_LEAK, "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
                ]
            }
            extra = {"Retry-After": "30"} if mode == "503-retry-after" else {}
            conn.sendall(_response(status, "application/json", json.dumps(error).encode(), extra))
            return
        if mode == "html":
            page = f"<html><body><h1>Proxy error</h1><pre>{UPSTREAM_LEAK}</pre></body></html>"
            conn.sendall(_response(200, "text/html", page.encode()))
            return
        if mode == "not-directus":
            conn.sendall(_response(200, "application/json", b'{"unexpected": [1, 2, 3]}'))
            return
        if mode == "truncated":
            payload = b'{"data": [{"id": "only part of'
            conn.sendall(_response(200, "application/json", payload, length=len(payload) + 500))
            return
        raise ValueError(mode)


def _nulls_in_audit_row(method: str, path: str, body: bytes | None) -> list[str]:
    """The NOT NULL columns of audit_log (deploy/directus/build_schema.py) a create sets to
    null."""
    from credsvc.services.audit import REQUIRED_FIELDS as AUDIT_REQUIRED

    if method != "POST" or path not in (f"/items/{AUDIT_LOG}", AUDIT_APPEND) or not body:
        return []
    try:
        sent = json.loads(body)
    except ValueError:
        return []
    rows = [row for row in (sent if isinstance(sent, list) else [sent]) if isinstance(row, dict)]
    return [name for row in rows for name in AUDIT_REQUIRED if name in row and row[name] is None]


REASONS = {
    200: "OK",
    400: "Bad Request",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _response(
    status: int,
    content_type: str,
    body: bytes,
    extra: dict | None = None,
    length: int | None = None,
) -> bytes:
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body) if length is None else length),
        "Connection": "close",
        **(extra or {}),
    }
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("latin-1") + b"\r\n" + body

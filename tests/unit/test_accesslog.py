"""gunicorn's access log (credsvc.accesslog): one JSON object a line, whatever the path."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config as GunicornConfig

from credsvc import accesslog
from credsvc.accesslog import JsonAccessLogger
from tests.conftest import TEST_ENV

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"

# What a client may put in a path; WSGI hands the decoded bytes over as latin-1 code points.
CRAFTED_PATHS = [
    '/a"b',
    "/a\nb",
    '/x\r\n{"ts":"forged","status":200}',
    '/x","status":200,"request_id":"forged',
    "/line\u2028separator\u2029paragraph",
    "/next\x85line",
    "/nul\x00esc\x1b[31mbell\x07del\x7f",
    "/back\\slash\\",
    "/über/café/😀",
    "/%22already-encoded%0A",
    "/" + "x" * 4000,
]


def wsgi_path(path: str) -> str:
    return path.encode("utf-8").decode("latin-1")


@pytest.fixture
def access_file(tmp_path):
    """A JsonAccessLogger writing its access lines to a file; yields (logger, read lines)."""
    cfg = GunicornConfig()
    target = tmp_path / "access.log"
    cfg.set("accesslog", str(target))
    logger = JsonAccessLogger(cfg)

    def lines() -> list[str]:
        for handler in logger.access_log.handlers:
            handler.flush()
        return target.read_text(encoding="utf-8").split("\n")[:-1]

    yield logger, lines
    for handler in list(logger.access_log.handlers):
        if getattr(handler, "_gunicorn", False):
            handler.close()
            logger.access_log.removeHandler(handler)
    for handler in list(logger.error_log.handlers):
        if getattr(handler, "_gunicorn", False):
            logger.error_log.removeHandler(handler)


def log_one(logger, path: str, request_id: str | None = "req-1", query: str = "") -> None:
    headers = [("Content-Type", "application/json")]
    if request_id is not None:
        headers.append(("X-Request-ID", request_id))
    resp = SimpleNamespace(status="404 NOT FOUND", sent=57, headers=headers)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": wsgi_path(path),
        "QUERY_STRING": query,
        "RAW_URI": path + ("?" + query if query else ""),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    logger.access(resp, SimpleNamespace(headers=[]), environ, timedelta(seconds=1, microseconds=5))


@pytest.mark.parametrize("path", CRAFTED_PATHS)
def test_a_crafted_path_is_one_json_line_with_the_path_intact(access_file, path):
    logger, lines = access_file
    log_one(logger, path)
    [line] = lines()
    # No character that any line splitter (Python's splitlines included) would break on.
    assert line.isascii() and line.isprintable() and line == line.strip()
    assert line.splitlines() == [line]
    entry = json.loads(line)
    assert entry["path"] == path
    assert entry["status"] == 404 and entry["bytes"] == 57
    assert entry["duration_us"] == 1_000_005
    assert entry["request_id"] == "req-1" and entry["method"] == "GET"
    assert set(entry) == {
        "ts",
        "logger",
        "method",
        "path",
        "status",
        "bytes",
        "duration_us",
        "request_id",
    }


def test_the_query_string_is_never_logged(access_file):
    logger, lines = access_file
    log_one(logger, "/api/credentials/reveal", query="token=SECRET-in-the-url")
    [line] = lines()
    assert "SECRET" not in line and json.loads(line)["path"] == "/api/credentials/reveal"


@pytest.mark.parametrize(
    ("request_id", "logged"),
    [
        ("req-1", "req-1"),
        ("a" * 64, "a" * 64),
        ("abc\n", None),
        ('abc"', None),
        ("a" * 65, None),
        ("", None),
        (None, None),
        ("abc def", None),
    ],
)
def test_only_a_request_id_of_the_project_shape_is_echoed(access_file, request_id, logged):
    logger, lines = access_file
    log_one(logger, "/healthz", request_id=request_id)
    [line] = lines()
    assert json.loads(line)["request_id"] == logged


def test_request_id_pattern_is_a_full_match():
    assert accesslog.REQUEST_ID.fullmatch("req-1")
    assert accesslog.REQUEST_ID.match("req-1\n") is None  # `$` would have let this through


# The module imports no Flask and nothing of credsvc: tests/unit/test_layering.py


def test_logs_uses_the_same_request_id_pattern():
    from credsvc import logs

    assert logs.REQUEST_ID is accesslog.REQUEST_ID


# -- a real gunicorn, a raw socket --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raw_request(port: int, target: bytes, request_id: bytes = b"raw-req-1") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"X-Request-ID: " + request_id + b"\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.fixture
def gunicorn_server(tmp_path):
    """gunicorn with the repository's gunicorn.conf.py, one worker; Directus is not needed."""
    port = free_port()
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    env = {
        **TEST_ENV,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "1",
    }
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(GUNICORN), "wsgi:app", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {err.read_text()}") from None
                time.sleep(0.1)
        yield port, process, out
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.skipif(not GUNICORN.exists(), reason="needs .venv/bin/gunicorn")
def test_real_gunicorn_writes_one_json_line_per_request(gunicorn_server):
    port, process, out = gunicorn_server
    crafted = '/healthz/"quote\n{"forged":1}\u2028end'
    encoded = b"/healthz/%22quote%0A%7B%22forged%22:1%7D%E2%80%A8end?token=SECRET-in-the-url"
    answers = [
        raw_request(port, encoded),
        raw_request(port, b"/healthz", request_id=b"raw-req-2"),
        raw_request(port, b"/healthz", request_id=b'bad"id'),
    ]
    assert answers[0].startswith(b"HTTP/1.1 404") and b'"success":false' in answers[0]
    assert answers[1].startswith(b"HTTP/1.1 200")
    process.send_signal(signal.SIGTERM)  # flush and stop before reading the log
    process.wait(timeout=15)
    lines = out.read_text(encoding="utf-8").split("\n")[:-1]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(entry["logger"] == "gunicorn.access" for entry in entries)
    assert [(e["path"], e["status"]) for e in entries] == [
        (crafted, 404),
        ("/healthz", 200),
        ("/healthz", 200),
    ]
    assert [e["request_id"] for e in entries[:2]] == ["raw-req-1", "raw-req-2"]
    # 'bad"id' has not the shape: the app answered with a fresh id of its own.
    assert len(entries[2]["request_id"]) == 32 and '"' not in entries[2]["request_id"]
    assert "SECRET" not in out.read_text(encoding="utf-8")

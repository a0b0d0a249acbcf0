"""Load with wrk (Debian's `wrk`, installed by `make bench`): one request shape per run.

Each run writes a small Lua script (method, headers, body) whose `done` hook prints one JSON
line with the totals wrk itself measured: requests, duration, the latency percentiles and
every kind of failure (connect/read/write errors, timeouts, non-2xx/3xx answers). Nothing is
counted as a success that wrk did not see succeed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

DONE_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH-JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class Load:
    name: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int  # connect + read + write + timeout errors + non-2xx/3xx answers

    def as_dict(self) -> dict:
        return asdict(self)


def lua_string(text: str) -> str:
    """A Lua long-bracket-free string literal (escapes every byte outside printable ASCII)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in '\\"' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def script(method: str, headers: dict[str, str], body: str | None) -> str:
    lines = [f"wrk.method = {lua_string(method)}"]
    for name, value in headers.items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    if body is not None:
        lines.append(f"wrk.body = {lua_string(body)}")
    return "\n".join(lines) + "\n" + DONE_HOOK


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is missing: `make bench` installs it (Debian package wrk)")
    return found


def run(
    name: str,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: dict | None = None,
    seconds: float = 8,
    connections: int = 16,
    threads: int = 2,
) -> Load:
    headers = dict(headers or {})
    text = None
    if body is not None:
        text = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    with tempfile.TemporaryDirectory(prefix="credsvc-wrk-") as tmp:
        lua = Path(tmp) / "request.lua"
        lua.write_text(script(method, headers, text))
        completed = subprocess.run(
            [
                wrk_binary(),
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(lua),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    marker = [line for line in completed.stdout.splitlines() if line.startswith("BENCH-JSON ")]
    if completed.returncode != 0 or not marker:
        raise SystemExit(
            f"wrk failed for {name} (exit {completed.returncode}): "
            f"{(completed.stderr + completed.stdout).strip()[-800:]}"
        )
    figures = json.loads(marker[-1].removeprefix("BENCH-JSON "))
    seconds_run = figures["duration_us"] / 1e6
    failures = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Load(
        name=name,
        requests=figures["requests"],
        seconds=round(seconds_run, 2),
        rps=round(figures["requests"] / seconds_run, 1) if seconds_run else 0.0,
        p50_ms=round(figures["p50_us"] / 1000, 2),
        p99_ms=round(figures["p99_us"] / 1000, 2),
        failures=failures,
    )

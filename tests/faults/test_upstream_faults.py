"""Directus down, resetting, hanging, failing or talking garbage: every endpoint of both API
families answers JSON 502/503/504 in its family's shape within the read timeout + 1 s, with no
stack trace, and writes nothing half-way. Runs against tests/faults/server.py (real sockets).

Each test prints `cases=N failed=0` figures; a module summary adds them up.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from credsvc import create_app
from tests.conftest import TEST_ENV
from tests.faults.catalog import ENDPOINTS, Endpoint, rows_for
from tests.faults.server import MODES, FaultServer

CONNECT_TIMEOUT, READ_TIMEOUT = 0.5, 1.0
BUDGET = READ_TIMEOUT + 1.0
LEAK_MARKERS = ("Traceback", 'File "', "FAULT-SERVER-INTERNAL", "knex", "<html")

# Reads fail (the whole server is in this mode): every endpoint fails at its first call.
READ_FAULTS = [mode for mode in MODES if mode != "ok"]  # a new fault mode is tested at once
# Reads work, writes fail: every endpoint gets as far as its first write.
WRITE_FAULTS = ["reset", "hang", "500", "503", "garbage", "truncated"]

# The four decrypting reads also write an audit row; on a Directus that hangs they must still
# answer within one read timeout (AuditTrail.audited skips the failure row on transport errors).
AUDITED = {
    "internal_credentials.reveal",
    "internal_credentials.reveal_download_cred",
    "internal_credentials.get_platform_session",
    "workers.reveal",
}


def fault_env(url: str) -> dict[str, str]:
    return {
        **TEST_ENV,
        "DIRECTUS_URL": url,
        "DIRECTUS_TIMEOUT_CONNECT": str(CONNECT_TIMEOUT),
        "DIRECTUS_TIMEOUT_READ": str(READ_TIMEOUT),
    }


# Apps are built one at a time: registering Werkzeug URL rules compiles Python code, and on
# CPython 3.11 doing that from several threads at once can raise "SystemError: AST constructor
# recursion depth mismatch". A process builds its app once, before serving; only this
# threaded harness builds many at the same time.
APP_BUILD = threading.Lock()


def run_one(endpoint: Endpoint, get: str, write: str, rows: bool):
    """One endpoint against its own fault server and app; returns (response, seconds, seen)."""
    with FaultServer(get=get, write=write, hang=READ_TIMEOUT + 2.0) as upstream:
        with APP_BUILD:
            app = create_app(fault_env(upstream.url))
        if rows:
            upstream.rows = rows_for(app)
        started = time.monotonic()
        response = endpoint.call(app.test_client())
        elapsed = time.monotonic() - started
        seen = upstream.requests()
    return response, elapsed, seen


def problems_with(
    endpoint: Endpoint, response, elapsed: float, seen, *, expect: set[int], budget: float = BUDGET
) -> list[str]:
    """Everything wrong with one faulted answer (empty when it is right)."""
    problems = []
    text = response.get_data(as_text=True)
    if response.status_code not in expect:
        problems.append(f"status {response.status_code} not in {sorted(expect)}")
    if elapsed > budget:
        problems.append(f"took {elapsed:.2f} s > {budget} s")
    if response.mimetype != "application/json":
        problems.append(f"content type {response.mimetype}")
    else:
        body = response.get_json()
        if response.status_code >= 400:
            flag = "ok" if endpoint.family == "end-user" else "success"
            if set(body) != {flag, "error"} or body[flag] is not False:
                problems.append(f"error body not in the {endpoint.family} shape: {body}")
    problems += [f"leaks {marker!r}" for marker in LEAK_MARKERS if marker in text]
    problems += ["leaks a credential value" for value in endpoint.secrets if value in text]
    problems += write_problems(seen)
    return problems


def write_problems(seen) -> list[str]:
    """Nothing half-written: no write is repeated, and after a write failed (every write fails
    here) the only further write allowed is the failure's own audit row."""
    problems = []
    writes = [s for s in seen if s.is_write]
    repeated = [key for key, n in Counter((s.method, s.path) for s in writes).items() if n > 1]
    if repeated:
        problems.append(f"writes repeated (retried?): {repeated}")
    after_first = writes[1:]
    if any(s.collection != "audit_log" for s in after_first):
        problems.append(f"wrote on after a failed write: {[(s.method, s.path) for s in writes]}")
    reads_after_first_write = writes and any(
        s.method == "GET" and s.at > writes[0].at for s in seen
    )
    if reads_after_first_write and writes[0].collection != "api_keys":
        problems.append("kept reading after a failed write")
    return problems


def run_matrix(get: str, write: str, rows: bool, expect_for) -> tuple[int, list[str]]:
    with ThreadPoolExecutor(max_workers=len(ENDPOINTS)) as pool:
        results = list(pool.map(lambda e: (e, *run_one(e, get, write, rows)), ENDPOINTS))
    failures = []
    for endpoint, response, elapsed, seen in results:
        for problem in problems_with(
            endpoint, response, elapsed, seen, expect=expect_for(endpoint), budget=BUDGET
        ):
            failures.append(f"{endpoint.name}: {problem}")
    return len(results), failures


def failing_on_every_call(mode: str) -> tuple[int, list[str]]:
    def expect(endpoint):
        if endpoint.name == "health.readyz":
            return {503}
        return {504} if mode == "hang" else {502}

    return run_matrix(mode, mode, rows=False, expect_for=expect)


def failing_on_writes(mode: str) -> tuple[int, list[str]]:
    def expect(endpoint):
        if not endpoint.writes:  # /readyz too: it checks permissions, it never writes
            return {200}
        return {504} if mode == "hang" else {502}

    return run_matrix("ok", mode, rows=True, expect_for=expect)


# The battery: every fault mode of both kinds, each against every endpoint of the catalog.
BATTERY = {
    "on every call": (READ_FAULTS, failing_on_every_call),
    "on writes": (WRITE_FAULTS, failing_on_writes),
}
# (kind, mode) -> (cases, failures), as the tests below ran them in this session.
RESULTS: dict[tuple[str, str], tuple[int, list[str]]] = {}


def run_battery_part(kind: str, mode: str) -> list[str]:
    cases, failures = RESULTS[kind, mode] = BATTERY[kind][1](mode)
    print(f"\nupstream fault {mode!r} {kind}: cases={cases} failed={len(failures)}")
    return failures


@pytest.mark.parametrize("mode", READ_FAULTS)
def test_directus_failing_on_every_call(mode):
    failures = run_battery_part("on every call", mode)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("mode", WRITE_FAULTS)
def test_directus_failing_on_writes(mode):
    failures = run_battery_part("on writes", mode)
    assert not failures, "\n".join(failures)


def test_decrypting_reads_within_one_timeout_when_directus_hangs():
    audited = [e for e in ENDPOINTS if e.name in AUDITED]
    assert len(audited) == len(AUDITED), "AUDITED names an endpoint the catalog lacks"
    with ThreadPoolExecutor(max_workers=len(audited)) as pool:
        elapsed = list(pool.map(lambda e: run_one(e, "hang", "hang", False)[1], audited))
    print(
        f"\ndecrypting reads on a hanging Directus: cases={len(elapsed)} "
        f"over budget={sum(t > BUDGET for t in elapsed)} (slowest {max(elapsed):.2f} s)"
    )
    assert max(elapsed) <= BUDGET


def test_the_catalog_reaches_every_write_when_directus_works():
    """The canned rows are good enough for every endpoint to succeed: the write-fault tests
    above really fail the write each endpoint makes, not some earlier check."""
    failures = []
    for endpoint in ENDPOINTS:
        response, _, seen = run_one(endpoint, "ok", "ok", rows=True)
        if response.status_code != 200:
            failures.append(f"{endpoint.name}: {response.status_code} {response.get_json()}")
        if endpoint.writes and not any(s.is_write for s in seen):
            failures.append(f"{endpoint.name}: made no write")
    print(f"\ncatalog sanity: cases={len(ENDPOINTS)} failed={len(failures)}")
    assert not failures, "\n".join(failures)


# -- retries ----------------------------------------------------------------------------------


# The documented policy (credsvc.directus.GET_RETRIES, docs/security.md), written here rather
# than read back from the client: a GET is sent at most 3 times, a write once.
GET_ATTEMPTS = 3


REVEAL = next(e for e in ENDPOINTS if e.name == "internal_credentials.reveal")
CREATE = next(e for e in ENDPOINTS if e.name == "user_credentials.create_profile")
STORE = next(e for e in ENDPOINTS if e.name == "internal_credentials.store")
END_USER_SET = next(e for e in ENDPOINTS if e.name == "end_users.set_credentials")


@pytest.mark.parametrize(
    "mode, retried",
    [("503", True), ("502", True), ("500", False), ("reset", False), ("hang", False)],
)
def test_get_retries_are_bounded(mode, retried):
    with FaultServer(get=mode, write="ok", hang=READ_TIMEOUT + 2.0) as upstream:
        app = create_app(fault_env(upstream.url))
        response = REVEAL.call(app.test_client())
        gets = upstream.requests("GET")
    print(f"\nGET on {mode!r}: requests={len(gets)} status={response.status_code}")
    assert response.status_code == (504 if mode == "hang" else 502)
    # 503/502 are retried up to the documented figure; 500, a reset and a read timeout are not.
    assert len(gets) == (GET_ATTEMPTS if retried else 1)


@pytest.mark.parametrize("endpoint", [CREATE, STORE, END_USER_SET], ids=lambda e: e.name)
@pytest.mark.parametrize("mode", ["503", "502", "reset", "hang"])
def test_writes_are_never_retried(endpoint, mode):
    with FaultServer(get="ok", write=mode, hang=READ_TIMEOUT + 2.0) as upstream:
        app = create_app(fault_env(upstream.url))
        upstream.rows = rows_for(app)
        response = endpoint.call(app.test_client())
        writes = upstream.writes()
    print(
        f"\n{endpoint.name} with writes {mode!r}: writes={len(writes)} "
        f"status={response.status_code}"
    )
    assert response.status_code == (504 if mode == "hang" else 502)
    assert len(writes) == 1, [(w.method, w.path) for w in writes]


def test_an_api_key_lookup_outage_is_never_401():
    """The end-user guard reads the key from Directus: an outage there is 502/504, not 401."""
    statuses = Counter()
    endpoints = [e for e in ENDPOINTS if e.family == "end-user"]
    for mode in ("refuse", "hang", "503", "garbage"):
        for endpoint in endpoints:
            response, _, seen = run_one(endpoint, mode, mode, rows=False)
            statuses[response.status_code] += 1
            assert [s.collection for s in seen][:1] in ([], ["api_keys"])
    print(f"\nAPI key lookup outage: cases={sum(statuses.values())} statuses={dict(statuses)}")
    assert set(statuses) <= {502, 504}


def test_summary():
    """The whole battery's total, never a total over nothing: the parts this session did not
    run (the test alone, or a -k selection) are run here (the whole battery takes seconds)."""
    missing = [
        (kind, mode)
        for kind, (modes, _) in BATTERY.items()
        for mode in modes
        if (kind, mode) not in RESULTS
    ]
    for kind, mode in missing:
        RESULTS[kind, mode] = BATTERY[kind][1](mode)
    cases = sum(cases for cases, _ in RESULTS.values())
    failures = [failure for _, found in RESULTS.values() for failure in found]
    failing = [f"{mode!r} {kind}" for (kind, mode), (_, found) in RESULTS.items() if found]
    print(
        f"\nupstream faults total: cases={cases} failed={len(failures)} "
        f"(parts run by the summary: {len(missing)} of {len(RESULTS)}) {failing or ''}"
    )
    assert cases == len(ENDPOINTS) * (len(READ_FAULTS) + len(WRITE_FAULTS))
    assert not failures, "\n".join(failures)


def test_fault_server_really_misbehaves():
    """The fault server itself: a reset is a reset, a hang is a hang, garbage is not HTTP."""
    import requests

    with FaultServer(get="reset") as upstream, pytest.raises(requests.ConnectionError):
        requests.get(upstream.url + "/items/x", timeout=1)
    with FaultServer(get="hang", hang=1.5) as upstream, pytest.raises(requests.ReadTimeout):
        requests.get(upstream.url + "/items/x", timeout=(0.5, 0.3))
    with FaultServer(get="garbage") as upstream, pytest.raises(requests.ConnectionError):
        requests.get(upstream.url + "/items/x", timeout=1)
    with FaultServer(get="refuse") as upstream, pytest.raises(requests.ConnectionError):
        requests.get(upstream.url + "/items/x", timeout=1)
    with FaultServer(get="503", write="503") as upstream:
        assert requests.get(upstream.url + "/items/x?limit=1", timeout=1).status_code == 503
        assert requests.post(upstream.url + "/items/x", json={"a": 1}, timeout=1).status_code == 503
        get, post = upstream.requests()
    # It records what arrived: the GET without a body, the POST with its JSON.
    assert (get.method, get.path, get.query, get.body) == ("GET", "/items/x", {"limit": ["1"]}, b"")
    assert (post.method, post.collection, json.loads(post.body)) == ("POST", "x", {"a": 1})

"""The fixture chain: env -> app -> client, plus `directus_wire` for unit tests at the wire."""

from __future__ import annotations

import json
import re
import time
import uuid

import jwt
import pytest
import responses
from responses import registries

from credsvc import create_app
from credsvc.directus import BATCH_ENDPOINT
from credsvc.model import AUDIT_LOG

DIRECTUS = "http://directus.test"
# Where the audit trail appends its rows (the credsvc-batch endpoint), and the rows sent there.
AUDIT = f"{DIRECTUS}{BATCH_ENDPOINT}/append/{AUDIT_LOG}"


# Directus's answer for a route it does not have (e.g. no credsvc-batch extension).
NO_ROUTE = {
    "errors": [{"message": "Route doesn't exist.", "extensions": {"code": "ROUTE_NOT_FOUND"}}]
}


def sent_audit_rows(calls) -> list[dict]:
    """The audit rows of these calls to AUDIT, in order (each call sends a list)."""
    return [row for call in calls for row in json.loads(call.request.body)]


TEST_ENV = {
    "DIRECTUS_URL": DIRECTUS,
    "DIRECTUS_TOKEN": "service-token-for-unit-tests",
    "DIRECTUS_SECRET": "directus-secret-for-unit-tests-" + "0123456789abcdef" * 3,
    "RBAC_SYNC_SECRET": "sync-secret-for-unit-tests-0123456789",
    "CREDENTIALS_ENCRYPTION_KEY": "11" * 32,
    "DIRECTUS_TIMEOUT_CONNECT": "0.5",
    "DIRECTUS_TIMEOUT_READ": "1",
}


def env_for_mode(mode: str, **settings: str) -> dict[str, str]:
    """TEST_ENV without what `mode` refuses to hold (credsvc.config.refused_settings), plus
    `settings`: e.g. an ingest process gets no decrypting key, shared secret or DIRECTUS_SECRET."""
    from credsvc.config import refused_settings

    env = {k: v for k, v in TEST_ENV.items() if k not in refused_settings(mode, TEST_ENV)}
    return {**env, "CREDSVC_MODE": mode, **settings}


@pytest.fixture
def env() -> dict[str, str]:
    return dict(TEST_ENV)


@pytest.fixture
def app(env):
    return create_app(env)


@pytest.fixture
def client(app):
    return app.test_client()


class StrictRegistry(registries.FirstMatchRegistry):
    """Remembers every request that matched no registered response. `responses` answers such a
    request with a ConnectionError, which the client turns into a 502: a test that accepts a
    502 (or never looks at the status) would pass without this record."""

    def __init__(self) -> None:
        super().__init__()
        self.unmatched: list[str] = []

    def find(self, request):
        found, reasons = super().find(request)
        if found is None:
            self.unmatched.append(f"{request.method} {request.url}")
        return found, reasons


@pytest.fixture
def directus_wire():
    """Every HTTP call to Directus must be declared; an unexpected one fails the test at
    teardown, whatever the test asserted. A test that means "Directus is down" registers a
    ConnectionError body for the call instead."""
    with responses.RequestsMock(
        assert_all_requests_are_fired=False, registry=StrictRegistry
    ) as wire:
        yield wire
        unmatched = wire.get_registry().unmatched
        if unmatched:
            pytest.fail(
                "Directus calls no response was registered for:\n  " + "\n  ".join(unmatched),
                pytrace=False,
            )


def mint_token(user_id: str | None = None, secret: str = TEST_ENV["DIRECTUS_SECRET"], **claims):
    """A token shaped like a Directus access token (unit tests only; integration tests use
    tokens issued by a real Directus)."""
    return jwt.encode(access_claims(user_id, **claims), secret, algorithm="HS256")


def access_claims(user_id: str | None = None, **claims) -> dict:
    """The claims of a Directus access token; a claim given as `...` is left out."""
    now = int(time.time())
    payload = {
        "id": user_id or str(uuid.uuid4()),
        "role": None,
        "app_access": False,
        "admin_access": False,
        "iat": now,
        "exp": now + 900,
        "iss": "directus",
    }
    payload.update(claims)
    return {key: value for key, value in payload.items() if value is not ...}


def user_headers(user_id: str | None = None, **claims) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(user_id, **claims)}"}


INTERNAL_HEADERS = {"X-RBAC-SYNC-SECRET": TEST_ENV["RBAC_SYNC_SECRET"]}


# -- figures: the batteries print their counts; show them at the end of every run -----------------

FIGURE_WORDS = re.compile(r"\b(cases|tried|accepted|leaks|records/s|rows/s)\b")
FIGURES: list[tuple[bool, str]] = []  # (failed, line)


def pytest_runtest_logreport(report):
    """Keeps the figure lines of passing AND failing tests: a battery prints its figures before
    it asserts on them, so a failing battery shows its line, marked FAILED, instead of dropping
    it (a summary of passing tests only reads `accepted=0` by construction)."""
    if report.when == "call" and (report.passed or report.failed):
        name = report.nodeid.split("::")[-1]
        FIGURES.extend(
            (report.failed, f"{'FAILED ' if report.failed else ''}{name}: {line.strip()}")
            for line in report.capstdout.splitlines()
            if FIGURE_WORDS.search(line)
        )


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures printed by the test batteries")
        for failed, line in FIGURES:
            terminalreporter.write_line(line, red=failed, bold=failed)

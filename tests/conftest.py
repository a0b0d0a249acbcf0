"""The fixture chain: env -> app -> client, plus `directus_wire` for unit tests at the wire."""

from __future__ import annotations

import re
import time
import uuid

import jwt
import pytest
import responses

from credsvc import create_app

DIRECTUS = "http://directus.test"
TEST_ENV = {
    "DIRECTUS_URL": DIRECTUS,
    "DIRECTUS_TOKEN": "service-token-for-unit-tests",
    "DIRECTUS_SECRET": "directus-secret-for-unit-tests-" + "0123456789abcdef" * 3,
    "RBAC_SYNC_SECRET": "sync-secret-for-unit-tests-0123456789",
    "CREDENTIALS_ENCRYPTION_KEY": "11" * 32,
    "DIRECTUS_TIMEOUT_CONNECT": "0.5",
    "DIRECTUS_TIMEOUT_READ": "1",
}


@pytest.fixture
def env() -> dict[str, str]:
    return dict(TEST_ENV)


@pytest.fixture
def app(env):
    return create_app(env)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def directus_wire():
    """Every HTTP call to Directus must be declared; unexpected ones fail the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        yield wire


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
FIGURES: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed:
        FIGURES.extend(
            f"{report.nodeid.split('::')[-1]}: {line.strip()}"
            for line in report.capstdout.splitlines()
            if FIGURE_WORDS.search(line)
        )


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures printed by the test batteries")
        for line in FIGURES:
            terminalreporter.write_line(line)

"""schemathesis against the live app: the WSGI app from create_app, pointed at the real test
Directus, fuzzed from its own /openapi.json with valid auth for each operation.

Fixed seed (Hypothesis `derandomize`), positive and negative data, a number of cases per
operation that every operation must reach (no shared deadline that could end the run early).
Checks: not_a_server_error, response_schema_conformance, status_code_conformance and
content_type_conformance. Expected: 0 server errors, 0 responses that violate the document.
schemathesis is a test extra (setup.cfg): without it these tests fail, never skip.
"""

from __future__ import annotations

import copy
import secrets
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from credsvc import create_app
from credsvc.directus import DirectusClient
from credsvc.openapi import CACHE_KEY, build_spec
from credsvc.services import api_keys
from tests.integration.test_hardening import purge_rows

try:
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import Failure, FailureGroup
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )
except ImportError as error:
    MISSING = f"schemathesis is not installed ({error}): pip install -e '.[test]'"
else:
    MISSING = ""
    CHECKS = [
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
        content_type_conformance,
    ]

pytestmark = pytest.mark.integration

SYNC_SECRET = "schemathesis-sync-secret-" + secrets.token_hex(8)
# Cases per operation: up to this many with valid and with invalid data (about 35 s for all
# operations on two cores), and at least MINIMUM in all, which every operation with inputs must
# reach (one without, e.g. GET /healthz, has exactly one request to offer; Hypothesis stops
# there).
EXAMPLES = {"positive": 50, "negative": 25}
MINIMUM = 50


@pytest.fixture(autouse=True)
def require_schemathesis():
    if MISSING:
        pytest.fail(MISSING, pytrace=False)


@pytest.fixture(scope="module")
def live(directus):
    app = create_app(directus.service_env(RBAC_SYNC_SECRET=SYNC_SECRET))
    return app


@pytest.fixture(scope="module")
def auth_headers(directus):
    """A real Directus access token, the shared secret, and a real business API key."""
    user_id, email, password = directus.create_user()
    client = DirectusClient(directus.url, directus.role_tokens["operator"])  # as the CLI does
    business = f"fuzz-{secrets.token_hex(3)}"
    key = api_keys.create_key(client, business, "schemathesis").secret
    client.close()
    yield {
        "directusJwt": {"Authorization": f"Bearer {directus.login(email, password)}"},
        "rbacSyncSecret": {"X-RBAC-SYNC-SECRET": SYNC_SECRET},
        "businessApiKey": {"Authorization": f"Bearer {key}"},
    }
    purge_rows(directus, user_ids=[user_id], business_ids=[business])


def headers_for(operation, auth_headers) -> dict[str, str]:
    headers: dict[str, str] = {}
    for requirement in operation.definition.raw.get("security", []):
        for name in requirement:
            headers.update(auth_headers[name])
    return headers


def test_schemathesis(live, auth_headers):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", live)
    tally: Counter = Counter()
    failures: list[str] = []

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    per_operation: dict[str, int] = {}
    short = {}
    for operation in operations:
        headers = headers_for(operation, auth_headers)
        cases = 0
        for mode, examples in EXAMPLES.items():
            if mode == "negative" and not _has_inputs(operation):
                continue  # nothing to make invalid (e.g. GET /healthz)
            cases += fuzz_operation(
                operation, GenerationMode(mode), examples, headers, tally, failures
            )
        per_operation[operation.label] = cases
        if cases < (MINIMUM if _has_inputs(operation) else 1):
            short[operation.label] = cases
    statuses = {k: v for k, v in sorted(tally.items()) if k.startswith("status")}
    print(
        f"\nschemathesis: operations={len(operations)} cases={tally['cases']} "
        f"server errors={tally['server errors']} violations={tally['violations']} "
        f"operations under {MINIMUM} cases={len(short)} {short or ''} {statuses}"
    )
    print("per operation: " + ", ".join(f"{k}={v}" for k, v in per_operation.items()))
    assert not short, f"operations with fewer than {MINIMUM} cases: {short}"
    assert tally["server errors"] == 0 and tally["violations"] == 0, "\n\n".join(failures)


def fuzz_operation(operation, mode, examples, headers, tally, failures) -> int:
    """Up to `examples` derandomized cases of one operation; every failure is recorded.
    Returns how many cases were sent."""
    strategy = operation.as_strategy(generation_mode=mode, headers=headers)
    sent = Counter()

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case):
        response = case.call()
        sent["cases"] += 1
        tally["cases"] += 1
        tally[f"status {response.status_code}"] += 1
        if response.status_code >= 500:
            tally["server errors"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (FailureGroup, Failure) as exc:  # record it and keep going
            tally["violations"] += 1
            if len(failures) < 20:
                failures.append(
                    f"{operation.label} [{mode}] {case.method} {case.formatted_path}"
                    f" -> {response.status_code}: {str(exc)[:800]}"
                )

    fuzz()
    return sent["cases"]


def _has_inputs(operation) -> bool:
    raw = operation.definition.raw
    return bool(raw.get("requestBody") or raw.get("parameters"))


def test_the_checks_bite(directus, auth_headers):
    """The same run against a deliberately wrong document must report violations, so a
    clean result above means the answers conform, not that nothing was checked."""
    app = create_app(directus.service_env(RBAC_SYNC_SECRET=SYNC_SECRET))
    document = copy.deepcopy(build_spec(app))
    document["components"]["schemas"]["CredentialsError"]["properties"]["error"]["type"] = "integer"
    app.extensions[CACHE_KEY] = document
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = schema["/api/credentials/reveal"]["POST"]
    tally: Counter = Counter()
    fuzz_operation(
        operation, GenerationMode.NEGATIVE, 10, auth_headers["rbacSyncSecret"], tally, []
    )
    print(
        f"\nschemathesis on a wrong document: cases={tally['cases']} "
        f"violations={tally['violations']}"
    )
    assert tally["violations"] > 0

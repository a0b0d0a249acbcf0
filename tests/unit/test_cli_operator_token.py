"""The `api-keys` and `keys` commands talk to Directus as the operator role
(DIRECTUS_OPERATOR_TOKEN), never with the process's own service token when that is set."""

from __future__ import annotations

import json
import re

import pytest

from credsvc import create_app
from credsvc.services import keys as key_service
from tests.conftest import DIRECTUS, TEST_ENV

OPERATOR = "operator-token-for-unit-tests"
SERVICE = TEST_ENV["DIRECTUS_TOKEN"]
FORBIDDEN = {"errors": [{"message": "You don't have permission to access this.",
                         "extensions": {"code": "FORBIDDEN"}}]}  # fmt: skip
COMMANDS = [
    ["api-keys", "list"],
    ["api-keys", "create", "--business", "acme"],
    ["keys", "status", "--json"],
]


def run(args: list[str], **env: str):
    return create_app({**TEST_ENV, **env}).test_cli_runner().invoke(args=args)


def answer_everything(wire, status: int = 200) -> None:
    body = FORBIDDEN if status == 403 else {"data": []}
    for method in ("GET", "POST", "PATCH", "SEARCH"):
        wire.add(method, re.compile(re.escape(DIRECTUS) + r"/items/.*"), json=body, status=status)


def tokens_sent(wire) -> set[str]:
    return {call.request.headers["Authorization"] for call in wire.calls}


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_the_operator_token_is_used_when_set(directus_wire, args):
    answer_everything(directus_wire)
    result = run(args, DIRECTUS_OPERATOR_TOKEN=OPERATOR)
    assert result.exit_code == 0, result.output
    assert tokens_sent(directus_wire) == {f"Bearer {OPERATOR}"}


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_without_it_the_process_token_is_used(directus_wire, args):
    answer_everything(directus_wire)
    assert run(args).exit_code == 0
    assert tokens_sent(directus_wire) == {f"Bearer {SERVICE}"}


def test_rewrap_uses_the_operator_token(directus_wire):
    answer_everything(directus_wire)
    result = run(["keys", "rewrap", "--no-progress"], DIRECTUS_OPERATOR_TOKEN=OPERATOR)
    assert result.exit_code == 0, result.output
    assert len(directus_wire.calls) >= len(key_service.ENCRYPTED_FIELDS)
    assert tokens_sent(directus_wire) == {f"Bearer {OPERATOR}"}


@pytest.mark.parametrize("args", COMMANDS[:2], ids=" ".join)
def test_a_refusal_names_the_token_it_needs(directus_wire, args):
    answer_everything(directus_wire, status=403)
    result = run(args)
    assert result.exit_code == 1
    assert "Directus refused (403)" in result.output and "DIRECTUS_OPERATOR_TOKEN" in result.output
    assert "Traceback" not in result.output


def test_status_reports_a_refusal_per_collection(directus_wire):
    answer_everything(directus_wire, status=403)
    result = run(["keys", "status", "--json"])
    assert result.exit_code == 1
    errors = json.loads(result.output[: result.output.rindex("}") + 1])["errors"]
    assert errors == {c: "Directus 403 FORBIDDEN" for c, _ in key_service.ENCRYPTED_FIELDS}


def test_the_operator_token_is_redacted_from_logs(env):
    from credsvc.logs import RedactingFilter, handler_of

    app = create_app({**env, "DIRECTUS_OPERATOR_TOKEN": OPERATOR})
    filters = [f for f in handler_of(app).filters if isinstance(f, RedactingFilter)]
    assert filters and all(OPERATOR in f.secrets for f in filters)

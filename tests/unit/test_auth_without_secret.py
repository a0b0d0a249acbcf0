"""User tokens in a process without DIRECTUS_SECRET: shape-checked here, confirmed by Directus.

Such a process cannot verify a signature, so every token that passes the local checks is shown
to Directus (`GET /users/me?fields=id` with the token itself) and accepted only when Directus
answers with the token's user id. A confirmation is remembered for the session-check TTL; a
refusal never is. A token that fails the local checks costs no Directus call.
"""

from __future__ import annotations

import uuid

import pytest

from credsvc import create_app
from credsvc.auth import verify_directus_token
from tests.conftest import mint_token
from tests.unit.test_auth import FORGED
from tests.unit.test_callers import mode_env
from tests.unit.test_sessions import (
    ME,
    PASSED_THE_GUARD,
    UPSTREAM_FAILURES,
    USER,
    FakeClock,
    call,
    directus_says,
)

# Forgeries only the signature gives away: Directus must be asked, and refuses them.
SIGNATURE_ONLY = ("signature stripped", "signature bit-flipped", "wrong secret")
REFUSED_HERE = sorted(set(FORGED) - set(SIGNATURE_ONLY))


@pytest.fixture(params=["full", "ingest"])
def env(request) -> dict[str, str]:
    """Both modes that serve user endpoints, without DIRECTUS_SECRET."""
    env = mode_env(request.param)
    env.pop("DIRECTUS_SECRET", None)  # an ingest process is never given it
    return env


@pytest.fixture
def clock(app) -> FakeClock:
    fake = FakeClock()
    app.extensions["credsvc"].sessions.clock = fake
    return fake


def test_the_app_holds_no_directus_secret(app):
    assert app.extensions["credsvc"].config.directus_secret == ""


def test_a_token_directus_confirms_is_accepted_with_one_call(client, directus_wire):
    token = mint_token(USER)  # an ordinary access token: no session claim
    check = directus_says(directus_wire, token)
    for _ in range(3):
        assert call(client, token).status_code == PASSED_THE_GUARD
    assert check.call_count == 1  # remembered
    assert token not in check.calls[0].request.url


def test_a_confirmation_is_asked_again_after_the_ttl(app, client, directus_wire, clock):
    token = mint_token(USER)
    directus_says(directus_wire, token)
    assert call(client, token).status_code == PASSED_THE_GUARD
    clock.now += app.extensions["credsvc"].config.session_check_cache_seconds + 0.5
    directus_wire.replace("GET", ME, status=401, json={"errors": []})  # ended meanwhile
    assert call(client, token).status_code == 401
    assert len(directus_wire.calls) == 2


@pytest.mark.parametrize("status", [401, 403])
def test_a_token_directus_refuses_is_401(client, directus_wire, status):
    token = mint_token(USER)
    directus_says(directus_wire, token, status)
    response = call(client, token)
    assert response.status_code == 401
    assert response.get_json() == {"success": False, "error": "Unauthorized"}


def test_a_token_directus_says_is_another_users_is_401(client, directus_wire):
    token = mint_token(USER)
    directus_says(directus_wire, token, user_id=str(uuid.uuid4()))
    assert call(client, token).status_code == 401


def test_a_refusal_is_not_remembered(client, directus_wire):
    token = mint_token(USER)
    directus_says(directus_wire, token, 401)
    assert call(client, token).status_code == 401
    assert call(client, token).status_code == 401
    assert len(directus_wire.calls) == 2


@pytest.mark.parametrize(
    "token",
    [
        *(FORGED[case] for case in SIGNATURE_ONLY),
        # What DIRECTUS_SECRET would let its holder mint: a Directus admin's token.
        mint_token(USER, secret="a-guessed-secret-0123456789abcdef", admin_access=True),
    ],
    ids=[*SIGNATURE_ONLY, "admin token, wrong secret"],
)
def test_a_forged_signature_is_refused_because_directus_refuses_it(client, directus_wire, token):
    check = directus_says(directus_wire, token, 401)
    assert call(client, token).status_code == 401
    assert check.call_count == 1


def test_the_local_checks_cover_the_tokens_that_are_never_access_tokens():
    assert {
        "alg none",
        "password reset scope",
        "invite scope",
        "share token",
        "expired beyond leeway",
    } <= set(REFUSED_HERE)


@pytest.mark.parametrize("case", REFUSED_HERE)
def test_a_token_failing_the_local_checks_never_reaches_directus(client, directus_wire, case):
    response = call(client, FORGED[case])
    assert response.status_code == 401, case
    assert response.get_json() == {"success": False, "error": "Unauthorized"}
    assert len(directus_wire.calls) == 0


@pytest.mark.parametrize("case", ["connection refused", "timeout", "500", "200 without id"])
def test_directus_unable_to_answer_is_never_an_acceptance(client, directus_wire, case):
    kwargs, expected = UPSTREAM_FAILURES[case]
    token = mint_token(USER)
    directus_says(directus_wire, token, **kwargs)
    response = call(client, token)
    assert response.status_code == expected
    assert response.get_json()["success"] is False


def test_verifying_with_an_empty_secret_is_a_programming_error():
    with pytest.raises(ValueError):
        verify_directus_token(mint_token(USER), "")


def test_with_the_secret_an_access_token_is_still_verified_here_alone(directus_wire):
    client = create_app(mode_env("full")).test_client()
    assert call(client, mint_token(USER)).status_code == PASSED_THE_GUARD
    assert call(client, FORGED["wrong secret"]).status_code == 401
    assert len(directus_wire.calls) == 0

"""Session-mode Directus tokens at the wire: confirmed with Directus, briefly remembered.

A token with a `session` claim passes the guard only when Directus, shown the token itself
(`GET /users/me?fields=id`), answers with the token's user id. Tokens without the claim are
verified locally, with no Directus call.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import jwt
import pytest
import requests
from responses import matchers

from credsvc import create_app
from credsvc.config import Config, ConfigError
from credsvc.directus import DirectusClient
from credsvc.services.sessions import LiveSessions
from tests.conftest import DIRECTUS, TEST_ENV, mint_token

# A user route whose guard passes into validation: 400 for `{}` means "the guard let it in".
ROUTE = "/api/credentials/revoke-platform-session"
ME = f"{DIRECTUS}/users/me"
USER = str(uuid.uuid4())
PASSED_THE_GUARD = 400


def session_token(user_id: str = USER, **claims) -> str:
    """Shaped like Directus's `directus_session_token`: access claims plus `session`."""
    claims.setdefault("session", uuid.uuid4().hex * 2)
    claims.setdefault("exp", int(time.time()) + 86400)
    return mint_token(user_id, **claims)


def call(client, token: str):
    return client.post(ROUTE, headers={"Authorization": f"Bearer {token}"}, json={})


def directus_says(wire, token: str, status: int = 200, user_id: str = USER, **kwargs):
    """Directus's answer to `GET /users/me?fields=id` made with `token`, and only with it."""
    if status == 200 and "json" not in kwargs and "body" not in kwargs:
        kwargs["json"] = {"data": {"id": user_id}}
    elif "json" not in kwargs and "body" not in kwargs:
        kwargs["json"] = {"errors": [{"message": "nope", "extensions": {"code": "X"}}]}
    return wire.get(
        ME,
        status=status,
        match=[
            matchers.query_param_matcher({"fields": "id"}),
            matchers.header_matcher({"Authorization": f"Bearer {token}"}),
        ],
        **kwargs,
    )


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app) -> FakeClock:
    """Replaces the monotonic clock of the app's session cache."""
    fake = FakeClock()
    app.extensions["credsvc"].sessions.clock = fake
    return fake


# -- the guard ------------------------------------------------------------------------------


def test_session_token_is_confirmed_with_directus_using_the_token_itself(client, directus_wire):
    token = session_token()
    check = directus_says(directus_wire, token)
    assert call(client, token).status_code == PASSED_THE_GUARD
    assert check.call_count == 1
    assert token not in check.calls[0].request.url  # header only, never the query string


def test_access_token_without_session_claim_makes_no_directus_call(client, directus_wire):
    assert call(client, mint_token(USER)).status_code == PASSED_THE_GUARD
    assert len(directus_wire.calls) == 0


@pytest.mark.parametrize("status", [401, 403])
def test_directus_refusing_the_session_is_401(client, directus_wire, status):
    token = session_token()
    directus_says(directus_wire, token, status)
    response = call(client, token)
    assert response.status_code == 401
    assert response.get_json() == {"success": False, "error": "Unauthorized"}


def test_session_of_another_user_is_401(client, directus_wire):
    token = session_token()
    directus_says(directus_wire, token, user_id=str(uuid.uuid4()))
    assert call(client, token).status_code == 401


@pytest.mark.parametrize(
    "token",
    [
        session_token(secret="another-secret-entirely-0123456789"),
        session_token(iat=int(time.time()) - 90000, exp=int(time.time()) - 3600),
        session_token(scope="invite"),
    ],
    ids=["wrong secret", "expired", "scope claim"],
)
def test_session_token_failing_local_checks_never_reaches_directus(client, directus_wire, token):
    assert call(client, token).status_code == 401
    assert len(directus_wire.calls) == 0


# Directus down, slow, broken or answering something that neither confirms nor refuses.
UPSTREAM_FAILURES = {
    "connection refused": (dict(body=requests.ConnectionError("refused")), 502),
    "timeout": (dict(body=requests.ReadTimeout("slow")), 504),
    "500": (dict(status=500), 502),
    "404": (dict(status=404), 502),
    "400": (dict(status=400), 502),
    "429": (dict(status=429), 502),
    "200 without id": (dict(json={"data": {}}), 502),
    "200 with null data": (dict(json={"data": None}), 502),
    "200 not json": (dict(body="<html>pong</html>"), 502),
}


@pytest.mark.parametrize("case", sorted(UPSTREAM_FAILURES))
def test_session_check_fails_closed_when_directus_cannot_answer(client, directus_wire, case):
    kwargs, expected = UPSTREAM_FAILURES[case]
    token = session_token()
    directus_says(directus_wire, token, **kwargs)
    response = call(client, token)
    assert response.status_code == expected
    assert response.get_json()["success"] is False


# -- the cache ------------------------------------------------------------------------------


def test_confirmation_is_remembered_within_the_ttl(client, directus_wire, clock):
    token = session_token()
    check = directus_says(directus_wire, token)
    assert call(client, token).status_code == PASSED_THE_GUARD
    clock.now += Config.session_check_cache_seconds - 0.5
    assert call(client, token).status_code == PASSED_THE_GUARD
    assert check.call_count == 1


def test_confirmation_expires_after_the_ttl(client, directus_wire, clock):
    token = session_token()
    directus_says(directus_wire, token)
    assert call(client, token).status_code == PASSED_THE_GUARD
    clock.now += Config.session_check_cache_seconds + 0.5
    directus_wire.replace("GET", ME, status=401, json={"errors": []})  # logged out meanwhile
    assert call(client, token).status_code == 401
    assert len(directus_wire.calls) == 2


def test_confirmation_never_outlives_the_token(client, directus_wire, clock):
    token = session_token(exp=int(time.time()) + 2)  # expires before the TTL would end
    check = directus_says(directus_wire, token)
    assert call(client, token).status_code == PASSED_THE_GUARD
    clock.now += 2.5  # the token's exp has passed on the cache's clock, the TTL has not
    assert call(client, token).status_code == PASSED_THE_GUARD
    assert check.call_count == 2


@pytest.mark.parametrize(
    "first, status",
    [
        (dict(status=401), 401),
        (dict(status=503), 502),
        (dict(body=requests.ConnectionError("down")), 502),
    ],
    ids=["refused", "503", "unreachable"],
)
def test_a_failed_check_is_not_remembered(client, directus_wire, clock, first, status):
    token = session_token()
    directus_says(directus_wire, token, **first)
    assert call(client, token).status_code == status
    failed_calls = len(directus_wire.calls)  # a 503 is retried by the client
    directus_wire.replace("GET", ME, json={"data": {"id": USER}})
    assert call(client, token).status_code == PASSED_THE_GUARD
    assert call(client, token).status_code == PASSED_THE_GUARD
    assert len(directus_wire.calls) == failed_calls + 1


def test_ttl_zero_checks_every_request(env, directus_wire):
    env["SESSION_CHECK_CACHE_SECONDS"] = "0"
    client = create_app(env).test_client()
    token = session_token()
    check = directus_says(directus_wire, token)
    for _ in range(3):
        assert call(client, token).status_code == PASSED_THE_GUARD
    assert check.call_count == 3


def test_the_token_is_never_logged(client, directus_wire, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    refused, failing = session_token(), session_token()
    directus_says(directus_wire, refused, 401)
    directus_says(directus_wire, failing, 500)
    assert call(client, refused).status_code == 401
    assert call(client, failing).status_code == 502
    logged = caplog.text + "".join(capsys.readouterr())
    for token in (refused, failing):
        assert token.split(".")[1] not in logged and token.split(".")[2] not in logged


# -- LiveSessions on its own ------------------------------------------------------------------


@pytest.fixture
def directus():
    return DirectusClient(DIRECTUS, TEST_ENV["DIRECTUS_TOKEN"], timeout=(0.5, 1.0))


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_remembered_confirmations_are_bounded(directus, directus_wire):
    sessions = LiveSessions(60, max_entries=2)
    tokens = [session_token() for _ in range(3)]
    checks = [directus_says(directus_wire, token) for token in tokens]
    for token in tokens:  # the third pushes out the first
        assert sessions.is_live(directus, token, claims_of(token))
    newest, oldest = tokens[2], tokens[0]
    assert sessions.is_live(directus, newest, claims_of(newest))
    assert sessions.is_live(directus, oldest, claims_of(oldest))
    assert [check.call_count for check in checks] == [2, 1, 1]


def test_concurrent_checks_of_an_expired_confirmation(directus, directus_wire):
    """Two threads find the same stale entry; without the lock both delete it (KeyError)."""
    token = session_token()
    directus_says(directus_wire, token)
    clock = FakeClock()
    sessions = LiveSessions(5, clock=clock)
    assert sessions.is_live(directus, token, claims_of(token))

    def slow_clock() -> float:
        time.sleep(0.05)  # both threads are now between reading and deleting the entry
        return 10_000.0

    sessions.clock = slow_clock
    errors: list[BaseException] = []

    def check() -> None:
        try:
            assert sessions.is_live(directus, token, claims_of(token))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=check) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [("", 5), ("0", 0), ("30", 30)])
def test_cache_seconds_from_env(raw, expected):
    config = Config.from_env({**TEST_ENV, "SESSION_CHECK_CACHE_SECONDS": raw})
    assert config.session_check_cache_seconds == expected


@pytest.mark.parametrize("raw", ["-1", "abc", "1.5"])
def test_bad_cache_seconds_is_refused(raw):
    with pytest.raises(ConfigError, match="SESSION_CHECK_CACHE_SECONDS"):
        Config.from_env({**TEST_ENV, "SESSION_CHECK_CACHE_SECONDS": raw})

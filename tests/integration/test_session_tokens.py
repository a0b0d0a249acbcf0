"""User tokens Directus confirms, against a real Directus.

`POST /auth/login {"mode": "session"}` sets the `directus_session_token` cookie, a JWT that
verifies locally for a day. credsvc shows it to Directus before accepting it, so logout,
suspension, a password or e-mail change and deleting the user each end it at credsvc too.

A process without DIRECTUS_SECRET shows Directus every user token: a forged signature is
Directus's to refuse.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from credsvc import create_app
from credsvc.config import ConfigError

pytestmark = pytest.mark.integration

TIMEOUT = (3.05, 30)
SESSION_COOKIE = "directus_session_token"


def directus_paths(app) -> list[str]:
    """Collects the path of every request the app's Directus client sends from now on."""
    sent: list[str] = []
    app.extensions["credsvc"].directus.session.hooks["response"].append(
        lambda response, *args, **kwargs: sent.append(urlsplit(response.url).path)
    )
    return sent


@pytest.fixture(scope="module")
def live(directus):
    """A credsvc app that asks Directus on every request (no remembered confirmations)."""
    return create_app(directus.service_env(SESSION_CHECK_CACHE_SECONDS="0"))


@pytest.fixture(scope="module")
def user_ids(directus):
    """Ids of the users a test created; their records are deleted at the end of the module
    (other modules count whole collections)."""
    ids: list[str] = []
    yield ids
    owners = json.dumps({"user_id": {"_in": ids}})
    rows = directus.items("platform_connections", filter=owners, fields="id")
    if rows:
        response = directus.admin_request(
            "DELETE", "/items/platform_connections", json=[row["id"] for row in rows]
        )
        assert response.status_code == 204, response.text


def session_login(directus, email: str, password: str) -> str:
    """The `directus_session_token` cookie of a session-mode login."""
    response = requests.post(
        f"{directus.url}/auth/login",
        json={"email": email, "password": password, "mode": "session"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, f"session login: {response.status_code} {response.text}"
    return response.cookies[SESSION_COOKIE]


def create_profile(app, token: str):
    """A user route that writes: 200 only when the guard let the token in."""
    response = app.test_client().post(
        "/api/credentials/create-profile",
        headers={"Authorization": f"Bearer {token}"},
        json={"platform": f"instagram{secrets.token_hex(3)}", "credentials": {"password": "x"}},
    )
    return response.status_code, response.get_json()


@pytest.fixture
def signed_in(directus, live, user_ids):
    """A new user, its session token, and proof that credsvc accepts the token now."""
    user_id, email, password = directus.create_user()
    user_ids.append(user_id)
    token = session_login(directus, email, password)
    claims = jwt.decode(token, directus.secret, algorithms=["HS256"], issuer="directus")
    assert claims["id"] == user_id and "session" in claims
    status, body = create_profile(live, token)
    assert (status, body["success"]) == (200, True), body
    return user_id, email, password, token


def logout(directus, user_id: str, token: str) -> requests.Response:
    # Session mode: the session is named by the cookie itself.
    return requests.post(
        f"{directus.url}/auth/logout",
        json={"mode": "session"},
        cookies={SESSION_COOKIE: token},
        timeout=TIMEOUT,
    )


def suspend(directus, user_id: str, token: str) -> requests.Response:
    return directus.admin_request("PATCH", f"/users/{user_id}", {"status": "suspended"})


def change_password(directus, user_id: str, token: str) -> requests.Response:
    return directus.admin_request(
        "PATCH", f"/users/{user_id}", {"password": secrets.token_urlsafe(16)}
    )


def change_email(directus, user_id: str, token: str) -> requests.Response:
    email = f"moved-{secrets.token_hex(6)}@example.com"
    return directus.admin_request("PATCH", f"/users/{user_id}", {"email": email})


def delete_user(directus, user_id: str, token: str) -> requests.Response:
    return directus.admin_request("DELETE", f"/users/{user_id}")


@pytest.mark.parametrize(
    "end_session", [logout, suspend, change_password, change_email, delete_user]
)
def test_a_session_ended_in_directus_is_refused(directus, live, signed_in, end_session):
    user_id, _, _, token = signed_in
    response = end_session(directus, user_id, token)
    assert response.status_code in (200, 204), f"{response.status_code} {response.text}"
    # The token still verifies locally: only Directus knows the session is gone.
    jwt.decode(token, directus.secret, algorithms=["HS256"], issuer="directus")
    assert create_profile(live, token) == (401, {"success": False, "error": "Unauthorized"})


def test_session_token_is_confirmed_and_access_token_is_not(directus, live, user_ids):
    user_id, email, password = directus.create_user()
    user_ids.append(user_id)
    session_token = session_login(directus, email, password)
    access_token = directus.login(email, password)
    app = create_app(directus.service_env(SESSION_CHECK_CACHE_SECONDS="0"))
    sent = directus_paths(app)

    assert create_profile(app, session_token)[0] == 200
    assert sent.count("/users/me") == 1

    sent.clear()
    assert create_profile(app, access_token)[0] == 200
    assert sent and "/users/me" not in sent  # Directus was used for the write, not asked


def test_a_confirmation_is_trusted_for_the_ttl_then_asked_again(directus, user_ids):
    ttl = 2
    app = create_app(directus.service_env(SESSION_CHECK_CACHE_SECONDS=str(ttl)))
    sent = directus_paths(app)
    user_id, email, password = directus.create_user()
    user_ids.append(user_id)
    token = session_login(directus, email, password)
    confirmed = time.monotonic()
    for _ in range(3):
        assert create_profile(app, token)[0] == 200
    assert sent.count("/users/me") == 1

    assert logout(directus, user_id, token).status_code in (200, 204)
    # The documented window: a confirmation younger than the TTL is still trusted.
    assert create_profile(app, token)[0] == 200
    assert time.monotonic() - confirmed < ttl, "too slow to observe the window"
    time.sleep(max(0.0, ttl - (time.monotonic() - confirmed)) + 0.2)
    assert create_profile(app, token)[0] == 401
    assert sent.count("/users/me") == 2


# -- a process without DIRECTUS_SECRET ---------------------------------------------------------


def secretless_app(directus):
    """A credsvc app without DIRECTUS_SECRET that asks Directus on every request."""
    app = create_app(directus.service_env(DIRECTUS_SECRET="", SESSION_CHECK_CACHE_SECONDS="0"))
    assert app.extensions["credsvc"].config.directus_secret == ""
    return app


def test_without_the_secret_directus_confirms_every_real_token(directus, user_ids):
    app = secretless_app(directus)
    sent = directus_paths(app)
    user_id, email, password = directus.create_user()
    user_ids.append(user_id)
    for token in (directus.login(email, password), session_login(directus, email, password)):
        sent.clear()
        assert create_profile(app, token)[0] == 200
        assert sent.count("/users/me") == 1


def test_without_the_secret_a_token_signed_with_another_key_is_refused(directus, user_ids):
    app = secretless_app(directus)
    sent = directus_paths(app)
    user_id, email, password = directus.create_user()
    user_ids.append(user_id)
    claims = jwt.decode(directus.login(email, password), options={"verify_signature": False})
    forged = jwt.encode(claims, "not-directus-secret-" + secrets.token_hex(16), "HS256")
    assert create_profile(app, forged) == (401, {"success": False, "error": "Unauthorized"})
    assert sent == ["/users/me"]  # the shape passed; Directus refused the signature


def test_without_the_secret_a_deleted_users_token_is_refused(directus, user_ids):
    """A session-mode token. Directus itself honours a plain access token (no `session` claim)
    until its exp, ACCESS_TOKEN_TTL (15 min by default), even after the user is deleted: it
    checks only the signature, and `/users/me` answers with the token's id when it cannot read
    the user. With or without the secret credsvc accepts such a token as long as Directus does."""
    app = secretless_app(directus)
    user_id, email, password = directus.create_user()
    user_ids.append(user_id)
    token = session_login(directus, email, password)
    assert create_profile(app, token)[0] == 200
    assert delete_user(directus, user_id, token).status_code == 204
    # The token still verifies with the secret: only Directus knows the user is gone.
    jwt.decode(token, directus.secret, algorithms=["HS256"], issuer="directus")
    assert create_profile(app, token) == (401, {"success": False, "error": "Unauthorized"})


def test_a_worker_process_starts_without_the_secret_and_refuses_it(directus):
    worker = create_app(directus.service_env(CREDSVC_MODE="worker"))
    assert worker.extensions["credsvc"].config.directus_secret == ""
    assert worker.test_client().get("/readyz").status_code == 200
    with pytest.raises(ConfigError, match="must not be given DIRECTUS_SECRET"):
        create_app(directus.service_env(CREDSVC_MODE="worker", DIRECTUS_SECRET=directus.secret))

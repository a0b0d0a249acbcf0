"""Guards: Directus access-token verification and the shared secret."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest

from tests.conftest import INTERNAL_HEADERS, TEST_ENV, access_claims, mint_token

SECRET = TEST_ENV["DIRECTUS_SECRET"]
ROUTE = "/api/credentials/revoke-platform-session"
INTERNAL = "/api/credentials/reveal"


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged_tokens() -> dict[str, str]:
    good = mint_token()
    head, body, sig = good.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    now = int(time.time())
    return {
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(access_claims())}.",
        "alg None": f"{b64({'alg': 'None', 'typ': 'JWT'})}.{b64(access_claims())}.",
        "alg NONE": f"{b64({'alg': 'NONE', 'typ': 'JWT'})}.{b64(access_claims())}.",
        "HS384": jwt.encode(access_claims(), SECRET, algorithm="HS384"),
        "HS512": jwt.encode(access_claims(), SECRET, algorithm="HS512"),
        "RS256 header": f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{body}.{sig}",
        "signature stripped": f"{head}.{body}.",
        "signature bit-flipped": f"{head}.{body}.{flipped}",
        "2 segments": f"{head}.{body}",
        "4 segments": f"{good}.{sig}",
        "5 segments": f"{good}.{head}.{body}",
        "missing exp": mint_token(exp=...),
        "missing iat": mint_token(iat=...),
        "missing iss": mint_token(iss=...),
        "wrong iss": mint_token(iss="someone-else"),
        "expired beyond leeway": mint_token(iat=now - 3600, exp=now - 60),
        "nbf in future": mint_token(nbf=now + 3600),
        "oversized": mint_token(padding="x" * 5000),
        "jku header": jwt.encode(
            access_claims(), SECRET, algorithm="HS256", headers={"jku": "http://127.0.0.1:9/jwks"}
        ),
        "x5u header": jwt.encode(
            access_claims(), SECRET, algorithm="HS256", headers={"x5u": "http://127.0.0.1:9/cert"}
        ),
        "jwk header": jwt.encode(
            access_claims(), SECRET, algorithm="HS256", headers={"jwk": {"kty": "oct", "k": "AA"}}
        ),
        "kid header": jwt.encode(
            access_claims(), SECRET, algorithm="HS256", headers={"kid": "../../dev/null"}
        ),
        "password reset scope": mint_token(
            scope="password-reset", role=..., app_access=..., admin_access=...
        ),
        "share token": mint_token(share=str(uuid.uuid4()), share_scope={"item": "x"}),
        "invite scope": mint_token(scope="invite"),
        "wrong secret": mint_token(secret="another-secret-entirely-0123456789"),
        "missing role": mint_token(role=...),
        "missing app_access": mint_token(app_access=...),
        "id not a uuid": mint_token(user_id="1; drop table"),
        "garbage": "not-a-token",
    }


FORGED = forged_tokens()


def test_valid_token_passes_the_guard(client, directus_wire):
    # The guard lets it through; validation then rejects the empty body (not 401).
    response = client.post(ROUTE, headers={"Authorization": f"Bearer {mint_token()}"}, json={})
    assert response.status_code == 400


@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_token_is_401(client, directus_wire, case):
    response = client.post(ROUTE, headers={"Authorization": f"Bearer {FORGED[case]}"}, json={})
    assert response.status_code == 401, case
    assert response.get_json() == {"success": False, "error": "Unauthorized"}
    assert len(directus_wire.calls) == 0


def test_token_battery_counts(client):
    accepted = sum(
        client.post(ROUTE, headers={"Authorization": f"Bearer {token}"}, json={}).status_code != 401
        for token in FORGED.values()
    )
    print(f"token battery: cases={len(FORGED)} accepted={accepted}")
    assert len(FORGED) >= 20 and accepted == 0


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Token " + mint_token()],
)
def test_missing_or_malformed_authorization(client, header):
    headers = {} if header is None else {"Authorization": header}
    assert client.post(ROUTE, headers=headers, json={}).status_code == 401


SECRET_VALUE = TEST_ENV["RBAC_SYNC_SECRET"]
BAD_SECRETS = {
    "empty": "",
    "prefix": SECRET_VALUE[:-1],
    "suffix": SECRET_VALUE[1:],
    "longer": SECRET_VALUE + "x",
    "wrong case": SECRET_VALUE.upper(),
    "surrounding whitespace": f" {SECRET_VALUE} ",
    "non-ascii": SECRET_VALUE[:-1] + "é",
    "latin-1 bytes": "sécret-ñ",
    "user token": mint_token(),
}


@pytest.mark.parametrize("case", sorted(BAD_SECRETS))
def test_bad_shared_secret_is_401(client, directus_wire, case):
    response = client.post(INTERNAL, headers={"X-RBAC-SYNC-SECRET": BAD_SECRETS[case]}, json={})
    assert response.status_code == 401
    assert response.get_json() == {"success": False, "error": "Unauthorized"}


def test_shared_secret_battery_counts(client):
    cases = list(BAD_SECRETS.values()) + [None]
    accepted = 0
    for value in cases:
        headers = {} if value is None else {"X-RBAC-SYNC-SECRET": value}
        accepted += client.post(INTERNAL, headers=headers, json={}).status_code != 401
    print(f"shared-secret battery: cases={len(cases)} accepted={accepted}")
    assert accepted == 0


def test_correct_secret_passes_the_guard(client):
    assert client.post(INTERNAL, headers=INTERNAL_HEADERS, json={}).status_code == 400


def test_previous_secret_is_accepted_during_rotation(env):
    from credsvc import create_app

    env["RBAC_SYNC_SECRET_PREVIOUS"] = "the-previous-secret-0123456789"
    client = create_app(env).test_client()
    for value in (env["RBAC_SYNC_SECRET"], env["RBAC_SYNC_SECRET_PREVIOUS"]):
        assert (
            client.post(INTERNAL, headers={"X-RBAC-SYNC-SECRET": value}, json={}).status_code == 400
        )
    assert (
        client.post(INTERNAL, headers={"X-RBAC-SYNC-SECRET": "nope-nope-nope"}, json={}).status_code
        == 401
    )

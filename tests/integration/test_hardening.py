"""Forged and borrowed tokens, and one user probing another's records, on a real Directus.

- Token battery with real Directus material: a genuine access token (accepted), then JWTs
  Directus itself would sign with the same SECRET for other purposes (password reset, invite,
  share — re-signed copies of the genuine claims, a genuine share token from
  POST /shares/auth, and a genuine password-reset token from the mail Directus sends after
  POST /auth/password/request): every one of them -> 401. Then the Directus credentials that
  are not JWTs (a genuine refresh token, the static tokens, the SECRET) as bearer tokens -> 401.
  (Synthetic forgeries — alg none, HS384, kid/jku, ... — are in tests/unit/test_auth.py.)
- Authorization matrix: two real users; every user endpoint called by B with A's ids -> 403 or
  404 and nothing of A's changes; owner fields in bodies -> 400. The same for two businesses on
  the end-user API: neither can see, change or delete the other's end users.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid

import jwt
import pytest

from credsvc import create_app
from credsvc.directus import DirectusClient
from credsvc.services import api_keys

pytestmark = pytest.mark.integration

SYNC_SECRET = "hardening-sync-secret-" + secrets.token_hex(8)
ROUTE = "/api/credentials/create-profile"
VALID_BODY = {"platform": "instagram", "credentials": {"password": "hardening-pw"}}


def purge_rows(directus, *, user_ids=(), business_ids=()) -> int:
    """Delete what a test module wrote to the shared Directus (other modules, e.g. the rewrap
    tests, scan whole collections and cannot read rows under this module's random key)."""
    deleted = 0
    owners = [
        (
            "user_id",
            user_ids,
            ("platform_connections", "download_credentials", "platform_sessions"),
        ),
        ("business_id", business_ids, ("end_user_credentials", "api_keys")),
    ]
    for column, values, collections in owners:
        if not values:
            continue
        for collection in collections:
            rows = directus.items(
                collection, fields="id", filter=json.dumps({column: {"_in": list(values)}})
            )
            if rows:
                ids = [row["id"] for row in rows]
                response = directus.admin_request("DELETE", f"/items/{collection}", ids)
                assert response.status_code == 204, response.text
                deleted += len(ids)
    return deleted


@pytest.fixture(scope="module", autouse=True)
def cleanup(directus):
    """Collects the users and businesses this module creates; purges their rows at the end."""
    created = {"user_ids": set(), "business_ids": set()}
    yield created
    purge_rows(directus, **created)


@pytest.fixture(scope="module")
def live(directus):
    return create_app(directus.service_env(RBAC_SYNC_SECRET=SYNC_SECRET))


@pytest.fixture(scope="module")
def client(live):
    return live.test_client()


@pytest.fixture(scope="module")
def user_a(directus, cleanup):
    user_id, email, password = directus.create_user()
    cleanup["user_ids"].add(user_id)
    login = directus.http.post(
        f"{directus.url}/auth/login", json={"email": email, "password": password}, timeout=30
    )
    assert login.status_code == 200
    data = login.json()["data"]
    return {
        "id": user_id,
        "email": email,
        "token": data["access_token"],
        "refresh": data["refresh_token"],
    }


@pytest.fixture(scope="module")
def user_b(directus, cleanup):
    user_id, email, password = directus.create_user()
    cleanup["user_ids"].add(user_id)
    return {"id": user_id, "email": email, "token": directus.login(email, password)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- token battery with real Directus tokens -------------------------------------------------


def resign(claims: dict, secret: str, **changes) -> str:
    payload = {**claims, **changes}
    payload = {key: value for key, value in payload.items() if value is not ...}
    return jwt.encode(payload, secret, algorithm="HS256")


def genuine_share_token(directus, item_id: str) -> str:
    """A share token minted by Directus itself: create a share, then log in to it."""
    created = directus.admin_request(
        "POST",
        "/shares",
        {
            "name": "hardening",
            "collection": "platform_connections",
            "item": item_id,
        },
    )
    assert created.status_code == 200, created.text
    share_id = created.json()["data"]["id"]
    login = directus.http.post(f"{directus.url}/shares/auth", json={"share": share_id}, timeout=30)
    assert login.status_code == 200, login.text
    token = login.json()["data"]["access_token"]
    assert (
        jwt.decode(token, directus.secret, algorithms=["HS256"], issuer="directus")["share"]
        == share_id
    )
    return token


def genuine_reset_token(directus, email: str) -> str:
    token = directus.password_reset_token(email)
    claims = jwt.decode(token, directus.secret, algorithms=["HS256"], issuer="directus")
    assert claims["scope"] == "password-reset" and claims["email"] == email
    return token


def borrowed_tokens(directus, user_a, profile_id: str) -> dict[str, str]:
    secret = directus.secret
    claims = jwt.decode(user_a["token"], secret, algorithms=["HS256"], issuer="directus")
    now = int(time.time())
    reset_claims = {
        "email": user_a["email"],
        "scope": "password-reset",
        "hash": secrets.token_hex(16),
        "iat": now,
        "exp": now + 86400,
        "iss": "directus",
    }
    return {
        # Exactly what Directus signs for a reset mail and an invite (users.js), same SECRET.
        "password-reset token (Directus payload)": resign(reset_claims, secret),
        "invite token (Directus payload)": resign(reset_claims, secret, scope="invite", hash=...),
        # The genuine access token's claims plus a non-access scope: still refused.
        "access claims + scope password-reset": resign(claims, secret, scope="password-reset"),
        "access claims + scope invite": resign(claims, secret, scope="invite"),
        "access claims + share claim": resign(claims, secret, share=str(uuid.uuid4())),
        "access claims + share_scope": resign(claims, secret, share_scope={"item": profile_id}),
        "share token (Directus payload) with user id": resign(
            {
                "app_access": False,
                "admin_access": False,
                "role": None,
                "id": claims["id"],
                "share": str(uuid.uuid4()),
                "iat": now,
                "exp": now + 900,
                "iss": "directus",
            },
            secret,
        ),
        "genuine share token from /shares/auth": genuine_share_token(directus, profile_id),
        "genuine password-reset token from Directus's mail": genuine_reset_token(
            directus, user_a["email"]
        ),
        "genuine access token signed with another SECRET": resign(claims, secrets.token_hex(32)),
        "genuine access token, expired": resign(claims, secret, iat=now - 7200, exp=now - 3600),
        "genuine access token, HS512 re-signed": jwt.encode(claims, secret, algorithm="HS512"),
    }


def directus_credentials_not_jwts(directus, user_a) -> dict[str, str]:
    """Genuine Directus credentials that are not JWTs at all, presented as bearer tokens."""
    return {
        "genuine refresh token (opaque)": user_a["refresh"],
        "Directus admin static token": directus.admin_token,
        "credsvc service static token": directus.service_token,
        "Directus SECRET itself": directus.secret,
    }


def is_jwt(token: str) -> bool:
    try:
        jwt.decode(token, options={"verify_signature": False})
    except jwt.DecodeError:
        return False
    return True


def not_refused(client, tokens: dict[str, str]) -> dict[str, int]:
    """The tokens that were not refused with the documented 401, and the status they got."""
    accepted = {}
    for name, token in tokens.items():
        response = client.post(ROUTE, headers=bearer(token), json=VALID_BODY)
        if response.status_code != 401 or response.get_json() != {
            "success": False,
            "error": "Unauthorized",
        }:
            accepted[name] = response.status_code
    return accepted


def test_real_token_battery(client, directus, user_a):
    ok = client.post(ROUTE, headers=bearer(user_a["token"]), json=VALID_BODY)
    assert ok.status_code == 200, ok.get_json()  # the genuine token is accepted
    tokens = borrowed_tokens(directus, user_a, ok.get_json()["id"])
    not_jwts = [name for name, token in tokens.items() if not is_jwt(token)]
    accepted = not_refused(client, tokens)
    print(f"\nreal-token battery: cases={len(tokens)} accepted={len(accepted)} {accepted or ''}")
    assert not not_jwts, f"not JWTs, so not tokens Directus signs: {not_jwts}"
    assert not accepted


def test_directus_credentials_that_are_not_jwts_are_refused(client, directus, user_a):
    tokens = directus_credentials_not_jwts(directus, user_a)
    assert not any(is_jwt(token) for token in tokens.values())
    accepted = not_refused(client, tokens)
    print(
        f"\nnon-JWT Directus credentials as bearer: cases={len(tokens)} "
        f"accepted={len(accepted)} {accepted or ''}"
    )
    assert not accepted


# -- authorization matrix: users -------------------------------------------------------------

OWNER_FIELDS = {"user_id": None, "owner": None, "owner_platform": None, "userId": None, "id": None}


@pytest.fixture(scope="module")
def a_records(client, user_a):
    """A's profile, download credential and platform session, created through the API."""
    headers = bearer(user_a["token"])
    profile = client.post(
        ROUTE,
        headers=headers,
        json={"platform": "tiktok", "credentials": {"password": "a-secret-pw"}},
    ).get_json()["id"]
    credential = client.post(
        "/api/credentials/create-download-cred",
        headers=headers,
        json={
            "platform": "tiktok",
            "creator_profile_id": profile,
            "auth_type": "password",
            "credentials": {"password": "a-dl-pw"},
        },
    ).get_json()["id"]
    session = client.post(
        "/api/credentials/store-platform-session",
        headers=headers,
        json={
            "creator_profile_id": profile,
            "platform": "tiktok",
            "cookies": [
                {
                    "name": "sessionid",
                    "value": "a-cookie",
                    "domain": ".tiktok.com",
                    "path": "/",
                    "secure": True,
                }
            ],
        },
    ).get_json()["id"]
    return {"profile": profile, "credential": credential, "session": session}


def snapshot(directus, records) -> str:
    rows = {
        "platform_connections": directus.items(
            "platform_connections", filter=json.dumps({"id": {"_eq": records["profile"]}})
        ),
        "download_credentials": directus.items(
            "download_credentials", filter=json.dumps({"id": {"_eq": records["credential"]}})
        ),
        "platform_sessions": directus.items(
            "platform_sessions", filter=json.dumps({"id": {"_eq": records["session"]}})
        ),
    }
    return json.dumps(rows, sort_keys=True)


def probes(records, own_profile: str) -> dict[str, tuple[str, dict, dict | None]]:
    """Every user endpoint, with A's ids wherever an id can be given: (route, body, control).
    Where the id is A's profile, `control` is the same body naming the caller's own profile
    (`own_profile`): it must succeed, so the probe's refusal is about whose profile it names,
    not about a body no one could send."""
    profile, session = records["profile"], records["session"]
    creds = {"password": "b-tries"}

    def naming_a_profile(route: str, body) -> tuple[str, dict, dict]:
        return route, body(profile), body(own_profile)

    return {
        "update-profile-creds A's profile": naming_a_profile(
            "update-profile-creds", lambda p: {"creator_profile_id": p, "credentials": creds}
        ),
        "create-download-cred on A's profile": naming_a_profile(
            "create-download-cred",
            lambda p: {
                "platform": "tiktok",
                "creator_profile_id": p,
                "auth_type": "password",
                "credentials": creds,
            },
        ),
        "store-platform-session on A's profile": naming_a_profile(
            "store-platform-session",
            lambda p: {
                "creator_profile_id": p,
                "platform": "tiktok",
                "cookies": [{"name": "x", "value": "y", "domain": ".tiktok.com"}],
            },
        ),
        "revoke-platform-session A's session": ("revoke-platform-session", {"id": session}, None),
        "revoke-platform-session A's profile id": (
            "revoke-platform-session",
            {"id": profile},
            None,
        ),
        "revoke-platform-session A's download credential id": (
            "revoke-platform-session",
            {"id": records["credential"]},
            None,
        ),
        "update-profile-creds A's session id": (
            "update-profile-creds",
            {"creator_profile_id": session, "credentials": creds},
            None,
        ),
        "create-download-cred, B's platform, A's profile": naming_a_profile(
            "create-download-cred",
            lambda p: {
                "platform": "youtube",
                "creator_profile_id": p,
                "auth_type": "password",
                "credentials": creds,
            },
        ),
    }


def test_authorization_matrix_users(client, directus, user_a, user_b, a_records):
    headers_b = bearer(user_b["token"])
    b_profile = client.post(
        ROUTE, headers=headers_b, json={"platform": "tiktok", "credentials": {"password": "b-pw"}}
    ).get_json()["id"]
    before = snapshot(directus, a_records)
    successes, wrong = {}, {}
    cases = probes(a_records, b_profile)
    # The decrypting endpoints are not for users at all: B's token gets 401 there.
    internal = {
        "reveal A's profile": ("reveal", {"creatorProfileId": a_records["profile"]}),
        "reveal-download-cred A's credential": (
            "reveal-download-cred",
            {"id": a_records["credential"]},
        ),
        "get-platform-session A's profile": (
            "get-platform-session",
            {"creator_profile_id": a_records["profile"], "platform": "tiktok"},
        ),
        "store on A's profile": (
            "store",
            {"creatorProfileId": a_records["profile"], "credentials": {"password": "b-store"}},
        ),
    }
    for name, (route, body, *_) in {**cases, **internal}.items():
        response = client.post(f"/api/credentials/{route}", headers=headers_b, json=body)
        allowed = (401,) if name in internal else (403, 404)
        if response.status_code < 400:
            successes[name] = response.status_code
        elif response.status_code not in allowed:
            wrong[name] = response.status_code
    after = snapshot(directus, a_records)
    # The same bodies naming B's own profile are accepted.
    controls = {name: (route, control) for name, (route, _, control) in cases.items() if control}
    refused_controls = {}
    for name, (route, body) in controls.items():
        response = client.post(f"/api/credentials/{route}", headers=headers_b, json=body)
        if response.status_code != 200:
            refused_controls[name] = response.status_code
    cases = {**cases, **internal}
    print(
        f"\nauthorization matrix (users): cases={len(cases)} successes={len(successes)} "
        f"other statuses={len(wrong)} {successes or ''}{wrong or ''} "
        f"controls on B's own profile={len(controls)} refused={len(refused_controls)} "
        f"{refused_controls or ''}"
    )
    assert not successes and not wrong
    assert before == after  # nothing of A's changed
    assert len(controls) == 4 and not refused_controls
    # B's own profile of the same platform is a different record.
    assert b_profile != a_records["profile"]


USER_BODIES = {
    "create-profile": {"platform": "reddit", "credentials": {"password": "x"}},
    "update-profile-creds": {
        "creator_profile_id": str(uuid.uuid4()),
        "credentials": {"password": "x"},
    },
    "create-download-cred": {
        "platform": "reddit",
        "creator_profile_id": str(uuid.uuid4()),
        "auth_type": "password",
        "credentials": {"password": "x"},
    },
    "store-platform-session": {
        "creator_profile_id": str(uuid.uuid4()),
        "platform": "reddit",
        "cookies": [{"name": "a", "value": "b", "domain": ".reddit.com"}],
    },
    "revoke-platform-session": {"id": str(uuid.uuid4())},
}


def test_owner_fields_in_bodies_are_rejected(client, directus, user_a, user_b):
    """`user_id` (or any owner field) naming another user is a 400, never honoured."""
    headers_b = bearer(user_b["token"])
    cases, honoured = 0, {}
    for route, body in USER_BODIES.items():
        for name in OWNER_FIELDS:
            if name in body:
                continue  # a legitimate field of this route (revoke's session `id`)
            cases += 1
            response = client.post(
                f"/api/credentials/{route}", headers=headers_b, json={**body, name: user_a["id"]}
            )
            if response.status_code != 400 or name not in response.get_json()["error"]:
                honoured[f"{route}+{name}"] = response.status_code
    rows = directus.items(
        "platform_connections", filter=json.dumps({"platform": {"_eq": "reddit"}})
    )
    owned_by_a = [row for row in rows if row["user_id"] == user_a["id"]]
    print(f"\nowner fields in bodies: cases={cases} honoured={len(honoured)} {honoured or ''}")
    assert not honoured and not owned_by_a


# -- authorization matrix: businesses on the end-user API -------------------------------------


@pytest.fixture(scope="module")
def business_keys(directus, cleanup):
    client = DirectusClient(directus.url, directus.role_tokens["operator"])  # as the CLI does
    suffix = secrets.token_hex(3)
    cleanup["business_ids"].update({f"a-{suffix}", f"b-{suffix}"})
    keys = {
        name: api_keys.create_key(client, f"{name}-{suffix}", "hardening").secret
        for name in ("a", "b")
    }
    client.close()
    return keys


def test_authorization_matrix_businesses(client, directus, business_keys):
    a, b = bearer(business_keys["a"]), bearer(business_keys["b"])
    path = "/v1/end-users/shared-name/credentials"
    put = client.put(path, headers=a, json={"redditSession": "business-a-reddit"})
    assert put.status_code == 200, put.get_json()
    rows_before = directus.items("end_user_credentials", fields="id,business_id,field")

    successes = {}
    status = client.get(path, headers=b).get_json()
    if status["platforms"]["reddit"]["configured"]:
        successes["B sees A's flags"] = 200
    client.delete(path, headers=b)
    if directus.items("end_user_credentials", fields="id,business_id,field") != rows_before:
        successes["B's DELETE removed A's rows"] = 200
    client.put(path, headers=b, json={"redditSession": "business-b-reddit"})
    revealed = client.post(
        "/api/end-user-credentials/reveal",
        headers={"X-RBAC-SYNC-SECRET": SYNC_SECRET},
        json={
            "businessId": directus_business(directus, business_keys, "a"),
            "endUserId": "shared-name",
            "platforms": ["reddit"],
        },
    )
    cookie = revealed.get_json()["platforms"]["reddit"]["cookies"][0]
    if cookie["value"] != "business-a-reddit":
        successes["B's PUT overwrote A's value"] = 200
    injected = {}
    owner_fields = ("businessId", "business_id", "owner")
    for name in owner_fields:
        response = client.put(path, headers=b, json={"redditSession": "x", name: "a"})
        if response.status_code != 400:
            injected[name] = response.status_code
    cases = 3 + len(owner_fields)  # see, delete, overwrite + each owner field
    print(
        f"\nauthorization matrix (businesses): cases={cases} "
        f"successes={len(successes) + len(injected)} {successes or ''}{injected or ''}"
    )
    assert not successes and not injected


def directus_business(directus, keys, name) -> str:
    digest = api_keys.hash_key(keys[name])
    [row] = directus.items("api_keys", filter=json.dumps({"key_hash": {"_eq": digest}}))
    return row["business_id"]

"""Several instances: what one credsvc writes or revokes, the other honours at once; no duplicates.

credsvc[0] talks to directus[0] and credsvc[1] to directus[1]; both Directus share one
PostgreSQL and one Redis (tests/multi/stack.py). Directus's response cache is on, so a stale
answer from the second Directus would show here as an old value.
"""

from __future__ import annotations

import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import requests

from credsvc import create_app
from credsvc.services import end_users
from tests.multi.stack import post

pytestmark = pytest.mark.integration

CALLS = 16


def internal(stack) -> dict[str, str]:
    return {"X-RBAC-SYNC-SECRET": stack.sync_secret}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def creds(tag: str) -> dict[str, str]:
    return {"username": f"user-{tag}", "password": f"pw-{tag}-{secrets.token_hex(4)}"}


@pytest.fixture(scope="module")
def one_two(stack):
    first, second = stack.credsvc
    assert first.env["DIRECTUS_URL"] != second.env["DIRECTUS_URL"]
    return first.url, second.url


@pytest.fixture(scope="module")
def operator_app(stack):
    """An in-process app with the operator token, for `flask api-keys` (via Directus 0)."""
    env = stack.app_env(
        stack.directus[0].url, DIRECTUS_OPERATOR_TOKEN=stack.role_tokens["operator"]
    )
    return create_app(env)


def api_keys(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["api-keys", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def new_key(app) -> tuple[str, str, dict[str, str]]:
    business = f"biz-{secrets.token_hex(4)}"
    out = api_keys(app, "create", "--business", business)
    key_id = re.search(r"^id:\s+(\S+)$", out, re.M).group(1)
    key = re.search(r"^key:\s+(\S+)$", out, re.M).group(1)
    return business, key_id, bearer(key)


def make_profile(base: str, auth: dict[str, str], platform: str, value: dict) -> str:
    status, body = post(base, "/api/credentials/create-profile", auth,
                        {"platform": platform, "credentials": value})  # fmt: skip
    assert status == 200, body
    return body["id"]


def reveal(stack, base: str, profile_id: str) -> dict:
    status, body = post(base, "/api/credentials/reveal", internal(stack),
                        {"creatorProfileId": profile_id})  # fmt: skip
    assert status == 200, body
    return body["credentials"]


def test_a_record_written_through_one_is_revealed_through_the_other(stack, one_two):
    first, second = one_two
    user = stack.new_user()
    value = creds("written")
    profile_id = make_profile(first, bearer(user["token"]), "instagram", value)
    assert reveal(stack, second, profile_id) == value


def stored_ciphertext(stack, node: int, profile_id: str) -> str:
    """The row as Directus `node` serves it to credsvc (same token, same query shape)."""
    resp = stack.http.get(
        f"{stack.directus[node].url}/items/platform_connections/{profile_id}",
        params={"fields": "id,encrypted_credentials"},
        headers=bearer(stack.role_tokens["full"]),
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["encrypted_credentials"]


def test_an_update_through_one_is_honoured_at_once_by_the_other(stack, one_two):
    """Alternating writer and reader. Besides the reveal (whose audit write purges the reading
    Directus's own cache), the row is read straight from the reader's Directus, cached there
    before the write: only the shared Redis cache purge makes it fresh."""
    user = stack.new_user()
    auth = bearer(user["token"])
    profile_id = make_profile(one_two[0], auth, "tiktok", creds("v0"))
    for round_ in range(6):
        writer, reader = (0, 1) if round_ % 2 == 0 else (1, 0)
        reveal(stack, one_two[reader], profile_id)
        before = stored_ciphertext(stack, reader, profile_id)  # now in the reader's cache
        value = creds(f"v{round_ + 1}")
        status, body = post(one_two[writer], "/api/credentials/update-profile-creds", auth,
                            {"creator_profile_id": profile_id, "credentials": value})  # fmt: skip
        assert status == 200, body
        after = stored_ciphertext(stack, writer, profile_id)
        assert after != before
        assert stored_ciphertext(stack, reader, profile_id) == after, f"round {round_}: stale"
        assert reveal(stack, one_two[reader], profile_id) == value, f"round {round_}: stale"


def test_a_revoked_platform_session_is_refused_at_once_by_the_other(stack, one_two):
    first, second = one_two
    user = stack.new_user()
    auth = bearer(user["token"])
    profile_id = make_profile(first, auth, "instagram", creds("s"))
    cookie = {"name": "sessionid", "value": "multi-" + secrets.token_hex(6),
              "domain": ".instagram.com", "path": "/", "expires": 1924992000,
              "httpOnly": True, "secure": True}  # fmt: skip
    status, stored = post(first, "/api/credentials/store-platform-session", auth,
                          {"creator_profile_id": profile_id, "platform": "instagram",
                           "cookies": [cookie]})  # fmt: skip
    assert status == 200, stored
    ask = {"creator_profile_id": profile_id, "platform": "instagram"}
    status, body = post(second, "/api/credentials/get-platform-session", internal(stack), ask)
    assert status == 200 and body["cookies"][0]["value"] == cookie["value"]

    status, body = post(first, "/api/credentials/revoke-platform-session", auth,
                        {"id": stored["id"]})  # fmt: skip
    assert status == 200, body
    status, body = post(second, "/api/credentials/get-platform-session", internal(stack), ask)
    assert status == 404 and body["success"] is False


def test_a_revoked_api_key_is_refused_at_once_by_the_other(stack, one_two, operator_app):
    business, key_id, auth = new_key(operator_app)
    url = f"/v1/end-users/{quote('carol')}/credentials"
    for base in one_two:
        resp = requests.put(base + url, headers=auth, json={"redditSession": "r1"}, timeout=30)
        assert resp.status_code == 200, resp.text
    api_keys(operator_app, "revoke", key_id)  # through Directus 0
    for base in one_two[::-1]:
        resp = requests.put(base + url, headers=auth, json={"redditSession": "r2"}, timeout=30)
        assert (resp.status_code, resp.json()["error"]) == (403, "API key revoked")


def spread(calls: int, call) -> list:
    """Run call(i) for i in range(calls) at once (a barrier), i alternating the instances."""
    barrier = threading.Barrier(calls)

    def run(i: int):
        barrier.wait(timeout=30)
        return call(i)

    with ThreadPoolExecutor(calls) as pool:
        return list(pool.map(run, range(calls)))


def test_concurrent_create_profile_over_all_instances_makes_one_row(stack, one_two):
    user = stack.new_user()
    auth = bearer(user["token"])
    values = [creds(f"c{i}") for i in range(CALLS)]

    def call(i: int):
        return post(one_two[i % 2], "/api/credentials/create-profile", auth,
                    {"platform": "youtube", "credentials": values[i]})  # fmt: skip

    results = spread(CALLS, call)
    assert all(status == 200 for status, _ in results), results
    ids = {body["id"] for _, body in results}
    assert len(ids) == 1
    assert sum(not body["updated"] for _, body in results) == 1  # exactly one created it
    rows = stack.sql(
        "SELECT count(*) FROM platform_connections "
        f"WHERE user_id = '{user['id']}' AND platform = 'youtube'"
    )
    assert rows == "1"
    assert reveal(stack, one_two[1], ids.pop()) in values


def test_concurrent_end_user_puts_over_all_instances_make_no_duplicates(
    stack, one_two, operator_app
):
    """16 PUTs for one end user at once over both instances: one row per field, whatever the
    interleaving. A PUT that lost the race twice answers 409 "please retry" (and changes
    nothing: services/end_users.py), so the fields stored are those of the PUTs answered 200."""
    business, _, auth = new_key(operator_app)
    end_user = "dave-" + secrets.token_hex(3)
    url = f"/v1/end-users/{quote(end_user)}/credentials"
    bodies = [
        {"twitterAuthToken": f"tok-{i}", "twitterCt0": f"ct0-{i}"}
        | ({"redditSession": f"rs-{i}"} if i % 3 == 0 else {})
        for i in range(CALLS)
    ]

    def call(i: int):
        resp = requests.put(one_two[i % 2] + url, headers=auth, json=bodies[i], timeout=30)
        return resp.status_code, resp.json()

    results = spread(CALLS, call)
    retry = {"ok": False, "error": "The credentials changed during this request, please retry"}
    assert all(r == (200, {"ok": True}) or r == (409, retry) for r in results), results
    landed = [bodies[i] for i, (status, _) in enumerate(results) if status == 200]
    assert landed
    hashed = end_users.end_user_hash(end_user)
    rows = stack.sql(
        "SELECT field || '=' || count(*) FROM end_user_credentials "
        f"WHERE business_id = '{business}' AND end_user_hash = '{hashed}' GROUP BY field"
    ).split()
    expected = {field for body in landed for field in body}
    assert sorted(rows) == sorted(f"{field}=1" for field in expected)
    status = requests.get(one_two[1] + url, headers=auth, timeout=30).json()
    configured = {f for p in status["platforms"].values() for f, on in p["fields"].items() if on}
    assert configured == expected
    print(f"\n  end-user PUTs: {len(landed)} of {CALLS} answered 200, the others 409 (retry)")

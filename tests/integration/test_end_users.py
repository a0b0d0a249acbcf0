"""The end-user API, its API keys (through the CLI) and the workers' endpoint on a real Directus."""

from __future__ import annotations

import json
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import requests
from werkzeug.serving import make_server

from credsvc import create_app, platforms
from credsvc.services import end_users

pytestmark = pytest.mark.integration

SYNC_SECRET = "integration-sync-secret-" + secrets.token_hex(8)
INTERNAL = {"X-RBAC-SYNC-SECRET": SYNC_SECRET}


@pytest.fixture(scope="module")
def live(directus):
    return create_app(directus.service_env(RBAC_SYNC_SECRET=SYNC_SECRET))


def cli(app, *args: str):
    result = app.test_cli_runner().invoke(args=["api-keys", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def new_key(app, business: str | None = None) -> tuple[str, str, dict[str, str]]:
    """(business, key id, auth headers) for a fresh key made with `flask api-keys create`."""
    business = business or f"biz-{secrets.token_hex(4)}"
    out = cli(app, "create", "--business", business)
    key_id = re.search(r"^id:\s+(\S+)$", out, re.M).group(1)
    key = re.search(r"^key:\s+(\S+)$", out, re.M).group(1)
    return business, key_id, {"Authorization": f"Bearer {key}"}


@pytest.fixture
def acme(live):
    return new_key(live)


def url(end_user: str) -> str:
    return f"/v1/end-users/{quote(end_user, safe='')}/credentials"


def put(app, auth, end_user, body):
    response = app.test_client().put(url(end_user), headers=auth, json=body)
    return response.status_code, response.get_json()


def status(app, auth, end_user):
    response = app.test_client().get(url(end_user), headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def configured_fields(body) -> set[str]:
    return {
        field
        for platform in body["platforms"].values()
        for field, flag in platform["fields"].items()
        if flag
    }


def rows_of(directus, business, end_user):
    query = {
        "business_id": {"_eq": business},
        "end_user_hash": {"_eq": end_users.end_user_hash(end_user)},
    }
    return directus.items("end_user_credentials", filter=json.dumps(query))


def reveal(app, business, end_user, **body):
    response = app.test_client().post(
        "/api/end-user-credentials/reveal",
        headers=INTERNAL,
        json={"businessId": business, "endUserId": end_user, **body},
    )
    return response.status_code, response.get_json()


def cookie_values(body) -> dict[str, str]:
    return {
        f"{name}:{cookie['name']}": cookie["value"]
        for name, platform in body["platforms"].items()
        for cookie in platform["cookies"]
    }


# -- merge semantics, status, delete --------------------------------------------------------


def test_puts_merge_and_null_clears_one_field(live, acme, directus):
    business, _, auth = acme
    assert put(live, auth, "alice", {"twitterAuthToken": "tok-1", "twitterCt0": "ct0-1"}) == (
        200,
        {"ok": True},
    )
    assert put(live, auth, "alice", {"redditSession": "rs-1"})[0] == 200
    assert put(live, auth, "alice", {"twitterCt0": "ct0-2"})[0] == 200
    body = status(live, auth, "alice")
    assert configured_fields(body) == {"twitterAuthToken", "twitterCt0", "redditSession"}
    assert body["platforms"]["twitter"]["configured"] is True
    assert body["platforms"]["tiktok"] == {
        "configured": False,
        "fields": {"tiktokSessionId": False, "tiktokCsrfToken": False},
    }

    code, revealed = reveal(live, business, "alice")
    assert code == 200
    assert cookie_values(revealed) == {
        "twitter:auth_token": "tok-1",
        "twitter:ct0": "ct0-2",
        "reddit:reddit_session": "rs-1",
    }

    assert put(live, auth, "alice", {"twitterAuthToken": None})[0] == 200
    assert configured_fields(status(live, auth, "alice")) == {"twitterCt0", "redditSession"}
    assert {row["field"] for row in rows_of(directus, business, "alice")} == {
        "twitterCt0",
        "redditSession",
    }


def test_status_after_put_and_delete(live, acme, directus):
    business, _, auth = acme
    every = {field: f"v-{field}" for field in platforms.FIELDS}
    assert put(live, auth, "bob", every)[0] == 200
    body = status(live, auth, "bob")
    assert body["endUserId"] == "bob"
    assert all(platform["configured"] for platform in body["platforms"].values())
    assert len(rows_of(directus, business, "bob")) == 12

    client = live.test_client()
    assert client.delete(url("bob"), headers=auth).get_json() == {"ok": True}
    assert not any(p["configured"] for p in status(live, auth, "bob")["platforms"].values())
    assert rows_of(directus, business, "bob") == []
    again = client.delete(url("bob"), headers=auth)
    assert (again.status_code, again.get_json()) == (200, {"ok": True})
    never = client.delete(url("never-seen"), headers=auth)
    assert (never.status_code, never.get_json()) == (200, {"ok": True})


# -- end-user ids ---------------------------------------------------------------------------


def test_end_user_id_of_256_characters_works_and_257_is_400(live, acme, directus):
    business, _, auth = acme
    longest = "é" + "x" * 255
    assert put(live, auth, longest, {"youtubeSid": "sid"})[0] == 200
    assert status(live, auth, longest)["endUserId"] == longest
    [row] = rows_of(directus, business, longest)
    assert row["end_user_id"] == longest

    client = live.test_client()
    too_long = url("x" * 257)
    for method in ("PUT", "GET", "DELETE"):
        response = client.open(too_long, method=method, headers=auth, json={"youtubeSid": "s"})
        assert response.status_code == 400
        assert response.get_json() == {
            "ok": False,
            "error": "endUserId must be at most 256 characters",
        }


@pytest.mark.parametrize("end_user", ["alice/bob", "üser 名前", "a?b#c&d=e", "%2F", "alice"])
def test_url_encoded_end_user_ids(live, acme, directus, end_user):
    business, _, auth = acme
    assert put(live, auth, end_user, {"instagramSessionId": "ig"})[0] == 200
    assert status(live, auth, end_user)["endUserId"] == end_user
    [row] = rows_of(directus, business, end_user)
    assert row["end_user_id"] == end_user
    # Each id is its own end user.
    if end_user != "alice":
        assert configured_fields(status(live, auth, "alice")) == set()


# -- bad requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        (b'{"twitterCt0": ', "Invalid JSON body"),
        (b"not json", "Invalid JSON body"),
        (b"{}", "No recognized credential fields supplied"),
        (
            b'{"twitterCT0": "x", "facebook": "y"}',
            "No recognized credential fields supplied (unknown: facebook, twitterCT0)",
        ),
        (b'{"twitterCt0": "x", "facebook": "y"}', "facebook: Unknown field."),
    ],
)
def test_bad_bodies_are_400_and_store_nothing(live, acme, directus, data, message):
    business, _, auth = acme
    response = live.test_client().put(
        url("carol"), headers={**auth, "Content-Type": "application/json"}, data=data
    )
    assert (response.status_code, response.get_json()) == (400, {"ok": False, "error": message})
    assert rows_of(directus, business, "carol") == []


# -- API keys -------------------------------------------------------------------------------


def test_missing_header_and_unknown_keys_are_401(live, acme):
    client = live.test_client()
    response = client.get(url("alice"))
    assert (response.status_code, response.get_json()) == (
        401,
        {"ok": False, "error": "Missing Authorization header"},
    )
    for header in ("Bearer csk_" + "A" * 43, "Bearer nope", "Basic abc"):
        response = client.put(
            url("alice"), headers={"Authorization": header}, json={"twitterCt0": "x"}
        )
        assert (response.status_code, response.get_json()) == (
            401,
            {"ok": False, "error": "Invalid API key"},
        )


def test_revocation_via_the_cli_applies_to_the_next_request(live, directus):
    business, key_id, auth = new_key(live)
    assert put(live, auth, "dave", {"redditSession": "rs"})[0] == 200
    listing = cli(live, "list", "--business", business)
    [line] = [line for line in listing.splitlines() if line.startswith(key_id)]
    assert line.split()[1] == business and line.split()[4] != "-"  # last used is recorded

    assert "Revoked API key" in cli(live, "revoke", key_id)
    client = live.test_client()
    for method in ("GET", "PUT", "DELETE"):
        response = client.open(
            url("dave"), method=method, headers=auth, json={"redditSession": "x"}
        )
        assert (response.status_code, response.get_json()) == (
            403,
            {"ok": False, "error": "API key revoked"},
        )
    assert len(rows_of(directus, business, "dave")) == 1  # the DELETE did not happen
    revoked = [line for line in cli(live, "list").splitlines() if line.startswith(key_id)]
    assert revoked[0].split()[5] != "-"


def test_only_the_hash_of_a_key_is_stored(live, directus):
    business, key_id, auth = new_key(live)
    key = auth["Authorization"].split()[1]
    [row] = directus.items("api_keys", filter=json.dumps({"id": {"_eq": key_id}}))
    assert row["business_id"] == business and row["key_prefix"] == key[:12]
    assert key not in json.dumps(row) and len(row["key_hash"]) == 64


def test_two_businesses_with_the_same_end_user_are_independent(live, directus):
    business_a, _, auth_a = new_key(live)
    business_b, _, auth_b = new_key(live)
    assert put(live, auth_a, "alice", {"twitterAuthToken": "a-token"})[0] == 200
    assert configured_fields(status(live, auth_b, "alice")) == set()

    assert put(live, auth_b, "alice", {"twitterAuthToken": "b-token", "youtubeSid": "b"})[0] == 200
    assert configured_fields(status(live, auth_a, "alice")) == {"twitterAuthToken"}
    assert live.test_client().delete(url("alice"), headers=auth_b).status_code == 200
    assert configured_fields(status(live, auth_a, "alice")) == {"twitterAuthToken"}
    assert rows_of(directus, business_b, "alice") == []
    assert cookie_values(reveal(live, business_a, "alice")[1]) == {"twitter:auth_token": "a-token"}
    assert put(live, auth_a, "alice", {"twitterAuthToken": None})[0] == 200


# -- concurrency ----------------------------------------------------------------------------


def test_concurrent_puts_of_different_fields_all_land(live, acme, directus):
    business, _, auth = acme
    fields = list(platforms.FIELDS)
    for end_user in ("erin", "frank", "grace"):
        with ThreadPoolExecutor(max_workers=len(fields)) as pool:
            results = list(
                pool.map(
                    lambda field, who=end_user: put(live, auth, who, {field: f"{who}-{field}"}),
                    fields,
                )
            )
        assert all(code == 200 for code, _ in results), results
        assert configured_fields(status(live, auth, end_user)) == set(fields)
        code, body = reveal(live, business, end_user)
        assert sorted(cookie_values(body).values()) == sorted(f"{end_user}-{f}" for f in fields)


def test_concurrent_puts_of_the_same_field_leave_one_row(live, acme, directus):
    business, _, auth = acme
    values = [f"ct0-{n}" for n in range(8)]
    with ThreadPoolExecutor(max_workers=len(values)) as pool:
        results = list(pool.map(lambda v: put(live, auth, "heidi", {"twitterCt0": v}), values))
    assert all(code == 200 for code, _ in results), results
    [row] = rows_of(directus, business, "heidi")
    assert row["field"] == "twitterCt0"
    assert cookie_values(reveal(live, business, "heidi")[1])["twitter:ct0"] in values


# -- the workers' endpoint and what is stored -----------------------------------------------


def test_worker_reveal_formats_and_audit(live, acme, directus):
    business, _, auth = acme
    assert (
        put(
            live,
            auth,
            "ivan",
            {"youtubeSid": "sid-v", "youtubeSapisid": "sapisid-v", "tiktokSessionId": "tt-v"},
        )[0]
        == 200
    )

    code, body = reveal(live, business, "ivan", platforms=["youtube"])
    assert code == 200 and body["success"] is True and list(body["platforms"]) == ["youtube"]
    assert body["platforms"]["youtube"] == {
        "cookies": [
            {
                "name": "SID",
                "value": "sid-v",
                "domain": ".youtube.com",
                "path": "/",
                "expires": -1,
                "httpOnly": False,
                "secure": False,
            },
            {
                "name": "SAPISID",
                "value": "sapisid-v",
                "domain": ".youtube.com",
                "path": "/",
                "expires": -1,
                "httpOnly": False,
                "secure": True,
            },
        ],
        "missing": ["youtubeHsid", "youtubeSsid"],
    }
    code, body = reveal(live, business, "ivan", format="netscape", platforms=["tiktok"])
    assert (
        "#HttpOnly_.tiktok.com\tTRUE\t/\tTRUE\t0\tsessionid\ttt-v"
        in (body["platforms"]["tiktok"]["cookies"])
    )
    code, body = reveal(live, business, "ivan", format="playwright", platforms=["tiktok"])
    assert body["platforms"]["tiktok"]["cookies"][0]["domain"] == ".tiktok.com"

    code, body = reveal(live, business, "nobody")
    assert (code, body) == (
        404,
        {"success": False, "error": "No credentials stored for this end user"},
    )
    code, body = reveal(live, "another-business", "ivan")
    assert code == 404

    audit = directus.items(
        "audit_log",
        filter=json.dumps(
            {"action": {"_eq": "reveal-end-user-credentials"}, "business_id": {"_eq": business}}
        ),
    )
    assert sorted(row["outcome"] for row in audit) == ["not_found", "ok", "ok", "ok"]
    assert {row["end_user_id"] for row in audit} == {"ivan", "nobody"}
    assert all(row["actor"] == "internal:rbac-sync" and row["request_id"] for row in audit)
    assert not any(value in json.dumps(audit) for value in ("sid-v", "sapisid-v", "tt-v"))


def test_no_value_or_ciphertext_in_business_responses(live, acme, directus):
    business, _, auth = acme
    marker = "secret-marker-" + secrets.token_hex(6)
    client = live.test_client()
    texts = [
        client.put(url("judy"), headers=auth, json={"instagramSessionId": marker}),
        client.put(url("judy"), headers=auth, json={"instagramCsrfToken": marker + "2"}),
        client.get(url("judy"), headers=auth),
        client.put(url("judy"), headers=auth, json={"instagramSessionId": marker + "3"}),
        client.get(url("judy"), headers=auth),
    ]
    rows = rows_of(directus, business, "judy")
    ciphertexts = [row["encrypted_value"] for row in rows]
    assert len(ciphertexts) == 2
    for response in texts:
        text = response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"
        assert marker not in text
        assert not any(ciphertext in text for ciphertext in ciphertexts)
        assert "encrypted" not in text and "v5:" not in text and "v2:" not in text


def test_stored_rows_hold_ciphertext_only(live, acme, directus):
    business, _, auth = acme
    marker = "stored-marker-" + secrets.token_hex(6)
    assert put(live, auth, "ken", {"redditSession": marker, "twitterCt0": marker + "b"})[0] == 200
    rows = rows_of(directus, business, "ken")
    assert {row["field"] for row in rows} == {"redditSession", "twitterCt0"}
    for row in rows:
        assert row["encrypted_value"].startswith("v5:")
        assert row["slot"] == end_users.slot(business, "ken", row["field"])
        assert row["end_user_id"] == "ken" and row["business_id"] == business
    assert marker not in json.dumps(rows)


# -- over real HTTP -------------------------------------------------------------------------


@pytest.fixture
def served(live):
    """The app behind a real HTTP server (paths decoded by the server, as gunicorn does)."""
    server = make_server("127.0.0.1", 0, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_the_spec_example_over_http(served, live):
    _, _, auth = new_key(live)
    api_base = f"{served}/v1"
    response = requests.put(
        f"{api_base}/end-users/alice%2Fbob/credentials",
        headers={**auth, "Content-Type": "application/json"},
        data='{"twitterAuthToken": "...", "twitterCt0": "..."}',
        timeout=10,
    )
    assert (response.status_code, response.json()) == (200, {"ok": True})
    response = requests.get(
        f"{api_base}/end-users/alice%2Fbob/credentials", headers=auth, timeout=10
    )
    assert response.json()["endUserId"] == "alice/bob"
    assert response.json()["platforms"]["twitter"]["configured"] is True
    response = requests.put(
        f"{api_base}/end-users/alice/credentials",
        data="{",
        headers={**auth, "Content-Type": "application/json"},
        timeout=10,
    )
    assert (response.status_code, response.json()) == (
        400,
        {"ok": False, "error": "Invalid JSON body"},
    )

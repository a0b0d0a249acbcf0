"""Named internal callers on a real Directus: each caller reaches exactly its scopes, on real
records created through the real endpoints, and every audit row names the caller."""

from __future__ import annotations

import json
import re
import secrets

import pytest

from credsvc import create_app

pytestmark = pytest.mark.integration

RUN = secrets.token_hex(4)
SECRETS = {
    name: f"{name}-{secrets.token_hex(16)}" for name in ("rbac-sync", "downloader", "acme-workers")
}
KEY = secrets.token_hex(32)  # every app of this module reads what the others wrote
ACME, GLOBEX = f"acme-{RUN}", f"globex-{RUN}"
PASSWORD = f"pw-marker-{RUN}"
COOKIE = {
    "name": "sessionid",
    "value": f"cookie-marker-{RUN}",
    "domain": ".youtube.com",
    "path": "/",
    "expires": 1924992000,
    "httpOnly": True,
    "secure": True,
}


def callers_env(directus, **overrides: str) -> dict[str, str]:
    return directus.service_env(
        CREDENTIALS_ENCRYPTION_KEY=KEY,
        RBAC_SYNC_SECRET=SECRETS["rbac-sync"],
        INTERNAL_CALLERS="downloader,acme-workers",
        INTERNAL_CALLER_DOWNLOADER_SECRET=SECRETS["downloader"],
        INTERNAL_CALLER_DOWNLOADER_SCOPES="download-credentials,platform-sessions",
        INTERNAL_CALLER_ACME_WORKERS_SECRET=SECRETS["acme-workers"],
        INTERNAL_CALLER_ACME_WORKERS_SCOPES=f"platform-sessions,end-users:{ACME}",
        **overrides,
    )


@pytest.fixture(scope="module")
def live(directus):
    return create_app(callers_env(directus))


def post(client, path, headers, body):
    response = client.post(path, headers=headers, json=body)
    assert response.status_code == 200, (path, response.get_data(as_text=True))
    return response.get_json()


@pytest.fixture(scope="module")
def records(directus, live):
    """A creator's profile, download credential and platform session (a real Directus user's
    JWT), and an end user `alice` of two businesses (real API keys), all through the API."""
    client = live.test_client()
    user_id, email, password = directus.create_user()
    user = {"Authorization": f"Bearer {directus.login(email, password)}"}
    api = "/api/credentials"
    profile = post(
        client,
        f"{api}/create-profile",
        user,
        {"platform": f"youtube{RUN}", "credentials": {"password": PASSWORD}},
    )["id"]
    download = post(
        client,
        f"{api}/create-download-cred",
        user,
        {
            "platform": "youtube",
            "creator_profile_id": profile,
            "auth_type": "password",
            "username": "me@example.com",
            "credentials": {"password": PASSWORD},
        },
    )["id"]
    post(
        client,
        f"{api}/store-platform-session",
        user,
        {"creator_profile_id": profile, "platform": "youtube", "cookies": [COOKIE]},
    )
    # A second platform's session, for the report cell (reporting the youtube one would stop
    # get-platform-session from serving it to the callers after it).
    reported = post(
        client,
        f"{api}/store-platform-session",
        user,
        {"creator_profile_id": profile, "platform": "reddit", "cookies": [COOKIE]},
    )["id"]
    keys = {}
    for business in (ACME, GLOBEX):
        out = live.test_cli_runner().invoke(args=["api-keys", "create", "--business", business])
        assert out.exit_code == 0, out.output
        key = re.search(r"^key:\s+(\S+)$", out.output, re.M).group(1)
        keys[business] = {"Authorization": f"Bearer {key}"}
        response = client.put(
            "/v1/end-users/alice/credentials",
            headers=keys[business],
            json={"twitterAuthToken": f"tok-{business}", "twitterCt0": "ct0"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
    yield {"profile": profile, "download": download, "reported": reported}
    for auth in keys.values():
        client.delete("/v1/end-users/alice/credentials", headers=auth)
    owner = json.dumps({"user_id": {"_eq": user_id}})
    for collection in ("platform_sessions", "download_credentials", "platform_connections"):
        ids = [row["id"] for row in directus.items(collection, filter=owner, fields="id")]
        if ids:
            response = directus.admin_request("DELETE", f"/items/{collection}", json=ids)
            assert response.status_code == 204, response.text


def end_user_token(body) -> str:
    [auth_token] = [
        c["value"] for c in body["platforms"]["twitter"]["cookies"] if c["name"] == "auth_token"
    ]
    return auth_token


def cells(records) -> dict[str, tuple[str, dict, object]]:
    """cell -> (path, body, check of a 200 answer: did it carry what was stored?)."""
    profile, download = records["profile"], records["download"]
    flagged = {"id": records["reported"], "status": "needs_recapture"}
    api = "/api/credentials"
    return {
        "store": (
            f"{api}/store",
            {"creatorProfileId": profile, "credentials": {"password": PASSWORD}},
            lambda body: body["creatorProfileId"] == profile,
        ),
        "reveal": (
            f"{api}/reveal",
            {"creatorProfileId": profile},
            lambda body: body["credentials"] == {"password": PASSWORD},
        ),
        "reveal-download-cred": (
            f"{api}/reveal-download-cred",
            {"id": download},
            lambda body: body["credentials"] == {"password": PASSWORD},
        ),
        "get-platform-session": (
            f"{api}/get-platform-session",
            {"creator_profile_id": profile, "platform": "youtube"},
            lambda body: [c["value"] for c in body["cookies"]] == [COOKIE["value"]],
        ),
        "report-platform-session": (
            f"{api}/report-platform-session",
            {"id": records["reported"], "reason": "challenge"},
            lambda body: body == {"success": True, **flagged},
        ),
        "end-users acme": (
            "/api/end-user-credentials/reveal",
            {"businessId": ACME, "endUserId": "alice"},
            lambda body: end_user_token(body) == f"tok-{ACME}",
        ),
        "end-users globex": (
            "/api/end-user-credentials/reveal",
            {"businessId": GLOBEX, "endUserId": "alice"},
            lambda body: end_user_token(body) == f"tok-{GLOBEX}",
        ),
    }


# The design, written out by hand. Each scope is held by a different set of callers (cc: none
# but rbac-sync, dc: downloader, ps: both, end-users: acme-workers), so a route that declared
# the wrong scope would show.
ALLOWED = {
    "rbac-sync": {
        "store",
        "reveal",
        "reveal-download-cred",
        "get-platform-session",
        "report-platform-session",
        "end-users acme",
        "end-users globex",
    },
    "downloader": {"reveal-download-cred", "get-platform-session", "report-platform-session"},
    "acme-workers": {"get-platform-session", "report-platform-session", "end-users acme"},
}
AUDITED = {
    "reveal",
    "reveal-download-cred",
    "get-platform-session",
    "report-platform-session",
    "end-users acme",
    "end-users globex",
}  # the decrypting reads; `store` is audited only when denied


def request_id(caller: str, cell: str) -> str:
    return f"callers-{RUN}-{caller}-{cell.replace(' ', '-')}"


def test_caller_scope_matrix_on_real_directus(live, records, directus):
    client = live.test_client()
    table = cells(records)
    counts = {"allowed": 0, "denied": 0, "unexpected": 0}
    lines = [f"{'':14}" + " ".join(f"{cell:>22}" for cell in table)]
    for caller, allowed in ALLOWED.items():
        marks = []
        for cell, (path, body, carries_the_value) in table.items():
            headers = {
                "X-RBAC-SYNC-SECRET": SECRETS[caller],
                "X-Request-ID": request_id(caller, cell),
            }
            response = client.post(path, headers=headers, json=body)
            if response.status_code == 200 and carries_the_value(response.get_json()):
                outcome = "allowed"
            elif response.status_code == 403 and response.get_json() == {
                "success": False,
                "error": "Forbidden",
            }:
                outcome = "denied"
            else:
                outcome = f"status {response.status_code}"
            expected = "allowed" if cell in allowed else "denied"
            counts[outcome if outcome == expected else "unexpected"] += 1
            marks.append(outcome if outcome == expected else f"UNEXPECTED {outcome}")
        lines.append(f"{caller:14}" + " ".join(f"{mark:>22}" for mark in marks))
    print("\n".join(lines))
    print(
        f"caller-scope matrix (real Directus): cases={sum(counts.values())} "
        + " ".join(f"{name}={count}" for name, count in counts.items())
    )
    assert counts["allowed"] and counts["denied"]
    assert sum(counts.values()) == len(ALLOWED) * len(table)
    assert counts["unexpected"] == 0

    # Every call has the audit row it should have, naming its caller.
    rows = directus.items(
        "audit_log", filter=json.dumps({"request_id": {"_starts_with": f"callers-{RUN}-"}})
    )
    by_request = {}
    for row in rows:
        by_request.setdefault(row["request_id"], []).append(row)
    checked = 0
    for caller, allowed in ALLOWED.items():
        for cell in table:
            found = by_request.pop(request_id(caller, cell), [])
            if cell in allowed and cell not in AUDITED:
                assert found == [], (caller, cell)
                continue
            [row] = found
            outcome = "ok" if cell in allowed else "forbidden"
            assert (row["actor"], row["outcome"]) == (f"internal:{caller}", outcome), row
            if cell.startswith("end-users"):
                # A caller without the scope is refused before the body is read; one with it
                # for another business, after: that row names the business it asked for.
                holds_scope = any(c.startswith("end-users") for c in allowed)
                business = ACME if cell.endswith("acme") else GLOBEX
                assert row["business_id"] == (business if holds_scope else None), row
            checked += 1
    assert not by_request, f"unexpected audit rows: {by_request}"
    print(f"caller audit rows: cases={checked}")
    assert PASSWORD not in json.dumps(rows) and SECRETS["downloader"] not in json.dumps(rows)


def test_a_worker_process_serves_the_callers_and_nothing_else(directus, records):
    worker = create_app(callers_env(directus, CREDSVC_MODE="worker")).test_client()
    downloader = {"X-RBAC-SYNC-SECRET": SECRETS["downloader"]}
    response = worker.post(
        "/api/credentials/reveal-download-cred",
        headers=downloader,
        json={"id": records["download"]},
    )
    assert response.status_code == 200
    assert response.get_json()["credentials"] == {"password": PASSWORD}
    response = worker.post(
        "/api/credentials/reveal", headers=downloader, json={"creatorProfileId": records["profile"]}
    )
    assert response.status_code == 403
    for method, path in (
        ("POST", "/api/credentials/create-profile"),
        ("GET", "/v1/end-users/alice/credentials"),
    ):
        assert worker.open(path, method=method, json={}).status_code == 404

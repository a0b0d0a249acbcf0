"""Ownership is part of every ciphertext's binding, proved on a real Directus.

An attacker with write access to Directus (a Directus admin, the holder of a service token, a
database user) relabels a row: hands a victim's connection, download credential, session or
end-user cookie to another user, profile, platform, business, end user or field. The service
must then refuse to decrypt (an error, audited, never the value), and serve it again once the
row is put back (so the refusal comes from the binding, not from a broken row).

Ingest values are signed: one sealed with only the public key (what anyone can do) or moved
from another row is refused in every collection, and `keys rewrap` never launders it.
"""

from __future__ import annotations

import json
import re
import secrets

import pytest

from credsvc import create_app
from credsvc.crypto import CryptoError, RecordContext, generate_keypair, generate_signing_pair
from credsvc.crypto import sealed as sealed_format
from credsvc.model import ENCRYPTED_COLUMNS, END_USER_CREDENTIALS
from credsvc.services import end_users, keys

pytestmark = pytest.mark.integration

SYNC_SECRET = "integration-sync-secret-" + secrets.token_hex(8)
INTERNAL = {"X-RBAC-SYNC-SECRET": SYNC_SECRET}
FAILED = "Stored credentials could not be decrypted"
PRIVATE, PUBLIC = generate_keypair()
SIGNING, VERIFY = generate_signing_pair()
LOCAL_KEY = secrets.token_hex(32)


@pytest.fixture(scope="module")
def worker(directus):
    """A full deployment that also opens the ingest side's values."""
    return create_app(
        directus.service_env(
            RBAC_SYNC_SECRET=SYNC_SECRET,
            CREDENTIALS_ENCRYPTION_KEY=LOCAL_KEY,
            CREDENTIALS_INGEST_PRIVATE_KEY=PRIVATE,
            CREDENTIALS_INGEST_VERIFY_KEY=VERIFY,
        )
    )


@pytest.fixture(scope="module")
def ingest(directus):
    return create_app(
        directus.service_env(
            CREDSVC_MODE="ingest",
            CREDENTIALS_ENCRYPTION_KEY="",
            RBAC_SYNC_SECRET="",
            CREDENTIALS_INGEST_PUBLIC_KEY=PUBLIC,
            CREDENTIALS_INGEST_SIGNING_KEY=SIGNING,
        )
    )


@pytest.fixture(scope="module")
def people(directus):
    """Two real Directus users (victim, attacker) with real JWTs. Their records are deleted at
    the end of the module: other modules (the rewrap test) count whole collections."""
    out = []
    for _ in range(2):
        user_id, email, password = directus.create_user()
        out.append(
            {"id": user_id, "auth": {"Authorization": f"Bearer {directus.login(email, password)}"}}
        )
    yield out
    owners = json.dumps({"user_id": {"_in": [person["id"] for person in out]}})
    for collection in ("platform_sessions", "download_credentials", "platform_connections"):
        ids = [row["id"] for row in directus.items(collection, filter=owners, fields="id")]
        if ids:
            response = directus.admin_request("DELETE", f"/items/{collection}", json=ids)
            assert response.status_code == 204, response.text


def call(app, path, headers, body):
    response = app.test_client().post(path, headers=headers, json=body)
    text = response.get_data(as_text=True)
    return response.status_code, response.get_json(), text


def ok(app, path, headers, body) -> dict:
    status, answer, text = call(app, path, headers, body)
    assert status == 200, text
    return answer


def patch_row(directus, collection, row_id, changes):
    response = directus.admin_request("PATCH", f"/items/{collection}/{row_id}", changes)
    assert response.status_code == 200, response.text


def row(directus, collection, row_id):
    [found] = directus.items(collection, filter=json.dumps({"id": {"_eq": row_id}}))
    return found


# How a relabelled row is refused: the value does not decrypt under the new owner (409); a
# download credential whose user is not its profile's owner is refused before that (409); a
# session of a user who does not own the profile is not looked at (404).
REFUSALS = [  # (status, message or None for any, audit outcome)
    (409, FAILED, "decrypt_failed"),
    (409, "Download credential does not belong to its profile's owner", "conflict"),
    (404, None, "not_found"),
]


def refusal_outcomes(directus, target_id=None, end_user_id=None) -> list[str]:
    """Outcomes other than "ok" of the audit rows that name the target."""
    flt = {"target_id": {"_eq": target_id}} if target_id else {"end_user_id": {"_eq": end_user_id}}
    rows = directus.items("audit_log", filter=json.dumps(flt), fields="outcome")
    return sorted(r["outcome"] for r in rows if r["outcome"] != "ok")


def profile(app, person, platform, secret):
    body = {"platform": platform, "credentials": {"password": secret}}
    return ok(app, "/api/credentials/create-profile", person["auth"], body)["id"]


def new_api_key(app, business):
    result = app.test_cli_runner().invoke(args=["api-keys", "create", "--business", business])
    assert result.exit_code == 0, result.output
    key = re.search(r"^key:\s+(\S+)$", result.stdout, re.M).group(1)
    return {"Authorization": f"Bearer {key}"}


def refusal_problem(app, path, body, marker, directus, **audit) -> str | None:
    """Why this decrypting call was not a clean, audited refusal (None when it was)."""
    before = refusal_outcomes(directus, **audit)
    status, answer, text = call(app, path, INTERNAL, body)
    if not answer or answer.get("success") is not False:
        return f"answered {status}: {text[:200]}"
    matching = [
        outcome
        for code, message, outcome in REFUSALS
        if code == status and (message is None or answer == {"success": False, "error": message})
    ]
    if not matching:
        return f"answered {status}: {text[:200]}"
    [outcome] = matching
    if marker in text:
        return "the answer holds the stored value"
    if refusal_outcomes(directus, **audit) != sorted([*before, outcome]):
        return f"no {outcome} audit row"
    return None


def refused(app, path, body, marker, directus, **audit):
    problem = refusal_problem(app, path, body, marker, directus, **audit)
    assert problem is None, problem


# -- relabelling owner columns ------------------------------------------------------------------


def relabel_cases(directus, app, people):
    """(collection, row id, owner column, foreign value, how to read it afterwards, marker)."""
    victim, attacker = people
    platform = f"instagram{secrets.token_hex(3)}"
    other_platform = f"tiktok{secrets.token_hex(3)}"
    marker = f"victim-secret-{secrets.token_hex(4)}"
    victim_profile = profile(app, victim, platform, marker)
    attacker_profile = profile(app, attacker, other_platform, "attacker-own")
    reveal = ("/api/credentials/reveal", {"creatorProfileId": victim_profile})
    yield "platform_connections", victim_profile, "user_id", attacker["id"], reveal, marker
    yield "platform_connections", victim_profile, "platform", other_platform, reveal, marker

    cred = ok(
        app,
        "/api/credentials/create-download-cred",
        victim["auth"],
        {
            "platform": "youtube",
            "creator_profile_id": victim_profile,
            "auth_type": "password",
            "credentials": {"password": marker},
        },
    )["id"]
    reveal = ("/api/credentials/reveal-download-cred", {"id": cred})
    for column, foreign in (
        ("user_id", attacker["id"]),
        ("creator_profile_id", attacker_profile),
        ("platform", "instagram"),
        ("auth_type", "cookies"),
    ):
        yield "download_credentials", cred, column, foreign, reveal, marker

    session = ok(
        app,
        "/api/credentials/store-platform-session",
        victim["auth"],
        {
            "creator_profile_id": victim_profile,
            "platform": platform,
            "cookies": [{"name": "sessionid", "value": marker, "domain": ".instagram.com"}],
        },
    )["id"]
    read = "/api/credentials/get-platform-session"
    yield (
        "platform_sessions",
        session,
        "user_id",
        attacker["id"],
        (
            read,
            {"creator_profile_id": victim_profile, "platform": platform},
        ),
        marker,
    )
    yield (
        "platform_sessions",
        session,
        "creator_profile_id",
        attacker_profile,
        (
            read,
            {"creator_profile_id": attacker_profile, "platform": platform},
        ),
        marker,
    )
    yield (
        "platform_sessions",
        session,
        "platform",
        other_platform,
        (
            read,
            {"creator_profile_id": victim_profile, "platform": other_platform},
        ),
        marker,
    )


@pytest.mark.parametrize("writer", ["full", "ingest"])
def test_relabelling_an_owner_column_refuses_to_decrypt(directus, worker, ingest, people, writer):
    """Each owner column of the three creator collections, values written by a full
    deployment (v5) or by the ingest side (v7)."""
    app = worker if writer == "full" else ingest
    tried = []
    for collection, row_id, column, foreign, (path, body), marker in relabel_cases(
        directus, app, people
    ):
        original = row(directus, collection, row_id)[column]
        before = _unrelabelled(body, original, foreign)
        assert marker in json.dumps(ok(worker, path, INTERNAL, before))
        patch_row(directus, collection, row_id, {column: foreign})
        target = body.get("id") or body.get("creatorProfileId") or body["creator_profile_id"]
        refused(worker, path, body, marker, directus, target_id=target)
        patch_row(directus, collection, row_id, {column: original})
        assert marker in json.dumps(ok(worker, path, INTERNAL, before))
        tried.append((collection, column))
    owner_columns = {
        (c.collection, name) for c in ENCRYPTED_COLUMNS for name in c.owner_columns
    } - {(END_USER_CREDENTIALS.collection, name) for name in END_USER_CREDENTIALS.owner_columns}
    assert sorted(set(tried)) == sorted(owner_columns)
    print(f"relabel ({writer}): cases={len(tried)} refused={len(tried)} leaks=0")


def _unrelabelled(body, original, foreign):
    """The read that reaches the row before the relabel (lookups by the column's old value)."""
    return {key: (original if value == foreign else value) for key, value in body.items()}


@pytest.mark.parametrize("writer", ["full", "ingest"])
@pytest.mark.parametrize("column", END_USER_CREDENTIALS.owner_columns)
def test_relabelling_an_end_user_row_refuses_to_decrypt(directus, worker, ingest, column, writer):
    app = worker if writer == "full" else ingest
    victim_business, attacker_business = (f"biz-{secrets.token_hex(4)}" for _ in range(2))
    key = new_api_key(worker, victim_business)
    marker = f"eu-secret-{secrets.token_hex(4)}"
    victim_user, attacker_user = f"alice-{secrets.token_hex(3)}", f"mallory-{secrets.token_hex(3)}"
    response = app.test_client().put(
        f"/v1/end-users/{victim_user}/credentials",
        headers=key,
        json={"twitterAuthToken": marker, "twitterCt0": "ct0-value"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    [target] = [
        r
        for r in directus.items(
            "end_user_credentials",
            filter=json.dumps({"business_id": {"_eq": victim_business}}),
        )
        if r["field"] == "twitterAuthToken"
    ]
    assert target["encrypted_value"].startswith("v7:" if writer == "ingest" else "v5:")
    foreign, reader = {
        "business_id": (attacker_business, (attacker_business, victim_user)),
        "end_user_hash": (end_users.end_user_hash(attacker_user), (victim_business, attacker_user)),
        "field": ("twitterCt0", (victim_business, victim_user)),
    }[column]
    if column == "field":
        # Two rows may not share a field: drop the real twitterCt0 so the relabel is the only one.
        [ct0] = [
            r["id"]
            for r in directus.items(
                "end_user_credentials",
                filter=json.dumps({"business_id": {"_eq": victim_business}}),
            )
            if r["field"] == "twitterCt0"
        ]
        assert directus.admin_request("DELETE", f"/items/end_user_credentials/{ct0}").ok
    patch_row(directus, "end_user_credentials", target["id"], {column: foreign})
    business, end_user = reader
    body = {"businessId": business, "endUserId": end_user, "platforms": ["twitter"]}
    refused(
        worker, "/api/end-user-credentials/reveal", body, marker, directus, end_user_id=end_user
    )
    patch_row(directus, "end_user_credentials", target["id"], {column: target[column]})
    status, answer, text = call(
        worker,
        "/api/end-user-credentials/reveal",
        INTERNAL,
        {"businessId": victim_business, "endUserId": victim_user, "platforms": ["twitter"]},
    )
    assert status == 200 and marker in text, text


# -- forged and moved ingest values -------------------------------------------------------------


def test_forged_or_moved_ingest_values_are_refused_everywhere(directus, worker, ingest, people):
    """Per collection: a value sealed to the public key without the signing key (unsigned v3,
    and a v7 signed by another key) and a genuine v7 moved from another row are refused; the
    rewrap job reports them as failed and leaves them as they are."""
    victim, _ = people
    platform = f"youtube{secrets.token_hex(3)}"
    genuine_profile = profile(ingest, victim, platform, "genuine")
    forged_profile = profile(worker, victim, f"reddit{secrets.token_hex(3)}", "to-be-forged")
    genuine = row(directus, "platform_connections", genuine_profile)["encrypted_credentials"]
    assert genuine.startswith("v7:")
    public = sealed_format.parse_public_key(PUBLIC)
    other_signer = sealed_format.parse_signing_key(generate_signing_pair()[0])
    target = row(directus, "platform_connections", forged_profile)
    ctx = _context_of("platform_connections", target)
    forgeries = {
        "unsigned v3": sealed_format.seal_v3({"password": "forged"}, "i1", public, ctx.encode()),
        "v7 signed by another key": sealed_format.seal_v7(
            {"password": "forged"}, "i1", public, other_signer, ctx.encode(owner_bound=True)
        ),
        "genuine v7 moved from another row": genuine,
    }
    tried, accepted = 0, {}
    for name, value in forgeries.items():
        patch_row(
            directus, "platform_connections", forged_profile, {"encrypted_credentials": value}
        )
        marker = "genuine" if name.startswith("genuine") else "forged"
        body = {"creatorProfileId": forged_profile}
        problem = refusal_problem(
            worker, "/api/credentials/reveal", body, marker, directus, target_id=forged_profile
        )
        if problem:
            accepted[f"reveal, {name}"] = problem
        services = worker.extensions["credsvc"]
        result = keys.rewrap_collection(
            services.directus, services.keyring, "platform_connections", "encrypted_credentials"
        )
        if forged_profile not in result.failed_ids:
            accepted[f"rewrap, {name}"] = "not reported as failed"
        assert (
            row(directus, "platform_connections", forged_profile)["encrypted_credentials"] == value
        )
        tried += 1
    # The same forgeries in every other collection are refused by the keyring directly.
    ring = worker.extensions["credsvc"].keyring
    for column in ENCRYPTED_COLUMNS:
        fake_row = {
            "id": "00000000-0000-4000-8000-000000000001",
            **dict.fromkeys(column.owner_columns, "x"),
        }
        ctx = column.context(fake_row)
        for value in (
            sealed_format.seal_v3({"v": "forged"}, "i1", public, ctx.encode()),
            sealed_format.seal_v7(
                {"v": "forged"}, "i1", public, other_signer, ctx.encode(owner_bound=True)
            ),
        ):
            tried += 1
            try:
                ring.decrypt(value, ctx)
            except CryptoError as error:
                assert re.search("ingest|signed|authentication", str(error)), error
            else:
                accepted[f"keyring, {column.collection}, {value[:2]}"] = "decrypted"
    print(f"ingest forgeries: tried={tried} accepted={len(accepted)} {accepted or ''}")
    assert tried == len(forgeries) + 2 * len(ENCRYPTED_COLUMNS)
    assert not accepted


def _context_of(collection: str, stored_row: dict) -> RecordContext:
    return next(c for c in ENCRYPTED_COLUMNS if c.collection == collection).context(stored_row)


# -- what a role token can still try: revive a revocation, plant through a relabel --------------


def as_role(directus, role, method, path, body):
    """A request to Directus with a service role's own token (not the admin's)."""
    headers = {"Authorization": f"Bearer {directus.role_tokens[role]}"}
    response = directus.http.request(
        method, f"{directus.url}{path}", json=body, headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text
    return response


def test_a_role_token_cannot_revive_a_revoked_session(directus, worker, people):
    """The ingest token may update platform_sessions (the Core licence has no field limits):
    it clears `revoked_at` and makes the row newest. Revoking replaced the cookies, so nothing
    comes back."""
    victim, _ = people
    platform = f"instagram{secrets.token_hex(3)}"
    victim_profile = profile(worker, victim, platform, "pw")
    marker = f"revoked-cookie-{secrets.token_hex(4)}"
    session = ok(
        worker,
        "/api/credentials/store-platform-session",
        victim["auth"],
        {
            "creator_profile_id": victim_profile,
            "platform": platform,
            "cookies": [{"name": "sessionid", "value": marker, "domain": ".instagram.com"}],
        },
    )["id"]
    ok(worker, "/api/credentials/revoke-platform-session", victim["auth"], {"id": session})
    read = {"creator_profile_id": victim_profile, "platform": platform}
    refused(
        worker,
        "/api/credentials/get-platform-session",
        read,
        marker,
        directus,
        target_id=victim_profile,
    )
    as_role(
        directus,
        "ingest",
        "PATCH",
        f"/items/platform_sessions/{session}",
        {"revoked_at": None, "captured_at": "2099-01-01T00:00:00.000Z"},
    )
    refused(
        worker,
        "/api/credentials/get-platform-session",
        read,
        marker,
        directus,
        target_id=victim_profile,
    )


def test_a_relabel_write_revert_plants_nothing(directus, worker, people):
    """With a role token, hand the victim's profile to the attacker, let the attacker store a
    session and a download credential on it, hand it back: neither is served as the victim's."""
    victim, attacker = people
    platform = f"youtube{secrets.token_hex(3)}"
    victim_profile = profile(worker, victim, platform, "victim-pw")
    as_role(
        directus,
        "ingest",
        "PATCH",
        f"/items/platform_connections/{victim_profile}",
        {"user_id": attacker["id"]},
    )
    planted = f"attacker-account-{secrets.token_hex(4)}"
    ok(
        worker,
        "/api/credentials/store-platform-session",
        attacker["auth"],
        {
            "creator_profile_id": victim_profile,
            "platform": platform,
            "cookies": [{"name": "SID", "value": planted, "domain": ".youtube.com"}],
        },
    )
    cred = ok(
        worker,
        "/api/credentials/create-download-cred",
        attacker["auth"],
        {
            "platform": "youtube",
            "creator_profile_id": victim_profile,
            "auth_type": "password",
            "credentials": {"password": planted},
        },
    )["id"]
    as_role(
        directus,
        "ingest",
        "PATCH",
        f"/items/platform_connections/{victim_profile}",
        {"user_id": victim["id"]},
    )
    assert ok(worker, "/api/credentials/reveal", INTERNAL, {"creatorProfileId": victim_profile})
    read = {"creator_profile_id": victim_profile, "platform": platform}
    assert (
        refused(
            worker,
            "/api/credentials/get-platform-session",
            read,
            planted,
            directus,
            target_id=victim_profile,
        )
        is None
    )
    assert (
        refused(
            worker,
            "/api/credentials/reveal-download-cred",
            {"id": cred},
            planted,
            directus,
            target_id=cred,
        )
        is None
    )

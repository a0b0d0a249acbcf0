"""Business API keys: the service at the wire and the `flask api-keys` commands."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from credsvc.services import api_keys, iso
from tests.conftest import DIRECTUS

AK = f"{DIRECTUS}/items/api_keys"
KEY_ID = str(uuid.uuid4())
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def sent_json(call):
    return json.loads(call.request.body)


def query_of(call) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


@pytest.fixture
def directus(app):
    return app.extensions["credsvc"].directus


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def listed(**overrides):
    row = {
        "id": KEY_ID,
        "business_id": "acme",
        "name": "workers",
        "key_prefix": "csk_abcdefgh",
        "created_at": "2026-01-01T00:00:00.000Z",
        "last_used_at": None,
        "revoked_at": None,
    }
    return {**row, **overrides}


# -- keys -----------------------------------------------------------------------------------


def test_generated_keys_are_prefixed_random_and_well_formed():
    keys = {api_keys.generate_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert api_keys.KEY_PATTERN.match(key) and len(key) == 47


def test_hash_is_sha256_hex():
    # sha256("abc"), the FIPS 180-2 test vector
    assert api_keys.hash_key("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_create_key_stores_only_the_hash(directus, directus_wire):
    post = directus_wire.post(AK, json={"data": {}})
    new = api_keys.create_key(directus, "acme", "prod workers")
    stored = sent_json(post.calls[0])
    assert stored["id"] == new.id and stored["business_id"] == "acme"
    assert stored["name"] == "prod workers"
    assert stored["key_hash"] == api_keys.hash_key(new.secret)
    assert stored["key_prefix"] == new.secret[:12] == new.prefix
    assert new.secret not in json.dumps(stored)
    assert stored["created_at"].endswith("Z")


def test_find_key_looks_up_by_hash(directus, directus_wire):
    key = api_keys.generate_key()
    row = {
        "id": KEY_ID,
        "business_id": "acme",
        "key_hash": api_keys.hash_key(key),
        "last_used_at": None,
        "revoked_at": None,
    }
    lookup = directus_wire.get(AK, json={"data": [row]})
    assert api_keys.find_key(directus, key) == row
    query = query_of(lookup.calls[0])
    assert json.loads(query["filter"]) == {"key_hash": {"_eq": api_keys.hash_key(key)}}
    assert key not in lookup.calls[0].request.url


def test_find_key_of_garbage_asks_nobody(directus, directus_wire):
    assert api_keys.find_key(directus, "csk_short") is None
    assert api_keys.find_key(directus, "") is None
    assert len(directus_wire.calls) == 0


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "\n\n"])
def test_key_with_a_trailing_newline_is_malformed(directus, directus_wire, suffix):
    key = api_keys.generate_key()
    assert api_keys.find_key(directus, key + suffix) is None
    assert len(directus_wire.calls) == 0


@pytest.mark.parametrize(
    "last_used, written",
    [
        (None, True),
        (iso(NOW - timedelta(seconds=61)), True),
        (iso(NOW - timedelta(seconds=59)), False),
        (iso(NOW), False),
        ("2026-03-01 11:59:30", False),  # no zone: read as UTC
        ("garbage", True),
    ],
)
def test_touch_writes_at_most_once_a_minute(directus, directus_wire, last_used, written):
    patch = directus_wire.patch(f"{AK}/{KEY_ID}", json={"data": {}})
    key = {"id": KEY_ID, "last_used_at": last_used}
    assert api_keys.touch(directus, key, NOW) is written
    assert patch.call_count == int(written)
    if written:
        assert sent_json(patch.calls[0]) == {"last_used_at": "2026-03-01T12:00:00.000Z"}


def test_revoke_sets_revoked_at(directus, directus_wire):
    directus_wire.get(AK, json={"data": [listed()]})
    patch = directus_wire.patch(f"{AK}/{KEY_ID}", json={"data": {}})
    key, already = api_keys.revoke_key(directus, KEY_ID.upper())
    assert already is False and key["revoked_at"]
    assert sent_json(patch.calls[0]) == {"revoked_at": key["revoked_at"]}


def test_revoke_twice_keeps_the_first_time(directus, directus_wire):
    directus_wire.get(AK, json={"data": [listed(revoked_at="2026-01-02T00:00:00.000Z")]})
    key, already = api_keys.revoke_key(directus, KEY_ID)
    assert already is True and key["revoked_at"] == "2026-01-02T00:00:00.000Z"
    assert [call.request.method for call in directus_wire.calls] == ["GET"]


# -- the CLI --------------------------------------------------------------------------------


def test_cli_create_prints_the_key_once(cli, directus_wire):
    post = directus_wire.post(AK, json={"data": {}})
    result = cli.invoke(args=["api-keys", "create", "--business", "acme", "--name", "prod"])
    assert result.exit_code == 0, result.output
    key = re.search(r"^key:\s+(csk_\S+)$", result.stdout, re.M).group(1)
    assert result.stdout.count(key) == 1
    stored = sent_json(post.calls[0])
    assert stored["key_hash"] == api_keys.hash_key(key)
    assert stored["business_id"] == "acme" and stored["name"] == "prod"
    assert f"id:       {stored['id']}" in result.stdout
    assert "not shown again" in result.stderr


@pytest.mark.parametrize(
    "business",
    [
        "",
        "has space",
        "-lead",
        "x" * 129,
        "a/b",
        "acme\n",
        "acme\r\n",
        # read as keywords by Directus's filter parser: "null" would list keys without a business
        "null",
        "NULL",
        "true",
        "false",
        "Null",
        "TRUE",
    ],
)
@pytest.mark.parametrize("command", ["create", "list"])
def test_cli_rejects_bad_business_ids(cli, directus_wire, business, command):
    result = cli.invoke(args=["api-keys", command, "--business", business])
    assert result.exit_code == 2, result.output
    assert "--business" in result.output
    assert len(directus_wire.calls) == 0


def test_cli_create_needs_a_business(cli, directus_wire):
    result = cli.invoke(args=["api-keys", "create"])
    assert result.exit_code == 2 and "--business" in result.output


def test_cli_list_shows_keys_without_secrets(cli, directus_wire):
    rows = [
        listed(),
        listed(
            id=str(uuid.uuid4()),
            business_id="globex",
            name=None,
            last_used_at="2026-02-01T00:00:00.000Z",
            revoked_at="2026-02-02T00:00:00.000Z",
        ),
    ]
    lookup = directus_wire.get(AK, json={"data": rows})
    result = cli.invoke(args=["api-keys", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "BUSINESS",
        "PREFIX",
        "CREATED",
        "LAST",
        "USED",
        "REVOKED",
        "NAME",
    ]
    assert lines[1].split() == [
        KEY_ID,
        "acme",
        "csk_abcdefgh",
        "2026-01-01T00:00:00.000Z",
        "-",
        "-",
        "workers",
    ]
    assert lines[2].split()[1:] == [
        "globex",
        "csk_abcdefgh",
        "2026-01-01T00:00:00.000Z",
        "2026-02-01T00:00:00.000Z",
        "2026-02-02T00:00:00.000Z",
        "-",
    ]
    query = query_of(lookup.calls[0])
    assert "key_hash" not in query["fields"] and query["sort"] == "created_at"
    assert "filter" not in query


def test_cli_list_of_one_business(cli, directus_wire):
    lookup = directus_wire.get(AK, json={"data": []})
    result = cli.invoke(args=["api-keys", "list", "--business", "acme"])
    assert result.exit_code == 0 and "No API keys." in result.stdout
    assert json.loads(query_of(lookup.calls[0])["filter"]) == {"business_id": {"_eq": "acme"}}


def test_cli_revoke(cli, directus_wire):
    directus_wire.get(AK, json={"data": [listed()]})
    patch = directus_wire.patch(f"{AK}/{KEY_ID}", json={"data": {}})
    result = cli.invoke(args=["api-keys", "revoke", KEY_ID])
    assert result.exit_code == 0, result.output
    assert f"Revoked API key {KEY_ID} of business acme." in result.stdout
    assert set(sent_json(patch.calls[0])) == {"revoked_at"}


def test_cli_revoke_already_revoked(cli, directus_wire):
    directus_wire.get(AK, json={"data": [listed(revoked_at="2026-01-02T00:00:00.000Z")]})
    result = cli.invoke(args=["api-keys", "revoke", KEY_ID])
    assert result.exit_code == 0
    assert "already revoked at 2026-01-02T00:00:00.000Z" in result.stdout


@pytest.mark.parametrize("key_id", [str(uuid.uuid4()), "not-a-uuid"], ids=["unknown", "not-a-uuid"])
def test_cli_revoke_unknown_key(cli, directus_wire, key_id):
    directus_wire.get(AK, json={"data": []})
    result = cli.invoke(args=["api-keys", "revoke", key_id])
    assert result.exit_code == 1
    assert f"API key {key_id} not found" in result.output
    assert not any(call.request.method == "PATCH" for call in directus_wire.calls)

"""What the end-user API unit tests share: Directus URLs, API keys and rows at the wire, the
two error envelopes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from responses import matchers

from credsvc.model import END_USER_CREDENTIALS
from credsvc.services import api_keys, end_users, iso
from tests.conftest import DIRECTUS

AK = f"{DIRECTUS}/items/api_keys"
EUC = f"{DIRECTUS}/items/end_user_credentials"
BUSINESS = "acme"
KEY = api_keys.generate_key()
KEY_ID = str(uuid.uuid4())
AUTH = {"Authorization": f"Bearer {KEY}"}
URL = "/v1/end-users/alice/credentials"
REVEAL = "/api/end-user-credentials/reveal"
TOKEN = "auth-token-value-1234567890"
CT0 = "ct0-value-abcdef"


def key_row(key=KEY, business=BUSINESS, **overrides):
    row = {
        "id": KEY_ID,
        "business_id": business,
        "key_hash": api_keys.hash_key(key),
        "last_used_at": iso(datetime.now(UTC)),
        "revoked_at": None,
    }
    return {**row, **overrides}


def filter_of(call) -> dict:
    query = parse_qs(urlsplit(call.request.url).query)
    return json.loads(query["filter"][0])


def fields_of(call) -> list[str]:
    return parse_qs(urlsplit(call.request.url).query)["fields"][0].split(",")


def sent_json(call):
    return json.loads(call.request.body)


def calls_to(wire, url, method=None):
    return [
        call
        for call in wire.calls
        if call.request.url.split("?")[0] == url and method in (None, call.request.method)
    ]


def accept_key(wire, key=KEY, **row):
    """Directus knows `key` (matched on its hash) as a key of BUSINESS unless told otherwise."""
    hash_filter = json.dumps({"key_hash": {"_eq": api_keys.hash_key(key)}}, separators=(",", ":"))
    return wire.get(
        AK,
        match=[matchers.query_param_matcher({"filter": hash_filter}, strict_match=False)],
        json={"data": [key_row(key, **row)]},
    )


def decrypt(app, row):
    """`row`'s value, bound to the row as stored: its id and owner columns."""
    context = END_USER_CREDENTIALS.context(row)
    return app.extensions["credsvc"].keyring.decrypt(row["encrypted_value"], context)


def stored_row(app, field, value, end_user="alice", business=BUSINESS, row_id=None):
    row = {
        "id": row_id or str(uuid.uuid4()),
        "business_id": business,
        "end_user_hash": end_users.end_user_hash(end_user),
        "field": field,
    }
    keyring = app.extensions["credsvc"].keyring
    return {**row, "encrypted_value": keyring.encrypt(value, END_USER_CREDENTIALS.context(row))}


def assert_ok_error(response, status, message=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"ok", "error"} and body["ok"] is False
    if message is not None:
        assert body["error"] == message


def assert_success_error(response, status, message=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"success", "error"} and body["success"] is False
    if message is not None:
        assert body["error"] == message

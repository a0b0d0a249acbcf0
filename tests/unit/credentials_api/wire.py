"""What the credentials-API unit tests share: Directus URLs and rows at the wire, owners,
assertions."""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs, urlsplit

from tests.conftest import AUDIT, DIRECTUS  # noqa: F401 (AUDIT: re-exported)

PC = f"{DIRECTUS}/items/platform_connections"
DC = f"{DIRECTUS}/items/download_credentials"
PS = f"{DIRECTUS}/items/platform_sessions"
OWNER = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
PROFILE = str(uuid.uuid4())
CREDS = {"username": "fitcreator99", "password": "MySecurePass123!", "session_id": "abc"}
NETSCAPE = (
    "# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\tTRUE\t1924992000\tSID\tsid-value-123\n"
)


def keyring(app):
    return app.extensions["credsvc"].keyring


def profile_row(user_id=OWNER, profile_id=PROFILE):
    return {
        "id": profile_id,
        "user_id": user_id,
        "platform": "instagram",
        "platform_username": None,
    }


def stored_profile(ciphertext, **changes):
    """The profile row as Directus returns it to a reveal: the owner columns the value is
    bound to, and the value."""
    return {**profile_row(), "encrypted_credentials": ciphertext, **changes}


def as_read(stored: dict, *fields: str) -> dict:
    """What Directus answers for `fields` of the row the service created."""
    return {name: stored.get(name) for name in fields}


def fields_read(wire, url) -> set[str]:
    """The `fields` of the last GET of `url`: a real Directus answers with those only."""
    call = next(c for c in wire.calls[::-1] if c.request.url.split("?")[0] == url)
    return set(parse_qs(urlsplit(call.request.url).query)["fields"][0].split(","))


def sent_json(call) -> dict:
    return json.loads(call.calls[0].request.body)


def assert_error(response, status, message=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"success", "error"} and body["success"] is False
    if message is not None:
        assert body["error"] == message


COOKIE = {
    "name": "sessionid",
    "value": "123456789%3AabcXYZ%3A28",
    "domain": ".instagram.com",
    "path": "/",
    "expires": 1924992000,
    "httpOnly": True,
    "secure": True,
}

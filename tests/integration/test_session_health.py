"""The re-capture loop on a real Directus: capture, a worker reports the session dead, it is
never served again, a new capture supersedes it and is served; the owner sees each status;
another user sees and reports nothing; signed webhooks reach a real local receiver."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from credsvc import create_app, webhooks

pytestmark = pytest.mark.integration

RUN = secrets.token_hex(4)
SYNC = f"health-sync-{secrets.token_hex(16)}"
WEBHOOK_SECRET = secrets.token_hex(32)
API = "/api/credentials"


def cookie(value: str, expires: float | None = 1924992000) -> dict:
    return {
        "name": "sessionid",
        "value": value,
        "domain": ".instagram.com",
        "path": "/",
        "expires": expires,
        "httpOnly": True,
        "secure": True,
    }


class Receiver:
    """A real local webhook receiver that verifies each signature as docs/webhooks.md says."""

    def __init__(self):
        self.events: list[dict] = []
        self.raw: list[bytes] = []
        self.refused = 0
        self.seen: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.raw.append(body)
                event_id = webhooks.verified_event_id(
                    WEBHOOK_SECRET, body, self.headers.get("X-Credsvc-Signature", "")
                )
                if event_id is None:
                    receiver.refused += 1
                    self.send_response(401)
                elif event_id in receiver.seen:  # dedup on the signed id, never the header
                    self.send_response(204)
                else:
                    receiver.seen.add(event_id)
                    receiver.events.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/credsvc-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.fixture(scope="module")
def app(directus, receiver):
    return create_app(
        directus.service_env(
            RBAC_SYNC_SECRET=SYNC,
            WEBHOOK_URL=receiver.url,
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            SESSION_EXPIRING_SOON_HOURS="72",
        )
    )


@pytest.fixture(scope="module")
def people(directus, app):
    """Two real Directus users, each with an instagram profile."""
    client = app.test_client()
    found = {}
    for name in ("owner", "other"):
        user_id, email, password = directus.create_user()
        headers = {"Authorization": f"Bearer {directus.login(email, password)}"}
        response = client.post(
            f"{API}/create-profile",
            headers=headers,
            json={"platform": "instagram", "platform_username": f"{name}-{RUN}",
                  "credentials": {"password": "pw"}},
        )  # fmt: skip
        assert response.status_code == 200, response.get_json()
        found[name] = {"id": user_id, "headers": headers, "profile": response.get_json()["id"]}
    yield found
    for person in found.values():
        owned = json.dumps({"user_id": {"_eq": person["id"]}})
        for collection in ("platform_sessions", "platform_connections"):
            ids = [row["id"] for row in directus.items(collection, filter=owned, fields="id")]
            if ids:
                directus.admin_request("DELETE", f"/items/{collection}", json=ids)


def store(client, person, value, **extra) -> str:
    body = {"creator_profile_id": person["profile"], "platform": "instagram",
            "cookies": [cookie(value)], **extra}  # fmt: skip
    response = client.post(f"{API}/store-platform-session", headers=person["headers"], json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["id"]


def served(client, person):
    return client.post(
        f"{API}/get-platform-session",
        headers={"X-RBAC-SYNC-SECRET": SYNC},
        json={"creator_profile_id": person["profile"], "platform": "instagram"},
    )


def report(client, session_id, reason="logged_out"):
    return client.post(
        f"{API}/report-platform-session",
        headers={"X-RBAC-SYNC-SECRET": SYNC},
        json={"id": session_id, "reason": reason},
    )


def statuses(client, person) -> dict[str, str]:
    response = client.get(f"{API}/platform-sessions", headers=person["headers"])
    assert response.status_code == 200, response.get_json()
    return {s["id"]: s["status"] for s in response.get_json()["sessions"]}


def test_the_recapture_loop(directus, app, people, receiver):
    client, owner = app.test_client(), people["owner"]
    first_value, second_value = f"first-{RUN}", f"second-{RUN}"
    first = store(client, owner, first_value)
    got = served(client, owner).get_json()
    assert got["id"] == first and got["cookies"][0]["value"] == first_value

    reported = report(client, first, "challenge")
    assert reported.get_json() == {"success": True, "id": first, "status": "needs_recapture"}
    row = directus.items("platform_sessions", filter=json.dumps({"id": {"_eq": first}}))[0]
    assert row["recapture_reason"] == "challenge" and row["needs_recapture_at"]
    # Idempotent: the first time and reason stay.
    assert report(client, first, "other").get_json()["status"] == "needs_recapture"
    again = directus.items("platform_sessions", filter=json.dumps({"id": {"_eq": first}}))[0]
    assert (again["needs_recapture_at"], again["recapture_reason"]) == (
        row["needs_recapture_at"],
        "challenge",
    )

    gone = served(client, owner)
    assert gone.status_code == 404
    assert gone.get_json()["error"] == (
        f"The instagram session of creator profile {owner['profile']} needs re-capture "
        "(reported: challenge); no other usable session is stored"
    )
    assert first_value not in gone.get_data(as_text=True)
    assert statuses(client, owner) == {first: "needs_recapture"}

    second = store(client, owner, second_value)
    got = served(client, owner).get_json()
    assert got["id"] == second and got["cookies"][0]["value"] == second_value
    old = directus.items("platform_sessions", filter=json.dumps({"id": {"_eq": first}}))[0]
    assert old["superseded_by"] == second
    assert statuses(client, owner) == {second: "active", first: "superseded"}
    # A superseded session reported again stays superseded.
    assert report(client, first).get_json()["status"] == "superseded"

    audit = directus.items(
        "audit_log", filter=json.dumps({"action": {"_eq": "report-platform-session"},
                                        "target_id": {"_eq": first}})
    )  # fmt: skip
    assert {row["actor"] for row in audit} == {"internal:rbac-sync"}
    assert len(audit) == 3

    # The webhooks: one needs_recapture (the first report only), one recaptured; signed.
    assert app.extensions["credsvc"].events.flush(30)
    mine = [e for e in receiver.events if e["data"]["creator_profile_id"] == owner["profile"]]
    assert [e["type"] for e in mine] == [
        "platform_session.needs_recapture",
        "platform_session.recaptured",
    ]
    assert mine[0]["data"] == {
        "session_id": first,
        "creator_profile_id": owner["profile"],
        "platform": "instagram",
        "reason": "challenge",
    }
    assert mine[1]["data"]["session_id"] == second and mine[1]["data"]["superseded"] == [first]
    assert receiver.refused == 0
    raw = b"".join(receiver.raw).decode()
    assert first_value not in raw and second_value not in raw


def test_another_user_sees_and_reports_nothing(app, people):
    client, owner, other = app.test_client(), people["owner"], people["other"]
    mine = store(client, owner, f"private-{RUN}")
    theirs = statuses(client, other)
    assert mine not in theirs
    listed = client.get(f"{API}/platform-sessions", headers=other["headers"]).get_json()
    assert [p["id"] for p in listed["profiles"]] == [other["profile"]]
    # The report route is internal: a user token (even the owner's) is refused.
    for person in (other, owner):
        refused = client.post(
            f"{API}/report-platform-session",
            headers=person["headers"],
            json={"id": mine, "reason": "logged_out"},
        )
        assert refused.status_code == 401
    assert statuses(client, owner)[mine] == "active"


def test_statuses_follow_expiry_and_cookie_expiry(app, people):
    client, other = app.test_client(), people["other"]
    now = datetime.now(UTC)
    soon = store(client, other, f"soon-{RUN}", expires_at=(now + timedelta(hours=5)).isoformat())
    expired = store(client, other, f"old-{RUN}", expires_at=(now - timedelta(hours=1)).isoformat())
    body = {"creator_profile_id": other["profile"], "platform": "instagram",
            "cookies": [cookie(f"dying-{RUN}", expires=(now + timedelta(hours=2)).timestamp()),
                        dict(cookie(f"sess-{RUN}", expires=None), name="csrftoken")]}  # fmt: skip
    response = client.post(f"{API}/store-platform-session", headers=other["headers"], json=body)
    by_cookie = response.get_json()["id"]
    body["cookies"][0]["expires"] = (now - timedelta(minutes=1)).timestamp()
    response = client.post(f"{API}/store-platform-session", headers=other["headers"], json=body)
    dead_cookie = response.get_json()["id"]
    revoked = store(client, other, f"revoked-{RUN}")
    assert (
        client.post(
            f"{API}/revoke-platform-session", headers=other["headers"], json={"id": revoked}
        ).status_code
        == 200
    )
    found = statuses(client, other)
    assert {sid: found[sid] for sid in (soon, expired, by_cookie, dead_cookie, revoked)} == {
        soon: "expiring_soon",
        expired: "expired",
        by_cookie: "expiring_soon",
        dead_cookie: "expired",
        revoked: "revoked",
    }
    listed = client.get(f"{API}/platform-sessions", headers=other["headers"]).get_json()
    assert f"-{RUN}" not in json.dumps(listed["sessions"])  # no cookie value, ever
    captured = [s["captured_at"] for s in listed["sessions"]]
    assert captured == sorted(captured, reverse=True)


def test_an_unknown_session_is_404_and_platforms_are_listed(app, people):
    client = app.test_client()
    missing = report(client, "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")
    assert missing.status_code == 404
    listed = client.get(f"{API}/platforms", headers=people["owner"]["headers"]).get_json()
    assert {"instagram", "tiktok", "youtube", "twitter", "reddit"} <= {
        p["platform"] for p in listed["platforms"]
    }

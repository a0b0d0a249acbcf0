"""Secrets hygiene canary: the real service under gunicorn, unique marker strings pushed as
passwords, cookie values, end-user credentials, tokens, API keys and the shared secret through
every endpoint and every error path; then no marker may appear in

  - the captured gunicorn + application logs (stdout and stderr, access log on),
  - the body of any error response,
  - any Directus record (every row of every service collection, read with the admin token,
    plus directus_activity and directus_revisions),
  - any URL: the Directus log lists every request URL credsvc sent it.

Error paths covered: bad bodies, wrong auth, a revoked API key, decrypt failures (ciphertexts
corrupted through the admin token, then revealed), and upstream failures (a second gunicorn
pointed at a closed port, a third at a fault server answering 503).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from credsvc.directus import DirectusClient
from credsvc.platforms import FIELDS
from credsvc.services import api_keys
from tests.faults.server import FaultServer
from tests.integration.test_hardening import purge_rows

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVICE_COLLECTIONS = (
    "platform_connections",
    "download_credentials",
    "platform_sessions",
    "api_keys",
    "end_user_credentials",
    "audit_log",
)
TIMEOUT = (3.05, 15)
MAX_BODY = 64 * 1024


class Markers:
    """Unique strings, each usable as a password, cookie value or header value. A kind names
    one value: asking for a kind twice is an error, as the second value would replace the first
    in the search and the first would be sent but never looked for."""

    def __init__(self) -> None:
        self.run = secrets.token_hex(3)
        self.all: dict[str, str] = {}

    def __call__(self, kind: str) -> str:
        return self.add(kind, f"{self.prefix}{kind}{secrets.token_hex(8)}")

    def add(self, kind: str, value: str) -> str:
        if kind in self.all:
            raise ValueError(f"marker kind {kind!r} used twice")
        self.all[kind] = value
        return value

    @property
    def prefix(self) -> str:
        """What every generated marker of this run starts with."""
        return f"cnry{self.run}"

    def found_in(self, text: str) -> list[str]:
        return sorted(kind for kind, value in self.all.items() if value in text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn wsgi:app` as a subprocess, stdout+stderr captured to one file."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        self.env = {**base, **env, "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the process until stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--timeout",
                "30",
                "--graceful-timeout",
                "5",
                "--access-logfile",
                "-",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not become healthy within 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Traffic:
    """Sends requests to one gunicorn and keeps every error body and status."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()
        self.statuses: Counter = Counter()
        self.error_bodies: list[str] = []
        self.sent: list[str] = []  # every request as sent: method, URL, headers, body
        self.responses = 0

    def send(self, method: str, path: str, **kwargs) -> requests.Response:
        # One connection per request: after an error answered without reading the body (413),
        # gunicorn closes the connection, and reusing it would race that close.
        headers = {"Connection": "close", **kwargs.pop("headers", {})}
        response = self.http.request(
            method, self.base_url + path, timeout=TIMEOUT, headers=headers, **kwargs
        )
        sent = response.request
        body = sent.body.decode(errors="replace") if isinstance(sent.body, bytes) else sent.body
        self.sent.append(f"{sent.method} {sent.url}\n{dict(sent.headers)}\n{body or ''}")
        self.responses += 1
        self.statuses[response.status_code] += 1
        if response.status_code >= 400:
            self.error_bodies.append(response.text)
        return response


@pytest.fixture(scope="module")
def canary(directus, tmp_path_factory):
    """Runs all the traffic once; tests then look for markers in what it left behind."""
    markers = Markers()
    logs = tmp_path_factory.mktemp("canary")
    sync_secret = markers("syncsecret")
    env = {
        "DIRECTUS_URL": directus.url,
        "DIRECTUS_TOKEN": markers.add("servicetoken", directus.service_token),
        "DIRECTUS_SECRET": markers.add("directussecret", directus.secret),
        "RBAC_SYNC_SECRET": sync_secret,
        "CREDENTIALS_ENCRYPTION_KEY": markers.add("enckey", secrets.token_hex(32)),
        "LOG_LEVEL": "DEBUG",
        "DIRECTUS_TIMEOUT_CONNECT": "0.5",
        "DIRECTUS_TIMEOUT_READ": "2",
        # Small, so the oversized request fits in the socket buffers: gunicorn answers 413
        # without reading the body, and a larger one would race the client's send.
        "MAX_CONTENT_LENGTH": str(MAX_BODY),
    }
    user_id, email, password = directus.create_user(password=markers("userpassword"))
    sent = [password]  # what left this fixture other than through `Traffic`
    token = markers.add("jwt", directus.login(email, password))
    markers.add("jwtsignature", token.rsplit(".", 1)[1])
    client = DirectusClient(directus.url, directus.role_tokens["operator"])  # as the CLI does
    business = f"canary-{markers.run}"
    key = markers.add("apikey", api_keys.create_key(client, business, "canary").secret)
    revoked = api_keys.create_key(client, business, "canary-revoked")
    markers.add("revokedkey", revoked.secret)
    api_keys.revoke_key(client, revoked.id)
    client.close()

    main = Gunicorn(env, logs / "gunicorn-main.log").start()
    closed = Gunicorn(
        {**env, "DIRECTUS_URL": f"http://127.0.0.1:{free_port()}"},
        logs / "gunicorn-closed-port.log",
    ).start()
    fault = FaultServer(get="503", write="503").start()
    failing = Gunicorn({**env, "DIRECTUS_URL": fault.url}, logs / "gunicorn-503.log").start()
    sent += [json.dumps(server.env) for server in (main, closed, failing)]
    traffic = {
        "main": Traffic(main.url),
        "closed": Traffic(closed.url),
        "503": Traffic(failing.url),
    }
    try:
        ids = drive_main(traffic["main"], markers, token, key, sync_secret, business, directus)
        corrupt_and_reveal(traffic["main"], directus, ids, sync_secret, business)
        for name in ("closed", "503"):
            drive_upstream_failure(
                traffic[name], name, markers, token, key, sync_secret, business, ids
            )
    finally:
        for server in (main, closed, failing):
            server.stop()
        fault.stop()
    sent += [request for t in traffic.values() for request in t.sent]
    yield {
        "markers": markers,
        "traffic": traffic,
        "servers": (main, closed, failing),
        "directus": directus,
        "sent": sent,
    }
    purge_rows(directus, user_ids=[user_id], business_ids=[business])


# -- the traffic -------------------------------------------------------------------------------

NETSCAPE = "# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\tTRUE\t1924992000\tSID\t{}\n"


def cookie(value: str, domain: str = ".instagram.com") -> dict:
    return {
        "name": "sessionid",
        "value": value,
        "domain": domain,
        "path": "/",
        "expires": 1924992000,
        "httpOnly": True,
        "secure": True,
    }


def drive_main(
    t: Traffic, m: Markers, token: str, key: str, sync: str, business: str, directus
) -> dict[str, str]:
    user = {"Authorization": f"Bearer {token}", "Cookie": f"session={m('httpcookie')}"}
    internal = {"X-RBAC-SYNC-SECRET": sync}
    api_key = {"Authorization": f"Bearer {key}"}
    ids: dict[str, str] = {}

    def ok(response: requests.Response) -> dict:
        assert response.status_code == 200, (response.request.url, response.text)
        return response.json()

    # Every success path.
    ids["profile"] = ok(
        t.send(
            "POST",
            "/api/credentials/create-profile",
            headers=user,
            json={
                "platform": "instagram",
                "platform_username": "canary",
                "credentials": {"password": m("profilepw"), "session_id": m("profilecookie")},
            },
        )
    )["id"]
    ok(
        t.send(
            "POST",
            "/api/credentials/create-profile",
            headers=user,
            json={"platform": "instagram", "credentials": {"password": m("profilepw2")}},
        )
    )
    ok(
        t.send(
            "POST",
            "/api/credentials/update-profile-creds",
            headers=user,
            json={"creator_profile_id": ids["profile"], "credentials": {"password": m("updatepw")}},
        )
    )
    ok(
        t.send(
            "POST",
            "/api/credentials/store",
            headers=internal,
            json={"creatorProfileId": ids["profile"], "credentials": {"api_key": m("storeapikey")}},
        )
    )
    ids["password_cred"] = ok(
        t.send(
            "POST",
            "/api/credentials/create-download-cred",
            headers=user,
            json={
                "platform": "youtube",
                "creator_profile_id": ids["profile"],
                "auth_type": "password",
                "username": "canary",
                "credentials": {"password": m("downloadpw")},
            },
        )
    )["id"]
    ids["cookie_cred"] = ok(
        t.send(
            "POST",
            "/api/credentials/create-download-cred",
            headers=user,
            json={
                "platform": "youtube",
                "creator_profile_id": ids["profile"],
                "auth_type": "cookies",
                "credentials": {"cookies_netscape": NETSCAPE.format(m("netscapecookie"))},
            },
        )
    )["id"]
    ids["session"] = ok(
        t.send(
            "POST",
            "/api/credentials/store-platform-session",
            headers=user,
            json={
                "creator_profile_id": ids["profile"],
                "platform": "instagram",
                "cookies": [cookie(m("sessioncookie"))],
            },
        )
    )["id"]
    ok(
        t.send(
            "POST",
            "/api/credentials/reveal",
            headers=internal,
            json={"creatorProfileId": ids["profile"]},
        )
    )
    for fmt in ("json", "ytdlp"):
        ok(
            t.send(
                "POST",
                "/api/credentials/reveal-download-cred",
                headers=internal,
                json={"id": ids["password_cred"], "format": fmt},
            )
        )
    for fmt in ("json", "netscape", "playwright"):
        ok(
            t.send(
                "POST",
                "/api/credentials/reveal-download-cred",
                headers=internal,
                json={"id": ids["cookie_cred"], "format": fmt},
            )
        )
        ok(
            t.send(
                "POST",
                "/api/credentials/get-platform-session",
                headers=internal,
                json={"creator_profile_id": ids["profile"], "platform": "instagram", "format": fmt},
            )
        )
    values = {field: m(f"enduser{field}") for field in FIELDS}
    path = "/v1/end-users/canary-alice/credentials"
    ok(t.send("PUT", path, headers=api_key, json=values))
    ok(t.send("GET", path, headers=api_key))
    for fmt in ("json", "netscape", "playwright"):
        ok(
            t.send(
                "POST",
                "/api/end-user-credentials/reveal",
                headers=internal,
                json={"businessId": business, "endUserId": "canary-alice", "format": fmt},
            )
        )
    ok(
        t.send(
            "PUT",
            "/v1/end-users/canary-bob/credentials",
            headers=api_key,
            json={"redditSession": m("bobreddit")},
        )
    )
    ok(t.send("DELETE", "/v1/end-users/canary-bob/credentials", headers=api_key))
    ok(
        t.send(
            "POST",
            "/api/credentials/revoke-platform-session",
            headers=user,
            json={"id": ids["session"]},
        )
    )
    ids["session"] = ok(
        t.send(
            "POST",
            "/api/credentials/store-platform-session",
            headers=user,
            json={
                "creator_profile_id": ids["profile"],
                "platform": "instagram",
                "cookies": [cookie(m("sessioncookie2"))],
            },
        )
    )["id"]
    # Session health: list, report, re-capture (which supersedes the reported session).
    ok(t.send("GET", "/api/credentials/platforms", headers=user))
    ok(
        t.send(
            "POST",
            "/api/credentials/report-platform-session",
            headers=internal,
            json={"id": ids["session"], "reason": "logged_out"},
        )
    )
    ids["session"] = ok(
        t.send(
            "POST",
            "/api/credentials/store-platform-session",
            headers=user,
            json={
                "creator_profile_id": ids["profile"],
                "platform": "instagram",
                "cookies": [cookie(m("sessioncookie3"))],
            },
        )
    )["id"]
    ok(t.send("GET", "/api/credentials/platform-sessions", headers=user))

    error_paths(t, m, user, internal, api_key, sync, token, ids)
    return ids


def error_paths(t: Traffic, m: Markers, user, internal, api_key, sync, token, ids) -> None:
    """Bad bodies, wrong auth and wrong routes, each carrying markers."""
    revoked = {"Authorization": f"Bearer {m.all['revokedkey']}"}
    bad = [
        # Bad bodies (valid auth).
        (
            "POST",
            "/api/credentials/create-profile",
            user,
            {"platform": "NOT A PLATFORM", "credentials": {"password": m("badplatformpw")}},
        ),
        (
            "POST",
            "/api/credentials/create-profile",
            user,
            {
                "platform": "instagram",
                "credentials": {"password": m("unknownfieldpw")},
                "user_id": m("unknownfieldvalue"),
            },
        ),
        (
            "POST",
            "/api/credentials/create-download-cred",
            user,
            {
                "platform": "youtube",
                "creator_profile_id": ids["profile"],
                "auth_type": "cookies",
                "credentials": {"cookies_netscape": f"not a cookie file {m('badnetscape')}"},
            },
        ),
        (
            "POST",
            "/api/credentials/create-download-cred",
            user,
            {
                "platform": "youtube",
                "creator_profile_id": ids["profile"],
                "auth_type": "password",
                "credentials": {"password": m("extrapw"), "other": m("extravalue")},
            },
        ),
        (
            "POST",
            "/api/credentials/store-platform-session",
            user,
            {
                "creator_profile_id": ids["profile"],
                "platform": "instagram",
                "cookies": [{"name": "bad;name", "value": m("badcookievalue")}],
            },
        ),
        (
            "POST",
            "/api/credentials/store",
            internal,
            {"creatorProfileId": "not-a-uuid", "credentials": {"k": m("storebadid")}},
        ),
        (
            "POST",
            "/api/credentials/store",
            internal,
            {
                "creatorProfileId": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
                "credentials": {"k": m("storemissing")},
            },
        ),
        (
            "PUT",
            "/v1/end-users/canary-alice/credentials",
            api_key,
            {"twitterAuthToken": f"has;semicolon{m('badendusercookie')}"},
        ),
        (
            "PUT",
            "/v1/end-users/canary-alice/credentials",
            api_key,
            {"notAField": m("endusernotafield")},
        ),
        (
            "POST",
            "/api/end-user-credentials/reveal",
            internal,
            {"businessId": "x", "endUserId": "y", "format": m("badformat")},
        ),
        (
            "POST",
            "/api/credentials/report-platform-session",
            internal,
            {"id": ids["session"], "reason": m("badreason")},
        ),
        # Wrong auth.
        (
            "POST",
            "/api/credentials/create-profile",
            {"Authorization": f"Bearer {m('forgedbearer')}"},
            {"platform": "instagram", "credentials": {"password": m("forgedpw")}},
        ),
        (
            "POST",
            "/api/credentials/create-profile",
            {"X-RBAC-SYNC-SECRET": sync},
            {"platform": "instagram", "credentials": {"password": m("secretonuserpw")}},
        ),
        (
            "POST",
            "/api/credentials/reveal",
            {"Authorization": f"Bearer {token}"},
            {"creatorProfileId": ids["profile"]},
        ),
        (
            "POST",
            "/api/credentials/reveal",
            {"X-RBAC-SYNC-SECRET": sync + "x"},
            {"creatorProfileId": ids["profile"]},
        ),
        (
            "POST",
            "/api/credentials/reveal",
            {"X-RBAC-SYNC-SECRET": sync.upper()},
            {"creatorProfileId": ids["profile"]},
        ),
        (
            "POST",
            "/api/credentials/reveal",
            {"X-RBAC-SYNC-SECRET": m("wrongsecret")},
            {"creatorProfileId": ids["profile"]},
        ),
        ("GET", "/v1/end-users/canary-alice/credentials", revoked, None),
        (
            "GET",
            "/v1/end-users/canary-alice/credentials",
            {"Authorization": f"Bearer csk_{m('unknownkey')[:43].ljust(43, 'A')}"},
            None,
        ),
        (
            "GET",
            "/v1/end-users/canary-alice/credentials",
            {"Authorization": f"Bearer {m('notakey')}"},
            None,
        ),
        (
            "PUT",
            "/v1/end-users/canary-alice/credentials",
            {"X-RBAC-SYNC-SECRET": sync},
            {"redditSession": m("secretonenduser")},
        ),
        # Wrong routes and methods, with every credential header attached.
        # (Paths are logged by design, so the markers ride in headers and bodies here.)
        (
            "POST",
            "/api/credentials/no-such-route",
            {**user, **internal},
            {"password": m("unknownroutebody")},
        ),
        ("GET", "/api/credentials/reveal", {**internal, **api_key}, None),
    ]
    for method, path, headers, body in bad:
        response = t.send(method, path, headers=headers, json=body)
        assert response.status_code >= 400, (method, path, response.text)
    raw = [
        (
            "POST",
            "/api/credentials/reveal",
            internal,
            "application/json",
            '{"creatorProfileId": "' + m("malformedjson"),
        ),
        (
            "POST",
            "/api/credentials/store",
            internal,
            "text/plain",
            json.dumps(
                {"creatorProfileId": ids["profile"], "credentials": {"k": m("wrongcontenttype")}}
            ),
        ),
        (
            "PUT",
            "/v1/end-users/canary-alice/credentials",
            api_key,
            "application/json",
            json.dumps({"redditSession": m("oversized") + "x" * (MAX_BODY + 1)}),
        ),
        (
            "PUT",
            "/v1/end-users/canary-alice/credentials",
            api_key,
            "application/json",
            '{"redditSession": "' + m("malformedenduser"),
        ),
    ]
    for method, path, headers, content_type, data in raw:
        response = t.send(
            method, path, headers={**headers, "Content-Type": content_type}, data=data.encode()
        )
        assert response.status_code in (400, 413, 415), (path, response.status_code)


def corrupt_and_reveal(t: Traffic, directus, ids, sync: str, business: str) -> None:
    """Decrypt failures: flip one character of stored ciphertexts, then reveal them."""
    internal = {"X-RBAC-SYNC-SECRET": sync}
    targets = [
        ("platform_connections", ids["profile"], "encrypted_credentials"),
        ("download_credentials", ids["password_cred"], "encrypted_credentials"),
        ("platform_sessions", ids["session"], "encrypted_cookies"),
    ]
    rows = directus.items(
        "end_user_credentials", filter=json.dumps({"business_id": {"_eq": business}})
    )
    targets += [("end_user_credentials", row["id"], "encrypted_value") for row in rows]
    for collection, row_id, column in targets:
        [row] = directus.items(collection, filter=json.dumps({"id": {"_eq": row_id}}))
        value = row[column]
        middle = len(value) // 2
        flipped = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]
        resp = directus.admin_request("PATCH", f"/items/{collection}/{row_id}", {column: flipped})
        assert resp.status_code == 200, resp.text
    calls = [
        ("/api/credentials/reveal", {"creatorProfileId": ids["profile"]}),
        ("/api/credentials/reveal-download-cred", {"id": ids["password_cred"]}),
        (
            "/api/credentials/get-platform-session",
            {"creator_profile_id": ids["profile"], "platform": "instagram"},
        ),
        ("/api/end-user-credentials/reveal", {"businessId": business, "endUserId": "canary-alice"}),
    ]
    for path, body in calls:
        response = t.send("POST", path, headers=internal, json=body)
        assert response.status_code == 409, (path, response.status_code, response.text)


def drive_upstream_failure(
    t: Traffic, server: str, markers: Markers, token, key, sync, business, ids
) -> None:
    """Every endpoint, with markers, against a gunicorn whose Directus is broken; the marker
    kinds carry the server's name (the same traffic goes to two servers)."""

    def m(kind: str) -> str:
        return markers(f"{server}{kind}")

    user = {"Authorization": f"Bearer {token}"}
    internal = {"X-RBAC-SYNC-SECRET": sync}
    api_key = {"Authorization": f"Bearer {key}"}
    calls = [
        (
            "POST",
            "/api/credentials/create-profile",
            user,
            {"platform": "reddit", "credentials": {"password": m("uppw")}},
        ),
        (
            "POST",
            "/api/credentials/update-profile-creds",
            user,
            {"creator_profile_id": ids["profile"], "credentials": {"password": m("upupdatepw")}},
        ),
        (
            "POST",
            "/api/credentials/create-download-cred",
            user,
            {
                "platform": "youtube",
                "creator_profile_id": ids["profile"],
                "auth_type": "password",
                "credentials": {"password": m("updownloadpw")},
            },
        ),
        (
            "POST",
            "/api/credentials/store-platform-session",
            user,
            {
                "creator_profile_id": ids["profile"],
                "platform": "instagram",
                "cookies": [cookie(m("upsessioncookie"))],
            },
        ),
        ("POST", "/api/credentials/revoke-platform-session", user, {"id": ids["session"]}),
        ("GET", "/api/credentials/platform-sessions", user, None),
        (
            "POST",
            "/api/credentials/report-platform-session",
            internal,
            {"id": ids["session"], "reason": "other"},
        ),
        (
            "POST",
            "/api/credentials/store",
            internal,
            {"creatorProfileId": ids["profile"], "credentials": {"k": m("upstore")}},
        ),
        ("POST", "/api/credentials/reveal", internal, {"creatorProfileId": ids["profile"]}),
        ("POST", "/api/credentials/reveal-download-cred", internal, {"id": ids["cookie_cred"]}),
        (
            "POST",
            "/api/credentials/get-platform-session",
            internal,
            {"creator_profile_id": ids["profile"], "platform": "instagram"},
        ),
        (
            "POST",
            "/api/end-user-credentials/reveal",
            internal,
            {"businessId": business, "endUserId": "canary-alice"},
        ),
        (
            "PUT",
            "/v1/end-users/canary-alice/credentials",
            api_key,
            {"redditSession": m("upenduser")},
        ),
        ("GET", "/v1/end-users/canary-alice/credentials", api_key, None),
        ("DELETE", "/v1/end-users/canary-alice/credentials", api_key, None),
        ("GET", "/readyz", {}, None),
    ]
    for method, path, headers, body in calls:
        response = t.send(method, path, headers=headers, json=body)
        assert response.status_code in (502, 503, 504), (path, response.status_code)


# -- the assertions ----------------------------------------------------------------------------


def test_every_marker_sent_is_searched_for(canary):
    """The searches below look for `markers.all`: every marker that left the test (in a request,
    a server's environment or the Directus user) must be one of them, and each of them must
    have left it, or a leak of it could not be seen."""
    markers, sent = canary["markers"], "\n".join(canary["sent"])
    searched = set(markers.all)
    sent_kinds = set(markers.found_in(sent))
    residue = sent
    for value in markers.all.values():
        residue = residue.replace(value, "")
    unsearched = residue.count(markers.prefix)
    print(
        f"\ncanary markers: cases={len(searched)} sent={len(sent_kinds)} "
        f"sent but not searched={unsearched} searched but never sent="
        f"{sorted(searched - sent_kinds) or 0}"
    )
    assert unsearched == 0
    assert sent_kinds == searched


def test_no_marker_in_logs(canary):
    markers, servers = canary["markers"], canary["servers"]
    texts = {
        server.log_path.name: server.log_path.read_text(errors="replace") for server in servers
    }
    lines = sum(text.count("\n") for text in texts.values())
    leaks = {name: markers.found_in(text) for name, text in texts.items()}
    leaks = {name: kinds for name, kinds in leaks.items() if kinds}
    requests_sent = sum(t.responses for t in canary["traffic"].values())
    print(
        f"\ncanary logs: markers={len(markers.all)} requests={requests_sent} "
        f"log lines={lines} leaks={sum(map(len, leaks.values()))} {leaks or ''}"
    )
    assert lines > requests_sent  # the access log and the app log really were captured
    assert not leaks


def test_logs_are_json_lines_with_request_ids(canary):
    text = canary["servers"][0].log_path.read_text(errors="replace")
    app_lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in app_lines if line.get("logger") == "credsvc.access"]
    assert access and all(line.get("request_id") for line in access)


# A Netscape file pasted without its header line starts with a cookie: the parser's error must
# not quote that line (it once did).
HEADERLESS_NETSCAPE = {"badnetscape"}


def error_body_leaks(canary) -> tuple[int, list[str]]:
    markers = canary["markers"]
    bodies = [body for t in canary["traffic"].values() for body in t.error_bodies]
    return len(bodies), sorted({kind for body in bodies for kind in markers.found_in(body)})


def test_netscape_errors_do_not_quote_the_line(canary):
    _, leaks = error_body_leaks(canary)
    assert not HEADERLESS_NETSCAPE & set(leaks)


def test_no_marker_in_error_bodies(canary):
    count, all_leaks = error_body_leaks(canary)
    leaks = list(all_leaks)
    statuses = Counter()
    for t in canary["traffic"].values():
        statuses.update(t.statuses)
    print(
        f"\ncanary error bodies: bodies={count} leaks={len(leaks)} "
        f"statuses={dict(sorted(statuses.items()))} {leaks or ''}"
    )
    assert count >= 50 and not leaks
    assert {400, 401, 403, 404, 405, 409, 413, 415, 502}.issubset(statuses)


def test_no_marker_in_directus(canary):
    markers, directus = canary["markers"], canary["directus"]
    rows = {name: directus.items(name) for name in SERVICE_COLLECTIONS}
    for system in ("activity", "revisions"):
        response = directus.admin_request("GET", f"/{system}", params={"limit": -1})
        assert response.status_code == 200, response.text
        rows[f"directus_{system}"] = response.json()["data"]
    stored = json.dumps(rows)
    leaks = markers.found_in(stored)
    # The service token, SECRET and key are configuration, not data: they may not be stored
    # either, but a few are legitimately known to Directus itself (its own SECRET and the
    # static token it checks), which the admin API does not return in these collections.
    count = sum(len(value) for value in rows.values())
    print(f"\ncanary Directus records: rows={count} leaks={len(leaks)} {leaks or ''}")
    assert count > 0 and not leaks


def test_no_marker_in_any_url(canary):
    """Every URL credsvc requested from Directus is in the Directus log."""
    markers, directus = canary["markers"], canary["directus"]
    text = directus.log_path.read_text(errors="replace")
    leaks = [
        kind for kind in markers.found_in(text) if kind not in ("servicetoken", "directussecret")
    ]
    print(
        f"\ncanary URLs (Directus log, {text.count(chr(10))} lines): leaks={len(leaks)} "
        f"{leaks or ''}"
    )
    assert "/items/" in text and not leaks

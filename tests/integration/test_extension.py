# ruff: noqa: F811
"""The browser extension (extension/) in Debian's Chromium, end to end against the real stack.

Chromium (new headless mode, which runs extensions) loads the unpacked extension. A real
Directus user signs in through the extension's own options page; YouTube cookies are placed in
the browser profile for .youtube.com; the popup captures them; a worker fetches the session as a
Netscape file that real yt-dlp loads; the worker reports it dead; the popup, the badge and a
notification say so; a re-capture with new cookie values replaces it, and the worker only ever
gets the new cookies again.

The stack: the integration suite's `directus` fixture (the session's throw-away Directus, shared
with the other integration modules) and credsvc built by the app factory, served by werkzeug on
a loopback port. Chromium, Playwright and yt-dlp come from the real-tool fixtures of
tests/tools/conftest.py (missing: the test fails, never skips).

Screenshots of the popup in each state go to var/test-artefacts/extension/; with
CREDSVC_UPDATE_SCREENSHOTS=1 (or when missing) they are also copied to docs/img/extension-*.png,
which docs/extension.md and the README show.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from credsvc import create_app
from credsvc.platforms import PLATFORMS

# The real-tool fixtures, shared with tests/tools (fixture parameters shadow these names).
from tests.tools.conftest import chromium_args, chromium_path, sync_playwright, yt_dlp  # noqa: F401

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extension"
ARTEFACTS = ROOT / "var" / "test-artefacts" / "extension"
DOCS_IMG = ROOT / "docs" / "img"
SYNC_SECRET = "extension-test-sync-secret-0123456789"
INTERNAL = {"X-RBAC-SYNC-SECRET": SYNC_SECRET}
TIMEOUT_MS = 20_000
NOW = int(time.time())
DAY = 86400

# YouTube's login cookies (the platform table's session_cookies), a short-lived helper cookie,
# a host-only one, and one on google.com that a YouTube capture must not take.
LOGIN_EXPIRY = NOW + 30 * DAY


def youtube_cookies(generation: str) -> list[dict]:
    secure = {"secure": True, "sameSite": "None"}
    return [
        {"name": "SID", "value": f"sid-{generation}", "domain": ".youtube.com", "path": "/",
         "expires": LOGIN_EXPIRY + 5 * DAY, "httpOnly": False, "secure": False, "sameSite": "Lax"},
        {"name": "HSID", "value": f"hsid-{generation}", "domain": ".youtube.com", "path": "/",
         "expires": LOGIN_EXPIRY, "httpOnly": True, "secure": False, "sameSite": "Lax"},
        {"name": "SSID", "value": f"ssid-{generation}", "domain": ".youtube.com", "path": "/",
         "expires": LOGIN_EXPIRY + DAY, "httpOnly": True, **secure},
        {"name": "SAPISID", "value": f"sapisid-{generation}", "domain": ".youtube.com",
         "path": "/", "expires": LOGIN_EXPIRY + 2 * DAY, "httpOnly": False, **secure},
        # expires before the login cookies: must not become the session's expiry
        {"name": "PREF", "value": "f6=40000000", "domain": ".youtube.com", "path": "/",
         "expires": NOW + DAY, "httpOnly": False, "secure": True, "sameSite": "Lax"},
        # host-only (Playwright: url instead of domain), a browser-session cookie
        {"name": "VISITOR_INFO1_LIVE", "value": f"visitor-{generation}",
         "url": "https://www.youtube.com/", "httpOnly": True, **secure},
    ]  # fmt: skip


GOOGLE_COOKIE = {
    "name": "SID",
    "value": "google-sid-not-youtube",
    "domain": ".google.com",
    "path": "/",
    "expires": LOGIN_EXPIRY,
    "secure": True,
}


@pytest.fixture(scope="module")
def credsvc_url(directus):
    """credsvc from the app factory, on a werkzeug server in a thread."""
    app = create_app(directus.service_env(RBAC_SYNC_SECRET=SYNC_SECRET))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def user(directus):
    """A real Directus user (no role, like a creator); their rows are deleted afterwards."""
    user_id, email, password = directus.create_user()
    yield user_id, email, password
    owners = json.dumps({"user_id": {"_eq": user_id}})
    for collection in ("platform_sessions", "platform_connections"):
        ids = [row["id"] for row in directus.items(collection, filter=owners, fields="id")]
        if ids:
            response = directus.admin_request("DELETE", f"/items/{collection}", json=ids)
            assert response.status_code == 204, response.text


@pytest.fixture(scope="module")
def browser(sync_playwright, chromium_path, chromium_args, tmp_path_factory):
    """A persistent Chromium profile with the unpacked extension; yields (context, worker, id)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path,
            headless=True,  # Chromium's new headless mode, which runs extensions
            args=[
                *chromium_args,
                f"--disable-extensions-except={EXTENSION}",
                f"--load-extension={EXTENSION}",
            ],
            viewport={"width": 420, "height": 520},
        )
        try:
            worker = (
                context.service_workers[0]
                if context.service_workers
                else context.wait_for_event("serviceworker", timeout=TIMEOUT_MS)
            )
            assert worker.url.endswith("/background.js"), worker.url
            yield context, worker, worker.url.split("/")[2]
        finally:
            context.close()


def screenshot(page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTEFACTS / f"extension-{name}.png"
    page.locator("body").screenshot(path=str(target))
    docs_copy = DOCS_IMG / target.name
    if os.environ.get("CREDSVC_UPDATE_SCREENSHOTS") == "1" or not docs_copy.exists():
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, docs_copy)


def open_popup(context, extension_id: str):
    """popup.html in a tab (what the toolbar button shows), once it has loaded its data."""
    page = context.new_page()
    page.goto(f"chrome-extension://{extension_id}/popup.html")
    page.wait_for_selector("body[data-state=loaded]", timeout=TIMEOUT_MS)
    return page


def row(page, platform: str):
    return page.locator(f"li.platform[data-platform={platform}]")


def capture(page, platform: str, expect_status: str = "active") -> None:
    row(page, platform).locator("button.capture").click()
    page.wait_for_selector("#message.ok, #message.error", timeout=TIMEOUT_MS)
    assert page.locator("#message").get_attribute("class") == "ok", page.inner_text("#message")
    assert row(page, platform).get_attribute("data-status") == expect_status


def worker_fetch(credsvc_url: str, profile_id: str, fmt: str = "netscape") -> requests.Response:
    return requests.post(
        f"{credsvc_url}/api/credentials/get-platform-session",
        headers=INTERNAL,
        json={"creator_profile_id": profile_id, "platform": "youtube", "format": fmt},
        timeout=15,
    )


def cookie_view(cookies: list[dict]) -> list[tuple]:
    """API cookie objects or Playwright's, compared on everything (expiry to the second)."""
    return sorted(
        (
            c["name"],
            c["value"],
            c["domain"],
            c["path"],
            None if c.get("expires") in (None, -1, 0) else int(c["expires"]),
            c["httpOnly"],
            c["secure"],
            c.get("sameSite"),
        )
        for c in cookies
    )


def ytdlp_cookies(yt_dlp, tmp_path: Path, netscape: str) -> dict[str, str]:
    """What real yt-dlp would send to https://www.youtube.com/ with this cookie file."""
    path = tmp_path / f"cookies-{time.monotonic_ns()}.txt"
    path.write_text(netscape, encoding="utf-8")
    with yt_dlp.YoutubeDL({"cookiefile": str(path), "quiet": True}) as ydl:
        header = ydl.cookiejar.get_cookie_header("https://www.youtube.com/watch?v=x")
        names = sorted((c.domain, c.name) for c in ydl.cookiejar)
    jar = yt_dlp.cookies.YoutubeDLCookieJar(str(path))
    jar.load()
    assert sorted((c.domain, c.name) for c in jar) == names
    return dict(pair.split("=", 1) for pair in header.split("; "))


def storage(worker, area: str) -> dict:
    return worker.evaluate(f"chrome.storage.{area}.get(null)")


def test_sign_in_capture_report_recapture(browser, directus, credsvc_url, user, yt_dlp, tmp_path):
    context, worker, extension_id = browser
    user_id, email, password = user

    # -- options page: the service URLs and the sign-in, through the extension's own forms --
    options = context.new_page()
    options.goto(f"chrome-extension://{extension_id}/options.html")
    options.fill("#credsvc-url", "ftp://127.0.0.1/")
    options.fill("#directus-url", directus.url)
    options.click("#save")
    options.wait_for_selector("#settings-status.error", timeout=TIMEOUT_MS)
    assert "not an http(s) URL" in options.inner_text("#settings-status")
    assert "settings" not in storage(worker, "local")
    # Plain http off loopback would carry the password, tokens and cookies in the clear.
    options.fill("#credsvc-url", "http://creds.example.com/")
    options.click("#save")
    options.wait_for_selector("#settings-status:text('use https')", timeout=TIMEOUT_MS)
    assert "settings" not in storage(worker, "local")
    options.fill("#credsvc-url", credsvc_url + "/")
    options.click("#save")
    options.wait_for_selector("#settings-status:text('Saved.')", timeout=TIMEOUT_MS)
    assert options.input_value("#credsvc-url") == credsvc_url  # normalised
    options.fill("#email", email)
    options.fill("#password", "not-the-password")
    options.click("#sign-in-button")
    options.wait_for_selector("#account-status.error", timeout=TIMEOUT_MS)
    assert options.is_visible("#sign-in") and storage(worker, "local").get("account") is None
    options.fill("#password", password)
    options.click("#sign-in-button")
    options.wait_for_selector("#signed-in:not([hidden])", timeout=TIMEOUT_MS)
    assert options.inner_text("#account-email") == email
    screenshot(options, "options-signed-in")
    # the background check is scheduled (chrome.alarms) from install on
    assert worker.evaluate("chrome.alarms.get('credsvc-poll')")["periodInMinutes"] == 15

    local, session = storage(worker, "local"), storage(worker, "session")
    assert local["settings"] == {"credsvcUrl": credsvc_url, "directusUrl": directus.url}
    assert local["account"]["email"] == email and local["account"]["refreshToken"]
    assert "access" not in local and session["access"]["token"].count(".") == 2
    assert storage(worker, "sync") == {}
    assert password not in json.dumps([local, session])

    # -- the popup lists the service's platforms; nothing captured yet --
    popup = open_popup(context, extension_id)
    shown = popup.locator("li.platform").evaluate_all("rows => rows.map(r => r.dataset.platform)")
    assert shown == list(PLATFORMS)
    assert row(popup, "youtube").get_attribute("data-status") == "none"
    assert popup.inner_text("#account") == email
    screenshot(popup, "popup-empty")

    # Capture with no YouTube cookies in the browser: refused, and no profile is created.
    row(popup, "youtube").locator("button.capture").click()
    popup.wait_for_selector("#message.error", timeout=TIMEOUT_MS)
    assert "YouTube" in popup.inner_text("#message")
    owner = json.dumps({"user_id": {"_eq": user_id}})
    assert directus.items("platform_connections", filter=owner) == []

    # -- sign in to "YouTube": the cookies land in the browser profile; capture --
    context.add_cookies([*youtube_cookies("one"), GOOGLE_COOKIE])
    popup.reload()
    popup.wait_for_selector("body[data-state=loaded]", timeout=TIMEOUT_MS)
    capture(popup, "youtube")
    assert "Captured 6 YouTube cookies" in popup.inner_text("#message")
    screenshot(popup, "popup-active")

    [profile] = directus.items("platform_connections", filter=owner)
    assert profile["platform"] == "youtube"
    [first] = directus.items("platform_sessions", filter=owner)
    assert first["cookie_count"] == 6
    assert first["user_agent"] == popup.evaluate("navigator.userAgent")
    # the earliest expiry of the login cookies (HSID), not PREF's one day
    assert first["expires_at"].startswith(
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(LOGIN_EXPIRY))
    ), first["expires_at"]
    assert "sid-one" not in json.dumps(first)  # the row holds ciphertext only

    # Every flag survives the trip: what the service serves is what Chromium holds.
    as_json = worker_fetch(credsvc_url, profile["id"], "json")
    assert as_json.status_code == 200, as_json.text
    in_browser = [c for c in context.cookies() if c["domain"].endswith("youtube.com")]
    assert cookie_view(as_json.json()["cookies"]) == cookie_view(in_browser)

    # -- a worker takes the session as a Netscape file; real yt-dlp loads it --
    response = worker_fetch(credsvc_url, profile["id"])
    assert response.status_code == 200, response.text
    served = response.json()
    assert served["id"] == first["id"] and served["format"] == "netscape"
    sent = ytdlp_cookies(yt_dlp, tmp_path, served["cookies"])
    assert sent == {
        "SID": "sid-one",
        "HSID": "hsid-one",
        "SSID": "ssid-one",
        "SAPISID": "sapisid-one",
        "PREF": "f6=40000000",
        "VISITOR_INFO1_LIVE": "visitor-one",
    }
    assert "google-sid-not-youtube" not in served["cookies"]

    # -- the worker finds it dead and says so --
    reported = requests.post(
        f"{credsvc_url}/api/credentials/report-platform-session",
        headers=INTERNAL,
        json={"id": first["id"], "reason": "logged_out"},
        timeout=15,
    )
    assert reported.status_code == 200, reported.text
    refused = worker_fetch(credsvc_url, profile["id"])
    assert refused.status_code == 404 and "re-capture" in refused.json()["error"]

    # The service worker's check: badge and one notification.
    result = worker.evaluate("credsvcPoll()")
    assert result == {"checked": True, "needing": [first["id"]], "notified": 1}, result
    assert worker.evaluate("chrome.action.getBadgeText({})") == "1"
    notifications = worker.evaluate("chrome.notifications.getAll()")
    assert f"credsvc-{first['id']}" in notifications
    assert worker.evaluate("credsvcPoll()")["notified"] == 0  # notified once, not every poll

    # An access token credsvc refuses (401) although it looks fresh: refreshed, then retried.
    worker.evaluate(
        "chrome.storage.session.get('access').then(({access}) =>"
        " chrome.storage.session.set({access: {...access, token: 'a.b.c'}}))"
    )
    popup.reload()
    popup.wait_for_selector("body[data-state=loaded]", timeout=TIMEOUT_MS)
    assert storage(worker, "session")["access"]["token"] != "a.b.c"
    youtube = row(popup, "youtube")
    assert youtube.get_attribute("data-status") == "needs_recapture"
    assert youtube.locator(".status").inner_text() == "Needs re-capture"
    assert "reason: logged_out" in youtube.locator(".details").inner_text()
    assert youtube.locator("button.capture").inner_text() == "Re-capture"
    screenshot(popup, "popup-needs-recapture")

    # -- the creator signs in again (new cookie values) and re-captures --
    # The access token is about to expire: the popup must refresh it through Directus first.
    worker.evaluate(
        "chrome.storage.session.get('access').then(({access}) =>"
        " chrome.storage.session.set({access: {...access, expiresAt: Date.now()}}))"
    )
    old_refresh = storage(worker, "local")["account"]["refreshToken"]
    context.add_cookies(youtube_cookies("two"))
    popup.reload()
    popup.wait_for_selector("body[data-state=loaded]", timeout=TIMEOUT_MS)
    assert storage(worker, "local")["account"]["refreshToken"] != old_refresh
    capture(popup, "youtube")
    screenshot(popup, "popup-recaptured")

    response = worker_fetch(credsvc_url, profile["id"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["id"] != first["id"]
    sent = ytdlp_cookies(yt_dlp, tmp_path, second["cookies"])
    assert sent["SID"] == "sid-two" and sent["SSID"] == "ssid-two"
    assert "-one" not in second["cookies"]
    for _ in range(3):  # never the old one again
        again = worker_fetch(credsvc_url, profile["id"]).json()
        assert again["id"] == second["id"] and "-one" not in again["cookies"]

    statuses = {s["id"]: s["status"] for s in directus_sessions(credsvc_url, worker)}
    assert statuses == {first["id"]: "superseded", second["id"]: "active"}
    assert worker.evaluate("credsvcPoll()") == {"checked": True, "needing": [], "notified": 0}
    assert worker.evaluate("chrome.action.getBadgeText({})") == ""

    # -- sign out: tokens gone from the browser, and the Directus session ended --
    refresh_token = storage(worker, "local")["account"]["refreshToken"]
    options.reload()
    options.click("#sign-out")
    options.wait_for_selector("#sign-in:not([hidden])", timeout=TIMEOUT_MS)
    assert "account" not in storage(worker, "local")
    assert "access" not in storage(worker, "session")
    ended = requests.post(
        f"{directus.url}/auth/refresh",
        json={"refresh_token": refresh_token, "mode": "json"},
        timeout=15,
    )
    assert ended.status_code in (400, 401, 403), ended.text
    assert worker.evaluate("credsvcPoll()") == {"checked": False}


def directus_sessions(credsvc_url: str, worker) -> list[dict]:
    """GET /platform-sessions with the extension's own current access token."""
    token = storage(worker, "session")["access"]["token"]
    response = requests.get(
        f"{credsvc_url}/api/credentials/platform-sessions",
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    return response.json()["sessions"]


def test_chromium_grants_loopback_http_and_no_other_plain_http(browser):
    """The manifest's loopback patterns are valid to Chromium (a malformed one is dropped with
    a warning only), and nothing grants plain http elsewhere, at install or optionally."""
    _context, worker, _id = browser
    granted = worker.evaluate("chrome.permissions.getAll()")["origins"]
    assert {"http://127.0.0.1/*", "http://localhost/*", "http://[::1]/*"} <= set(granted)
    plain = [o for o in granted if o.startswith("http://")]
    assert sorted(plain) == ["http://127.0.0.1/*", "http://[::1]/*", "http://localhost/*"]
    assert worker.evaluate("chrome.permissions.contains({origins: ['http://[::1]:8000/x']})")
    optional = worker.evaluate("chrome.runtime.getManifest().optional_host_permissions")
    assert optional == ["https://*/*"]

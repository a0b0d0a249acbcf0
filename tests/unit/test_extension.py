"""The browser extension's static side (extension/, deploy/package_extension.py): its manifest
asks for exactly what docs/extension.md says, its cookie host permissions match the platform
table the service serves, and `make extension` packs it deterministically.

The extension itself runs in a real Chromium in tests/integration/test_extension.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from deploy import package_extension
from deploy.directus import directusctl  # where `make setup` put Node 22
from tests.conftest import user_headers

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extension"

MANIFEST = json.loads((EXTENSION / "manifest.json").read_text())
# Granted at install for local development (`make run` serves on loopback); any other service
# address is asked for at run time through optional_host_permissions. docs/extension.md says why.
# Plain http only ever to these (lib/config.js normalizeUrl refuses it for any other host).
LOOPBACK = {"http://127.0.0.1/*", "http://localhost/*", "http://[::1]/*"}


def served_platforms(client) -> list[dict]:
    response = client.get("/api/credentials/platforms", headers=user_headers())
    assert response.status_code == 200, response.get_json()
    return response.get_json()["platforms"]


def test_cookie_host_permissions_are_the_served_platform_domains(client, directus_wire):
    """chrome.cookies.getAll only sees domains the manifest names, and a manifest cannot be
    changed at run time: a platform added to credsvc/platforms.py fails here until its domain
    is added to extension/manifest.json."""
    wanted = {
        f"*://*.{domain}/*"
        for platform in served_platforms(client)
        for domain in platform["cookie_domains"]
    }
    assert wanted, "the service lists no platform"
    assert set(MANIFEST["host_permissions"]) == wanted | LOOPBACK


def test_every_served_platform_names_its_login_cookies(client, directus_wire):
    """The popup refuses a capture without the session cookies; a platform without any would
    accept any stray cookie as a login."""
    for platform in served_platforms(client):
        assert platform["session_cookies"], platform["platform"]
        assert platform["login_url"].startswith("https://"), platform["platform"]
        assert all(not d.startswith(".") for d in platform["cookie_domains"]), platform


def test_manifest_asks_for_the_documented_permissions_only():
    assert MANIFEST["manifest_version"] == 3
    assert sorted(MANIFEST["permissions"]) == ["alarms", "cookies", "notifications", "storage"]
    # The service URLs are per deployment: granted one origin at a time by the options page.
    # https only: a service URL on plain http would carry passwords, tokens and cookies in the
    # clear (loopback, for development, is granted at install above).
    assert MANIFEST["optional_host_permissions"] == ["https://*/*"]
    assert not [p for p in MANIFEST["host_permissions"] if p.startswith("http://")
                and p not in LOOPBACK]  # fmt: skip
    assert "content_scripts" not in MANIFEST and "externally_connectable" not in MANIFEST
    assert MANIFEST["background"] == {"service_worker": "background.js", "type": "module"}
    docs = (ROOT / "docs" / "extension.md").read_text()
    for permission in MANIFEST["permissions"]:
        assert f"`{permission}`" in docs, f"docs/extension.md does not explain {permission}"


def test_files_the_manifest_names_exist():
    named = [
        MANIFEST["background"]["service_worker"],
        MANIFEST["action"]["default_popup"],
        MANIFEST["options_ui"]["page"],
        *MANIFEST["icons"].values(),
        *MANIFEST["action"]["default_icon"].values(),
    ]
    for name in named:
        assert (EXTENSION / name).is_file(), name


def scripts() -> dict[str, str]:
    return {
        path.relative_to(EXTENSION).as_posix(): path.read_text()
        for path in EXTENSION.rglob("*")
        if path.suffix in (".js", ".html")
    }


def test_tokens_never_go_to_synced_storage_and_no_remote_code():
    for name, text in scripts().items():
        code = re.sub(r"^\s*//.*$", "", text, flags=re.M)  # the comments may say why not
        assert "storage.sync" not in code, name
        assert not re.search(r"\beval\(|new Function\(|innerHTML", text), name
        # MV3 forbids remote code anyway; a remote <script> would fail to load, silently.
        assert not re.search(r"<script[^>]+src=\"https?:", text), name


@pytest.mark.parametrize(
    "script", sorted(p.relative_to(EXTENSION).as_posix() for p in EXTENSION.rglob("*.js"))
)
def test_script_parses_as_an_es_module(script):
    """A syntax error would otherwise show only as a blank popup in the slow browser test."""
    node = directusctl.NODE_BIN
    if not node.exists():
        pytest.fail(f"Node not found at {node}: run `make setup`", pytrace=False)
    checked = subprocess.run(
        [str(node), "--input-type=module", "--check"],
        input=(EXTENSION / script).read_bytes(),
        capture_output=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr.decode()


def test_every_imported_module_exists():
    for name, text in scripts().items():
        for target in re.findall(r'(?:from|src=)\s*"(\./[^"]+|[\w/.-]+\.js)"', text):
            path = (EXTENSION / name).parent / target
            assert path.resolve().is_file(), f"{name} imports {target}"


def test_package_is_deterministic_and_complete(tmp_path):
    first = package_extension.package(EXTENSION, tmp_path / "a.zip")
    second = package_extension.package(EXTENSION, tmp_path / "b.zip")
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)]
    assert digest[0] == digest[1]
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {package_extension.FIXED_TIME}
        assert json.loads(archive.read("manifest.json")) == MANIFEST
    on_disk = {
        p.relative_to(EXTENSION).as_posix()
        for p in EXTENSION.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert set(names) == on_disk


def test_package_refuses_a_manifest_v2(tmp_path):
    source = tmp_path / "ext"
    source.mkdir()
    (source / "manifest.json").write_text(json.dumps({"manifest_version": 2}))
    with pytest.raises(SystemExit, match="not a Manifest V3"):
        package_extension.package(source, tmp_path / "out.zip")


# -- the extension's pure functions, run by Node on the files as they are ---------------------


def run_js(module: str, expression: str):
    """Evaluate `expression` (with the module's exports as `m`) in Node; return it as JSON."""
    node = directusctl.NODE_BIN
    if not node.exists():
        pytest.fail(f"Node not found at {node}: run `make setup`", pytrace=False)
    script = (
        f"const m = await import({json.dumps((EXTENSION / module).as_uri())});\n"
        f"console.log(JSON.stringify(await ({expression})));"
    )
    done = subprocess.run(
        [str(node), "--input-type=module", "-e", script],
        capture_output=True,
        timeout=30,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def session(id_, platform, status, captured_at):
    return {"id": id_, "platform": platform, "status": status, "captured_at": captured_at}


SESSIONS = [
    session("old-active", "youtube", "active", "2026-11-01T00:00:00Z"),
    session("reported", "youtube", "needs_recapture", "2026-11-20T00:00:00Z"),
    session("superseded", "instagram", "superseded", "2026-11-02T00:00:00Z"),
    session("ig-reported", "instagram", "needs_recapture", "2026-11-01T00:00:00Z"),
    session("tt-old", "tiktok", "expired", "2026-10-01T00:00:00Z"),
    session("tt-new", "tiktok", "expiring_soon", "2026-11-01T00:00:00Z"),
    session("x-revoked", "twitter", "revoked", "2026-11-01T00:00:00Z"),
]


@pytest.mark.parametrize(
    ("platform", "current"),
    [
        ("youtube", "old-active"),  # the reported one is not served: the older active one is
        ("instagram", "ig-reported"),  # nothing usable: the newest, saying why
        ("tiktok", "tt-new"),
        ("twitter", "x-revoked"),
        ("reddit", None),
    ],
)
def test_current_session_is_the_one_workers_get(platform, current):
    found = run_js("lib/health.js", f"m.currentSession({json.dumps(SESSIONS)}, {platform!r})")
    assert (found and found["id"]) == current


def test_badge_counts_platforms_left_without_a_usable_session():
    needing = run_js("lib/health.js", f"m.needingRecapture({json.dumps(SESSIONS)})")
    assert sorted(s["id"] for s in needing) == ["ig-reported", "x-revoked"]


CHROME_COOKIES = [
    {"name": "SID", "value": "a", "domain": ".youtube.com", "path": "/", "secure": False,
     "httpOnly": False, "sameSite": "lax", "session": False, "expirationDate": 2000000000.75,
     "hostOnly": False, "storeId": "0"},
    {"name": "V", "value": "b c", "domain": "www.youtube.com", "path": "/x", "secure": True,
     "httpOnly": True, "sameSite": "no_restriction", "session": True, "hostOnly": True,
     "storeId": "0"},
    {"name": "PREF", "value": "f", "domain": ".youtube.com", "path": "/", "secure": True,
     "httpOnly": False, "sameSite": "unspecified", "session": False,
     "expirationDate": 1900000000, "hostOnly": False, "storeId": "0"},
]  # fmt: skip
PLATFORM = {
    "platform": "youtube",
    "name": "YouTube",
    "cookie_domains": ["youtube.com"],
    "login_url": "https://www.youtube.com/",
    "session_cookies": ["SID"],
}


def test_chrome_cookies_become_the_spec_cookie_objects():
    payload = run_js(
        "lib/capture.js",
        f"m.buildPayload({json.dumps(PLATFORM)}, {json.dumps(CHROME_COOKIES)}, 'UA/1')",
    )
    assert payload == {
        "creator_profile_id": None,
        "platform": "youtube",
        "user_agent": "UA/1",
        # SID's expiry: the login cookie, although PREF expires first
        "expires_at": "2033-05-18T03:33:20.000Z",
        "cookies": [
            {"name": "SID", "value": "a", "domain": ".youtube.com", "path": "/",
             "httpOnly": False, "secure": False, "expires": 2000000000, "sameSite": "Lax"},
            {"name": "V", "value": "b c", "domain": "www.youtube.com", "path": "/x",
             "httpOnly": True, "secure": True, "sameSite": "None"},
            {"name": "PREF", "value": "f", "domain": ".youtube.com", "path": "/",
             "httpOnly": False, "secure": True, "expires": 1900000000},
        ],
    }  # fmt: skip


def test_the_service_reads_the_cookies_as_chrome_held_them():
    """What the popup posts, read by credsvc's own parser: nothing lost or changed."""
    from credsvc import cookies

    posted = run_js("lib/capture.js", f"{json.dumps(CHROME_COOKIES)}.map((c) => m.toApiCookie(c))")
    assert cookies.from_extension(posted) == cookies.from_extension(
        [{**c, "expirationDate": int(c.get("expirationDate", 0))} for c in CHROME_COOKIES]
    )


@pytest.mark.parametrize(
    ("chrome_cookies", "message"),
    [
        ([], "No YouTube cookies in this browser: sign in at https://www.youtube.com/ first."),
        (
            CHROME_COOKIES[1:],
            "Not signed in to YouTube: missing SID. Sign in at https://www.youtube.com/ first.",
        ),
    ],
)
def test_capture_refuses_a_signed_out_browser(chrome_cookies, message):
    got = run_js(
        "lib/capture.js",
        f"(async () => {{ try {{ m.buildPayload({json.dumps(PLATFORM)}, "
        f"{json.dumps(chrome_cookies)}, 'UA'); return null; }} "
        f"catch (e) {{ return e.message; }} }})()",
    )
    assert got == message
    assert "b c" not in got  # names what is missing, never a value


# -- review fixes: no plain http off loopback; the manifest, not the server, bounds the cookies --


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("https://creds.example.com/", "https://creds.example.com"),
        ("https://creds.example.com:8443/base/", "https://creds.example.com:8443/base"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:8055/", "http://localhost:8055"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
    ],
)
def test_https_anywhere_and_http_on_loopback_are_accepted(raw, normalized):
    assert run_js("lib/config.js", f"m.normalizeUrl({raw!r})") == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "http://creds.example.com",
        "http://10.0.0.5:8000",
        "http://127.0.0.2:8000",  # loopback by range, but not what the manifest grants
        "http://localhost.example.com",
        "http://[::2]/",
        "ftp://127.0.0.1/",
        "https://user:pw@creds.example.com",
    ],
)
def test_plain_http_elsewhere_is_refused(raw):
    got = run_js(
        "lib/config.js",
        f"(async () => {{ try {{ return m.normalizeUrl({raw!r}); }} "
        f"catch (e) {{ return 'refused: ' + e.message; }} }})()",
    )
    assert got.startswith("refused: "), got


def chrome_stub(cookies_by_domain: dict[str, list[dict]]) -> str:
    """A JS statement installing a fake `chrome` (the real manifest, canned cookies) that
    records every chrome.cookies.getAll query in globalThis.asked."""
    return (
        "globalThis.asked = [];"
        "globalThis.chrome = {"
        f" runtime: {{ getManifest: () => ({json.dumps(MANIFEST)}) }},"
        " cookies: { getAll: async (q) => { asked.push(q.domain);"
        f" return ({json.dumps(cookies_by_domain)})[q.domain] || []; }} }} }};"
    )


def test_cookies_are_read_only_for_domains_the_manifest_grants():
    """A compromised or misconfigured service must not choose which cookies are captured: a
    cookie_domain outside the manifest's platform host permissions is never asked for."""
    sid = {**CHROME_COOKIES[0]}
    bank = {**CHROME_COOKIES[0], "name": "BANKSESSION", "domain": ".bank.example"}
    platform = {
        **PLATFORM,
        "cookie_domains": ["youtube.com", "bank.example", "127.0.0.1", "com", "evilyoutube.com",
                           "www.youtube.com", ".youtube.com"],
    }  # fmt: skip
    got = run_js(
        "lib/capture.js",
        f"(async () => {{ {chrome_stub({'youtube.com': [sid], 'bank.example': [bank]})}"
        f" const read = await m.readCookies({json.dumps(platform)});"
        " return {asked, names: read.map((c) => c.name)}; })()",
    )
    assert got["asked"] == ["youtube.com", "www.youtube.com"]
    assert got["names"] == ["SID"]


def test_the_granted_domains_are_the_manifest_platform_patterns():
    got = run_js(
        "lib/capture.js",
        f"m.grantedCookieDomains({json.dumps(MANIFEST['host_permissions'])})",
    )
    assert sorted(got) == sorted(
        p.removeprefix("*://*.").removesuffix("/*")
        for p in MANIFEST["host_permissions"]
        if p.startswith("*://*.")
    )

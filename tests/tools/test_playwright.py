"""Playwright with Debian's Chromium takes our cookies, and a loopback HTTPS server reached as
www.instagram.com (Chromium's --host-resolver-rules) receives them in its Cookie header.

HTTPS because instagram.com (like most platforms) is HSTS-preloaded: Chromium upgrades
http://www.instagram.com to https before any request. The server uses a throw-away self-signed
certificate and the context ignores certificate errors. Chromium is launched once per module.
"""

import datetime
import http.server
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from credsvc import cookies as C
from credsvc.cookies import Cookie

HOST = "www.instagram.com"
NOW = int(time.time())
DAY = 86400

STORED = [
    Cookie("sessionid", "123%3AabcXYZ%3A28", ".instagram.com", "/", NOW + 30 * DAY, True, True),
    Cookie("csrftoken", "tok", ".instagram.com", "/", NOW + 300 * DAY, True, False, "Lax"),
    Cookie("ds_user_id", "42", HOST, "/", None, True, False, "Strict"),
    Cookie("mid", "ZZ", ".instagram.com", "/", None, False, True, "None"),  # sent as Lax
    Cookie("ig_nrcb", "1", ".instagram.com", "/", NOW + DAY, True, False, "None"),
    Cookie("__Host-rur", "CLN", HOST, "/", None, True, True),
    # these must not reach www.instagram.com/
    Cookie("other", "1", "api.instagram.com", "/", None, True),
    Cookie("deep", "1", ".instagram.com", "/accounts/", None, True),
    Cookie("yt", "1", ".youtube.com", "/", None, True),
]
SENT_TO_ROOT = {
    "sessionid": "123%3AabcXYZ%3A28",
    "csrftoken": "tok",
    "ds_user_id": "42",
    "mid": "ZZ",
    "ig_nrcb": "1",
    "__Host-rur": "CLN",
}


def _certificate(tmp_path_factory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("tls") / "server.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """HTTPS on 127.0.0.1:<random>; records (path, Cookie header) of every request."""
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            received.append((self.path, self.headers.get("Cookie") or ""))
            body = b"<html><body>ok</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(_certificate(tmp_path_factory))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], received
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def browser(sync_playwright, chromium_path, chromium_args):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[*chromium_args, f"--host-resolver-rules=MAP {HOST} 127.0.0.1"],
        )
        yield browser
        browser.close()


def cookie_header_dict(header):
    return dict(pair.split("=", 1) for pair in header.split("; ")) if header else {}


def test_add_cookies_takes_every_cookie(browser):
    conversion = C.to_playwright(STORED)
    assert not conversion.dropped
    assert [p.name for p in conversion.problems] == ["mid"]  # sameSite None without secure
    context = browser.new_context()
    try:
        context.add_cookies(conversion.output)
        in_browser = C.from_playwright(context.cookies())
    finally:
        context.close()
    by_key = {c.key: c for c in in_browser}
    assert set(by_key) == {c.key for c in STORED}
    for cookie in STORED:
        got = by_key[cookie.key]
        assert (got.value, got.secure, got.http_only, got.host_only) == (
            cookie.value,
            cookie.secure,
            cookie.http_only,
            cookie.host_only,
        )
        assert got.same_site == ("Lax" if cookie.name == "mid" else cookie.same_site or "Lax")
        if cookie.expires is None:
            assert got.expires is None
        else:  # Chromium keeps sub-second precision of its own clock; within 400 days, kept
            assert abs(got.expires - cookie.expires) < 2


def test_server_under_platform_host_receives_the_cookies(browser, server):
    port, received = server
    context = browser.new_context(ignore_https_errors=True)
    try:
        context.add_cookies(C.to_playwright(STORED).output)
        page = context.new_page()
        response = page.goto(f"https://{HOST}:{port}/", wait_until="load", timeout=15000)
        assert response is not None and response.status == 200
        assert page.url == f"https://{HOST}:{port}/"
        page.goto(f"https://{HOST}:{port}/accounts/edit", timeout=15000)
    finally:
        context.close()
    headers = dict(received)  # the latest request per path
    assert cookie_header_dict(headers["/"]) == SENT_TO_ROOT
    assert cookie_header_dict(headers["/accounts/edit"]) == {**SENT_TO_ROOT, "deep": "1"}


def test_storage_state_document_is_accepted(browser, server):
    port, received = server
    state = C.to_playwright_storage_state(STORED).output
    context = browser.new_context(storage_state=state, ignore_https_errors=True)
    try:
        context.new_page().goto(f"https://{HOST}:{port}/state", timeout=15000)
        assert {c["name"] for c in context.storage_state()["cookies"]} == {c.name for c in STORED}
    finally:
        context.close()
    assert cookie_header_dict(dict(received)["/state"]) == SENT_TO_ROOT


def test_chromium_would_fail_on_what_we_drop(browser):
    """A __Host- cookie with a Domain makes Chromium fail the whole add_cookies call: we leave it
    out and report it, and the rest goes in."""
    bad = Cookie("__Host-x", "1", ".instagram.com", "/", None, True)
    context = browser.new_context()
    try:
        with pytest.raises(Exception, match="Invalid cookie fields"):
            context.add_cookies(
                [
                    {
                        "name": bad.name,
                        "value": "1",
                        "domain": bad.domain,
                        "path": "/",
                        "secure": True,
                    }
                ]
            )
        conversion = C.to_playwright([STORED[0], bad])
        assert [p.name for p in conversion.dropped] == ["__Host-x"]
        context.add_cookies(conversion.output)
        assert [c["name"] for c in context.cookies()] == ["sessionid"]
    finally:
        context.close()

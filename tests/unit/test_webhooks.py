"""Signed webhooks (credsvc.webhooks) against a real local HTTP receiver."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from credsvc import create_app, webhooks
from credsvc.config import ConfigError
from tests.conftest import TEST_ENV

SECRET = "whsec-" + "k" * 40
EVENT_DATA = {
    "session_id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
    "creator_profile_id": "d3f21c8e-4a5b-4c9d-8e7f-1a2b3c4d5e6f",
    "platform": "instagram",
    "reason": "logged_out",
}


class Receiver:
    """A threaded http.server that records each POST and answers the next status of `plan`
    (the last one repeats)."""

    def __init__(self, plan=(200,), delay: float = 0.0):
        self.plan = list(plan)
        self.delay = delay
        self.requests: list[tuple[dict[str, str], bytes, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body, time.monotonic()))
                if receiver.delay:
                    time.sleep(receiver.delay)
                index = min(len(receiver.requests), len(receiver.plan)) - 1
                self.send_response(receiver.plan[index])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/credsvc?token=query-part"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(plan=(200,), delay=0.0):
        made.append(Receiver(plan, delay))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def sender(url: str, **kwargs) -> webhooks.WebhookSender:
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("timeout", (1, 2))
    return webhooks.WebhookSender(webhooks.parse_target(url, SECRET), **kwargs)


def header(headers: dict[str, str], name: str) -> str:
    return {key.lower(): value for key, value in headers.items()}[name.lower()]


# -- settings ----------------------------------------------------------------------------------


def test_no_settings_no_target():
    assert webhooks.parse_target("", "") is None
    assert isinstance(webhooks.events_for(None), webhooks.Events)
    assert not isinstance(webhooks.events_for(None), webhooks.WebhookSender)


@pytest.mark.parametrize(
    "url, secret, message",
    [
        ("https://hooks.example.com/x", "", "set together"),
        ("", SECRET, "set together"),
        ("http://hooks.example.com/x", SECRET, "https"),
        ("http://10.0.0.5/x", SECRET, "https"),
        ("ftp://127.0.0.1/x", SECRET, "https"),
        ("https://hooks.example.com/x", "s" * 31, "at least 32 bytes"),
        ("https://user:pw@hooks.example.com/x", SECRET, "user or password"),
    ],
)
def test_bad_settings_are_refused_without_quoting_the_secret(url, secret, message):
    with pytest.raises(webhooks.WebhookConfigError, match=message) as caught:
        webhooks.parse_target(url, secret)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "http://127.0.0.1:9000/x", "http://[::1]/x"]
)
def test_https_or_loopback_http_is_accepted(url):
    target = webhooks.parse_target(url, SECRET)
    assert target.url == url and target.secret == SECRET.encode()
    assert SECRET not in repr(target)


def test_config_reads_both_and_keeps_the_secret_out_of_its_repr():
    env = {**TEST_ENV, "WEBHOOK_URL": "https://hooks.example.com/x", "WEBHOOK_SECRET": SECRET}
    app = create_app(env)
    config = app.extensions["credsvc"].config
    assert config.webhook.url == "https://hooks.example.com/x"
    assert SECRET not in repr(config)
    assert isinstance(app.extensions["credsvc"].events, webhooks.WebhookSender)
    with pytest.raises(ConfigError, match="WEBHOOK_URL and WEBHOOK_SECRET"):
        create_app({**TEST_ENV, "WEBHOOK_URL": "https://hooks.example.com/x"})
    with pytest.raises(ConfigError, match="SESSION_EXPIRING_SOON_HOURS"):
        create_app({**TEST_ENV, "SESSION_EXPIRING_SOON_HOURS": "soon"})


# -- signatures --------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.signature(SECRET, body, 1700000000) == f"t=1700000000,v1={expected}"


def test_verification_refuses_a_wrong_secret_a_changed_body_and_an_old_timestamp():
    body = b'{"id":"evt_1"}'
    now = 1_800_000_000
    signed = webhooks.signature(SECRET, body, now)
    assert webhooks.verify_signature(SECRET, body, signed, now=now + 10)
    assert not webhooks.verify_signature("w" * 40, body, signed, now=now)
    assert not webhooks.verify_signature(SECRET, body + b" ", signed, now=now)
    window = webhooks.REPLAY_WINDOW_SECONDS
    assert not webhooks.verify_signature(SECRET, body, signed, now=now + window + 1)
    assert not webhooks.verify_signature(SECRET, body, signed, now=now - window - 1)
    for garbage in ("", "t=,v1=", "v1=abc", f"t={now}", "t=x,v1=y"):
        assert not webhooks.verify_signature(SECRET, body, garbage, now=now)


# -- delivery ----------------------------------------------------------------------------------


def test_an_event_arrives_signed_with_its_id(receiver_factory):
    receiver = receiver_factory()
    out = sender(receiver.url)
    out.emit("platform_session.needs_recapture", EVENT_DATA)
    assert out.flush(10)
    [(headers, body, _)] = receiver.requests
    assert webhooks.verify_signature(SECRET, body, header(headers, "X-Credsvc-Signature"))
    assert not webhooks.verify_signature("x" * 40, body, header(headers, "X-Credsvc-Signature"))
    event = json.loads(body)
    assert header(headers, "X-Credsvc-Event-Id") == event["id"]
    assert event["id"].startswith("evt_") and len(event["id"]) == 36
    assert event["type"] == "platform_session.needs_recapture"
    assert event["data"] == EVENT_DATA and event["created_at"].endswith("Z")
    assert header(headers, "Content-Type") == "application/json"


def test_emit_returns_before_the_receiver_answers(receiver_factory):
    receiver = receiver_factory(delay=1.0)
    out = sender(receiver.url)
    started = time.monotonic()
    out.emit("platform_session.recaptured", EVENT_DATA)
    assert time.monotonic() - started < 0.5
    assert out.flush(10) and len(receiver.requests) == 1


def test_failures_are_retried_with_backoff_then_delivered(receiver_factory, caplog):
    receiver = receiver_factory(plan=(500, 503, 200))
    out = sender(receiver.url, backoff_base=0.2)
    with caplog.at_level(logging.WARNING, logger="credsvc.webhooks"):
        out.emit("platform_session.needs_recapture", EVENT_DATA)
        assert out.flush(20)
    assert len(receiver.requests) == 3
    ids = {header(h, "X-Credsvc-Event-Id") for h, _, _ in receiver.requests}
    bodies = {body for _, body, _ in receiver.requests}
    assert len(ids) == 1 and len(bodies) == 1
    for headers, body, _ in receiver.requests:
        assert webhooks.verify_signature(SECRET, body, header(headers, "X-Credsvc-Signature"))
    times = [moment for _, _, moment in receiver.requests]
    # Backoff with jitter in [0.5, 1]: 0.1-0.2 s, then 0.2-0.4 s.
    assert times[1] - times[0] >= 0.09 and times[2] - times[1] >= 0.19
    assert "HTTP 500" in caplog.text and "HTTP 503" in caplog.text
    assert SECRET not in caplog.text and "query-part" not in caplog.text


def test_attempts_are_bounded_and_the_failure_is_logged_without_the_secret(
    receiver_factory, caplog
):
    receiver = receiver_factory(plan=(500,))
    out = sender(receiver.url, max_attempts=3)
    with caplog.at_level(logging.WARNING, logger="credsvc.webhooks"):
        out.emit("platform_session.needs_recapture", EVENT_DATA)
        assert out.flush(10)
        time.sleep(0.2)  # nothing more comes
    assert len(receiver.requests) == 3
    assert "giving up" in caplog.text and "3/3" in caplog.text
    assert SECRET not in caplog.text and "query-part" not in caplog.text
    assert EVENT_DATA["session_id"] not in caplog.text  # the body is not logged


def test_an_unreachable_receiver_is_retried_and_given_up(caplog):
    out = sender("http://127.0.0.1:9/unreachable", max_attempts=2)
    with caplog.at_level(logging.WARNING, logger="credsvc.webhooks"):
        out.emit("platform_session.needs_recapture", EVENT_DATA)
        assert out.flush(10)
    assert "ConnectionError" in caplog.text and "giving up" in caplog.text


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    out = webhooks.WebhookSender(
        webhooks.parse_target("https://h.example/x", SECRET), backoff_base=2, backoff_max=10
    )
    for attempt, full in ((1, 2), (2, 4), (3, 8), (4, 10), (9, 10)):
        delays = {out.backoff(attempt) for _ in range(50)}
        assert all(full * 0.5 <= delay <= full for delay in delays)
        assert len(delays) > 1  # jittered


def test_a_full_queue_drops_new_events_and_says_so(receiver_factory, caplog):
    receiver = receiver_factory(delay=0.5)
    out = sender(receiver.url, queue_limit=1)
    with caplog.at_level(logging.ERROR, logger="credsvc.webhooks"):
        for _ in range(5):
            out.emit("platform_session.needs_recapture", EVENT_DATA)
        assert out.flush(10)
    assert "queue full" in caplog.text
    assert 1 <= len(receiver.requests) < 5


# -- review fixes: crafted signatures, the signed event id, redirects, what logs name ----------


@pytest.mark.parametrize(
    "v1", ["é", "\u00e9" * 64, "zz" * 32, "ÿ" + "0" * 63, "0" * 63 + "\x00", "A" * 64]
)
def test_a_crafted_v1_is_refused_not_raised(v1):
    """hmac.compare_digest raises TypeError on a non-ASCII str: the verifier must say False."""
    now = 1_800_000_000
    assert webhooks.verify_signature(SECRET, b"{}", f"t={now},v1={v1}", now=now) is False
    assert webhooks.verified_event_id(SECRET, b"{}", f"t={now},v1={v1}", now=now) is None


def test_the_documented_standalone_verifier_refuses_a_crafted_v1():
    """docs/webhooks.md's snippet, run as printed."""
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    [snippet] = re.findall(r"```python\n(.*?)```", docs, flags=re.S)
    scope: dict = {}
    exec(snippet, scope)  # noqa: S102 (the project's own documentation)
    verify = scope["verify_event"]
    body = webhooks.encode(webhooks.new_event("platform_session.needs_recapture", EVENT_DATA))
    now = int(time.time())
    good = webhooks.signature(SECRET, body, now)
    assert verify(SECRET.encode(), body, good) == json.loads(body)["id"]
    assert verify(SECRET.encode(), body, f"t={now},v1=é") is None
    assert verify(SECRET.encode(), body + b" ", good) is None


def test_the_event_id_to_dedup_on_is_the_signed_one():
    """X-Credsvc-Event-Id is not covered by the HMAC: a replay with a new header value must not
    pass dedup. The receiver keys on the id inside the signed body."""
    event = webhooks.new_event("platform_session.needs_recapture", EVENT_DATA)
    body = webhooks.encode(event)
    now = 1_800_000_000
    signed = webhooks.signature(SECRET, body, now)
    assert webhooks.verified_event_id(SECRET, body, signed, now=now) == event["id"]
    assert webhooks.verified_event_id("w" * 40, body, signed, now=now) is None
    assert webhooks.verified_event_id(SECRET, body, signed, now=now + 10_000) is None
    # Signed, but no usable id in the body: nothing to dedup on, refused.
    for odd in (b"[]", b"not json", b'{"id": 5}', b"{}"):
        assert (
            webhooks.verified_event_id(SECRET, odd, webhooks.signature(SECRET, odd, now), now=now)
            is None
        )


class RedirectingReceiver:
    """Answers a POST to /hooks with a redirect to /elsewhere, which would take it (200)."""

    def __init__(self, status: int):
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                receiver.paths.append(f"{self.command} {self.path}")
                self.send_response(status if self.path.startswith("/hooks") else 200)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = _any  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/credsvc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_counts_as_a_failure(caplog, status):
    receiver = RedirectingReceiver(status)
    try:
        out = sender(receiver.url, max_attempts=2)
        with caplog.at_level(logging.WARNING, logger="credsvc.webhooks"):
            out.emit("platform_session.needs_recapture", EVENT_DATA)
            assert out.flush(10)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    # Both attempts to the configured path, nothing to where the redirect pointed.
    assert receiver.paths == ["POST /hooks/credsvc"] * 2
    assert f"HTTP {status}" in caplog.text and "giving up" in caplog.text


def test_logs_name_the_target_by_scheme_host_and_port_only(caplog):
    url = "https://discord.example:8443/api/webhooks/123/path-secret-token?wait=true"
    out = webhooks.WebhookSender(webhooks.parse_target(url, SECRET), max_attempts=1)
    assert "path-secret-token" not in repr(out)
    assert repr(out) == "WebhookSender('https://discord.example:8443')"
    assert webhooks._safe_url("http://[::1]:9000/x/y") == "http://[::1]:9000"

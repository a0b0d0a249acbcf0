"""credsvc.logs: what reaches the log is masked, free of tracebacks and exception messages, and
carries a request id of the project's shape.

Every test reads what the app's own handler wrote (JSON lines), so the redaction filter, the
list of configured secrets and the request-id hook are all the ones `create_app` installs.
"""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from credsvc import create_app, logs
from tests.conftest import AUDIT, DIRECTUS, INTERNAL_HEADERS, mint_token

# Every secret the process is configured with, by variable (DIRECTUS_TOKEN and DIRECTUS_SECRET
# come from tests/conftest.py TEST_ENV).
EXTRA_SECRETS = {
    "DIRECTUS_OPERATOR_TOKEN": "operator-token-for-log-tests-0123456789",
    "RBAC_SYNC_SECRET_PREVIOUS": "previous-sync-secret-for-log-tests-0123",
    "INTERNAL_CALLER_DOWNLOADER_SECRET": "downloader-secret-for-log-tests-012345",
    "INTERNAL_CALLER_DOWNLOADER_SECRET_PREVIOUS": "downloader-previous-secret-0123456789",
    "WEBHOOK_SECRET": "webhook-secret-for-log-tests-0123456789abcdef",
    # Discord and Slack put the receiver's secret in the path: the whole URL is a secret.
    "WEBHOOK_URL": "https://hooks.example.com/api/webhooks/42/webhook-path-token-for-log-tests",
    "METRICS_TOKEN": "metrics-token-for-log-tests-0123456789abcdef",
    # Key material (CREDENTIALS_ENCRYPTION_KEY comes from TEST_ENV).
    "CREDENTIALS_KEYS": "k1:" + "2a" * 32,
    "CREDENTIALS_LEGACY_KEY": "3b" * 32,
}
SECRET_VARIABLES = [
    "DIRECTUS_TOKEN",
    "DIRECTUS_SECRET",
    "RBAC_SYNC_SECRET",
    "CREDENTIALS_ENCRYPTION_KEY",
    *EXTRA_SECRETS,
]
REDACTED = "[redacted]"


@pytest.fixture
def log_env(env):
    env.update(EXTRA_SECRETS)
    env["INTERNAL_CALLERS"] = "downloader"
    env["INTERNAL_CALLER_DOWNLOADER_SCOPES"] = "download-credentials"
    return env


@pytest.fixture
def log_app(log_env):
    app = create_app(log_env)

    @app.get("/test-failure")
    def fail():
        raise RuntimeError("internal detail the log must not carry")

    return app


@pytest.fixture
def handler(log_app) -> logging.StreamHandler:
    """The handler create_app gave the app, writing into a buffer."""
    installed = logs.handler_of(log_app)
    assert isinstance(installed, logging.StreamHandler)
    installed.setStream(io.StringIO())
    return installed


@pytest.fixture
def output(handler):
    """Everything logged so far, as text."""
    return lambda: handler.stream.getvalue()


@pytest.fixture
def entries(output):
    """Everything logged so far, one dict per JSON line."""
    return lambda: [json.loads(line) for line in output().splitlines()]


# -- configured secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("variable", SECRET_VARIABLES)
def test_a_configured_secret_is_masked_in_the_message(log_env, handler, output, variable):
    secret = log_env[variable]
    log = logging.getLogger("credsvc.test")
    log.warning(f"inline {secret} in the text")
    log.warning("as an argument: %s", secret)
    log.warning("inside a longer word: x%sx", secret)
    text = output()
    assert secret not in text
    assert text.count(REDACTED) == 3, text


@pytest.mark.parametrize("variable", SECRET_VARIABLES)
@pytest.mark.parametrize("field", ["path", "actor", "event", "method", "error_type"])
def test_a_configured_secret_is_masked_in_extra_fields(log_env, entries, variable, field):
    secret = log_env[variable]
    logging.getLogger("credsvc.test").warning("request", extra={field: f"/x/{secret}/y"})
    [entry] = entries()
    assert entry[field] == f"/x/{REDACTED}/y"


def test_each_caller_secret_is_given_to_the_filter(log_app, log_env, handler):
    [redacting] = [f for f in handler.filters if isinstance(f, logs.RedactingFilter)]
    configured = {log_env[name] for name in SECRET_VARIABLES}
    assert configured <= set(redacting.secrets)


def test_the_webhook_urls_path_alone_is_masked_too(log_env, output):
    """A log line that quotes only the path (a proxy, a library) still hides the token."""
    logging.getLogger("credsvc.test").warning(
        "posting to /api/webhooks/42/webhook-path-token-for-log-tests"
    )
    assert "webhook-path-token" not in output()


def test_values_shorter_than_eight_characters_are_not_masked():
    # A short value would mask common words everywhere; secrets are at least 16 characters.
    assert logs.RedactingFilter(["abc", ""]).secrets == []


# -- token shapes ---------------------------------------------------------------------------------

JWT = mint_token()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", f"Authorization: Bearer {REDACTED}"),
        ("authorization: bearer   csk_0123456789", f"authorization: bearer   {REDACTED}"),
        (f"token={JWT} end", f"token={REDACTED} end"),
        (f"two: {JWT}, {JWT}", f"two: {REDACTED}, {REDACTED}"),
        ("eyJhbGciOi.eyJzdWIiOi.", REDACTED),  # an unsigned JWT shape
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_token_shapes_are_masked(entries, text, expected):
    logging.getLogger("credsvc.test").warning(text)
    logging.getLogger("credsvc.test").warning("in a path", extra={"path": text})
    first, second = entries()
    assert first["msg"] == expected
    assert second["path"] == expected


# -- exceptions -----------------------------------------------------------------------------------

MESSAGE = "internal detail the log must not carry"


def raise_and_log(log: logging.Logger) -> None:
    try:
        raise ValueError(MESSAGE)
    except ValueError:
        log.exception("could not do it")


def test_an_exception_is_logged_by_type_only(entries, output):
    raise_and_log(logging.getLogger("credsvc.test"))
    [entry] = entries()
    assert entry["msg"] == "could not do it" and entry["error_type"] == "ValueError"
    assert MESSAGE not in output() and "Traceback" not in output()


def test_no_traceback_or_stack_reaches_any_formatter(handler, output):
    # logging.Formatter would print exc_info and stack_info: the filter must drop them first.
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("credsvc.test")
    raise_and_log(log)
    log.warning("with a stack", stack_info=True)
    text = output()
    assert text.splitlines() == ["ERROR could not do it", "WARNING with a stack"], text


def test_the_filter_drops_exception_and_stack_of_the_record():
    try:
        raise ValueError(MESSAGE)
    except ValueError:
        record = logging.getLogger("credsvc.test").makeRecord(
            "credsvc.test", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    record.exc_text, record.stack_info = "Traceback ...", "Stack (most recent call last)"
    assert logs.RedactingFilter([]).filter(record) is True
    assert (record.exc_info, record.exc_text, record.stack_info) == (None, None, None)
    assert record.error_type == "ValueError"


def test_an_unexpected_error_is_logged_without_its_message(log_app, entries, output):
    response = log_app.test_client().get("/test-failure")
    assert response.status_code == 500
    assert response.get_json() == {"success": False, "error": "Internal server error"}
    failed = [entry for entry in entries() if entry["logger"] == "credsvc.errors"]
    assert [(e["msg"], e["error_type"], e["status"]) for e in failed] == [
        ("request failed", "RuntimeError", 500)
    ]
    assert MESSAGE not in output() and "Traceback" not in output()


def test_an_upstream_failure_is_logged_without_the_upstream_body(log_app, directus_wire, output):
    body = {"errors": [{"message": "knex: select encrypted_credentials from platform_connections"}]}
    directus_wire.get(f"{DIRECTUS}/items/platform_connections", status=500, json=body)
    audit = directus_wire.post(AUDIT, json={"data": {}})
    response = log_app.test_client().post(
        "/api/credentials/reveal",
        headers=INTERNAL_HEADERS,
        json={"creatorProfileId": "00000000-0000-4000-8000-000000000000"},
    )
    assert response.status_code == 502 and audit.call_count == 1  # the failed reveal's row
    assert "request failed" in output() and "DirectusResponseError" in output()
    assert "knex" not in output() and "select" not in output()


# -- request ids ----------------------------------------------------------------------------------


def access_lines(entries) -> list[dict]:
    return [entry for entry in entries() if entry["logger"] == "credsvc.access"]


@pytest.mark.parametrize("request_id", ["req-1", "A.b_c-9", "a" * 64])
def test_a_request_id_of_the_project_shape_is_echoed_and_logged(log_app, entries, request_id):
    response = log_app.test_client().get("/healthz", headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id
    [line] = access_lines(entries)
    assert line["request_id"] == request_id


@pytest.mark.parametrize(
    "request_id", ["a" * 65, "abc def", 'bad"id', "a/b", "ü", "req-1;x", "{}", ""]
)
def test_any_other_request_id_is_replaced_by_a_fresh_one(log_app, entries, request_id):
    client = log_app.test_client()
    first = client.get("/healthz", headers={"X-Request-ID": request_id}).headers["X-Request-ID"]
    second = client.get("/healthz", headers={"X-Request-ID": request_id}).headers["X-Request-ID"]
    for echoed in (first, second):
        assert echoed != request_id and len(echoed) == 32
        int(echoed, 16)
    assert first != second  # fresh per request, not a constant fallback
    assert [line["request_id"] for line in access_lines(entries)] == [first, second]


def test_a_request_without_an_id_gets_a_fresh_one(log_app, entries):
    response = log_app.test_client().get("/healthz")
    assert len(response.headers["X-Request-ID"]) == 32
    [line] = access_lines(entries)
    assert line["request_id"] == response.headers["X-Request-ID"]


# -- per app ----------------------------------------------------------------------------------

QUIET_SECRET = "metrics-token-of-the-quiet-app-0123456789"
CHATTY_SECRET = "directus-token-of-the-chatty-app-0123456789"


def test_two_apps_in_one_process_keep_their_own_log_settings(env):
    quiet = create_app({**env, "LOG_LEVEL": "WARNING", "METRICS_TOKEN": QUIET_SECRET})
    chatty = create_app({**env, "LOG_LEVEL": "INFO", "DIRECTUS_TOKEN": CHATTY_SECRET})
    streams = {app: io.StringIO() for app in (quiet, chatty)}
    for app, stream in streams.items():
        logs.handler_of(app).setStream(stream)
    for app in (quiet, chatty):
        assert app.test_client().get("/healthz").status_code == 200
        with app.app_context():
            logging.getLogger("credsvc.test").warning("secrets: %s %s", QUIET_SECRET, CHATTY_SECRET)
    # The access line is INFO: the quiet app (WARNING) writes none, built first or not.
    quiet_lines = [json.loads(line) for line in streams[quiet].getvalue().splitlines()]
    chatty_lines = [json.loads(line) for line in streams[chatty].getvalue().splitlines()]
    assert [line["logger"] for line in quiet_lines] == ["credsvc.test"]
    assert [line["logger"] for line in chatty_lines] == ["credsvc.access", "credsvc.test"]
    # Each app masks its own secrets only: the other app's configuration is not its business.
    assert quiet_lines[0]["msg"] == f"secrets: {REDACTED} {CHATTY_SECRET}"
    assert chatty_lines[1]["msg"] == f"secrets: {QUIET_SECRET} {REDACTED}"
    assert logs.handler_of(quiet).level == logging.WARNING
    assert logs.handler_of(quiet) is not logs.handler_of(chatty)


def test_building_an_app_removes_no_handler_installed_by_someone_else(env):
    installed = {
        name: logging.NullHandler() for name in ("credsvc", "credsvc.access", "credsvc.errors", "")
    }
    for name, handler in installed.items():
        logging.getLogger(name).addHandler(handler)
    try:
        create_app(env)
        create_app(dict(env, LOG_LEVEL="WARNING"))
        for name, handler in installed.items():
            assert handler in logging.getLogger(name).handlers, name
        routers = [
            h for h in logging.getLogger("credsvc").handlers if isinstance(h, logs.AppRouter)
        ]
        assert len(routers) == 1  # installed once, not once per app
    finally:
        for name, handler in installed.items():
            logging.getLogger(name).removeHandler(handler)


def test_a_record_outside_any_app_context_goes_to_the_app_built_last(env):
    first, last = create_app(env), create_app(env)
    streams = {app: io.StringIO() for app in (first, last)}
    for app, stream in streams.items():
        logs.handler_of(app).setStream(stream)
    logging.getLogger("credsvc.webhooks").warning("from a background thread")
    assert streams[first].getvalue() == ""
    assert "from a background thread" in streams[last].getvalue()


def test_each_key_of_a_ring_and_the_transit_token_are_masked(env):
    # A key logged on its own (without its "k1:" id) and the transit token are secrets too.
    env.update(
        {
            "CREDENTIALS_KEYS": "k1:" + "4c" * 32 + ",bao:transit",
            "CREDENTIALS_ACTIVE_KEY": "k1",
            "CREDENTIALS_TRANSIT_ADDR": "http://127.0.0.1:8200",
            "CREDENTIALS_TRANSIT_TOKEN": "transit-token-for-log-tests-0123456789",
            "CREDENTIALS_TRANSIT_KEY": "credsvc",
        }
    )
    app = create_app(env)
    installed = logs.handler_of(app)
    installed.setStream(io.StringIO())
    log = logging.getLogger("credsvc.test")
    log.warning("key %s", "4c" * 32)
    log.warning("token %s", env["CREDENTIALS_TRANSIT_TOKEN"])
    log.warning("the word transit stays")
    text = installed.stream.getvalue()
    assert "4c" * 32 not in text and env["CREDENTIALS_TRANSIT_TOKEN"] not in text
    assert text.count(REDACTED) == 2 and "the word transit stays" in text

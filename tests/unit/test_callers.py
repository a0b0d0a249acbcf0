"""Named internal callers (credsvc.callers, the config, `require_internal`) and the routes
each CREDSVC_MODE serves (credsvc.api.BLUEPRINTS)."""

from __future__ import annotations

import json
import logging
import re

import pytest
import responses
from flask import Blueprint

from credsvc import auth, create_app
from credsvc.api import BLUEPRINTS
from credsvc.auth import require_internal
from credsvc.callers import SCOPES
from credsvc.config import MODES, Config, ConfigError
from credsvc.crypto import generate_keypair, generate_signing_pair
from tests.conftest import AUDIT, DIRECTUS, TEST_ENV, env_for_mode, sent_audit_rows

SECRETS = {
    "downloader": "downloader-secret-0123456789",
    "session-reader": "session-reader-secret-0123456789",
    "acme-workers": "acme-workers-secret-0123456789",
    "creator-sync": "creator-sync-secret-0123456789",
    "rbac-sync": TEST_ENV["RBAC_SYNC_SECRET"],
}
PROFILE = "d3f21c8e-4a5b-4c9d-8e7f-1a2b3c4d5e6f"


def callers_env(**overrides: str | None) -> dict[str, str]:
    """TEST_ENV (RBAC_SYNC_SECRET: `rbac-sync`) plus four named callers, each with one scope
    (so that a route declaring the wrong scope shows in the matrix); None deletes."""
    env = dict(
        TEST_ENV,
        INTERNAL_CALLERS="downloader,session-reader, acme-workers,creator-sync",
        INTERNAL_CALLER_DOWNLOADER_SECRET=SECRETS["downloader"],
        INTERNAL_CALLER_DOWNLOADER_SCOPES="download-credentials",
        INTERNAL_CALLER_SESSION_READER_SECRET=SECRETS["session-reader"],
        INTERNAL_CALLER_SESSION_READER_SCOPES="platform-sessions",
        INTERNAL_CALLER_ACME_WORKERS_SECRET=SECRETS["acme-workers"],
        INTERNAL_CALLER_ACME_WORKERS_SCOPES="end-users:acme",
        INTERNAL_CALLER_CREATOR_SYNC_SECRET=SECRETS["creator-sync"],
        INTERNAL_CALLER_CREATOR_SYNC_SCOPES=" creator-credentials ",
    )
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def as_caller(name: str) -> dict[str, str]:
    return {"X-RBAC-SYNC-SECRET": SECRETS[name]}


# -- configuration ------------------------------------------------------------------------


def test_rbac_sync_secret_alone_is_one_caller_with_every_scope():
    [caller] = Config.from_env(dict(TEST_ENV)).callers
    assert caller.name == "rbac-sync" and caller.actor == "internal:rbac-sync"
    assert all(caller.allows(scope) for scope in SCOPES)
    assert caller.allows("end-users", "any-business")


def test_named_callers_get_their_own_secrets_and_scopes():
    callers = {caller.name: caller for caller in Config.from_env(callers_env()).callers}
    assert list(callers) == [
        "rbac-sync",
        "downloader",
        "session-reader",
        "acme-workers",
        "creator-sync",
    ]
    downloader, acme = callers["downloader"], callers["acme-workers"]
    assert downloader.secrets == (SECRETS["downloader"].encode(),)
    assert downloader.allows("download-credentials") and not downloader.allows("end-users")
    assert not downloader.allows("creator-credentials")
    assert not downloader.allows("platform-sessions")
    assert acme.allows("end-users") and acme.allows("end-users", "acme")
    assert not acme.allows("end-users", "globex") and not acme.allows("download-credentials")
    assert SECRETS["downloader"] not in repr(downloader)


def test_named_callers_without_the_default_and_end_users_for_all_businesses():
    env = callers_env(RBAC_SYNC_SECRET=None, INTERNAL_CALLER_ACME_WORKERS_SCOPES="end-users:*")
    callers = {caller.name: caller for caller in Config.from_env(env).callers}
    assert "rbac-sync" not in callers and callers["acme-workers"].allows("end-users", "globex")


def test_a_caller_with_several_scopes_and_businesses():
    env = callers_env(
        INTERNAL_CALLER_DOWNLOADER_SCOPES="download-credentials, end-users:acme,end-users:b.c"
    )
    downloader = next(c for c in Config.from_env(env).callers if c.name == "downloader")
    assert downloader.allows("download-credentials") and downloader.allows("end-users", "b.c")
    assert downloader.allows("end-users", "acme") and not downloader.allows("end-users", "b")


REFUSALS = {
    "unknown scope": (
        {"INTERNAL_CALLER_DOWNLOADER_SCOPES": "download-credentials,downloads"},
        "INTERNAL_CALLER_DOWNLOADER_SCOPES entry 2 is not a scope",
    ),
    "empty scope entry": (
        {"INTERNAL_CALLER_DOWNLOADER_SCOPES": "download-credentials,"},
        "INTERNAL_CALLER_DOWNLOADER_SCOPES entry 2 is not a scope",
    ),
    "end-users without a business": (
        {"INTERNAL_CALLER_ACME_WORKERS_SCOPES": "end-users"},
        "entry 1: end-users is granted per business",
    ),
    "end-users with a malformed business": (
        {"INTERNAL_CALLER_ACME_WORKERS_SCOPES": "end-users:-acme"},
        "entry 1: not a valid businessId",
    ),
    "a business on a scope without businesses": (
        {"INTERNAL_CALLER_DOWNLOADER_SCOPES": "download-credentials:acme"},
        "entry 1: download-credentials takes no business",
    ),
    "scopes missing": (
        {"INTERNAL_CALLER_DOWNLOADER_SCOPES": None},
        "INTERNAL_CALLER_DOWNLOADER_SCOPES is required",
    ),
    "upper-case name": ({"INTERNAL_CALLERS": "Downloader"}, "INTERNAL_CALLERS entry 1 is not"),
    "underscore in name": ({"INTERNAL_CALLERS": "down_loader"}, "INTERNAL_CALLERS entry 1 is not"),
    "name too long": ({"INTERNAL_CALLERS": "d" * 33}, "INTERNAL_CALLERS entry 1 is not"),
    "empty name": ({"INTERNAL_CALLERS": "downloader,,x"}, "INTERNAL_CALLERS entry 2 is not"),
    "space in name": ({"INTERNAL_CALLERS": "down loader"}, "INTERNAL_CALLERS entry 1 is not"),
    "name with a newline": ({"INTERNAL_CALLERS": "down\nloader"}, "INTERNAL_CALLERS entry 1"),
    "reserved name": ({"INTERNAL_CALLERS": "rbac-sync"}, "rbac-sync is the name of the RBAC"),
    "same name twice": ({"INTERNAL_CALLERS": "downloader,downloader"}, "names downloader twice"),
    "secret missing": (
        {"INTERNAL_CALLER_DOWNLOADER_SECRET": None},
        "INTERNAL_CALLER_DOWNLOADER_SECRET is required",
    ),
    "secret too short": (
        {"INTERNAL_CALLER_DOWNLOADER_SECRET": "short-secret"},
        "INTERNAL_CALLER_DOWNLOADER_SECRET must be at least 16",
    ),
    "previous secret too short": (
        {"INTERNAL_CALLER_DOWNLOADER_SECRET_PREVIOUS": "short-secret"},
        "INTERNAL_CALLER_DOWNLOADER_SECRET_PREVIOUS must be at least 16",
    ),
    "two callers, one secret": (
        {"INTERNAL_CALLER_ACME_WORKERS_SECRET": SECRETS["downloader"]},
        "INTERNAL_CALLER_DOWNLOADER_SECRET and INTERNAL_CALLER_ACME_WORKERS_SECRET hold the same",
    ),
    "a caller's secret is RBAC_SYNC_SECRET": (
        {"INTERNAL_CALLER_CREATOR_SYNC_SECRET": SECRETS["rbac-sync"]},
        "RBAC_SYNC_SECRET and INTERNAL_CALLER_CREATOR_SYNC_SECRET hold the same secret",
    ),
    "a caller's secret is RBAC_SYNC_SECRET_PREVIOUS": (
        {
            "RBAC_SYNC_SECRET_PREVIOUS": "previous-sync-secret-0123456789",
            "INTERNAL_CALLER_DOWNLOADER_SECRET": "previous-sync-secret-0123456789",
        },
        "RBAC_SYNC_SECRET_PREVIOUS and INTERNAL_CALLER_DOWNLOADER_SECRET hold the same secret",
    ),
    "a previous secret is another caller's": (
        {"INTERNAL_CALLER_DOWNLOADER_SECRET_PREVIOUS": SECRETS["acme-workers"]},
        "INTERNAL_CALLER_DOWNLOADER_SECRET_PREVIOUS and INTERNAL_CALLER_ACME_WORKERS_SECRET hold",
    ),
    "a variable of no listed caller": (
        {"INTERNAL_CALLER_DOWNLOADR_SECRET": "typo-in-the-name-0123456789"},
        "INTERNAL_CALLER_DOWNLOADR_SECRET: no such caller in INTERNAL_CALLERS",
    ),
    "previous sync secret alone": (
        {"RBAC_SYNC_SECRET": None, "RBAC_SYNC_SECRET_PREVIOUS": "previous-sync-secret-012345"},
        "RBAC_SYNC_SECRET_PREVIOUS is set but RBAC_SYNC_SECRET is not",
    ),
    "no caller at all": (
        {
            "RBAC_SYNC_SECRET": None,
            "INTERNAL_CALLERS": None,
            **{
                f"INTERNAL_CALLER_{name}_{suffix}": None
                for name in ("DOWNLOADER", "SESSION_READER", "ACME_WORKERS", "CREATOR_SYNC")
                for suffix in ("SECRET", "SCOPES")
            },
        },
        "CREDSVC_MODE=full needs an internal caller: set RBAC_SYNC_SECRET",
    ),
    "worker mode with no caller": (
        {
            "CREDSVC_MODE": "worker",
            "RBAC_SYNC_SECRET": None,
            "INTERNAL_CALLERS": None,
            **{
                f"INTERNAL_CALLER_{name}_{suffix}": None
                for name in ("DOWNLOADER", "SESSION_READER", "ACME_WORKERS", "CREATOR_SYNC")
                for suffix in ("SECRET", "SCOPES")
            },
        },
        "CREDSVC_MODE=worker needs an internal caller",
    ),
    "ingest mode with callers": (
        {"CREDSVC_MODE": "ingest", "RBAC_SYNC_SECRET": None},
        "CREDSVC_MODE=ingest must not be given INTERNAL_CALLERS, INTERNAL_CALLER_ACME_WORKERS_",
    ),
    "unknown mode": ({"CREDSVC_MODE": "reveal-everything"}, "CREDSVC_MODE must be one of"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_startup_refuses(case):
    overrides, message = REFUSALS[case]
    env = callers_env(**overrides)
    with pytest.raises(ConfigError, match=re.escape(message)) as refused:
        Config.from_env(env)
    secrets = [value for name, value in env.items() if "SECRET" in name and len(value) >= 8]
    assert not any(secret in str(refused.value) for secret in secrets), case


def test_ingest_mode_refuses_the_sync_secret_alone():
    with pytest.raises(ConfigError, match="CREDSVC_MODE=ingest must not be given RBAC_SYNC_SECRET"):
        Config.from_env(dict(TEST_ENV, CREDSVC_MODE="ingest"))


@pytest.mark.parametrize(
    "overrides",
    [
        {"INTERNAL_CALLERS": f"downloader,{SECRETS['acme-workers']}"},
        {"INTERNAL_CALLER_DOWNLOADER_SCOPES": f"download-credentials,{SECRETS['acme-workers']}"},
        {"INTERNAL_CALLER_ACME_WORKERS_SCOPES": f"end-users:{SECRETS['acme-workers']}!"},
    ],
    ids=["in the names", "in the scopes", "as a business"],
)
def test_a_secret_pasted_into_the_wrong_variable_is_never_echoed(overrides):
    with pytest.raises(ConfigError) as refused:
        Config.from_env(callers_env(**overrides))
    assert SECRETS["acme-workers"] not in str(refused.value)


def test_an_unknown_scope_cannot_be_declared_on_a_route():
    with pytest.raises(ValueError, match="unknown scope"):
        auth.requires_scope("downloads")


# -- the guard: every caller against every shared-secret route ------------------------------


def shared_secret_views(app):
    """(rule, view) of every route whose blueprint is guarded by require_internal."""
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if require_internal in app.before_request_funcs.get(blueprint, ()):
            yield rule.rule, app.view_functions[rule.endpoint]


def test_every_shared_secret_route_declares_a_known_scope(app):
    views = dict(shared_secret_views(app))
    print(
        f"shared-secret routes: cases={len(views)} declared="
        f"{sum(getattr(v, 'required_scope', None) in SCOPES for v in views.values())}"
    )
    assert views, "no shared-secret route found: the check would prove nothing"
    for rule, view in views.items():
        assert getattr(view, "required_scope", None) in SCOPES, f"{rule} declares no scope"


def test_a_route_without_a_declared_scope_is_refused(env, directus_wire, capsys):
    undeclared = Blueprint("undeclared", __name__, url_prefix="/api/undeclared")
    undeclared.before_request(require_internal)
    undeclared.post("/reveal")(lambda: {"success": True, "secret": "value"})
    app = create_app(env)
    app.register_blueprint(undeclared)
    directus_wire.post(AUDIT, json={"data": {}})
    response = app.test_client().post("/api/undeclared/reveal", headers=as_caller("rbac-sync"))
    assert response.status_code == 403
    assert response.get_json() == {"success": False, "error": "Forbidden"}
    logged = capsys.readouterr().err
    assert "shared-secret route declares no scope" in logged
    assert SECRETS["rbac-sync"] not in logged


# Every shared-secret route with a body that passes validation; the end-user route once per
# business, since its scope is granted per business.
CELLS = {
    "store": ("/api/credentials/store", {"creatorProfileId": PROFILE, "credentials": {"k": "v"}}),
    "reveal": ("/api/credentials/reveal", {"creatorProfileId": PROFILE}),
    "reveal-download-cred": ("/api/credentials/reveal-download-cred", {"id": PROFILE}),
    "get-platform-session": (
        "/api/credentials/get-platform-session",
        {"creator_profile_id": PROFILE, "platform": "youtube"},
    ),
    "report-platform-session": (
        "/api/credentials/report-platform-session",
        {"id": PROFILE, "reason": "logged_out"},
    ),
    "end-users acme": (
        "/api/end-user-credentials/reveal",
        {"businessId": "acme", "endUserId": "alice"},
    ),
    "end-users globex": (
        "/api/end-user-credentials/reveal",
        {"businessId": "globex", "endUserId": "alice"},
    ),
}
# The design, written out by hand (not derived from the code under test).
ALLOWED = {
    "rbac-sync": set(CELLS),
    "downloader": {"reveal-download-cred"},
    "session-reader": {"get-platform-session", "report-platform-session"},
    "acme-workers": {"end-users acme"},
    "creator-sync": {"store", "reveal"},
}


@pytest.fixture
def empty_directus(directus_wire):
    """Directus with no rows: every read finds nothing, every audit row is accepted."""
    directus_wire.add(
        responses.GET, re.compile(re.escape(DIRECTUS) + r"/items/.*"), json={"data": []}
    )
    directus_wire.post(AUDIT, json={"data": {}})
    return directus_wire


def sent_rows(calls) -> list[dict]:
    return sent_audit_rows([call for call in calls if call.request.url == AUDIT])


def call(client, wire, caller: str, cell: str):
    """(response, Directus calls it made) for one caller on one cell."""
    before = len(wire.calls)
    path, body = CELLS[cell]
    response = client.post(path, headers=as_caller(caller), json=body)
    return response, list(wire.calls)[before:]


def test_caller_scope_matrix(empty_directus):
    routes = {path for path, _ in shared_secret_views(create_app(callers_env()))}
    assert routes == {path for path, _ in CELLS.values()}, "a shared-secret route has no cell"
    client = create_app(callers_env()).test_client()
    counts = {"allowed": 0, "denied": 0, "unexpected": 0}
    lines = [f"{'':14}" + " ".join(f"{cell:>22}" for cell in CELLS)]
    for caller, allowed in ALLOWED.items():
        marks = []
        for cell in CELLS:
            response, calls = call(client, empty_directus, caller, cell)
            reads = [c for c in calls if c.request.method == "GET"]
            if response.status_code == 403:
                outcome = "denied"
                [row] = sent_rows(calls)  # the only call a denial makes: its audit row
                assert not reads and len(calls) == 1
                assert response.get_json() == {"success": False, "error": "Forbidden"}
                assert (row["actor"], row["outcome"]) == (f"internal:{caller}", "forbidden")
            elif response.status_code == 404 and reads:
                outcome = "allowed"  # past the guard: it looked and found nothing
            else:
                outcome = f"status {response.status_code}"
            expected = "allowed" if cell in allowed else "denied"
            counts[outcome if outcome == expected else "unexpected"] += 1
            marks.append(outcome if outcome == expected else f"UNEXPECTED {outcome}")
        lines.append(f"{caller:14}" + " ".join(f"{mark:>22}" for mark in marks))
    print("\n".join(lines))
    print(
        f"caller-scope matrix: cases={sum(counts.values())} "
        + " ".join(f"{name}={count}" for name, count in counts.items())
    )
    assert counts["allowed"] and counts["denied"], "the matrix must exercise both outcomes"
    assert sum(counts.values()) == len(ALLOWED) * len(CELLS)
    assert counts["unexpected"] == 0


@pytest.mark.parametrize("secret", ["", "unknown-secret-0123456789", SECRETS["downloader"] + "x"])
def test_an_unknown_secret_is_still_401(empty_directus, secret):
    client = create_app(callers_env()).test_client()
    path, body = CELLS["reveal-download-cred"]
    response = client.post(path, headers={"X-RBAC-SYNC-SECRET": secret}, json=body)
    assert (response.status_code, response.get_json()) == (
        401,
        {"success": False, "error": "Unauthorized"},
    )
    assert len(empty_directus.calls) == 0


def test_a_business_scoped_caller_reads_only_its_business(empty_directus):
    client = create_app(callers_env()).test_client()
    response, calls = call(client, empty_directus, "acme-workers", "end-users globex")
    assert response.status_code == 403
    assert [c.request.method for c in calls] == ["POST"]  # the audit row; nothing was read
    [row] = sent_rows(calls)
    assert row["business_id"] == "globex" and row["detail"] == "needs scope end-users:globex"
    response, calls = call(client, empty_directus, "acme-workers", "end-users acme")
    assert response.status_code == 404
    assert any("business_id" in c.request.url and "acme" in c.request.url for c in calls)


def test_a_business_scope_is_checked_after_validation(empty_directus):
    client = create_app(callers_env()).test_client()
    response = client.post(
        "/api/end-user-credentials/reveal",
        headers=as_caller("acme-workers"),
        json={"businessId": "acme, globex", "endUserId": "alice"},
    )
    assert response.status_code == 400 and len(empty_directus.calls) == 0


def test_audit_rows_name_the_caller(empty_directus):
    client = create_app(callers_env()).test_client()
    for caller, cell in (
        ("downloader", "reveal-download-cred"),
        ("rbac-sync", "reveal"),
        ("session-reader", "get-platform-session"),
        ("acme-workers", "end-users acme"),
        ("creator-sync", "reveal"),
    ):
        response, calls = call(client, empty_directus, caller, cell)
        [row] = sent_rows(calls)
        assert response.status_code == 404
        assert (row["actor"], row["outcome"]) == (f"internal:{caller}", "not_found")


def test_a_denial_is_logged_with_the_caller_and_never_the_secret(empty_directus, capsys):
    client = create_app(callers_env()).test_client()
    assert call(client, empty_directus, "downloader", "reveal")[0].status_code == 403
    logged = capsys.readouterr().err
    [line] = [json.loads(entry) for entry in logged.splitlines() if "denied" in entry]
    assert line["actor"] == "internal:downloader" and line["event"] == "forbidden"
    assert SECRETS["downloader"] not in logged


def test_a_denial_is_403_even_when_its_audit_row_cannot_be_written(directus_wire):
    directus_wire.post(AUDIT, status=503, json={"errors": [{"message": "down"}]})
    client = create_app(callers_env()).test_client()
    response, _ = call(client, directus_wire, "downloader", "reveal")
    assert response.status_code == 403


def test_rotating_one_callers_secret_leaves_the_others_alone(empty_directus):
    old = "downloader-old-secret-0123456789"
    rotating = create_app(callers_env(INTERNAL_CALLER_DOWNLOADER_SECRET_PREVIOUS=old))
    client = rotating.test_client()
    path, body = CELLS["reveal-download-cred"]
    for secret in (SECRETS["downloader"], old):
        response = client.post(path, headers={"X-RBAC-SYNC-SECRET": secret}, json=body)
        assert response.status_code == 404  # allowed, and found nothing
        assert sent_rows(empty_directus.calls)[-1]["actor"] == "internal:downloader"
    # The other callers keep their own secret and scopes.
    assert call(client, empty_directus, "acme-workers", "end-users acme")[0].status_code == 404
    assert (
        call(client, empty_directus, "acme-workers", "reveal-download-cred")[0].status_code == 403
    )
    # Rotation done: the previous secret is refused.
    done = create_app(callers_env()).test_client()
    response = done.post(path, headers={"X-RBAC-SYNC-SECRET": old}, json=body)
    assert response.status_code == 401


def test_every_callers_secrets_are_redacted_from_the_logs(capsys):
    old = "downloader-old-secret-0123456789"
    create_app(callers_env(INTERNAL_CALLER_DOWNLOADER_SECRET_PREVIOUS=old))
    secrets = [*SECRETS.values(), old]
    logging.getLogger("credsvc.test").warning("leaked: %s", " ".join(secrets))
    logged = capsys.readouterr().err
    assert "leaked" in logged and not any(secret in logged for secret in secrets)


def test_every_secret_is_compared_whatever_matches(monkeypatch):
    callers = Config.from_env(
        callers_env(INTERNAL_CALLER_DOWNLOADER_SECRET_PREVIOUS="downloader-old-secret-012345")
    ).callers
    compared = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: compared.append(b) or real(a, b))
    first = callers[0].secrets[0]
    assert auth.identify_caller(first, callers) is callers[0]
    assert sorted(compared) == sorted(s for caller in callers for s in caller.secrets)


# -- process modes --------------------------------------------------------------------------


def mode_env(mode: str) -> dict[str, str]:
    """A valid environment for `mode`."""
    if mode == "worker":  # a worker is refused the key that mints Directus tokens
        return callers_env(CREDSVC_MODE=mode, DIRECTUS_SECRET=None)
    if mode != "ingest":
        return callers_env(CREDSVC_MODE=mode)
    public, signing = generate_keypair()[1], generate_signing_pair()[0]
    return env_for_mode(
        "ingest", CREDENTIALS_INGEST_PUBLIC_KEY=public, CREDENTIALS_INGEST_SIGNING_KEY=signing
    )


# The design, written out by hand: what each mode serves besides health and openapi.
SERVED = {
    "full": {"user_credentials", "internal_credentials", "end_users", "workers"},
    "ingest": {"user_credentials", "end_users"},
    "worker": {"internal_credentials", "workers"},
}


def test_every_mode_has_a_blueprint_table():
    assert set(BLUEPRINTS) == set(MODES) == set(SERVED)


@pytest.mark.parametrize("mode", MODES)
def test_a_mode_registers_exactly_its_blueprints(mode):
    app = create_app(mode_env(mode))
    assert set(app.blueprints) == {"health", "openapi", *SERVED[mode]}
    shared_secret = {path for path, _ in shared_secret_views(app)}
    # Shared-secret routes exactly where callers are configured; never in ingest.
    assert bool(shared_secret) == bool(app.extensions["credsvc"].config.callers)
    assert bool(shared_secret) == (mode != "ingest")


# (method, path, error shape) of one route of each guarded blueprint: 401 where it is served
# (no credentials sent), the JSON 404 where the mode leaves it out.
PROBE_ROUTES = {
    "user_credentials": ("POST", "/api/credentials/create-profile", "success"),
    "internal_credentials": ("POST", "/api/credentials/reveal", "success"),
    "end_users": ("GET", "/v1/end-users/alice/credentials", "ok"),
    "workers": ("POST", "/api/end-user-credentials/reveal", "success"),
}


@pytest.mark.parametrize("mode", MODES)
def test_the_blueprints_a_mode_leaves_out_answer_the_json_404(mode, directus_wire):
    client = create_app(mode_env(mode)).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    for blueprint, (method, path, shape) in PROBE_ROUTES.items():
        response = client.open(path, method=method, json={})
        served = blueprint in SERVED[mode]
        assert response.status_code == (401 if served else 404), (mode, path)
        error = "Not found" if not served else response.get_json()["error"]
        assert response.get_json() == {shape: False, "error": error}, (mode, path)
    assert len(directus_wire.calls) == 0

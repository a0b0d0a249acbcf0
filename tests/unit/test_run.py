"""deploy/run.py (`make run`): a token per role in .env, and only its own token for gunicorn."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from deploy import envfile
from deploy import run as make_run


@pytest.fixture(scope="module")
def run():
    return make_run


ROLE_VARIABLES = (
    "DIRECTUS_TOKEN",
    "DIRECTUS_INGEST_TOKEN",
    "DIRECTUS_WORKER_TOKEN",
    "DIRECTUS_OPERATOR_TOKEN",
)
OLD_ENV = "PORT=3001\nDIRECTUS_TOKEN=the-full-roles-token-0123456789\nDIRECTUS_SECRET=s"


def read(run, path: Path) -> dict[str, str]:
    return envfile.read_env_file(path)


def test_a_new_env_file_has_a_distinct_token_per_role(run, tmp_path):
    path = tmp_path / ".env"
    run.write_env_file(path)
    values = read(run, path)
    assert tuple(run.provision.TOKEN_VARIABLES.values()) == ROLE_VARIABLES
    tokens = [values[name] for name in ROLE_VARIABLES]
    assert all(len(token) >= 32 for token in tokens) and len(set(tokens)) == 4
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run.add_role_tokens(path, environ={}) == []


def test_an_older_env_file_gets_the_missing_tokens_and_keeps_its_own(run, tmp_path):
    path = tmp_path / ".env"
    path.write_text(OLD_ENV)  # no trailing newline
    path.chmod(0o600)
    added = run.add_role_tokens(path, environ={})
    assert added == list(ROLE_VARIABLES[1:])
    values = read(run, path)
    assert values["DIRECTUS_TOKEN"] == "the-full-roles-token-0123456789"
    assert values["DIRECTUS_SECRET"] == "s"
    assert len({values[name] for name in ROLE_VARIABLES}) == 4
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run.add_role_tokens(path, environ={}) == []  # once only
    assert read(run, path) == values


def test_a_token_exported_in_the_shell_is_not_added(run, tmp_path):
    path = tmp_path / ".env"
    path.write_text(OLD_ENV + "\n")
    added = run.add_role_tokens(path, environ={"DIRECTUS_OPERATOR_TOKEN": "exported"})
    assert added == ["DIRECTUS_INGEST_TOKEN", "DIRECTUS_WORKER_TOKEN"]


SETTINGS = {
    "PORT": "3001",
    "DIRECTUS_TOKEN": "full-token",
    "DIRECTUS_INGEST_TOKEN": "ingest-token",
    "DIRECTUS_WORKER_TOKEN": "worker-token",
    "DIRECTUS_OPERATOR_TOKEN": "operator-token",
}


@pytest.mark.parametrize(
    "mode, token",
    [
        ("", "full-token"),
        ("full", "full-token"),
        ("ingest", "ingest-token"),
        (" Worker ", "worker-token"),
        ("operator", "full-token"),  # not a process mode: credsvc refuses it
    ],
)
def test_gunicorn_gets_only_the_token_of_its_mode(run, mode, token):
    env = run.server_env({**SETTINGS, "CREDSVC_MODE": mode})
    assert env["DIRECTUS_TOKEN"] == token
    assert not set(ROLE_VARIABLES[1:]) & set(env)
    others = set(SETTINGS.values()) - {token, "3001"}
    assert not others & set(env.values())


SECRETS = {
    "DIRECTUS_ADMIN_EMAIL": "admin@example.com",
    "DIRECTUS_ADMIN_PASSWORD": "admin-password-0123456789",
    "DB_PASSWORD": "database-password-0123456789",
    "CACHE_REDIS": "redis://:cache-password@127.0.0.1:6379",
    "DIRECTUS_SECRET": "directus-secret-0123456789abcdef",
    "RBAC_SYNC_SECRET": "sync-secret-0123456789abcdef",
    "INTERNAL_CALLERS": "downloader",
    "INTERNAL_CALLER_DOWNLOADER_SECRET": "downloader-secret-0123456789",
    "CREDENTIALS_ENCRYPTION_KEY": "11" * 32,
}


@pytest.mark.parametrize(
    "mode, withheld",
    [
        ("full", set()),
        (
            "ingest",
            {
                "DIRECTUS_SECRET",
                "RBAC_SYNC_SECRET",
                "INTERNAL_CALLERS",
                "INTERNAL_CALLER_DOWNLOADER_SECRET",
                "CREDENTIALS_ENCRYPTION_KEY",
            },
        ),
        ("worker", {"DIRECTUS_SECRET"}),
    ],
)
def test_gunicorn_never_gets_what_its_mode_may_not_hold(run, mode, withheld):
    """An ingest process gets nothing that reveals; a worker cannot mint user tokens."""
    env = run.server_env({**SETTINGS, **SECRETS, "CREDSVC_MODE": mode})
    directus_only = {
        "DIRECTUS_ADMIN_EMAIL",
        "DIRECTUS_ADMIN_PASSWORD",
        "DB_PASSWORD",
        "CACHE_REDIS",
    }
    assert set(SECRETS) - set(env) == withheld | directus_only


def test_make_run_reads_a_value_with_an_inline_comment_as_flask_does(run, tmp_path):
    # `flask` (python-dotenv) ends an unquoted value at " #"; `make run` must read the same.
    path = tmp_path / ".env"
    run.write_env_file(path)
    text = path.read_text().replace("PORT=3001\n", "PORT=3001  # credsvc's port\n")
    path.write_text(
        text.replace(
            "DIRECTUS_URL=http://127.0.0.1:8055\n", "DIRECTUS_URL=http://127.0.0.1:8055 # local\n"
        )
    )
    settings = run.load_settings(path, {})
    assert settings["PORT"] == "3001"
    assert run.directus_address(settings) == ("http://127.0.0.1:8055", 8055)


def key_lines_removed(path: Path) -> str:
    return "".join(
        line
        for line in path.read_text().splitlines(keepends=True)
        if not line.startswith(("CREDENTIALS_ENCRYPTION_KEY=", "CREDENTIALS_KEYS="))
    )


def test_a_ring_without_the_first_key_is_enough_after_a_rotation(run, tmp_path):
    # docs/key-rotation.md ends with the first key retired: only CREDENTIALS_KEYS is left.
    path = tmp_path / ".env"
    run.write_env_file(path)
    path.write_text(key_lines_removed(path) + "CREDENTIALS_KEYS=k1:" + "ab" * 32 + "\n")
    settings = run.load_settings(path, {})
    assert "CREDENTIALS_ENCRYPTION_KEY" not in settings
    assert settings["CREDENTIALS_KEYS"].startswith("k1:")


def test_without_any_key_make_run_says_which_settings_would_do(run, tmp_path):
    path = tmp_path / ".env"
    run.write_env_file(path)
    path.write_text(key_lines_removed(path))
    with pytest.raises(run.StackError, match="CREDENTIALS_ENCRYPTION_KEY or CREDENTIALS_KEYS"):
        run.load_settings(path, {})

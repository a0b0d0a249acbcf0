"""deploy/directus/app.py: the Directus app's config vars mapped to Directus's settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy.directus import app as directus_app
from deploy.directus import directusctl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app():
    return directus_app


URL = "postgres://u%40x:p%3Aw@db.example.net:6543/d1"


def test_database_url_is_split_with_tls_not_verified_by_default(app):
    assert app.directus_settings({"DATABASE_URL": URL}) == {
        "DB_CLIENT": "pg",
        "DB_HOST": "db.example.net",
        "DB_PORT": "6543",
        "DB_DATABASE": "d1",
        "DB_USER": "u@x",
        "DB_PASSWORD": "p:w",
        "DB_SSL__REJECT_UNAUTHORIZED": "false",
    }


@pytest.mark.parametrize(
    ("mode", "expected"), [("verify", "true"), ("VERIFY", "true"), ("require", "false")]
)
def test_database_ssl_modes(app, mode, expected):
    settings = app.directus_settings({"DATABASE_URL": URL, "DATABASE_SSL": mode})
    assert settings["DB_SSL__REJECT_UNAUTHORIZED"] == expected


def test_database_ssl_disable_sets_no_tls(app):
    settings = app.directus_settings({"DATABASE_URL": URL, "DATABASE_SSL": "disable"})
    assert not any(k.startswith("DB_SSL") for k in settings)
    assert settings["DB_PORT"] == "6543"


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"DATABASE_URL": "mysql://u:p@h/d"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://h/d"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://u:p@h/"}, "DATABASE_URL"),
        ({"DATABASE_URL": URL, "DATABASE_SSL": "prefer"}, "DATABASE_SSL=prefer"),
        ({"DATABASE_URL": URL, "DB_HOST": "other"}, "DB_HOST"),
        ({"REDIS_URL": "http://h:1"}, "REDIS_URL"),
    ],
)
def test_bad_config_vars_are_named(app, environ, names):
    with pytest.raises(app.ConfigError, match=names):
        app.directus_settings(environ)


def test_redis_urls(app):
    assert app.directus_settings({"REDIS_URL": "redis://127.0.0.1:6390"}) == {
        "REDIS": "redis://127.0.0.1:6390"
    }
    assert app.directus_settings({"REDIS_URL": "rediss://:s3cret@r.example.net:7000"}) == {
        "REDIS_HOST": "r.example.net",
        "REDIS_PORT": "7000",
        "REDIS_PASSWORD": "s3cret",
        "REDIS_TLS__REJECT_UNAUTHORIZED": "false",
    }


def test_directus_settings_pass_through_and_nothing_else(app):
    environ = {
        "SYNCHRONIZATION_STORE": "redis",
        "CACHE_ENABLED": "true",
        "PUBLIC_URL": "https://directus.example.net",
        "CREDENTIALS_ENCRYPTION_KEY": "x" * 64,
        "DIRECTUS_ADMIN_PASSWORD": "pw",
        "REDIS_URL": "redis://h:1",
    }
    assert app.directus_settings(environ) == {
        "SYNCHRONIZATION_STORE": "redis",
        "CACHE_ENABLED": "true",
        "PUBLIC_URL": "https://directus.example.net",
        "REDIS": "redis://h:1",
    }


def test_process_env(app, tmp_path):
    environ = {
        "DATABASE_URL": URL,
        "DIRECTUS_SECRET": "s" * 40,
        "DIRECTUS_DATA_DIR": str(tmp_path),
        "PUBLIC_URL": "https://directus.example.net",
    }
    env = app.process_env(environ, port=5000, host="0.0.0.0")
    assert (env["HOST"], env["PORT"], env["SECRET"]) == ("0.0.0.0", "5000", "s" * 40)
    assert env["PUBLIC_URL"] == "https://directus.example.net"
    assert env["DB_CLIENT"] == "pg" and "DB_FILENAME" not in env
    assert env["CONFIG_PATH"] == "/dev/null"


@pytest.mark.parametrize("command", ["release", "schema-apply", "web"])
def test_missing_config_vars_exit_2_naming_them(app, command, capsys, monkeypatch):
    for name in ("DIRECTUS_SECRET", "PORT", "DIRECTUS_ADMIN_EMAIL", "DIRECTUS_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert app.main([command]) == 2
    out = capsys.readouterr().out
    assert "config error: missing config vars:" in out


def test_usage(app, capsys):
    assert app.main(["deploy"]) == 2


def test_the_release_servers_own_url_wins_over_public_url(app, tmp_path):
    environ = {
        "DIRECTUS_SECRET": "s" * 40,
        "DIRECTUS_DATA_DIR": str(tmp_path),
        "PUBLIC_URL": "https://directus.example.net",
    }
    env = app.process_env(environ, port=5001, host="127.0.0.1", public_url="http://127.0.0.1:5001")
    assert env["PUBLIC_URL"] == "http://127.0.0.1:5001"


def test_schema_apply_needs_the_secret_too(app, capsys, monkeypatch):
    monkeypatch.setenv("DIRECTUS_ADMIN_EMAIL", "admin@example.com")
    monkeypatch.setenv("DIRECTUS_ADMIN_PASSWORD", "pw")
    monkeypatch.delenv("DIRECTUS_SECRET", raising=False)
    assert app.main(["schema-apply"]) == 2
    assert "missing config vars: DIRECTUS_SECRET" in capsys.readouterr().out


def test_python_m_deploy_directus_is_the_apps_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "deploy.directus", "nonsense"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "usage: python -m deploy.directus {web|schema-apply|release|env}" in done.stderr


def test_directusctl_finds_the_apps_package_json_here():
    # In the repository the app's folder is deploy/directus; in a bundle, the bundle's root.
    assert directusctl.APP_HOME == ROOT / "deploy" / "directus"
    assert directusctl.CLI_JS.is_relative_to(directusctl.APP_HOME / "node_modules")


def test_the_bundle_ships_only_the_packages_python_sources(tmp_path, monkeypatch):
    from deploy.directus import bundle

    package = tmp_path / "src" / "credsvc"
    (package / "crypto").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "crypto" / "keyring.py").write_text("")
    for stray in (".env", "keys.txt", ".keyring.py.swp", "crypto/secret.pem"):
        (package / stray).write_text("SECRET")
    (package / "linked.py").symlink_to(tmp_path / "elsewhere.py")
    monkeypatch.setattr(bundle, "PACKAGE", package)
    files = bundle.build(tmp_path / "app")
    shipped = {name for name in files if name.startswith("credsvc/")}
    assert shipped == {"credsvc/__init__.py", "credsvc/crypto/keyring.py"}


def test_the_directus_environment_names_the_batch_extension_and_its_settings(tmp_path):
    env = directusctl.directus_env(data_dir=tmp_path, port=8055, secret="s", passthrough=False)
    extension = Path(env["EXTENSIONS_PATH"]) / "credsvc-batch"
    assert (extension / "package.json").is_file() and (extension / "index.mjs").is_file()
    assert {k: env[k] for k in directusctl.BATCH_SETTINGS} == directusctl.BATCH_SETTINGS
    assert directusctl.data_dir_of(env) == tmp_path

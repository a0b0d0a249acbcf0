"""deploy/envfile.py: `.env` is read as the `flask` CLI reads it (python-dotenv)."""

from __future__ import annotations

import os

import pytest
from flask.cli import load_dotenv

from deploy import envfile

LINES = [
    "# a comment line",
    "PORT=3001 # the port credsvc listens on",
    "export DIRECTUS_URL=http://127.0.0.1:8055",
    "QUOTED='a value # not a comment'",
    'DOUBLE="two words"  # a comment after quotes',
    "HASH_IN_VALUE=abc#def",
    "EMPTY=",
]


@pytest.fixture
def dotenv(tmp_path):
    path = tmp_path / ".env"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_an_inline_comment_is_not_part_of_the_value(dotenv):
    values = envfile.read_env_file(dotenv)
    assert values["PORT"] == "3001"
    assert values["DOUBLE"] == "two words"


def test_quotes_and_hashes_inside_a_value_are_kept(dotenv):
    values = envfile.read_env_file(dotenv)
    assert values["QUOTED"] == "a value # not a comment"
    assert values["HASH_IN_VALUE"] == "abc#def"
    assert values["DIRECTUS_URL"] == "http://127.0.0.1:8055"
    assert values["EMPTY"] == ""


def test_make_run_reads_what_the_flask_cli_reads(dotenv, monkeypatch):
    names = [line.split("=")[0].removeprefix("export ") for line in LINES if "=" in line]
    for name in names:
        monkeypatch.delenv(name, raising=False)
    assert load_dotenv(dotenv)  # what `flask --app wsgi ...` does with the repository's .env
    flask_sees = {name: os.environ[name] for name in names}
    assert envfile.read_env_file(dotenv) == flask_sees


def test_exported_variables_win_over_the_file(dotenv):
    merged = envfile.settings({"PORT": "4000", "OTHER": "x"}, dotenv)
    assert merged["PORT"] == "4000"
    assert merged["OTHER"] == "x"
    assert merged["DIRECTUS_URL"] == "http://127.0.0.1:8055"


def test_a_missing_file_is_no_settings(tmp_path):
    assert envfile.read_env_file(tmp_path / "absent") == {}
    assert envfile.settings({"A": "1"}, tmp_path / "absent") == {"A": "1"}

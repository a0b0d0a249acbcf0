"""deploy/localdb.py: a missing PostgreSQL or Redis is an error that says what to install."""

from __future__ import annotations

import pytest

from deploy import localdb


def test_missing_postgresql_names_the_package(monkeypatch):
    monkeypatch.setattr(localdb, "PG_BIN_GLOB", "/nonexistent/postgresql/*/bin")
    with pytest.raises(localdb.LocalServerError, match="apt-get install postgresql"):
        localdb.Postgres()


def test_missing_redis_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(localdb.LocalServerError, match="apt-get install redis-server"):
        localdb.Redis()


def test_the_newest_postgresql_is_chosen(monkeypatch, tmp_path):
    for version in ("9", "15", "13"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "initdb").touch()
    monkeypatch.setattr(localdb, "PG_BIN_GLOB", f"{tmp_path}/*/bin")
    assert localdb.pg_bin_dir() == tmp_path / "15" / "bin"

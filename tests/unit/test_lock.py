"""requirements.txt (the deploy's pinned dependencies) agrees with setup.cfg (deploy/lock.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from deploy import lock as lock_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lock():
    return lock_module


def pins() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pairs = [line.split("==") for line in lines if line and not line.startswith("#")]
    assert all(len(pair) == 2 for pair in pairs), "requirements.txt: name==version lines only"
    return {canonicalize_name(name): version for name, version in pairs}


def test_every_dependency_of_setup_cfg_is_pinned_within_its_range(lock):
    pinned = pins()
    for requirement in lock.top_level():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is in setup.cfg but not in requirements.txt: make lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements.txt pins {name}=={pinned[name]}, outside setup.cfg's {requirement}"
        )


def test_the_lock_holds_exactly_what_setup_cfg_needs(lock):
    assert set(pins()) == set(lock.resolve(lock.top_level())), "run `make lock`"


def test_the_floors_the_code_relies_on(lock):
    wanted = {canonicalize_name(r.name): r.specifier for r in lock.top_level()}
    assert not wanted["cryptography"].contains("46.0.0")  # HPKE ships in cryptography 47
    assert "urllib3" in wanted  # credsvc.directus configures urllib3's Retry itself
    assert all(any(s.operator == "<" for s in spec) for spec in wanted.values()), wanted

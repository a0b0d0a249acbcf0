"""Two Directus on one PostgreSQL with Redis, behind two credsvc (gunicorn): tests/multi/stack.py.

PostgreSQL and Redis must be installed (`make` installs them from deploy/apt-packages.txt), and
Directus too: anything missing fails the session, never skips it.
"""

from __future__ import annotations

import time

import pytest

from deploy.localdb import LocalServerError
from tests.multi import stack as stacks


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config):
    started = time.monotonic()
    try:
        built = stacks.build(
            tmp_path_factory.mktemp("multi"),
            directus=2,
            credsvc=2,
            template_dir=pytestconfig.cache.mkdir("directus-pg-template"),
        )
    except (LocalServerError, stacks.directusctl.DirectusError) as exc:
        pytest.fail(str(exc), pytrace=False)
    print(
        f"\nmulti-instance stack up in {time.monotonic() - started:.1f} s: Directus "
        + ", ".join(n.url for n in built.directus)
        + "; credsvc "
        + ", ".join(n.url for n in built.credsvc)
    )
    try:
        yield built
    finally:
        built.stop()

"""The credsvc-batch Directus extension registers a route only when its settings are complete,
so that an incomplete setup answers 404 ROUTE_NOT_FOUND and credsvc falls back to the item API
(instead of failing every audit row). Loads the real extension module with Node 22."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from deploy.directus import directusctl

EXTENSION = directusctl.EXTENSIONS / "credsvc-batch" / "index.mjs"
REGISTER = """
const extension = (await import(process.argv[1])).default;
const routes = [];
const router = { post: (path) => routes.push(path) };
extension.handler(router, { database: null, env: {}, services: {}, logger: { warn() {} } });
console.log(JSON.stringify(routes));
"""


def routes(**settings: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDSVC_")}
    proc = subprocess.run(
        [str(directusctl.NODE_BIN), "--input-type=module", "-e", REGISTER, str(EXTENSION)],
        env={**env, **settings},
        cwd=directusctl.APP_HOME,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


BOTH = ["/guarded-update/:collection", "/append/:collection"]


@pytest.mark.parametrize(
    "missing, expected",
    [
        (None, BOTH),
        ("CREDSVC_BATCH_MAX_ROWS", []),
        ("CREDSVC_GUARD_FIELD", ["/append/:collection"]),
        ("CREDSVC_GUARDED", ["/append/:collection"]),
        ("CREDSVC_APPEND_ONLY", ["/guarded-update/:collection"]),
    ],
)
def test_a_route_is_served_only_with_all_its_settings(missing, expected):
    settings = {k: v for k, v in directusctl.BATCH_SETTINGS.items() if k != missing}
    assert routes(**settings) == expected

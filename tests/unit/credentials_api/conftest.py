"""Fixtures of the credentials-API unit tests."""

import json

import pytest

from tests.unit.credentials_api.wire import AUDIT


@pytest.fixture(autouse=True)
def audit_rows(directus_wire):
    """Audit writes of decrypting reads; returns the rows sent."""
    call = directus_wire.post(AUDIT, json={"data": {}})
    return lambda: [json.loads(c.request.body) for c in call.calls]

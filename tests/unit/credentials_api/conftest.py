"""Fixtures of the credentials-API unit tests."""

import pytest

from tests.conftest import AUDIT, sent_audit_rows


@pytest.fixture(autouse=True)
def audit_rows(directus_wire):
    """Audit writes of decrypting reads; returns the rows sent."""
    call = directus_wire.post(AUDIT, json={"data": {}})
    return lambda: sent_audit_rows(call.calls)

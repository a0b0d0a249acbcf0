"""Fixtures of the end-user API unit tests."""

import pytest

from tests.conftest import AUDIT, sent_audit_rows


@pytest.fixture
def audit_rows(directus_wire):
    call = directus_wire.post(AUDIT, json={"data": {}})
    return lambda: sent_audit_rows(call.calls)

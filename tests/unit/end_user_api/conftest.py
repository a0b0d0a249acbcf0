"""Fixtures of the end-user API unit tests."""

import pytest

from tests.unit.end_user_api.wire import AUDIT, sent_json


@pytest.fixture
def audit_rows(directus_wire):
    call = directus_wire.post(AUDIT, json={"data": {}})
    return lambda: [sent_json(c) for c in call.calls]

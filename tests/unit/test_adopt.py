"""deploy/directus/adopt.py without a Directus: the comparison and the derivation rules.
(tests/integration/test_adopt.py runs the command against a real one.)"""

from __future__ import annotations

import copy

import pytest

from credsvc.model import end_user_slot, owner_key
from deploy.directus import adopt

EXPECTED = adopt.expected_schema()
U1, U2 = "6f0c6f0c-0000-4000-8000-000000000001", "6f0c6f0c-0000-4000-8000-000000000002"


def live_copy() -> adopt.Schema:
    return copy.deepcopy(EXPECTED)


def only(findings, where):
    return [(f.status, f.message) for f in findings if f.where == where]


def test_the_expected_schema_is_credsvcs_snapshot():
    assert {"platform_connections", "download_credentials", "platform_sessions"} <= set(
        EXPECTED.collections
    )
    assert EXPECTED.fields["platform_connections"]["owner_platform"]["schema"]["is_unique"]
    for collection, field in adopt.DERIVED:
        assert field in EXPECTED.fields[collection], (collection, field)


def test_an_identical_schema_has_no_findings():
    assert adopt.schema_findings(EXPECTED, live_copy()) == []


def test_missing_collection_field_index_unique_and_accountability_are_to_add():
    live = live_copy()
    del live.collections["audit_log"]
    del live.fields["platform_connections"]["owner_platform"]
    live.fields["platform_connections"]["user_id"]["schema"]["is_indexed"] = False
    live.fields["end_user_credentials"]["slot"]["schema"]["is_unique"] = False
    live.collections["platform_sessions"]["meta"]["accountability"] = "all"
    findings = adopt.schema_findings(EXPECTED, live)
    assert only(findings, "audit_log") == [
        (adopt.TO_ADD, "collection missing: will be created empty")
    ]
    assert only(findings, "platform_connections.owner_platform") == [
        (adopt.TO_ADD, "field missing (string)")
    ]
    assert only(findings, "platform_connections.user_id") == [(adopt.TO_ADD, "index missing")]
    assert only(findings, "end_user_credentials.slot") == [(adopt.TO_ADD, adopt.UNIQUE_MISSING)]
    [(status, message)] = only(findings, "platform_sessions")
    assert status == adopt.TO_ADD and "accountability 'all'" in message


def test_a_unique_column_needs_no_separate_index():
    live = live_copy()
    schema = live.fields["platform_connections"]["user_id"]["schema"]
    schema.update(is_indexed=False, is_unique=True)
    assert only(adopt.schema_findings(EXPECTED, live), "platform_connections.user_id") == []


@pytest.mark.parametrize(
    "field, live_type, status",
    [
        ("user_id", "uuid", adopt.KEPT),  # Directus uuid where credsvc has a 36-char string
        ("platform_username", "text", adopt.KEPT),
        ("captured_at", "dateTime", adopt.KEPT),
        ("encrypted_credentials", "string", adopt.BLOCKED),  # ciphertexts outgrow 255
        ("user_id", "integer", adopt.BLOCKED),
        ("cookie_count", "string", adopt.BLOCKED),
    ],
)
def test_types_credsvc_can_use_are_kept_others_block(field, live_type, status):
    collection = "platform_sessions" if field in ("captured_at", "cookie_count") else None
    collection = collection or "platform_connections"
    live = live_copy()
    live.fields[collection][field]["type"] = live_type
    [(found, message)] = only(adopt.schema_findings(EXPECTED, live), f"{collection}.{field}")
    assert found == status and live_type in message


def test_an_integer_primary_key_blocks():
    live = live_copy()
    live.fields["platform_connections"]["id"]["type"] = "integer"
    [(status, message)] = only(adopt.schema_findings(EXPECTED, live), "platform_connections.id")
    assert status == adopt.BLOCKED and "primary key" in message


def test_nullability_not_null_is_relaxed_nullable_is_kept():
    live = live_copy()
    live.fields["platform_connections"]["platform_username"]["schema"]["is_nullable"] = False
    live.fields["platform_connections"]["user_id"]["schema"]["is_nullable"] = True
    findings = adopt.schema_findings(EXPECTED, live)
    assert only(findings, "platform_connections.platform_username")[0][0] == adopt.TO_ADD
    assert only(findings, "platform_connections.user_id")[0][0] == adopt.KEPT


def test_extra_columns_are_kept_and_named():
    live = live_copy()
    live.fields["platform_connections"]["legacy_status"] = {
        "field": "legacy_status",
        "type": "string",
        "schema": {"is_nullable": True},
    }
    assert only(adopt.schema_findings(EXPECTED, live), "platform_connections.legacy_status") == [
        (adopt.KEPT, "not in credsvc's schema; unused")
    ]


def rows(*specs):
    return [{"id": i, "user_id": u, "platform": p, **extra} for i, u, p, extra in specs]


def test_backfill_fills_only_empty_values_with_credsvcs_own_key():
    found = adopt.derived_findings(
        "platform_connections",
        "owner_platform",
        rows(
            ("a", U1, "instagram", {"owner_platform": None}),
            ("b", U2, "instagram", {}),
            ("c", U1, "tiktok", {"owner_platform": owner_key(U1, "tiktok")}),
        ),
        unique=True,
    )
    assert found.backfill == [
        {"id": "a", "owner_platform": owner_key(U1, "instagram")},
        {"id": "b", "owner_platform": owner_key(U2, "instagram")},
    ]
    assert not found.duplicates
    assert [(f.status, f.message) for f in found.findings] == [(adopt.TO_ADD, "2 rows to backfill")]


def test_duplicates_are_reported_by_id_and_left_untouched():
    found = adopt.derived_findings(
        "platform_connections",
        "owner_platform",
        rows(
            ("a", U1, "youtube", {}),
            ("b", U1, "youtube", {}),
            ("c", U2, "youtube", {}),
            ("d", U1, "tiktok", {"owner_platform": owner_key(U1, "tiktok")}),
            ("e", U1, "tiktok", {}),
        ),
        unique=True,
    )
    assert found.duplicates
    assert found.backfill == [{"id": "c", "owner_platform": owner_key(U2, "youtube")}]
    blocked = [f.message for f in found.findings if f.status == adopt.BLOCKED]
    assert len(blocked) == 2
    assert blocked[0].startswith("rows a, b belong to the same user_id/platform")
    assert blocked[1].startswith("rows d, e belong to the same")
    assert "rerun adopt --apply" in blocked[0]


def test_a_disagreeing_value_is_never_overwritten():
    found = adopt.derived_findings(
        "platform_connections",
        "owner_platform",
        rows(("a", U1, "instagram", {"owner_platform": owner_key(U2, "instagram")})),
        unique=True,
    )
    assert found.backfill == []
    [finding] = found.findings
    assert finding.status == adopt.BLOCKED and "relabelled" in finding.message


def test_a_row_without_its_owner_columns_cannot_be_derived():
    found = adopt.derived_findings(
        "platform_connections",
        "owner_platform",
        rows(("a", None, "instagram", {}), ("b", U1, "", {})),
        unique=True,
    )
    assert found.backfill == []
    assert [f.status for f in found.findings] == [adopt.BLOCKED, adopt.BLOCKED]


def test_end_user_slots_are_derived_like_credsvc():
    found = adopt.derived_findings(
        "end_user_credentials",
        "slot",
        [{"id": "a", "business_id": "biz", "end_user_id": "bob", "field": "password"}],
        unique=True,
    )
    assert found.backfill == [{"id": "a", "slot": end_user_slot("biz", "bob", "password")}]


def test_the_report_exit_state_counts_only_open_findings():
    kept = adopt.Finding(adopt.KEPT, "x.y", "nullable")
    assert adopt.Report([], [kept]).complete
    for status in adopt.OPEN:
        assert not adopt.Report([], [kept, adopt.Finding(status, "x", "m")]).complete


# -- audit_log: its NOT NULL columns are load-bearing, never relaxed or added nullable -------------

AUDIT_NOT_NULL = ("occurred_at", "action", "outcome")


def test_the_audit_not_null_columns_are_credsvcs():
    from credsvc.services.audit import REQUIRED_FIELDS

    schema = EXPECTED.fields["audit_log"]
    not_null = tuple(
        name
        for name, spec in schema.items()
        if spec["schema"].get("is_nullable") is False and not spec["schema"].get("is_primary_key")
    )
    assert not_null == REQUIRED_FIELDS == AUDIT_NOT_NULL


@pytest.mark.parametrize("field", AUDIT_NOT_NULL)
def test_a_nullable_required_audit_column_blocks_with_what_to_do(field):
    live = live_copy()
    live.fields["audit_log"][field]["schema"]["is_nullable"] = True
    [(status, message)] = only(adopt.schema_findings(EXPECTED, live), f"audit_log.{field}")
    assert status == adopt.BLOCKED
    assert "NOT NULL" in message and "is_nullable" in message  # says how to fix it
    assert not adopt.Report([], adopt.schema_findings(EXPECTED, live)).complete


@pytest.mark.parametrize("field", AUDIT_NOT_NULL)
def test_a_missing_required_audit_column_blocks_and_is_never_added_nullable(field):
    live = live_copy()
    del live.fields["audit_log"][field]
    [(status, message)] = only(adopt.schema_findings(EXPECTED, live), f"audit_log.{field}")
    assert status == adopt.BLOCKED and "NOT NULL" in message

    class Recorder:
        def __init__(self):
            self.calls = []

        def call(self, method, path, json=None, **_):
            self.calls.append((method, path, json))
            return {}

    api = Recorder()
    adopt.apply_schema_changes(api, EXPECTED, live)
    assert not [c for c in api.calls if c[1].startswith("/fields/audit_log")], api.calls


def test_other_collections_still_get_missing_fields_added_nullable():
    live = live_copy()
    del live.fields["platform_connections"]["owner_platform"]
    calls = []

    class Recorder:
        def call(self, method, path, json=None, **_):
            calls.append((method, path, json))
            return {}

    adopt.apply_schema_changes(Recorder(), EXPECTED, live)
    [(method, path, payload)] = calls
    assert (method, path) == ("POST", "/fields/platform_connections")
    assert payload["schema"]["is_nullable"] is True

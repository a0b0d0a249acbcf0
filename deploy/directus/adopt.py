#!/usr/bin/env python3
"""Adopt an existing Directus (the one the Node service used) for credsvc, keeping its data.

    .venv/bin/python -m deploy.directus.adopt                    dry run: report what differs
    .venv/bin/python -m deploy.directus.adopt --apply            add what is missing
    ... --database-env /path/to/directus/.env                    also check (and with --apply,
                                                                 install) the rewrap guards

It reads DIRECTUS_URL and an admin login (DIRECTUS_ADMIN_TOKEN, or DIRECTUS_ADMIN_EMAIL and
DIRECTUS_ADMIN_PASSWORD) from the environment, then from the repository's .env. Everything goes
through the REST API except the rewrap guard triggers (guards.mjs), which live in the database:
`--database-env` names a dotenv file holding that Directus's DB_* settings (DB_CLIENT,
DB_FILENAME or DB_HOST/DB_DATABASE/...), as its own server reads them.

credsvc's schema is deploy/directus/schema.yaml (what `make run` applies). Against it, adopt
  - creates the collections that are missing (api_keys, end_user_credentials, audit_log, ...);
  - adds missing fields (nullable: a NOT NULL column would refuse the Node service's inserts
    while both run; credsvc itself always writes them; except audit_log's NOT NULL columns,
    which it never adds or accepts nullable: that blocks, see STRICT_NOT_NULL), indexes and
    unique constraints, sets
    accountability to "activity", and relaxes a NOT NULL credsvc may leave empty;
  - backfills the derived columns (DERIVED: platform_connections.owner_platform, ...) where they
    are empty, never overwriting a value;
  - installs the rewrap guard triggers (with --database-env), last, since a SQLite table rebuilt
    by a schema change loses its triggers.
It never deletes or rewrites data and never changes a column's type. What it cannot do is
reported with what the operator must do: two connections of one owner and platform (the unique
column cannot be added then), a row whose derived column disagrees with its owner columns, a type
credsvc cannot use.

Interrupted, or stopped by an error half-way? Run it again: every step looks before it acts.

Exit status: 0 nothing left to do; 2 differences remain (a dry run that found some, or what
--apply could not fix); 1 Directus or the database could not be read.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from credsvc import model
from credsvc.model import END_USER_CREDENTIALS, PROFILES
from credsvc.services import audit
from deploy import envfile
from deploy.directus import directusctl
from deploy.directus.provision import ProvisionError, _Admin, admin_login

# Columns credsvc computes from other columns of the row: (collection, field) -> (source
# columns, function). The functions are credsvc's own (credsvc.model), so a backfilled value is
# exactly what credsvc would have written.
DERIVED: dict[tuple[str, str], tuple[tuple[str, ...], Callable[..., str]]] = {
    (PROFILES.collection, "owner_platform"): (("user_id", "platform"), model.owner_key),
    (END_USER_CREDENTIALS.collection, "end_user_hash"): (("end_user_id",), model.end_user_hash),
    (END_USER_CREDENTIALS.collection, "slot"): (
        ("business_id", "end_user_id", "field"),
        model.end_user_slot,
    ),
}
# A live type credsvc reads and writes as well as its own: live -> the credsvc types it serves.
COMPATIBLE_TYPES = {
    "uuid": {"string"},  # a Directus uuid column holds the 36-character form credsvc writes
    "text": {"string"},
    "dateTime": {"timestamp"},
}
# The keys of a field's `schema` that POST/PATCH /fields take.
FIELD_SCHEMA_KEYS = (
    "max_length",
    "numeric_precision",
    "numeric_scale",
    "default_value",
    "is_nullable",
    "is_unique",
    "is_indexed",
    "is_primary_key",
    "has_auto_increment",
)
# Collections whose NOT NULL columns are load-bearing: an audit row without its time, action or
# outcome is no record, so adopt never adds or relaxes them nullable there; a nullable one blocks.
STRICT_NOT_NULL = frozenset({audit.COLLECTION})
PAGE = 500  # rows read per request
BATCH = 100  # rows updated per request (one all-or-nothing PATCH)

# Finding.status: what adopt does or did about a difference.
TO_ADD = "to add"  # --apply adds it
ADDED = "added"  # --apply added it in this run
BLOCKED = "blocked"  # needs the operator; the message says what to do
KEPT = "kept"  # a difference credsvc works with; left as is
UNCHECKED = "unchecked"  # could not be checked without --database-env
OPEN = (TO_ADD, BLOCKED, UNCHECKED)
UNIQUE_MISSING = "unique constraint missing"


@dataclass(frozen=True)
class Finding:
    status: str
    where: str  # "collection" or "collection.field"
    message: str

    def line(self) -> str:
        return f"  [{self.status}] {self.where}: {self.message}"


# --- credsvc's schema and the live one --------------------------------------------------------


@dataclass
class Schema:
    """Collections and fields as a snapshot (schema.yaml) or GET /collections + /fields has them."""

    collections: dict[str, dict[str, Any]]  # name -> {"collection", "meta", "schema"}
    fields: dict[str, dict[str, dict[str, Any]]]  # collection -> field -> {"type", "meta", ...}


def expected_schema(snapshot: Path = directusctl.SCHEMA_FILE) -> Schema:
    data = yaml.safe_load(snapshot.read_text(encoding="utf-8"))
    return _schema(data.get("collections") or [], data.get("fields") or [])


def live_schema(api: _Admin) -> Schema:
    collections = [c for c in api.call("GET", "/collections") if c.get("schema")]
    fields = api.call("GET", "/fields")
    return _schema(collections, fields)


def _schema(collections: Iterable[dict], fields: Iterable[dict]) -> Schema:
    found = {c["collection"]: c for c in collections if not c["collection"].startswith("directus_")}
    by_collection: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in found}
    for f in fields:
        if f["collection"] in by_collection and f.get("schema"):  # aliases have no column
            by_collection[f["collection"]][f["field"]] = f
    return Schema(found, by_collection)


# --- differences ------------------------------------------------------------------------------


def schema_findings(expected: Schema, live: Schema) -> list[Finding]:
    """What differs between credsvc's schema and the live one, collection by collection."""
    findings: list[Finding] = []
    for name, spec in expected.collections.items():
        if name not in live.collections:
            findings.append(Finding(TO_ADD, name, "collection missing: will be created empty"))
            continue
        want = (spec.get("meta") or {}).get("accountability")
        have = (live.collections[name].get("meta") or {}).get("accountability", "all")
        if want != have:
            findings.append(
                Finding(
                    TO_ADD,
                    name,
                    f"accountability {have!r}, credsvc's is {want!r} (no copies of ciphertexts "
                    "in directus_revisions); earlier revisions stay: see docs/migration.md",
                )
            )
        live_fields = live.fields.get(name, {})
        for field, want_field in expected.fields.get(name, {}).items():
            have_field = live_fields.get(field)
            where = f"{name}.{field}"
            if have_field is None and _strict_not_null(name, want_field):
                findings.append(
                    Finding(
                        BLOCKED,
                        where,
                        f"field missing ({want_field['type']}); it must be NOT NULL and adopt "
                        "never adds it nullable: add it yourself with schema.is_nullable false "
                        f"(POST /fields/{name}; on a table with rows, give a default_value or "
                        "archive and empty the table first), then rerun adopt",
                    )
                )
            elif have_field is None:
                findings.append(Finding(TO_ADD, where, f"field missing ({want_field['type']})"))
            else:
                findings.extend(_field_findings(where, want_field, have_field))
        for field in sorted(set(live_fields) - set(expected.fields.get(name, {}))):
            findings.append(Finding(KEPT, f"{name}.{field}", "not in credsvc's schema; unused"))
    return findings


def _field_findings(where: str, want: dict[str, Any], have: dict[str, Any]) -> list[Finding]:
    want_schema, have_schema = want["schema"], have["schema"]
    if want_schema.get("is_primary_key"):
        if not have_schema.get("is_primary_key") or have["type"] not in ("uuid", "string"):
            return [
                Finding(
                    BLOCKED,
                    where,
                    f"primary key {have['type']}, credsvc's is a uuid: migrate by hand",
                )
            ]
        return []
    findings = []
    if have["type"] != want["type"]:
        if want["type"] in COMPATIBLE_TYPES.get(have["type"], ()):
            findings.append(Finding(KEPT, where, f"type {have['type']} ({want['type']}): works"))
        else:
            findings.append(
                Finding(
                    BLOCKED,
                    where,
                    f"type {have['type']}, credsvc's is {want['type']}: change the column's "
                    "type (adopt never converts data)",
                )
            )
    want_len, have_len = want_schema.get("max_length"), have_schema.get("max_length")
    if want["type"] == "string" and have["type"] == "string" and want_len and have_len:
        if have_len < want_len:
            findings.append(
                Finding(
                    KEPT,
                    where,
                    f"at most {have_len} characters (credsvc's: {want_len}); longer values "
                    "are refused by the database",
                )
            )
    collection, _, field = where.partition(".")
    if want_schema.get("is_nullable") and not have_schema.get("is_nullable", True):
        findings.append(Finding(TO_ADD, where, "NOT NULL, but credsvc may leave it empty"))
    elif _strict_not_null(collection, want) and have_schema.get("is_nullable", True):
        findings.append(
            Finding(
                BLOCKED,
                where,
                "nullable, but credsvc's audit trail needs it NOT NULL (a row without it is no "
                "record): fill in or delete the rows where it is empty, then set "
                f'PATCH /fields/{collection}/{field} {{"schema": {{"is_nullable": false}}}}, '
                "and rerun adopt",
            )
        )
    elif not want_schema.get("is_nullable", True) and have_schema.get("is_nullable", True):
        findings.append(
            Finding(KEPT, where, "nullable (NOT NULL in credsvc's schema; credsvc fills it)")
        )
    if want_schema.get("is_unique") and not have_schema.get("is_unique"):
        findings.append(Finding(TO_ADD, where, UNIQUE_MISSING))
    elif (
        want_schema.get("is_indexed")
        and not have_schema.get("is_indexed")
        and not have_schema.get("is_unique")
    ):
        findings.append(Finding(TO_ADD, where, "index missing"))
    return findings


def _strict_not_null(collection: str, want: dict[str, Any]) -> bool:
    schema = want["schema"]
    return (
        collection in STRICT_NOT_NULL
        and schema.get("is_nullable", True) is False
        and not schema.get("is_primary_key")
    )


@dataclass
class Derivation:
    """The state of one derived column over the rows of its collection."""

    where: str
    backfill: list[dict[str, Any]]  # {"id": ..., field: value} for rows where it is empty
    findings: list[Finding]
    duplicates: bool  # values that would collide under the unique constraint


def derived_findings(
    collection: str, field: str, rows: list[dict[str, Any]], unique: bool
) -> Derivation:
    """Which rows `field` can be filled in for, and what stops it (rows as read: id, sources,
    and the field's current value, absent when the column does not exist yet)."""
    sources, derive = DERIVED[(collection, field)]
    where = f"{collection}.{field}"
    findings: list[Finding] = []
    values: dict[str, list[str]] = {}
    pending: dict[str, str] = {}
    for row in rows:
        parts = [row.get(name) for name in sources]
        if not all(isinstance(part, str) and part for part in parts):
            findings.append(
                Finding(
                    BLOCKED,
                    where,
                    f"row {row['id']} has no {'/'.join(sources)}: cannot derive; fill them in "
                    "or delete the row",
                )
            )
            continue
        value = derive(*parts)
        current = row.get(field)
        if current is None:
            pending[row["id"]] = value
        elif current != value:
            findings.append(
                Finding(
                    BLOCKED,
                    where,
                    f"row {row['id']} says {current!r} but its {'/'.join(sources)} give "
                    f"{value!r}: a relabelled row? credsvc refuses it; correct one or the other",
                )
            )
        values.setdefault(value, []).append(row["id"])
    colliding = {value: ids for value, ids in values.items() if len(ids) > 1} if unique else {}
    for ids in colliding.values():
        findings.append(
            Finding(
                BLOCKED,
                where,
                f"rows {', '.join(sorted(ids))} belong to the same {'/'.join(sources)}, and "
                f"credsvc keeps one: {_DUPLICATE_ADVICE.get(collection, _DUPLICATE_DEFAULT)}",
            )
        )
    skip = {row_id for ids in colliding.values() for row_id in ids}
    backfill = [{"id": i, field: v} for i, v in sorted(pending.items()) if i not in skip]
    if backfill:
        findings.append(Finding(TO_ADD, where, f"{len(backfill)} rows to backfill"))
    return Derivation(where, backfill, findings, bool(colliding))


_DUPLICATE_DEFAULT = "keep one, delete the others, then rerun adopt --apply"
_DUPLICATE_ADVICE = {
    PROFILES.collection: (
        "reveal both with the old service, keep one, point the download_credentials and "
        "platform_sessions rows whose creator_profile_id names the other at the one kept (or "
        "delete them), delete the other connection, then rerun adopt --apply (until then no "
        "unique constraint, and credsvc must not serve this Directus)"
    ),
}


def read_rows(api: _Admin, collection: str, fields: Iterable[str]) -> list[dict[str, Any]]:
    """Every row of `collection` with `fields` only (never an encrypted column)."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        params = {"fields": ",".join(fields), "limit": PAGE, "page": page, "sort": "id"}
        batch = api.call("GET", f"/items/{collection}", params=params)
        rows.extend(batch)
        if len(batch) < PAGE:
            return rows
        page += 1


def derivations(api: _Admin, expected: Schema, live: Schema) -> list[Derivation]:
    found = []
    for (collection, field), (sources, _) in DERIVED.items():
        if collection not in live.collections or field not in expected.fields.get(collection, {}):
            continue  # a collection adopt creates is empty
        if any(source not in live.fields[collection] for source in sources):
            continue  # schema_findings reports the missing source column
        exists = field in live.fields[collection]
        rows = read_rows(api, collection, ("id", *sources, *((field,) if exists else ())))
        unique = bool(expected.fields[collection][field]["schema"].get("is_unique"))
        found.append(derived_findings(collection, field, rows, unique))
    return found


def guard_findings(database_env: Mapping[str, str] | None) -> list[Finding]:
    if database_env is None:
        return [
            Finding(
                UNCHECKED,
                "rewrap guards",
                "not checked: give --database-env (the DB_* settings of this Directus)",
            )
        ]
    missing = directusctl.check_guards(database_env)
    return [Finding(TO_ADD, table, f"rewrap guard: {', '.join(m)}") for table, m in missing.items()]


# --- changes ------------------------------------------------------------------------------------


def _field_payload(spec: dict[str, Any], **schema_changes: Any) -> dict[str, Any]:
    meta = {k: v for k, v in (spec.get("meta") or {}).items() if k not in ("id", "collection")}
    schema = {k: spec["schema"][k] for k in FIELD_SCHEMA_KEYS if k in spec["schema"]}
    return {
        "field": spec["field"],
        "type": spec["type"],
        "meta": meta,
        "schema": {**schema, **schema_changes},
    }


def _collection_payload(spec: dict[str, Any], fields: Iterable[dict[str, Any]]) -> dict[str, Any]:
    meta = {k: v for k, v in (spec.get("meta") or {}).items() if k not in ("collection", "group")}
    return {
        "collection": spec["collection"],
        "meta": meta,
        "schema": {"name": spec["collection"]},
        "fields": [_field_payload(f) for f in fields],
    }


def apply_schema_changes(api: _Admin, expected: Schema, live: Schema) -> list[str]:
    """Create missing collections and fields, set accountability, relax NOT NULLs, add indexes.
    Unique constraints come later (after the backfill, where no duplicates stand in the way)."""
    done = []
    for name, spec in expected.collections.items():
        want_fields = expected.fields.get(name, {})
        if name not in live.collections:
            api.call("POST", "/collections", json=_collection_payload(spec, want_fields.values()))
            done.append(f"created collection {name}")
            continue
        accountability = (spec.get("meta") or {}).get("accountability")
        if (live.collections[name].get("meta") or {}).get("accountability") != accountability:
            api.call(
                "PATCH", f"/collections/{name}", json={"meta": {"accountability": accountability}}
            )
            done.append(f"{name}: accountability {accountability}")
        for field, want in want_fields.items():
            have = live.fields[name].get(field)
            if have is None and _strict_not_null(name, want):
                continue  # blocked (schema_findings): never added nullable
            if have is None:
                # Nullable and not yet unique: the rows already there have no value.
                payload = _field_payload(want, is_nullable=True, is_unique=False)
                api.call("POST", f"/fields/{name}", json=payload)
                done.append(f"added field {name}.{field}")
                continue
            if want["schema"].get("is_primary_key"):
                continue
            change: dict[str, Any] = {}
            if want["schema"].get("is_nullable") and not have["schema"].get("is_nullable", True):
                change["is_nullable"] = True
            if (
                want["schema"].get("is_indexed")
                and not have["schema"].get("is_indexed")
                and not have["schema"].get("is_unique")
            ):
                change["is_indexed"] = True
            if change:
                api.call("PATCH", f"/fields/{name}/{field}", json={"schema": change})
                done.append(f"{name}.{field}: {', '.join(change)}")
    return done


def backfill(api: _Admin, derivation: Derivation) -> list[str]:
    collection, field = derivation.where.split(".")
    rows = derivation.backfill
    for start in range(0, len(rows), BATCH):
        api.call("PATCH", f"/items/{collection}", json=rows[start : start + BATCH])
    return [f"backfilled {derivation.where} in {len(rows)} rows"] if rows else []


def add_unique_constraints(
    api: _Admin, expected: Schema, live: Schema, blocked: set[str]
) -> list[str]:
    done = []
    for name, fields in expected.fields.items():
        for field, want in fields.items():
            have = live.fields.get(name, {}).get(field)
            if (
                have is None
                or f"{name}.{field}" in blocked
                or want["schema"].get("is_primary_key")
                or not want["schema"].get("is_unique")
                or have["schema"].get("is_unique")
            ):
                continue
            api.call("PATCH", f"/fields/{name}/{field}", json={"schema": {"is_unique": True}})
            done.append(f"{name}.{field}: unique")
    return done


# --- the command --------------------------------------------------------------------------------


@dataclass
class Report:
    changes: list[str]
    findings: list[Finding]

    @property
    def complete(self) -> bool:
        return not any(f.status in OPEN for f in self.findings)

    def text(self) -> str:
        lines = ["Changes made:", *(f"  {c}" for c in self.changes)] if self.changes else []
        shown = sorted(self.findings, key=lambda f: (OPEN + (KEPT,)).index(f.status))
        lines.append("Differences from credsvc's schema:" if shown else "Matches credsvc's schema.")
        lines += [f.line() for f in shown]
        if any(f.status == TO_ADD for f in shown):
            lines.append("Run again with --apply to add what is marked [to add].")
        if any(f.status in (BLOCKED, UNCHECKED) for f in shown):
            lines.append(
                "What is marked [blocked] or [unchecked] needs you; then run adopt --apply again."
            )
        return "\n".join(lines)


def inspect(
    api: _Admin, database_env: Mapping[str, str] | None
) -> tuple[Schema, Schema, list[Derivation], list[Finding]]:
    expected, live = expected_schema(), live_schema(api)
    found = derivations(api, expected, live)
    findings = schema_findings(expected, live)
    colliding = {d.where for d in found if d.duplicates}
    findings = [
        Finding(BLOCKED, f.where, f"{f.message}: not while rows collide (below)")
        if f.where in colliding and f.message == UNIQUE_MISSING
        else f
        for f in findings
    ]
    for derivation in found:
        findings.extend(derivation.findings)
    findings.extend(guard_findings(database_env))
    return expected, live, found, findings


def adopt(api: _Admin, *, apply: bool, database_env: Mapping[str, str] | None = None) -> Report:
    """Report (and with `apply`, add) what this Directus lacks of credsvc's schema."""
    expected, live, found, findings = inspect(api, database_env)
    if not apply:
        return Report([], findings)
    changes = apply_schema_changes(api, expected, live)
    live = live_schema(api)
    blocked: set[str] = set()
    for derivation in derivations(api, expected, live):
        changes += backfill(api, derivation)
        if derivation.duplicates or any(f.status == BLOCKED for f in derivation.findings):
            blocked.add(derivation.where)
    changes += add_unique_constraints(api, expected, live, blocked)
    # Last: a SQLite table rebuilt by a change above has lost its triggers.
    if database_env is not None and directusctl.check_guards(database_env):
        directusctl.install_guards(database_env)
        changes.append("installed the rewrap guard triggers")
    _, _, _, findings = inspect(api, database_env)
    return Report(changes, findings)


def database_env(path: Path) -> dict[str, str]:
    """The environment guards.mjs needs to reach the database of the Directus at hand."""
    settings = envfile.read_env_file(path)
    if not settings.get("DB_CLIENT"):
        raise directusctl.DirectusError(f"{path}: no DB_CLIENT (and DB_FILENAME or DB_HOST ...)")
    scratch = Path(tempfile.mkdtemp(prefix="credsvc-adopt-"))
    return directusctl.directus_env(
        data_dir=scratch, port=0, secret="unused", source=settings, passthrough=True
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--apply", action="store_true", help="add what is missing (default: report)"
    )
    parser.add_argument("--database-env", type=Path, help="dotenv file with this Directus's DB_*")
    args = parser.parse_args(argv)
    env = envfile.settings(os.environ)
    url = env.get("DIRECTUS_URL", "").rstrip("/")
    if not url:
        print("adopt: DIRECTUS_URL is not set", file=sys.stderr)
        return 1
    try:
        token = env.get("DIRECTUS_ADMIN_TOKEN") or admin_login(
            url, env.get("DIRECTUS_ADMIN_EMAIL", ""), env.get("DIRECTUS_ADMIN_PASSWORD", "")
        )
        db_env = database_env(args.database_env) if args.database_env else None
        report = adopt(_Admin(url, token), apply=args.apply, database_env=db_env)
    except (ProvisionError, directusctl.DirectusError, requests.RequestException) as exc:
        print(f"adopt: {exc}", file=sys.stderr)
        return 1
    print(report.text())
    return 0 if report.complete else 2


if __name__ == "__main__":
    sys.exit(main())

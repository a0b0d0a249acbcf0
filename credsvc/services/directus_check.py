"""The Directus side of `flask check` (credsvc.cli.check): is this Directus the one credsvc needs?

In order, each finding one line:

 1. reachable, and DIRECTUS_TOKEN takes: the readiness probe (credsvc.services.readiness),
    in the auditing modes the role's audit_log create permission (it never writes);
 2. every other role token that is set (DIRECTUS_INGEST_TOKEN, DIRECTUS_WORKER_TOKEN,
    DIRECTUS_OPERATOR_TOKEN) is one Directus knows (`GET /users/me`);
 3. every collection and column of credsvc.model, with each one's `rewrap_guard`, read with
    `limit=0` by a token whose role may read it (Directus answers 403 naming a column it lacks);
    `api_keys` likewise;
 4. the rewrap guard triggers (deploy/directus/guards.mjs) really refuse a stale guard: the
    probe of `flask keys rewrap` (credsvc.services.keys.ensure_guard), on one existing row, by a
    token whose role may update it (the operator's). With the triggers in place Directus refuses
    the write and nothing changes; without them the probe value is written and cleared at once.

Nothing is left behind: no audit row, no item. Messages name the variable and what is expected,
never a token or an upstream body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from credsvc.directus import DirectusClient, DirectusError, DirectusResponseError
from credsvc.model import ENCRYPTED_COLUMNS
from credsvc.services import api_keys, keys, readiness


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str


def check_directus(
    clients: Mapping[str, DirectusClient], *, role_of: Mapping[str, str], audits: bool
) -> list[Finding]:
    """`clients`: one client per token variable that is set, DIRECTUS_TOKEN first; `role_of`:
    the Directus role each variable should be the token of."""
    found: list[Finding] = []
    main = clients["DIRECTUS_TOKEN"]
    problem = readiness.probe(main, audits=audits)
    if problem is not None:
        found.append(
            Finding(False, f"DIRECTUS_TOKEN ({role_of['DIRECTUS_TOKEN']} role): {problem}")
        )
        if problem.reason == "unreachable":
            found.append(Finding(False, "DIRECTUS_URL: Directus must answer there; stopped here"))
            return found
    else:
        what = "reads, creates audit rows" if audits else "reads"
        found.append(Finding(True, f"DIRECTUS_TOKEN ({role_of['DIRECTUS_TOKEN']} role): {what}"))
    usable: dict[str, DirectusClient] = {}
    for name, client in clients.items():
        try:
            client.current_user_id()
        except DirectusError as exc:
            if name != "DIRECTUS_TOKEN" or problem is None:
                found.append(Finding(False, f"{name}: {_refused(exc, name, role_of[name])}"))
            continue
        usable[name] = client
        if name != "DIRECTUS_TOKEN":
            found.append(Finding(True, f"{name} ({role_of[name]} role): Directus knows it"))
    grants = {name: _permissions(client) for name, client in usable.items()}
    found += _schema(usable, grants)
    found += _guards(usable, grants)
    return found


def _refused(exc: DirectusError, name: str, role: str) -> str:
    if isinstance(exc, DirectusResponseError) and exc.status == 401:
        return f"Directus refuses this token (401): expected the static token of the {role} role"
    return str(readiness.refusal(exc, name, "read its own user"))


def _permissions(client: DirectusClient) -> dict:
    """collection -> action -> access, as `GET /permissions/me` states it ({} when refused)."""
    try:
        data = client.permissions()
    except DirectusError:
        return {}
    return data if isinstance(data, dict) else {}


def _allows(grants: dict, collection: str, action: str) -> bool:
    access = grants.get(collection, {}).get(action, {})
    return isinstance(access, dict) and access.get("access") in ("full", "partial")


def _who_may(usable, grants, collection: str, action: str) -> tuple[str, DirectusClient] | None:
    for name, client in usable.items():
        if _allows(grants[name], collection, action):
            return name, client
    return None


def _schema(usable, grants) -> list[Finding]:
    expected: dict[str, tuple[str, ...]] = {}
    for column in ENCRYPTED_COLUMNS:
        fields = (*column.rewrap_fields, keys.GUARD_FIELD)
        expected[column.collection] = tuple(
            dict.fromkeys((*expected.get(column.collection, ()), *fields))
        )
    expected[api_keys.COLLECTION] = ("id",)
    found = []
    for collection, fields in expected.items():
        reader = _who_may(usable, grants, collection, "read")
        if reader is None:
            # E.g. an ingest role never reads download_credentials: not a problem in itself.
            found.append(
                Finding(
                    True,
                    f"{collection}: not checked (no token given may read it; "
                    "DIRECTUS_OPERATOR_TOKEN's role may)",
                )
            )
            continue
        name, client = reader
        missing = _missing_fields(client, collection, fields)
        if missing is None:
            found.append(Finding(False, f"{collection}: Directus failed while {name} read it"))
        elif missing:
            found += [
                Finding(False, f"{collection}.{fld}: missing (or {name}'s role may not read it)")
                for fld in missing
            ]
        else:
            found.append(Finding(True, f"{collection}: {', '.join(fields)} present"))
    return found


def _missing_fields(client: DirectusClient, collection: str, fields) -> list[str] | None:
    """The fields Directus refuses to read (403 names one per call), or None on another error."""

    def refused(chosen) -> bool | None:
        try:
            client.check_access(collection, fields=chosen)
        except DirectusResponseError as exc:
            return True if exc.status == 403 else None
        except DirectusError:
            return None
        return False

    together = refused(fields)
    if together is None:
        return None
    if not together:
        return []
    missing = []
    for fld in fields:
        one = refused((fld,))
        if one is None:
            return None
        if one:
            missing.append(fld)
    return missing or list(fields)


def _guards(usable, grants) -> list[Finding]:
    # The operator's role is the one meant to set rewrap_guard (`flask keys rewrap`).
    usable = dict(sorted(usable.items(), key=lambda item: item[0] != "DIRECTUS_OPERATOR_TOKEN"))
    found = []
    for column in ENCRYPTED_COLUMNS:
        collection = column.collection
        writer = _who_may(usable, grants, collection, "update")
        if writer is None:
            found.append(
                Finding(
                    True,
                    f"{collection}: rewrap guard not probed (set DIRECTUS_OPERATOR_TOKEN to probe)",
                )
            )
            continue
        name, client = writer
        try:
            rows = client.find_items(collection, fields=("id",), limit=1)
            if not rows:
                found.append(Finding(True, f"{collection}: rewrap guard not probed (no rows yet)"))
                continue
            keys.ensure_guard(client, collection, rows[0]["id"])
        except keys.GuardMissing:
            found.append(
                Finding(
                    False,
                    f"{collection}: the database does not enforce rewrap_guard: install the "
                    "triggers (deploy/directus/guards.mjs, run by directusctl.apply_schema)",
                )
            )
            continue
        except DirectusResponseError as exc:
            if exc.status == 403:
                found.append(
                    Finding(True, f"{collection}: rewrap guard not probed ({name} may not set it)")
                )
                continue
            code = f" {exc.code}" if exc.code else ""
            found.append(Finding(False, f"{collection}: guard probe failed ({exc.status}{code})"))
            continue
        except DirectusError:
            found.append(Finding(False, f"{collection}: guard probe failed (Directus unreachable)"))
            continue
        found.append(Finding(True, f"{collection}: rewrap guard enforced"))
    return found

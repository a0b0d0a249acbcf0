"""What each credsvc role may do in Directus, as data: role -> collection -> action -> Grant.

provision.py makes one Directus policy, role and user (with its own static token) per entry of
ROLES and gives the policy exactly these permissions; tests/integration/test_directus_roles.py
tries every (role, collection, action) against a real Directus. A cell that is absent is a
denial. A grant names the fields the role's code sends (create, update) or asks for (read);
Directus checks the fields of a read's filter and sort too, so they are listed.

Field lists and validations are what Directus calls "custom permission rules": its free Core
licence refuses them (403 RESOURCE_RESTRICTED, entitlement custom_permission_rules_enabled). So
by default provisioning grants each (collection, action) below on every field, and the lists
document what the code needs; with a licence that allows them, `provision(field_limits=True)`
(DIRECTUS_FIELD_LIMITS=true) enforces them too.

The roles follow CREDSVC_MODE (credsvc/config.py), plus the operator's command line:

  ingest    the user-JWT endpoints (/api/credentials: create-profile, update-profile-creds,
            create-download-cred, store-platform-session, revoke-platform-session, GET platforms
            and platform-sessions) and the business API (/v1/end-users): it encrypts and never
            decrypts
  worker    the shared-secret endpoints (/api/credentials/store, /reveal, /reveal-download-cred,
            /get-platform-session, /report-platform-session, /api/end-user-credentials/reveal): it
            decrypts and audits
  full      both sides (CREDSVC_MODE=full, the default, and `make run`): ingest | worker, no more
  operator  `flask api-keys create|list|revoke` and `flask keys status|rewrap`

`audit_log` is append-only for every role: worker and full may create rows, nobody may read,
update or delete one (the audit trail is read with an admin's or an auditor's own token).
Only the operator creates API keys; the API-key guard may read a key and record its use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from credsvc import model
from credsvc.model import (
    API_KEYS,
    AUDIT_LOG,
    DOWNLOAD_CREDENTIALS,
    ENCRYPTED_COLUMNS,
    PLATFORM_SESSIONS,
    PROFILES,
)
from credsvc.model import END_USER_CREDENTIALS as END_USERS

COLLECTIONS = model.COLLECTIONS
# The compare-and-set column of every encrypted collection (deploy/directus/guards.mjs).
GUARD = model.GUARD_FIELD
ACTIONS = ("create", "read", "update", "delete")


@dataclass(frozen=True)
class Grant:
    """One permission: the fields it covers (none for delete, where Directus ignores them)
    and an optional validation filter every payload must pass."""

    fields: tuple[str, ...] = ()
    validation: Mapping[str, Any] = field(default_factory=dict)


def fields(*names: str) -> tuple[str, ...]:
    """Field names in order, each once."""
    return tuple(dict.fromkeys(names))


def not_null(name: str) -> dict[str, Any]:
    return {name: {"_nnull": True}}


def union(*tables: dict[str, dict[str, Grant]]) -> dict[str, dict[str, Grant]]:
    """Every cell of any table; where several have one, their fields together. Validations
    must agree (a union cannot weaken one silently)."""
    merged: dict[str, dict[str, Grant]] = {}
    for table in tables:
        for collection, grants in table.items():
            cells = merged.setdefault(collection, {})
            for action, grant in grants.items():
                if action not in cells:
                    cells[action] = grant
                    continue
                if dict(cells[action].validation) != dict(grant.validation):
                    raise ValueError(f"{collection}.{action}: the validations differ")
                cells[action] = Grant(
                    fields(*cells[action].fields, *grant.fields), grant.validation
                )
    return merged


# A session's flags: each is set once and never cleared (field limits), so a token can take a
# session out of service but not bring one back. Ingest and worker both update the collection
# and share this validation (union() requires equal validations).
SESSION_FLAGS = ("revoked_at", "superseded_by", "needs_recapture_at", "recapture_reason")
SESSION_FLAGS_STAY_SET: dict[str, Any] = {name: {"_nnull": True} for name in SESSION_FLAGS}
# What session health reads (credsvc.services.session_health.HEALTH_FIELDS), and the sort.
SESSION_HEALTH = (
    "id",
    "user_id",
    "creator_profile_id",
    "platform",
    "captured_at",
    "expires_at",
    "cookies_expire_at",
    "cookie_count",
    "revoked_at",
    "needs_recapture_at",
    "recapture_reason",
    "superseded_by",
    "date_created",
)

AUDIT_ROW = (  # credsvc.services.audit.row; Directus generates the id
    "occurred_at",
    "actor",
    "action",
    "outcome",
    "target_collection",
    "target_id",
    "business_id",
    "end_user_id",
    "request_id",
    "detail",
)

INGEST: dict[str, dict[str, Grant]] = {
    PROFILES.collection: {
        # create-profile: a new connection, its value encrypted here.
        "create": Grant(
            ("id", "user_id", "platform", "owner_platform", "platform_username", PROFILES.field)
        ),
        # create-profile finds the caller's connection by owner_platform (with the owner columns
        # the new value is bound to); the other user endpoints check who owns a connection.
        # Not the value: nothing here decrypts.
        "read": Grant(("id", "user_id", "platform", "owner_platform", "platform_username")),
        # create-profile on an existing connection, update-profile-creds.
        "update": Grant((PROFILES.field, "platform_username")),
    },
    DOWNLOAD_CREDENTIALS.collection: {
        # create-download-cred; it reads nothing back.
        "create": Grant(
            (
                "id",
                "user_id",
                "creator_profile_id",
                "platform",
                "auth_type",
                "username",
                "display_name",
                DOWNLOAD_CREDENTIALS.field,
            )
        ),
    },
    PLATFORM_SESSIONS.collection: {
        # store-platform-session.
        "create": Grant(
            (
                "id",
                "user_id",
                "creator_profile_id",
                "platform",
                PLATFORM_SESSIONS.field,
                "cookie_count",
                "user_agent",
                "captured_at",
                "expires_at",
                "cookies_expire_at",
            )
        ),
        # revoke-platform-session: whose session it is, and whether it is revoked already;
        # GET platform-sessions: the owner's sessions' health; store-platform-session: the
        # flagged sessions a new capture supersedes. Never the value.
        "read": Grant(SESSION_HEALTH),
        # revoke-platform-session, and superseded_by after a new capture; (field limits:)
        # never back to null, so this token cannot undo a revocation or a supersession.
        "update": Grant(("revoked_at", "superseded_by"), SESSION_FLAGS_STAY_SET),
    },
    API_KEYS: {
        # The API-key guard looks the presented key up by its hash on every request.
        "read": Grant(("id", "business_id", "key_hash", "last_used_at", "revoked_at")),
        # ... and records its use; nothing else about a key changes here.
        "update": Grant(("last_used_at",)),
    },
    END_USERS.collection: {
        # PUT /v1/end-users/{id}/credentials: rows for fields set for the first time.
        "create": Grant(
            ("id", "business_id", "end_user_id", "end_user_hash", "field", "slot", END_USERS.field)
        ),
        # GET, PUT and DELETE find an end user's rows. The PUT also reads the stored values:
        # should a later batch fail, its undo writes them back (it never decrypts them).
        "read": Grant(("id", "business_id", "end_user_hash", "field", "slot", END_USERS.field)),
        # PUT: new values; the undo restores the old ones guarded by rewrap_guard.
        "update": Grant((END_USERS.field, GUARD)),
        # DELETE, a PUT's null fields, and the undo of a PUT's new rows.
        "delete": Grant(),
    },
}

WORKER: dict[str, dict[str, Grant]] = {
    PROFILES.collection: {
        # /reveal decrypts (value + owner columns); /store finds the profile and binds the new
        # value to its owner columns.
        "read": Grant(
            fields("id", "user_id", "platform", "platform_username", *PROFILES.row_fields)
        ),
        # /store.
        "update": Grant((PROFILES.field,)),
    },
    DOWNLOAD_CREDENTIALS.collection: {
        # /reveal-download-cred: the public fields, the owner columns, the value.
        "read": Grant(
            fields("id", "platform", "auth_type", "username", *DOWNLOAD_CREDENTIALS.row_fields)
        ),
    },
    PLATFORM_SESSIONS.collection: {
        # /get-platform-session: the newest usable session of (profile, platform) (filter on
        # revoked_at and the re-capture flags, sort on captured_at and date_created), with its
        # value; /report-platform-session: the session's health.
        "read": Grant(
            fields(
                "id",
                "platform",
                "captured_at",
                "expires_at",
                "user_agent",
                *SESSION_HEALTH,
                *PLATFORM_SESSIONS.row_fields,
            )
        ),
        # /report-platform-session; (field limits:) a flag set here is never cleared.
        "update": Grant(("needs_recapture_at", "recapture_reason"), SESSION_FLAGS_STAY_SET),
    },
    END_USERS.collection: {
        # /api/end-user-credentials/reveal: an end user's rows with their values.
        "read": Grant(END_USERS.row_fields),
    },
    AUDIT_LOG: {
        # Every decrypting read appends its row before the value leaves (fail closed).
        "create": Grant(AUDIT_ROW),
    },
}

OPERATOR: dict[str, dict[str, Grant]] = {
    column.collection: {
        # `keys status` counts values per key id; `keys rewrap` selects the values not under the
        # active key and binds each new value to the row's owner columns.
        "read": Grant(column.row_fields),
        # `keys rewrap` writes each value guarded by the one it read; its first write probes
        # that the database enforces the guard (and clears the probe when it does not).
        "update": Grant((column.field, GUARD)),
    }
    for column in ENCRYPTED_COLUMNS
}
OPERATOR[API_KEYS] = {
    # `api-keys create`: only the key's hash and display prefix are stored.
    "create": Grant(("id", "business_id", "name", "key_hash", "key_prefix", "created_at")),
    # `api-keys list` and `revoke`; never the hash.
    "read": Grant(
        ("id", "business_id", "name", "key_prefix", "created_at", "last_used_at", "revoked_at")
    ),
    # `api-keys revoke`; (field limits:) never back to null, so a revocation is final.
    "update": Grant(("revoked_at",), not_null("revoked_at")),
}

ROLES: dict[str, dict[str, dict[str, Grant]]] = {
    "full": union(INGEST, WORKER),
    "ingest": INGEST,
    "worker": WORKER,
    "operator": OPERATOR,
}

DESCRIPTIONS = {
    "full": "credsvc CREDSVC_MODE=full: the ingest and worker grants together",
    "ingest": "credsvc CREDSVC_MODE=ingest: stores credentials, never reads a stored value "
    "except an end user's own for the PUT's undo",
    "worker": "credsvc CREDSVC_MODE=worker: reads values to decrypt, appends audit rows",
    "operator": "credsvc CLI: API keys and key rewrap; no audit access",
}


def allowed(role: str, collection: str, action: str, column: str | None = None) -> bool:
    """Does the table grant `action` on `collection` (on `column` when given)?"""
    grant = ROLES[role].get(collection, {}).get(action)
    if grant is None:
        return False
    return column is None or column in grant.fields

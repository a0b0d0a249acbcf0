#!/usr/bin/env python3
"""Provision credsvc's least-privilege access in Directus; safe to run any number of times.

For every role of policies.ROLES (full, ingest, worker, operator) it creates or corrects,
without duplicates:
  - the policy "credsvc <role>": exactly the role's (collection, action) permissions from
    policies.py, on every field (or, with field_limits, on the listed fields with the
    validations: Directus's Core licence refuses those), no row filter, no presets; any other
    permission of that policy is deleted; no app access, no admin access;
  - the Directus role "credsvc <role>", linked to that policy and to no other;
  - the user credsvc-<role>@example.com in that role, with no policy of its own and, when a
    token is given for the role, that static token (a changed token replaces the old one; a
    role given no token keeps its user's token, none for a new user).
It also deletes what earlier versions made: the all-powerful "credsvc service" policy, role
and user (whose token was DIRECTUS_TOKEN, now the `full` role's). The users have no password
and no app access, so they take no seat under the Core licence.

As a script it reads DIRECTUS_URL, DIRECTUS_ADMIN_EMAIL, DIRECTUS_ADMIN_PASSWORD, the tokens
of TOKEN_VARIABLES and DIRECTUS_FIELD_LIMITS (true/false, default false) from the environment
(then from the repository's .env, deploy/envfile.py):
    .venv/bin/python -m deploy.directus.provision
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import requests

from credsvc.config import ROLE_TOKEN_VARIABLES
from deploy.directus.policies import DESCRIPTIONS, ROLES, Grant

# The variable holding each role's static token. A credsvc process always authenticates with
# DIRECTUS_TOKEN: the token of its CREDSVC_MODE's role (`make run`, mode full: this one); the
# others are credsvc.config's, which `flask check` confirms with Directus.
TOKEN_VARIABLES = {"full": "DIRECTUS_TOKEN", **ROLE_TOKEN_VARIABLES}
LEGACY_NAME = "credsvc service"  # the one all-powerful policy and role of earlier versions
LEGACY_EMAIL = "credsvc-service@example.com"
TIMEOUT = (3.05, 30)


def policy_name(role: str) -> str:
    return f"credsvc {role}"


def user_email(role: str) -> str:
    return f"credsvc-{role}@example.com"


class ProvisionError(RuntimeError):
    """Directus refused a provisioning request, or the request makes no sense."""


class _Admin:
    """A minimal admin client: one session, the admin bearer token, JSON in and out."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.session.request(method, f"{self.url}{path}", timeout=TIMEOUT, **kwargs)
        if resp.status_code >= 300 and "custom_permission_rules_enabled" in resp.text:
            raise ProvisionError(
                "this Directus's licence refuses field-level permissions (custom permission "
                "rules); provision without field limits (DIRECTUS_FIELD_LIMITS=false)"
            )
        if resp.status_code >= 300:
            raise ProvisionError(f"{method} {path}: {resp.status_code} {resp.text[:500]}")
        return resp.json().get("data") if resp.content else None

    def find(self, path: str, **filters: str) -> list[dict[str, Any]]:
        params = {f"filter[{k}][_eq]": v for k, v in filters.items()}
        return self.call("GET", path, params={**params, "limit": -1}) or []

    def find_one(self, path: str, **filters: str) -> dict[str, Any] | None:
        rows = self.find(path, **filters)
        return rows[0] if rows else None


def admin_login(url: str, email: str, password: str) -> str:
    """Log in through POST /auth/login; return the admin's access token."""
    resp = requests.post(
        f"{url.rstrip('/')}/auth/login",
        json={"email": email, "password": password},
        timeout=TIMEOUT,
    )
    if resp.status_code != 200:
        raise ProvisionError(
            f"admin login as {email} failed: {resp.status_code} {resp.text[:300]} "
            "(do DIRECTUS_ADMIN_EMAIL/PASSWORD in .env match the bootstrapped database? "
            "`make reset` starts over)"
        )
    return resp.json()["data"]["access_token"]


def permission_row(
    collection: str, action: str, grant: Grant, field_limits: bool = False
) -> dict[str, Any]:
    """The directus_permissions row of one grant (without policy and id)."""
    limited = field_limits and bool(grant.fields)  # a delete names no fields
    return {
        "collection": collection,
        "action": action,
        "fields": list(grant.fields) if limited else ["*"],
        "permissions": {},
        "validation": dict(grant.validation) if field_limits else {},
        "presets": None,
    }


def _same(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return (
        sorted(stored.get("fields") or []) == sorted(wanted["fields"] or [])
        and (stored.get("permissions") or {}) == wanted["permissions"]
        and (stored.get("validation") or {}) == wanted["validation"]
        and not stored.get("presets")
    )


def _remove_legacy(api: _Admin) -> None:
    """Delete the all-powerful user, role and policy of earlier versions (if any)."""
    for user in api.find("/users", email=LEGACY_EMAIL):
        api.call("DELETE", f"/users/{user['id']}")
    for role in api.find("/roles", name=LEGACY_NAME):
        api.call("DELETE", f"/roles/{role['id']}")
    for policy in api.find("/policies", name=LEGACY_NAME):
        api.call("DELETE", f"/policies/{policy['id']}")


def _ensure_policy(
    api: _Admin, role: str, grants: Mapping[str, Mapping[str, Grant]], field_limits: bool
) -> str:
    name = policy_name(role)
    wanted_policy = {
        "name": name,
        "app_access": False,
        "admin_access": False,
        "enforce_tfa": False,
        "ip_access": None,
        "description": DESCRIPTIONS[role],
    }
    policy = api.find_one("/policies", name=name)
    if policy is None:
        policy = api.call("POST", "/policies", json={**wanted_policy, "icon": "key"})
    elif any(policy.get(k) != v for k, v in wanted_policy.items()):
        api.call("PATCH", f"/policies/{policy['id']}", json=wanted_policy)
    policy_id = policy["id"]

    wanted = {
        (collection, action): permission_row(collection, action, grant, field_limits)
        for collection, cells in grants.items()
        for action, grant in cells.items()
    }
    seen: set[tuple[str, str]] = set()
    for perm in api.find("/permissions", policy=policy_id):
        pair = (perm["collection"], perm["action"])
        if pair not in wanted or pair in seen:
            api.call("DELETE", f"/permissions/{perm['id']}")
            continue
        seen.add(pair)
        if not _same(perm, wanted[pair]):
            api.call("PATCH", f"/permissions/{perm['id']}", json=wanted[pair])
    missing = [{**wanted[pair], "policy": policy_id} for pair in sorted(set(wanted) - seen)]
    if missing:
        api.call("POST", "/permissions", json=missing)
    return policy_id


def _ensure_role(api: _Admin, role: str, policy_id: str) -> str:
    name = policy_name(role)
    found = api.find_one("/roles", name=name)
    if found is None:
        found = api.call(
            "POST",
            "/roles",
            json={"name": name, "icon": "key", "description": DESCRIPTIONS[role]},
        )
    role_id = found["id"]
    linked = False
    for access in api.find("/access", role=role_id):
        if access["policy"] == policy_id and not linked:
            linked = True
        else:  # another policy, or a duplicate link: the role gets this policy only
            api.call("DELETE", f"/access/{access['id']}")
    if not linked:
        api.call("POST", "/access", json={"role": role_id, "policy": policy_id})
    return role_id


def _ensure_user(api: _Admin, role: str, role_id: str, token: str | None) -> str:
    email = user_email(role)
    user = api.find_one("/users", email=email)
    wanted: dict[str, Any] = {"role": role_id, "status": "active"}
    if token is not None:
        wanted["token"] = token
    if user is None:
        user = api.call(
            "POST",
            "/users",
            json={"email": email, "first_name": "credsvc", "last_name": role, **wanted},
        )
    else:
        # The stored token reads back masked, so a given token is always rewritten.
        api.call("PATCH", f"/users/{user['id']}", json=wanted)
    for access in api.find("/access", user=user["id"]):  # policies of its own: none
        api.call("DELETE", f"/access/{access['id']}")
    return user["id"]


def provision(
    url: str,
    tokens: Mapping[str, str],
    *,
    admin_token: str | None = None,
    admin_email: str | None = None,
    admin_password: str | None = None,
    field_limits: bool = False,
) -> dict[str, dict[str, str]]:
    """Create or correct the policy, role and user of every role; return {role: their ids}.

    `tokens` maps roles (keys of ROLES) to their static tokens. Authenticates with
    `admin_token`, or logs in with `admin_email`/`admin_password`. `field_limits` grants only
    the listed fields, with the validations (a Directus licence with custom permission rules).
    """
    unknown = sorted(set(tokens) - set(ROLES))
    if unknown:
        raise ProvisionError(f"unknown roles {', '.join(unknown)}; roles: {', '.join(ROLES)}")
    empty = [TOKEN_VARIABLES[role] for role, token in tokens.items() if not token]
    if empty:
        raise ProvisionError(f"empty token: {', '.join(empty)}")
    if len(set(tokens.values())) != len(tokens):
        raise ProvisionError("two roles were given the same token; each needs its own")
    if admin_token is None:
        if not (admin_email and admin_password):
            raise ProvisionError("need an admin token or the admin email and password")
        admin_token = admin_login(url, admin_email, admin_password)
    api = _Admin(url, admin_token)
    _remove_legacy(api)  # first: its token is the full role's now, and tokens are unique
    ids = {}
    for role, grants in ROLES.items():
        policy_id = _ensure_policy(api, role, grants, field_limits)
        role_id = _ensure_role(api, role, policy_id)
        user_id = _ensure_user(api, role, role_id, tokens.get(role))
        ids[role] = {"policy": policy_id, "role": role_id, "user": user_id}
    return ids


def main() -> int:
    from deploy import envfile  # a local command: the repository's .env completes the environment

    env = envfile.settings(os.environ)
    needed = ("DIRECTUS_URL", "DIRECTUS_ADMIN_EMAIL", "DIRECTUS_ADMIN_PASSWORD")
    missing = [name for name in needed if not env.get(name)]
    tokens = {role: env[name] for role, name in TOKEN_VARIABLES.items() if env.get(name)}
    if not tokens:
        missing.append(" or ".join(TOKEN_VARIABLES.values()))
    if missing:
        print(f"provision: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    limits = env.get("DIRECTUS_FIELD_LIMITS", "").strip().lower()
    if limits not in ("", "true", "false"):
        print("provision: DIRECTUS_FIELD_LIMITS must be true or false", file=sys.stderr)
        return 2
    try:
        ids = provision(
            env["DIRECTUS_URL"],
            tokens,
            admin_email=env["DIRECTUS_ADMIN_EMAIL"],
            admin_password=env["DIRECTUS_ADMIN_PASSWORD"],
            field_limits=limits == "true",
        )
    except (ProvisionError, requests.RequestException) as exc:
        print(f"provision: {exc}", file=sys.stderr)
        return 1
    for role, found in ids.items():
        token = f"token from {TOKEN_VARIABLES[role]}" if role in tokens else "token unchanged"
        print(f"provisioned {role}: user {found['user']} ({token})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

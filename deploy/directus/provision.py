#!/usr/bin/env python3
"""Provision credsvc's least-privilege access in Directus; safe to run any number of times.

Creates or corrects, without duplicates:
  - the policy "credsvc service": create/read/update/delete on SERVICE_COLLECTIONS only, every
    field, no row filter; no app access, no admin access; permissions on any other collection
    are removed from it;
  - the role "credsvc service", linked to that policy;
  - the service user (SERVICE_EMAIL) in that role, with the static token credsvc authenticates
    with (DIRECTUS_TOKEN). A changed token replaces the old one.
The user has no password and no app access, so it takes no seat under the Core licence.

As a script it reads DIRECTUS_URL, DIRECTUS_TOKEN, DIRECTUS_ADMIN_EMAIL and
DIRECTUS_ADMIN_PASSWORD from the environment (then from the repository's .env):
    .venv/bin/python deploy/directus/provision.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import requests

POLICY_NAME = "credsvc service"
ROLE_NAME = "credsvc service"
SERVICE_EMAIL = "credsvc-service@example.com"
SERVICE_COLLECTIONS = (
    "platform_connections",
    "download_credentials",
    "platform_sessions",
    "api_keys",
    "end_user_credentials",
    "audit_log",
)
ACTIONS = ("create", "read", "update", "delete")
TIMEOUT = (3.05, 30)


class ProvisionError(RuntimeError):
    """Directus refused a provisioning request."""


class _Admin:
    """A minimal admin client: one session, the admin bearer token, JSON in and out."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.session.request(method, f"{self.url}{path}", timeout=TIMEOUT, **kwargs)
        if resp.status_code >= 300:
            raise ProvisionError(f"{method} {path}: {resp.status_code} {resp.text[:500]}")
        return resp.json().get("data") if resp.content else None

    def find_one(self, path: str, **filters: str) -> dict[str, Any] | None:
        params = {f"filter[{k}][_eq]": v for k, v in filters.items()}
        rows = self.call("GET", path, params={**params, "limit": 1})
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


def _ensure_policy(api: _Admin, collections: tuple[str, ...]) -> str:
    wanted = {
        "name": POLICY_NAME,
        "app_access": False,
        "admin_access": False,
        "enforce_tfa": False,
        "ip_access": None,
        "description": "credsvc's service user: CRUD on its own collections only",
    }
    policy = api.find_one("/policies", name=POLICY_NAME)
    if policy is None:
        policy = api.call("POST", "/policies", json={**wanted, "icon": "key"})
    elif any(policy.get(k) != v for k, v in wanted.items()):
        api.call("PATCH", f"/policies/{policy['id']}", json=wanted)
    policy_id = policy["id"]

    current = api.call(
        "GET", "/permissions", params={"filter[policy][_eq]": policy_id, "limit": -1}
    )
    wanted_pairs = {(c, a) for c in collections for a in ACTIONS}
    seen: set[tuple[str, str]] = set()
    for perm in current:
        pair = (perm["collection"], perm["action"])
        if pair not in wanted_pairs or pair in seen:
            api.call("DELETE", f"/permissions/{perm['id']}")
            continue
        seen.add(pair)
        if (
            perm.get("fields") != ["*"]
            or perm.get("permissions") not in (None, {})
            or perm.get("validation") not in (None, {})
        ):
            api.call(
                "PATCH",
                f"/permissions/{perm['id']}",
                json={"fields": ["*"], "permissions": {}, "validation": {}},
            )
    missing = [
        {
            "policy": policy_id,
            "collection": c,
            "action": a,
            "fields": ["*"],
            "permissions": {},
            "validation": {},
        }
        for c, a in sorted(wanted_pairs - seen)
    ]
    if missing:
        api.call("POST", "/permissions", json=missing)
    return policy_id


def _ensure_role(api: _Admin, policy_id: str) -> str:
    role = api.find_one("/roles", name=ROLE_NAME)
    if role is None:
        role = api.call(
            "POST",
            "/roles",
            json={
                "name": ROLE_NAME,
                "icon": "key",
                "description": "credsvc's service user (API only)",
            },
        )
    role_id = role["id"]
    if api.find_one("/access", role=role_id, policy=policy_id) is None:
        api.call("POST", "/access", json={"role": role_id, "policy": policy_id})
    return role_id


def _ensure_user(api: _Admin, role_id: str, token: str, email: str) -> str:
    user = api.find_one("/users", email=email)
    wanted = {"role": role_id, "status": "active", "token": token}
    if user is None:
        user = api.call(
            "POST",
            "/users",
            json={
                "email": email,
                "first_name": "credsvc",
                "last_name": "service",
                **wanted,
            },
        )
    else:
        # The stored token reads back masked, so it is always rewritten.
        api.call("PATCH", f"/users/{user['id']}", json=wanted)
    return user["id"]


def provision(
    url: str,
    service_token: str,
    *,
    admin_token: str | None = None,
    admin_email: str | None = None,
    admin_password: str | None = None,
    service_email: str = SERVICE_EMAIL,
    collections: tuple[str, ...] = SERVICE_COLLECTIONS,
) -> dict[str, str]:
    """Create or correct the policy, role and service user; return their ids.

    Authenticates with `admin_token`, or logs in with `admin_email`/`admin_password`.
    """
    if not service_token:
        raise ProvisionError("the service token (DIRECTUS_TOKEN) is empty")
    if admin_token is None:
        if not (admin_email and admin_password):
            raise ProvisionError("need an admin token or the admin email and password")
        admin_token = admin_login(url, admin_email, admin_password)
    api = _Admin(url, admin_token)
    policy_id = _ensure_policy(api, collections)
    role_id = _ensure_role(api, policy_id)
    user_id = _ensure_user(api, role_id, service_token, service_email)
    return {"policy": policy_id, "role": role_id, "user": user_id}


def _settings() -> dict[str, str]:
    """The environment, completed from the repository's .env for names it lacks."""
    values = dict(os.environ)
    env_file = Path(__file__).resolve().parents[2] / ".env"
    if env_file.exists():
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from directusctl import read_env_file

        for key, value in read_env_file(env_file).items():
            values.setdefault(key, value)
    return values


def main() -> int:
    env = _settings()
    needed = ("DIRECTUS_URL", "DIRECTUS_TOKEN", "DIRECTUS_ADMIN_EMAIL", "DIRECTUS_ADMIN_PASSWORD")
    missing = [name for name in needed if not env.get(name)]
    if missing:
        print(f"provision: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        ids = provision(
            env["DIRECTUS_URL"],
            env["DIRECTUS_TOKEN"],
            admin_email=env["DIRECTUS_ADMIN_EMAIL"],
            admin_password=env["DIRECTUS_ADMIN_PASSWORD"],
        )
    except (ProvisionError, requests.RequestException) as exc:
        print(f"provision: {exc}", file=sys.stderr)
        return 1
    print(f"provisioned: policy {ids['policy']}, role {ids['role']}, user {ids['user']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

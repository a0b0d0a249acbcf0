"""Guards by audience. Each blueprint installs exactly one of them with `before_request`.

- `require_user`: a Directus user access token. With DIRECTUS_SECRET its HS256 signature is
  verified locally, and a session-mode token must also be a live session in Directus; without
  it only its shape is checked locally and Directus itself must confirm every token
  (credsvc.services.sessions).
- `require_internal`: an internal caller's secret in X-RBAC-SYNC-SECRET (credsvc.callers),
  compared in constant time over bytes, then the scope the route declares next to its view
  with `@requires_scope`; a per-business scope also needs `authorize_business` in the view.
- `require_api_key`: a business API key (`Authorization: Bearer csk_...`), looked up in
  Directus on every request (credsvc.services.api_keys).
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Callable
from typing import NoReturn, TypeVar

import jwt
from flask import current_app, g, request

from credsvc.callers import SCOPES, Caller
from credsvc.directus import DirectusError
from credsvc.errors import Forbidden, Unauthorized
from credsvc.services import api_keys, sessions

log = logging.getLogger("credsvc.auth")
View = TypeVar("View", bound=Callable)

MAX_TOKEN_LENGTH = 4096
ACCESS_TOKEN_CLAIMS = ("id", "role", "app_access", "admin_access")
# Directus signs password-reset, invite and share tokens with the same secret and issuer.
NON_ACCESS_CLAIMS = ("scope", "share", "share_scope")
# Header members that ask a verifier to fetch or pick keys; a Directus token has none.
KEY_HEADERS = ("jku", "x5u", "jwk", "x5c", "kid", "crit")
# The claim checks jwt.decode makes, named so that skipping the signature skips nothing else
# (PyJWT turns them all off by default when verify_signature is off).
CLAIM_CHECKS = {
    f"verify_{name}": True for name in ("exp", "nbf", "iat", "aud", "iss", "sub", "jti")
}


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def verify_directus_token(token: str, secret: str, leeway: int = 10) -> dict:
    """Return the claims of a Directus user access token signed with `secret`, or raise
    Unauthorized."""
    if not secret:
        raise ValueError("an empty secret would accept a token signed with an empty key")
    return _access_token_claims(token, secret, leeway)


def unverified_directus_claims(token: str, leeway: int = 10) -> dict:
    """The same checks as verify_directus_token except the signature, which nothing here can
    verify: only Directus may vouch for a token that passes them."""
    return _access_token_claims(token, None, leeway)


def _access_token_claims(token: str, secret: str | None, leeway: int) -> dict:
    """The claims of what is shaped like a Directus user access token, or Unauthorized: one
    HS256 signature (checked when `secret` is given), no key-selecting header, the access
    claims and no reset/invite/share claim, issued by directus, not expired, a uuid for id."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise Unauthorized()
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "HS256" or any(name in header for name in KEY_HEADERS):
            raise Unauthorized()
        claims = jwt.decode(
            token,
            secret or "",
            algorithms=["HS256"],
            issuer="directus",
            leeway=leeway,
            options={
                **CLAIM_CHECKS,
                "verify_signature": secret is not None,
                "require": ["exp", "iat", "iss"],
            },
        )
    except jwt.PyJWTError:
        raise Unauthorized() from None
    if any(name not in claims for name in ACCESS_TOKEN_CLAIMS):
        raise Unauthorized()
    if any(name in claims for name in NON_ACCESS_CLAIMS):
        raise Unauthorized()
    try:
        claims["id"] = str(uuid.UUID(str(claims["id"])))
    except ValueError:
        raise Unauthorized() from None
    return claims


def require_user() -> None:
    """before_request guard: sets g.user_id from a valid Directus access token."""
    app = current_app.extensions["credsvc"]
    token = bearer_token()
    secret, leeway = app.config.directus_secret, app.config.jwt_leeway
    if secret:
        claims = verify_directus_token(token, secret, leeway)
        # A session-mode token outlives logout locally; only Directus knows whether it
        # still stands.
        ask_directus = sessions.is_session_token(claims)
    else:
        # Without the secret nothing here can tell a forged signature: the local checks only
        # spare Directus the tokens that could never be access tokens.
        claims = unverified_directus_claims(token, leeway)
        ask_directus = True
    # Directus unreachable -> its DirectusError (502/504), never an acceptance.
    if ask_directus and not app.sessions.is_live(app.directus, token, claims):
        raise Unauthorized()
    g.user_id = claims["id"]
    g.actor = f"user:{claims['id']}"


def requires_scope(scope: str) -> Callable[[View], View]:
    """Declare the scope (credsvc.callers.SCOPES) a shared-secret route needs; put it next to
    the view. `require_internal` refuses a route that declares none."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def declare(view: View) -> View:
        view.required_scope = scope
        return view

    return declare


def identify_caller(presented: bytes, callers: tuple[Caller, ...]) -> Caller | None:
    """The caller whose secret (current or previous) was presented, or None. Every secret is
    compared, in constant time, whatever matched: timing tells neither whether nor which."""
    found = None
    for caller in callers:
        for secret in caller.secrets:
            if hmac.compare_digest(presented, secret):
                found = caller
    return found


def require_internal() -> None:
    """before_request guard: sets g.caller and g.actor ("internal:<name>") from the secret in
    X-RBAC-SYNC-SECRET (401 when unknown), then requires the route's declared scope (403)."""
    config = current_app.extensions["credsvc"].config
    raw = request.headers.get("X-RBAC-SYNC-SECRET")
    if raw is None:
        raise Unauthorized()
    # Werkzeug decodes header bytes as latin-1; encoding back recovers the exact bytes sent.
    caller = identify_caller(raw.encode("latin-1", errors="replace"), config.callers)
    if caller is None:
        raise Unauthorized()
    g.caller, g.actor = caller, caller.actor
    view = current_app.view_functions.get(request.endpoint or "")
    g.scope = getattr(view, "required_scope", None)
    if g.scope is None:
        log.error("shared-secret route declares no scope", extra={"event": "forbidden"})
        deny()
    if not caller.allows(g.scope):
        deny()


def authorize_business(business_id: str) -> str:
    """For a route with a per-business scope: the caller must hold it for `business_id` (the
    validated value from the body), checked before anything is read. Returns business_id."""
    if not g.caller.allows(g.scope, business_id):
        deny(business_id=business_id)
    return business_id


def deny(**target: str) -> NoReturn:
    """403 for a known caller outside its scopes: logged, and audited as `forbidden` on a
    best-effort basis (the answer is 403 either way). Never with the secret."""
    needed = f"{g.scope}:{target['business_id']}" if "business_id" in target else g.scope
    log.warning("internal caller denied", extra={"actor": g.actor, "event": "forbidden"})
    try:
        current_app.extensions["credsvc"].audit.record(
            actor=g.actor,
            action=(request.url_rule.rule if request.url_rule else request.path)[:64],
            outcome="forbidden",
            request_id=g.get("request_id"),
            detail=f"needs scope {needed}" if needed else "the route declares no scope",
            **target,
        )
    except DirectusError:
        pass  # the 403 matters more than its audit row
    raise Forbidden()


MISSING_HEADER = "Missing Authorization header"
INVALID_KEY = "Invalid API key"
REVOKED_KEY = "API key revoked"


def require_api_key() -> None:
    """before_request guard: sets g.business_id and g.actor from a valid, unrevoked key."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise Unauthorized(MISSING_HEADER)
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized(INVALID_KEY)
    directus = current_app.extensions["credsvc"].directus
    key = api_keys.find_key(directus, presented.strip())
    if key is None:
        raise Unauthorized(INVALID_KEY)
    if api_keys.is_revoked(key):
        raise Forbidden(REVOKED_KEY)
    api_keys.touch(directus, key)
    g.business_id = key["business_id"]
    g.actor = f"api-key:{key['id']}"

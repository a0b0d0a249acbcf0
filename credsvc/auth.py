"""Guards by audience. Each blueprint installs exactly one of them with `before_request`.

- `require_user`: a Directus user access token (HS256, verified locally with DIRECTUS_SECRET).
- `require_internal`: the X-RBAC-SYNC-SECRET shared secret (current or previous), compared in
  constant time over bytes.
- `require_api_key`: a business API key (`Authorization: Bearer csk_...`), looked up in
  Directus on every request (credsvc.services.api_keys).
"""

from __future__ import annotations

import hmac
import uuid

import jwt
from flask import current_app, g, request

from credsvc.errors import Forbidden, Unauthorized
from credsvc.services import api_keys

MAX_TOKEN_LENGTH = 4096
ACCESS_TOKEN_CLAIMS = ("id", "role", "app_access", "admin_access")
# Directus signs password-reset, invite and share tokens with the same secret and issuer.
NON_ACCESS_CLAIMS = ("scope", "share", "share_scope")
# Header members that ask a verifier to fetch or pick keys; a Directus token has none.
KEY_HEADERS = ("jku", "x5u", "jwk", "x5c", "kid", "crit")


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def verify_directus_token(token: str, secret: str, leeway: int = 10) -> dict:
    """Return the claims of a Directus user access token, or raise Unauthorized."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise Unauthorized()
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "HS256" or any(name in header for name in KEY_HEADERS):
            raise Unauthorized()
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer="directus",
            leeway=leeway,
            options={"require": ["exp", "iat", "iss"]},
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
    config = current_app.extensions["credsvc"].config
    claims = verify_directus_token(bearer_token(), config.directus_secret, config.jwt_leeway)
    g.user_id = claims["id"]
    g.actor = f"user:{claims['id']}"


def secret_matches(presented: bytes, accepted: tuple[bytes, ...]) -> bool:
    # Compare against every accepted secret so timing does not reveal which one matched.
    matched = False
    for secret in accepted:
        matched |= hmac.compare_digest(presented, secret)
    return matched


def require_internal() -> None:
    """before_request guard: the shared secret in X-RBAC-SYNC-SECRET."""
    config = current_app.extensions["credsvc"].config
    raw = request.headers.get("X-RBAC-SYNC-SECRET")
    if raw is None:
        raise Unauthorized()
    # Werkzeug decodes header bytes as latin-1; encoding back recovers the exact bytes sent.
    presented = raw.encode("latin-1", errors="replace")
    if not presented or not secret_matches(presented, config.rbac_sync_secrets):
        raise Unauthorized()
    g.actor = "internal"


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

"""Configuration: every environment variable is read here, once, and validated.

`Config.from_env()` raises `ConfigError` naming the variable when a required value is
missing or malformed, so the service refuses to start instead of running insecurely.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from credsvc.crypto import (
    CryptoError,
    Keyring,
    KeyringError,
    Sealer,
    TransitClient,
    TransitKey,
    keyring_from_settings,
    parse_public_key,
)


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the message names the variable."""


MIN_SECRET_LENGTH = 16
MODES = ("full", "ingest")
# In ingest mode the process must hold nothing that decrypts.
DECRYPTING_SETTINGS = (
    "CREDENTIALS_ENCRYPTION_KEY",
    "CREDENTIALS_KEYS",
    "CREDENTIALS_INGEST_PRIVATE_KEY",
)


@dataclass(frozen=True)
class Config:
    directus_url: str
    directus_token: str
    directus_secret: str
    rbac_sync_secrets: tuple[bytes, ...]
    keyring: Keyring | Sealer
    mode: str = "full"
    max_content_length: int = 1024 * 1024
    directus_timeout: tuple[float, float] = (3.05, 10.0)
    jwt_leeway: int = 10
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        secrets = [_required_secret(env, "RBAC_SYNC_SECRET").encode()]
        previous = env.get("RBAC_SYNC_SECRET_PREVIOUS", "").strip()
        if previous:
            secrets.append(_required_secret(env, "RBAC_SYNC_SECRET_PREVIOUS").encode())
        mode = env.get("CREDSVC_MODE", "").strip().lower() or "full"
        if mode not in MODES:
            raise ConfigError(f"CREDSVC_MODE must be one of {', '.join(MODES)}, got {mode!r}")
        keyring = _ingest_sealer(env) if mode == "ingest" else _keyring(env)
        return cls(
            directus_url=_url(env, "DIRECTUS_URL"),
            directus_token=_required(env, "DIRECTUS_TOKEN"),
            directus_secret=_required_secret(env, "DIRECTUS_SECRET"),
            rbac_sync_secrets=tuple(secrets),
            keyring=keyring,
            mode=mode,
            max_content_length=_positive_int(env, "MAX_CONTENT_LENGTH", 1024 * 1024),
            directus_timeout=(
                _positive_float(env, "DIRECTUS_TIMEOUT_CONNECT", 3.05),
                _positive_float(env, "DIRECTUS_TIMEOUT_READ", 10.0),
            ),
            jwt_leeway=_positive_int(env, "JWT_LEEWAY_SECONDS", 10, allow_zero=True),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
        )


def _keyring(env: Mapping[str, str]) -> Keyring:
    """The full keyring: local keys, an optional transit key, optional ingest private keys."""
    try:
        return keyring_from_settings(
            env.get("CREDENTIALS_ENCRYPTION_KEY", ""),
            keys=env.get("CREDENTIALS_KEYS", ""),
            active=env.get("CREDENTIALS_ACTIVE_KEY", ""),
            min_decrypt=env.get("CREDENTIALS_MIN_DECRYPT_KEY", ""),
            transit_key=_transit_key(env),
            ingest_private=env.get("CREDENTIALS_INGEST_PRIVATE_KEY", ""),
            ingest_key_id=env.get("CREDENTIALS_INGEST_KEY_ID", ""),
        )
    except KeyringError as exc:
        raise ConfigError(str(exc)) from None


def _transit_key(env: Mapping[str, str]) -> TransitKey | None:
    """CREDENTIALS_TRANSIT_ADDR / _TOKEN / _KEY (/ _MOUNT, default "transit"), all or none."""
    names = ("CREDENTIALS_TRANSIT_ADDR", "CREDENTIALS_TRANSIT_TOKEN", "CREDENTIALS_TRANSIT_KEY")
    given = [name for name in names if env.get(name, "").strip()]
    if not given:
        return None
    if len(given) != len(names):
        missing = ", ".join(name for name in names if name not in given)
        raise ConfigError(f"{missing} must be set together with {', '.join(given)}")
    client = TransitClient(
        _url(env, "CREDENTIALS_TRANSIT_ADDR"),
        env["CREDENTIALS_TRANSIT_TOKEN"].strip(),
        env["CREDENTIALS_TRANSIT_KEY"].strip(),
        mount=env.get("CREDENTIALS_TRANSIT_MOUNT", "").strip() or "transit",
    )
    return TransitKey(client)


def _ingest_sealer(env: Mapping[str, str]) -> Keyring | Sealer:
    """CREDSVC_MODE=ingest: a public key (or an encrypt-only transit token), nothing that
    decrypts. Any decrypting setting is refused so a mix-up cannot weaken the deployment."""
    present = [name for name in DECRYPTING_SETTINGS if env.get(name, "").strip()]
    if present:
        raise ConfigError(f"CREDSVC_MODE=ingest must not be given {', '.join(present)}")
    public = env.get("CREDENTIALS_INGEST_PUBLIC_KEY", "").strip()
    transit_key = _transit_key(env)
    if public and transit_key:
        raise ConfigError(
            "CREDSVC_MODE=ingest takes CREDENTIALS_INGEST_PUBLIC_KEY or "
            "CREDENTIALS_TRANSIT_*, not both"
        )
    key_id = env.get("CREDENTIALS_INGEST_KEY_ID", "").strip() or "i1"
    if transit_key:
        # The transit token's policy is what keeps this side from decrypting.
        key_id = env.get("CREDENTIALS_ACTIVE_KEY", "").strip() or "transit"
        try:
            return Keyring([(key_id, transit_key)], active=key_id, encrypt_only=True)
        except KeyringError as exc:
            raise ConfigError(str(exc)) from None
    if not public:
        raise ConfigError("CREDSVC_MODE=ingest needs CREDENTIALS_INGEST_PUBLIC_KEY")
    try:
        return Sealer(key_id, parse_public_key(public))
    except CryptoError as exc:
        raise ConfigError(f"CREDENTIALS_INGEST_PUBLIC_KEY / _KEY_ID: {exc}") from None


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required but not set")
    return value


def _required_secret(env: Mapping[str, str], name: str) -> str:
    value = _required(env, name)
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{name} must be at least {MIN_SECRET_LENGTH} characters long")
    return value


def _url(env: Mapping[str, str], name: str) -> str:
    value = _required(env, name).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, e.g. http://127.0.0.1:8055")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int, allow_zero=False) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value

"""Configuration: every environment variable is read here, once, and validated.

`Config.from_env()` raises `ConfigError` naming the variable when a required value is
missing or malformed, so the service refuses to start instead of running insecurely.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from credsvc.crypto import Keyring, KeyringError, keyring_from_settings


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the message names the variable."""


MIN_SECRET_LENGTH = 16


@dataclass(frozen=True)
class Config:
    directus_url: str
    directus_token: str
    directus_secret: str
    rbac_sync_secrets: tuple[bytes, ...]
    keyring: Keyring
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
        try:
            keyring = keyring_from_settings(
                env.get("CREDENTIALS_ENCRYPTION_KEY", ""),
                keys=env.get("CREDENTIALS_KEYS", ""),
                active=env.get("CREDENTIALS_ACTIVE_KEY", ""),
                min_decrypt=env.get("CREDENTIALS_MIN_DECRYPT_KEY", ""),
            )
        except KeyringError as exc:
            raise ConfigError(str(exc)) from None
        return cls(
            directus_url=_url(env, "DIRECTUS_URL"),
            directus_token=_required(env, "DIRECTUS_TOKEN"),
            directus_secret=_required_secret(env, "DIRECTUS_SECRET"),
            rbac_sync_secrets=tuple(secrets),
            keyring=keyring,
            max_content_length=_positive_int(env, "MAX_CONTENT_LENGTH", 1024 * 1024),
            directus_timeout=(
                _positive_float(env, "DIRECTUS_TIMEOUT_CONNECT", 3.05),
                _positive_float(env, "DIRECTUS_TIMEOUT_READ", 10.0),
            ),
            jwt_leeway=_positive_int(env, "JWT_LEEWAY_SECONDS", 10, allow_zero=True),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
        )


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

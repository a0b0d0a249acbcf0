"""Configuration: every environment variable is read here, once, and validated.

`Config.from_env()` raises `ConfigError` when values are missing or malformed, with every
problem at once, one line each naming its variable, so the service refuses to start instead of
running insecurely (wsgi.py, gunicorn.conf.py) and `flask --app wsgi check` lists them all.

A Config is plain data: values, no clients. credsvc.resources builds the live objects from it
(the Directus client, the transit client, the keyring). The crypto package takes its settings
as arguments and names them by keyword (`active`); `name_settings` turns those into the
variables read here (KEY_VARIABLES).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from credsvc import callers as caller_rules
from credsvc.callers import Caller, CallerError
from credsvc.crypto import (
    CryptoError,
    Keyring,
    KeyringError,
    Sealer,
    TransitClient,
    TransitKey,
    parse_public_key,
    parse_signing_key,
)
from credsvc.crypto import keyring_from_settings as build_ring
from credsvc.origins import OriginError, parse_allowed_origins
from credsvc.webhooks import WebhookConfigError, WebhookTarget, parse_target


class ConfigError(RuntimeError):
    """Settings are missing or malformed: `problems` has one line per problem, each naming its
    variable and what is expected (str() is those lines)."""

    def __init__(self, *problems: str):
        self.problems = [line for problem in problems for line in problem.splitlines()]
        super().__init__("\n".join(self.problems))

    def report(self) -> str:
        """What the app and gunicorn print when they refuse to start (no traceback)."""
        count = len(self.problems)
        lines = "".join(f"\n  {problem}" for problem in self.problems)
        return (
            f"credsvc cannot start: {count} configuration problem{'s' if count != 1 else ''}"
            f" (flask --app wsgi check lists them too):{lines}"
        )


T = TypeVar("T")
MIN_SECRET_LENGTH = 16
# How long a confirmed live Directus session is taken on trust (credsvc.services.sessions).
SESSION_CHECK_CACHE_SECONDS = 5
# full: every blueprint; ingest: encrypt-only, the user-JWT and API-key endpoints, no secret
# that reveals anything; worker: only the shared-secret endpoints (credsvc.api.BLUEPRINTS).
MODES = ("full", "ingest", "worker")
# In ingest mode the process must hold nothing that decrypts.
DECRYPTING_SETTINGS = (
    "CREDENTIALS_ENCRYPTION_KEY",
    "CREDENTIALS_KEYS",
    "CREDENTIALS_INGEST_PRIVATE_KEY",
    "CREDENTIALS_LEGACY_KEY",
    "CREDENTIALS_LEGACY_PROBE_KEY",
)


@dataclass(frozen=True)
class Config:
    directus_url: str
    directus_token: str
    directus_secret: str  # "" = not given: Directus verifies every user token (credsvc.auth)
    callers: tuple[Caller, ...]  # who may use X-RBAC-SYNC-SECRET (none in ingest mode)
    keys: KeySettings  # what the keyring is built from (credsvc.resources.build_keyring)
    mode: str = "full"
    max_content_length: int = 1024 * 1024
    directus_timeout: tuple[float, float] = (3.05, 10.0)
    jwt_leeway: int = 10
    session_check_cache_seconds: int = SESSION_CHECK_CACHE_SECONDS
    log_level: str = "INFO"
    # The operator role's Directus token, for the `api-keys` and `keys` commands (credsvc.cli);
    # "" = they use directus_token. A server never needs it.
    directus_operator_token: str = ""
    # What `keys legacy-probe` tries (credsvc.cli.keys); a server never uses it.
    legacy_probe: LegacyProbe = field(default_factory=lambda: LegacyProbe())
    # Exact browser origins allowed to call the user-JWT endpoints (credsvc.cors); () = no CORS.
    cors_allowed_origins: tuple[str, ...] = ()
    # Session health (credsvc.services.session_health): "expiring_soon" this many hours ahead.
    session_expiring_soon_hours: int = 72
    # Signed webhooks for session events (credsvc.webhooks); None = no webhooks.
    webhook: WebhookTarget | None = None
    # Bearer token of GET /metrics (credsvc.api.metrics); "" = no such route.
    metrics_token: str = ""
    # PROMETHEUS_MULTIPROC_DIR: where gunicorn workers keep their metrics (credsvc.metrics);
    # prometheus_client reads the variable itself too. "" = one process.
    metrics_multiprocess_dir: str = ""
    # Weaker settings in use, which the app logs at startup (e.g. legacy write mode).
    warnings: tuple[str, ...] = ()

    # Only these appear in repr()/str(): a field added later stays out until it is listed, so a
    # new secret cannot reach a log line or a traceback by way of the config object.
    SHOWN_IN_REPR = (
        "mode",
        "keys",  # KeySettings' repr names key ids and switches, never key material
        "max_content_length",
        "directus_timeout",
        "jwt_leeway",
        "session_check_cache_seconds",
        "log_level",
        "cors_allowed_origins",
        "session_expiring_soon_hours",
        "webhook",  # WebhookTarget's repr leaves the secret out
    )

    def __repr__(self) -> str:
        parts = [f"directus_url={_without_userinfo(self.directus_url)!r}"]
        parts += [f"{name}={getattr(self, name)!r}" for name in self.SHOWN_IN_REPR]
        return f"Config({', '.join(parts)}, ...)"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Every setting, or ConfigError with every problem found (`check` reads each setting
        through `_Problems`, which notes a problem and goes on to the next setting)."""
        env = os.environ if environ is None else environ
        check = _Problems()
        mode = env.get("CREDSVC_MODE", "").strip().lower() or "full"
        if mode not in MODES:
            check.note(f"CREDSVC_MODE must be one of {', '.join(MODES)}")
            mode = "full"  # the other settings are checked as the default mode needs them
        settings = dict(
            directus_url=check(_url, env, "DIRECTUS_URL"),
            directus_token=check(_required, env, "DIRECTUS_TOKEN"),
            directus_secret=check(_directus_secret, env, mode),
            callers=check(_callers, env, mode),
            keys=check(_checked_keys, env, mode),
            mode=mode,
            max_content_length=check(_positive_int, env, "MAX_CONTENT_LENGTH", 1024 * 1024),
            directus_timeout=(
                check(_positive_float, env, "DIRECTUS_TIMEOUT_CONNECT", 3.05),
                check(_positive_float, env, "DIRECTUS_TIMEOUT_READ", 10.0),
            ),
            jwt_leeway=check(_positive_int, env, "JWT_LEEWAY_SECONDS", 10, allow_zero=True),
            session_check_cache_seconds=check(
                _positive_int,
                env,
                "SESSION_CHECK_CACHE_SECONDS",
                SESSION_CHECK_CACHE_SECONDS,
                allow_zero=True,
            ),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            directus_operator_token=env.get("DIRECTUS_OPERATOR_TOKEN", "").strip(),
            legacy_probe=check(_legacy_probe, env),
            cors_allowed_origins=check(_cors_origins, env),
            session_expiring_soon_hours=check(
                _positive_int, env, "SESSION_EXPIRING_SOON_HOURS", 72, allow_zero=True
            ),
            webhook=check(_webhook, env),
            metrics_token=check(_optional_secret, env, "METRICS_TOKEN"),
            metrics_multiprocess_dir=env.get("PROMETHEUS_MULTIPROC_DIR", "").strip(),
        )
        if check.problems:
            raise ConfigError(*check.problems)
        settings["keys"], settings["warnings"] = settings["keys"]
        return cls(**settings)


class _Problems:
    """Reads settings for Config.from_env, noting each ConfigError instead of stopping at the
    first, so that one run reports every problem (a reader that raises gives None)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def note(self, problem: str) -> None:
        self.problems.append(problem)

    def __call__(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return read(*args, **kwargs)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return None


def _webhook(env: Mapping[str, str]) -> WebhookTarget | None:
    try:
        return parse_target(env.get("WEBHOOK_URL", ""), env.get("WEBHOOK_SECRET", ""))
    except WebhookConfigError as exc:
        raise ConfigError(str(exc)) from None


def _cors_origins(env: Mapping[str, str]) -> tuple[str, ...]:
    try:
        return parse_allowed_origins(env.get("CORS_ALLOWED_ORIGINS", ""))
    except OriginError as exc:
        raise ConfigError(f"CORS_ALLOWED_ORIGINS: {exc}") from None


def _directus_secret(env: Mapping[str, str], mode: str) -> str:
    """DIRECTUS_SECRET, or "" when not given (Directus then verifies every user token itself,
    credsvc.auth). It signs Directus's user JWTs, so whoever holds it can mint an access token
    for any user, a Directus admin included: a worker, which serves no user endpoint, is
    refused it."""
    if not env.get("DIRECTUS_SECRET", "").strip():
        return ""
    if mode in ("worker", "ingest"):
        raise ConfigError(
            f"CREDSVC_MODE={mode} must not be given DIRECTUS_SECRET: it lets its holder mint "
            "Directus access tokens for any user, Directus admins included (without it, "
            "Directus itself confirms each user token)"
        )
    return _required_secret(env, "DIRECTUS_SECRET")


DEFAULT_CALLER_SETTINGS = ("RBAC_SYNC_SECRET", "RBAC_SYNC_SECRET_PREVIOUS")

# The static tokens of the other Directus roles (deploy/directus/provision.py), which only
# `flask check` reads, to confirm Directus knows them: role -> variable.
ROLE_TOKEN_VARIABLES = {
    "ingest": "DIRECTUS_INGEST_TOKEN",
    "worker": "DIRECTUS_WORKER_TOKEN",
    "operator": "DIRECTUS_OPERATOR_TOKEN",
}


def role_tokens(environ: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """variable -> (role, token) for each of ROLE_TOKEN_VARIABLES that is set."""
    env = os.environ if environ is None else environ
    return {
        name: (role, env[name].strip())
        for role, name in ROLE_TOKEN_VARIABLES.items()
        if env.get(name, "").strip()
    }


def refused_settings(mode: str, env: Mapping[str, str]) -> list[str]:
    """The settings of `env` a process of `mode` refuses to start with (the checks below):
    what lets an ingest process reveal anything, and what lets a worker mint user tokens.
    Launchers (deploy/run.py) use it to hand each mode only what it may hold."""
    given = [name for name, value in env.items() if value.strip()]
    if mode == "ingest":
        return sorted(
            name
            for name in given
            if name in DECRYPTING_SETTINGS
            or name == "DIRECTUS_SECRET"
            or name in DEFAULT_CALLER_SETTINGS
            or name == "INTERNAL_CALLERS"
            or name.startswith(caller_rules.VARIABLE_PREFIX)
            or (name == "CREDENTIALS_WRITE_FORMAT" and env[name].strip().lower() == "legacy")
        )
    if mode == "worker":
        return [name for name in given if name == "DIRECTUS_SECRET"]
    return []


def _callers(env: Mapping[str, str], mode: str) -> tuple[Caller, ...]:
    """The internal callers (credsvc.callers): `rbac-sync` with every scope when
    RBAC_SYNC_SECRET is set, plus each of INTERNAL_CALLERS. An ingest process serves no
    shared-secret endpoint, so it must hold none of these secrets."""
    given = sorted(
        name
        for name, value in env.items()
        if value.strip()
        and (
            name in DEFAULT_CALLER_SETTINGS
            or name.startswith(caller_rules.VARIABLE_PREFIX)
            or name == "INTERNAL_CALLERS"
        )
    )
    if mode == "ingest":
        if given:
            raise ConfigError(
                f"CREDSVC_MODE=ingest must not be given {', '.join(given)}: an ingest process "
                "serves no shared-secret endpoint and must hold no secret that reveals anything"
            )
        return ()
    owners: dict[bytes, tuple[str, str]] = {}  # secret -> (caller, variable), to refuse reuse

    def secrets_of(caller: str, current: str, previous: str) -> tuple[bytes, ...]:
        names = [current] + ([previous] if env.get(previous, "").strip() else [])
        found = []
        for name in names:
            secret = _required_secret(env, name).encode()
            other = owners.setdefault(secret, (caller, name))
            if other[0] != caller:
                raise ConfigError(
                    f"{other[1]} and {name} hold the same secret: give each caller its own"
                )
            found.append(secret)
        return tuple(found)

    callers = []
    if env.get("RBAC_SYNC_SECRET", "").strip():
        default = caller_rules.DEFAULT_CALLER
        secrets = secrets_of(default, *DEFAULT_CALLER_SETTINGS)
        callers.append(Caller(default, caller_rules.FULL_SCOPE, secrets))
    elif env.get("RBAC_SYNC_SECRET_PREVIOUS", "").strip():
        raise ConfigError("RBAC_SYNC_SECRET_PREVIOUS is set but RBAC_SYNC_SECRET is not")
    expected = set()
    for name in _caller_names(env):
        secret, previous, scopes = (
            caller_rules.variable(name, suffix)
            for suffix in ("SECRET", "SECRET_PREVIOUS", "SCOPES")
        )
        expected.update((secret, previous, scopes))
        try:
            grants = caller_rules.parse_grants(_required(env, scopes))
        except CallerError as exc:
            raise ConfigError(f"{scopes} {exc}") from None
        callers.append(Caller(name, grants, secrets_of(name, secret, previous)))
    stray = [
        name
        for name in given
        if name.startswith(caller_rules.VARIABLE_PREFIX) and name not in expected
    ]
    if stray:
        raise ConfigError(f"{', '.join(stray)}: no such caller in INTERNAL_CALLERS")
    if not callers:
        raise ConfigError(
            f"CREDSVC_MODE={mode} needs an internal caller: set RBAC_SYNC_SECRET "
            "(every scope) or INTERNAL_CALLERS"
        )
    return tuple(callers)


def _caller_names(env: Mapping[str, str]) -> list[str]:
    raw = env.get("INTERNAL_CALLERS", "").strip()
    names = [name.strip() for name in raw.split(",")] if raw else []
    for position, name in enumerate(names, 1):
        if not caller_rules.NAME.fullmatch(name):
            # Not quoted: whatever is there may be a secret pasted into the wrong variable.
            raise ConfigError(
                f"INTERNAL_CALLERS entry {position} is not a caller name "
                "(1-32 characters of a-z, 0-9 and -)"
            )
        if name == caller_rules.DEFAULT_CALLER:
            raise ConfigError(
                f"INTERNAL_CALLERS: {name} is the name of the RBAC_SYNC_SECRET caller"
            )
        if names.index(name) != position - 1:
            raise ConfigError(f"INTERNAL_CALLERS names {name} twice")
    return names


# The keywords of credsvc.crypto.keyring_from_settings -> the variable each is read from. The
# crypto package's messages name a setting as `keyword`; name_settings puts the variable there.
KEY_VARIABLES = {
    "single_key": "CREDENTIALS_ENCRYPTION_KEY",
    "keys": "CREDENTIALS_KEYS",
    "active": "CREDENTIALS_ACTIVE_KEY",
    "min_decrypt": "CREDENTIALS_MIN_DECRYPT_KEY",
    "transit_key": "CREDENTIALS_TRANSIT_ADDR/_TOKEN/_KEY",
    "ingest_private": "CREDENTIALS_INGEST_PRIVATE_KEY",
    "ingest_key_id": "CREDENTIALS_INGEST_KEY_ID",
    "ingest_verify": "CREDENTIALS_INGEST_VERIFY_KEY",
    "require_owner_binding": "CREDENTIALS_REQUIRE_OWNER_BINDING",
    "accept_unsigned_ingest": "CREDENTIALS_ACCEPT_UNSIGNED_INGEST",
    # The Node service's key and credsvc's compatibility with it (docs/ciphertext-format.md
    # "Legacy").
    "legacy_key": "CREDENTIALS_LEGACY_KEY",
    "legacy_derivation": "CREDENTIALS_LEGACY_KEY_DERIVATION",
    "legacy_salt": "CREDENTIALS_LEGACY_KEY_SALT",
    "legacy_iterations": "CREDENTIALS_LEGACY_KEY_ITERATIONS",
    "write_format": "CREDENTIALS_WRITE_FORMAT",
    "legacy_encoding": "CREDENTIALS_LEGACY_ENCODING",
}
# The settings passed to keyring_from_settings as the strings given (the flags are parsed, the
# transit key is built from TransitSettings).
_KEY_STRINGS = tuple(
    name
    for name in KEY_VARIABLES
    if name not in ("transit_key", "require_owner_binding", "accept_unsigned_ingest")
)
_SETTING = re.compile(r"`(\w+)`")


def name_settings(text: str) -> str:
    """A crypto message with each `keyword` replaced by the variable it is read from."""
    return _SETTING.sub(lambda m: KEY_VARIABLES.get(m[1], m[0]), text)


def keyring_from_settings(*args: Any, **kwargs: Any) -> Keyring:
    """credsvc.crypto.keyring_from_settings, its KeyringError naming the variables."""
    try:
        return build_ring(*args, **kwargs)
    except KeyringError as exc:
        raise KeyringError(name_settings(str(exc))) from None


@dataclass(frozen=True)
class TransitSettings:
    """CREDENTIALS_TRANSIT_ADDR / _TOKEN / _KEY / _MOUNT: where the transit key lives
    (credsvc.crypto.transit)."""

    addr: str
    token: str = field(repr=False)
    key: str
    mount: str = "transit"


@dataclass(frozen=True)
class KeySettings:
    """The key settings, checked: what credsvc.resources.build_keyring builds the ring from.

    Full and worker mode: the keyword arguments of credsvc.crypto.keyring_from_settings
    (`strings`, the two flags) plus the transit key. Ingest mode (`encrypt_only`): a public
    key and a signing key (a Sealer), or the transit key under `active`. The repr shows no
    key material."""

    encrypt_only: bool = False
    strings: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    require_owner_binding: bool = False
    accept_unsigned_ingest: bool = False
    transit: TransitSettings | None = None
    active: str = ""
    ingest_key_id: str = ""
    ingest_public: str = field(default="", repr=False)
    ingest_signing: str = field(default="", repr=False)


def keyring_for(settings: KeySettings, transit: TransitClient | None) -> Keyring | Sealer:
    """The ring `settings` describe, with `transit` as the client of its transit key;
    ConfigError naming the variables when the settings are unusable. Config.from_env builds
    it once without a client to check the settings (the ring only stores the client)."""
    transit_key = TransitKey(transit) if settings.transit else None  # type: ignore[arg-type]
    if settings.encrypt_only and transit_key is not None:
        # The transit token's policy is what keeps this side from decrypting.
        key_id = settings.active or "transit"
        try:
            return Keyring([(key_id, transit_key)], active=key_id, encrypt_only=True)
        except KeyringError as exc:
            raise ConfigError(name_settings(str(exc))) from None
    if settings.encrypt_only:
        try:
            return Sealer(
                settings.ingest_key_id or "i1",
                parse_public_key(settings.ingest_public),
                parse_signing_key(settings.ingest_signing),
            )
        except CryptoError as exc:
            raise ConfigError(
                f"CREDENTIALS_INGEST_PUBLIC_KEY / _SIGNING_KEY / _KEY_ID: {exc}"
            ) from None
    try:
        return build_ring(
            transit_key=transit_key,
            require_owner_binding=settings.require_owner_binding,
            accept_unsigned_ingest=settings.accept_unsigned_ingest,
            **dict(settings.strings),
        )
    except KeyringError as exc:
        raise ConfigError(name_settings(str(exc))) from None


def _checked_keys(env: Mapping[str, str], mode: str) -> tuple[KeySettings, tuple[str, ...]]:
    """The key settings, checked by building the ring once as the app will (without a
    transit client: building connects nothing), and the warnings of that ring."""
    settings = _key_settings(env, mode)
    ring = keyring_for(settings, None)
    return settings, tuple(name_settings(w) for w in getattr(ring, "warnings", ()))


def _key_settings(env: Mapping[str, str], mode: str) -> KeySettings:
    if mode == "ingest":
        return _ingest_key_settings(env)
    variables = {name: KEY_VARIABLES[name] for name in _KEY_STRINGS}
    return KeySettings(
        strings=tuple((name, env.get(variable, "")) for name, variable in variables.items()),
        require_owner_binding=_flag(env, "CREDENTIALS_REQUIRE_OWNER_BINDING"),
        accept_unsigned_ingest=_flag(env, "CREDENTIALS_ACCEPT_UNSIGNED_INGEST"),
        transit=_transit_settings(env),
    )


# Read only by `keys legacy-probe`: the Node service's key string to try, when it is neither
# CREDENTIALS_LEGACY_KEY nor CREDENTIALS_ENCRYPTION_KEY (those must already start the service).
LEGACY_PROBE_KEY = "CREDENTIALS_LEGACY_PROBE_KEY"


@dataclass(frozen=True)
class LegacyProbe:
    """The key string `keys legacy-probe` tries (CREDENTIALS_LEGACY_PROBE_KEY, else
    CREDENTIALS_LEGACY_KEY, else CREDENTIALS_ENCRYPTION_KEY: `source` names it), with the salt
    and iterations of CREDENTIALS_LEGACY_KEY_SALT / _ITERATIONS. Never in a repr."""

    source: str = ""
    secret: str = field(default="", repr=False)
    salt: str = field(default="", repr=False)
    iterations: str = ""


def _legacy_probe(env: Mapping[str, str]) -> LegacyProbe:
    names = (LEGACY_PROBE_KEY, "CREDENTIALS_LEGACY_KEY", "CREDENTIALS_ENCRYPTION_KEY")
    source = next((name for name in names if env.get(name, "").strip()), "")
    return LegacyProbe(
        source,
        env.get(source, "").strip() if source else "",
        env.get("CREDENTIALS_LEGACY_KEY_SALT", ""),
        env.get("CREDENTIALS_LEGACY_KEY_ITERATIONS", "").strip(),
    )


def _transit_settings(env: Mapping[str, str]) -> TransitSettings | None:
    """CREDENTIALS_TRANSIT_ADDR / _TOKEN / _KEY (/ _MOUNT, default "transit"), all or none."""
    names = ("CREDENTIALS_TRANSIT_ADDR", "CREDENTIALS_TRANSIT_TOKEN", "CREDENTIALS_TRANSIT_KEY")
    given = [name for name in names if env.get(name, "").strip()]
    if not given:
        return None
    if len(given) != len(names):
        missing = ", ".join(name for name in names if name not in given)
        raise ConfigError(f"{missing} must be set together with {', '.join(given)}")
    return TransitSettings(
        _url(env, "CREDENTIALS_TRANSIT_ADDR"),
        env["CREDENTIALS_TRANSIT_TOKEN"].strip(),
        env["CREDENTIALS_TRANSIT_KEY"].strip(),
        mount=env.get("CREDENTIALS_TRANSIT_MOUNT", "").strip() or "transit",
    )


def _ingest_key_settings(env: Mapping[str, str]) -> KeySettings:
    """CREDSVC_MODE=ingest: a public key (or an encrypt-only transit token), nothing that
    decrypts. Any decrypting setting is refused so a mix-up cannot weaken the deployment."""
    present = [name for name in DECRYPTING_SETTINGS if env.get(name, "").strip()]
    if present:
        raise ConfigError(f"CREDSVC_MODE=ingest must not be given {', '.join(present)}")
    if env.get("CREDENTIALS_WRITE_FORMAT", "").strip().lower() == "legacy":
        raise ConfigError(
            "CREDSVC_MODE=ingest cannot write CREDENTIALS_WRITE_FORMAT=legacy: the legacy format "
            "needs the Node service's key, which decrypts (unset it for the ingest process)"
        )
    public = env.get("CREDENTIALS_INGEST_PUBLIC_KEY", "").strip()
    transit = _transit_settings(env)
    if public and transit:
        raise ConfigError(
            "CREDSVC_MODE=ingest takes CREDENTIALS_INGEST_PUBLIC_KEY or "
            "CREDENTIALS_TRANSIT_*, not both"
        )
    if transit:
        return KeySettings(
            encrypt_only=True,
            transit=transit,
            active=env.get("CREDENTIALS_ACTIVE_KEY", "").strip(),
        )
    signing = env.get("CREDENTIALS_INGEST_SIGNING_KEY", "").strip()
    if not public or not signing:
        raise ConfigError(
            "CREDSVC_MODE=ingest needs CREDENTIALS_INGEST_PUBLIC_KEY and "
            "CREDENTIALS_INGEST_SIGNING_KEY (flask --app wsgi keys generate-ingest-keypair)"
        )
    return KeySettings(
        encrypt_only=True,
        ingest_key_id=env.get("CREDENTIALS_INGEST_KEY_ID", "").strip(),
        ingest_public=public,
        ingest_signing=signing,
    )


FLAG_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return False
    if raw not in FLAG_VALUES:
        raise ConfigError(f"{name} must be true or false")
    return FLAG_VALUES[raw]


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required but not set")
    return value


def _optional_secret(env: Mapping[str, str], name: str) -> str:
    return _required_secret(env, name) if env.get(name, "").strip() else ""


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


def _without_userinfo(url: str) -> str:
    """`url` without a user:password@ part, which would be a credential."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _positive_int(env: Mapping[str, str], name: str, default: int, allow_zero=False) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be positive")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value

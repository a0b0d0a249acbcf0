"""How the Node service turned its key setting into the AES-256 key of legacy values.

The contract says only that the key is a server-side setting, and Node code derives a key from
that string in a handful of ways; each is one `Derivation` here, named by the
`legacy_derivation` setting (docs/ciphertext-format.md "Legacy keys"). A derivation
applies to `legacy_key` only, never to credsvc's own keys (`own_key`): those are
random 32-byte keys, because a key derived from a passphrase without salt or work factor can
be brute-forced offline by anyone holding a database dump.

    auto, hex-or-base64  64 hex characters or base64 of 32 bytes, padded or not, in the standard
                         or the URL-safe alphabet (credsvc's own key format, and what Node's
                         lenient `Buffer.from(key, 'hex')` / `'base64'` takes for 32 bytes;
                         characters Node would skip, or both alphabets at once, are refused).
                         The default.
    raw                  the string's UTF-8 bytes, exactly 32 (Node: a 32-character key passed
                         to `createCipheriv` as it is, or `Buffer.from(key)`)
    raw-prefix           the first 32 bytes of the string's UTF-8 (`Buffer.from(key).subarray(0,
                         32)`, `key.slice(0, 32)` of an ASCII key)
    sha256               SHA-256 of the UTF-8 string (`createHash('sha256').update(key)
                         .digest()`): any passphrase
    sha256-base64-32     the first 32 characters of the base64 SHA-256 digest, as ASCII bytes
                         (`createHash('sha256').update(String(key)).digest('base64')
                         .substr(0, 32)`, a widely copied snippet)
    sha256-hex-32        the first 32 characters of the hex SHA-256 digest, as ASCII bytes
                         (`createHash('sha256').update(key).digest('hex').substr(0, 32)`)
    scrypt               `scryptSync(key, salt, 32)`: N = 16384 (or the iterations setting),
                         r = 8, p = 1, Node's defaults
    pbkdf2-sha256        `pbkdf2Sync(key, salt, iterations, 32, 'sha256')`
    pbkdf2-sha512        `pbkdf2Sync(key, salt, iterations, 32, 'sha512')`

A salt (`legacy_salt`, the UTF-8 string Node was given) is required by scrypt
and the pbkdf2 ones; iterations (`legacy_iterations`) by pbkdf2. A setting a
derivation does not use is refused, so a mistake shows at startup, not as failed reads.

Errors are `CryptoError`s that say what was expected and never contain the key; they name
a setting by its keyring_from_settings keyword in backquotes (`legacy_key`), which
credsvc.config turns into the variable it reads.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from credsvc.crypto.aesgcm import KEY_BYTES, CryptoError, parse_key

AUTO = "auto"
ALIASES = {"hex-or-base64": AUTO}
DERIVATIONS = (
    AUTO,
    "raw",
    "raw-prefix",
    "sha256",
    "sha256-base64-32",
    "sha256-hex-32",
    "scrypt",
    "pbkdf2-sha256",
    "pbkdf2-sha512",
)
NEEDS_SALT = ("scrypt", "pbkdf2-sha256", "pbkdf2-sha512")
NEEDS_ITERATIONS = ("pbkdf2-sha256", "pbkdf2-sha512")
SCRYPT_DEFAULT_COST = 16384  # Node's scryptSync default N
SCRYPT_MAX_COST = 1 << 20  # 1 GiB of memory at r=8: beyond it is a typo, not a Node setting


@dataclass(frozen=True)
class Derivation:
    """A derivation and its parameters (neither is a secret)."""

    name: str = AUTO
    salt: str = ""
    iterations: int = 0

    def __repr__(self) -> str:
        extra = f", iterations={self.iterations}" if self.iterations else ""
        return f"Derivation({self.name!r}{', salt=...' if self.salt else ''}{extra})"

    def derive(self, secret: str, what: str = "the legacy key") -> bytes:
        """The 32-byte key; CryptoError (naming `what`, never quoting it) when it cannot be."""
        secret = secret.strip()
        if not secret:
            raise CryptoError(f"{what} is empty")
        data = secret.encode("utf-8")
        if self.name == AUTO:
            return _auto(secret, what)
        if self.name == "raw":
            if len(data) != KEY_BYTES:
                raise CryptoError(
                    f"{what}: `legacy_derivation`=raw takes a string of exactly "
                    f"{KEY_BYTES} bytes (UTF-8); this one has {len(data)}"
                )
            return data
        if self.name == "raw-prefix":
            if len(data) < KEY_BYTES:
                raise CryptoError(
                    f"{what}: `legacy_derivation`=raw-prefix takes a string of at "
                    f"least {KEY_BYTES} bytes (UTF-8); this one has {len(data)}"
                )
            return data[:KEY_BYTES]
        if self.name == "sha256":
            return hashlib.sha256(data).digest()
        if self.name == "sha256-base64-32":
            return base64.b64encode(hashlib.sha256(data).digest())[:KEY_BYTES]
        if self.name == "sha256-hex-32":
            return hashlib.sha256(data).hexdigest()[:KEY_BYTES].encode("ascii")
        salt = self.salt.encode("utf-8")
        if self.name == "scrypt":
            cost = self.iterations or SCRYPT_DEFAULT_COST
            return hashlib.scrypt(
                data, salt=salt, n=cost, r=8, p=1, maxmem=256 * cost * 8, dklen=KEY_BYTES
            )
        digest = self.name.removeprefix("pbkdf2-")
        return hashlib.pbkdf2_hmac(digest, data, salt, self.iterations, dklen=KEY_BYTES)


# What to do with a Node key string that was put where credsvc's own key belongs.
OWN_KEY_ADVICE = (
    "set it as `legacy_key` with `legacy_derivation`={derivation}, and "
    "`single_key` to a new random key (flask --app wsgi keys generate)"
)


def own_key(secret: str, what: str = "`single_key`") -> bytes:
    """credsvc's own key: 64 hex characters or base64 of 32 bytes, never derived.

    CryptoError (naming `what`, never quoting it) otherwise, saying where a Node key string
    belongs instead."""
    secret = secret.strip()
    if not secret:
        raise CryptoError(f"{what} is empty")
    return _auto(secret, what, own=True)


# Base64 of 32 bytes as Node's `Buffer.from(key, 'base64')` reads it: 43 characters of one
# alphabet, with or without its one padding character. Node also skips characters outside the
# alphabet and reads both alphabets at once; such a string is more likely a passphrase than a
# key, so it is refused rather than guessed at.
_NODE_BASE64 = (re.compile(r"[A-Za-z0-9+/]{43}=?"), re.compile(r"[A-Za-z0-9_-]{43}=?"))
_BOTH_ALPHABETS = re.compile(r"(?=.*[+/])(?=.*[-_])[A-Za-z0-9+/_-]{43}=?")
KEY_FORMATS = (
    f"64 hex characters or base64 of {KEY_BYTES} bytes (44 characters with its padding, or 43 "
    "without; the standard or the URL-safe alphabet)"
)
OWN_KEY_FORMATS = f"64 hex characters or base64 of {KEY_BYTES} bytes (44 characters, padded)"


def _node_base64(text: str) -> bytes | None:
    if not any(pattern.fullmatch(text) for pattern in _NODE_BASE64):
        return None
    standard = text.rstrip("=").translate(str.maketrans("-_", "+/"))
    return base64.b64decode(standard + "=", validate=True)


def _auto(secret: str, what: str, own: bool = False) -> bytes:
    try:
        return parse_key(secret, what)
    except CryptoError:
        pass
    # Node's lenient base64 only for the Node service's key: credsvc's own key stays canonical
    # (a 43-character passphrase or a cut hex key must not pass for a key).
    key = None if own else _node_base64(secret)
    if key is not None and len(key) == KEY_BYTES:
        return key
    length = len(secret.encode("utf-8"))
    hint = ""
    if length == KEY_BYTES:
        advice = OWN_KEY_ADVICE.format(derivation="raw") if own else "set `legacy_derivation`=raw"
        hint = (
            f"; a {KEY_BYTES}-character key is what a Node service that used the string itself "
            f"as the key has: {advice}"
        )
    elif length < 64:
        which = "sha256, scrypt, ...; `keys legacy-probe` tells which"
        advice = (
            OWN_KEY_ADVICE.format(derivation=f"<its derivation> ({which})")
            if own
            else f"set `legacy_derivation` ({which})"
        )
        hint = f"; if the Node service derived its key from this string (a passphrase), {advice}"
    stripped = secret.strip()
    if stripped and all(c in "0123456789abcdefABCDEF" for c in stripped):
        got = f"{len(stripped)} hex characters: a 64-character hex key is expected"
    elif _BOTH_ALPHABETS.fullmatch(stripped):
        got = "this value mixes the standard and the URL-safe base64 alphabets"
    else:
        got = f"this value has {len(secret)} characters"
    formats = OWN_KEY_FORMATS if own else KEY_FORMATS
    raise CryptoError(f"{what} must be {formats}; {got}{hint}") from None


def parse_derivation(name: str, salt: str = "", iterations: str = "") -> Derivation:
    """The `legacy_derivation`, `legacy_salt` and `legacy_iterations` settings as given."""
    name = name.strip().lower() or AUTO
    name = ALIASES.get(name, name)
    if name not in DERIVATIONS:
        raise CryptoError(
            "`legacy_derivation` must be one of " + ", ".join((*DERIVATIONS, *ALIASES))
        )
    if name in NEEDS_SALT and not salt:
        raise CryptoError(
            f"`legacy_derivation`={name} needs `legacy_salt` "
            "(the salt string the Node service passed)"
        )
    if name not in NEEDS_SALT and salt:
        raise CryptoError(f"`legacy_salt` is set but `legacy_derivation`={name} takes no salt")
    count = 0
    if iterations.strip():
        try:
            count = int(iterations.strip())
        except ValueError:
            raise CryptoError("`legacy_iterations` must be an integer") from None
        if count < 1:
            raise CryptoError("`legacy_iterations` must be positive")
        if name not in (*NEEDS_ITERATIONS, "scrypt"):
            raise CryptoError(
                "`legacy_iterations` is set but "
                f"`legacy_derivation`={name} takes no iteration count"
            )
        if name == "scrypt" and (count < 2 or count & (count - 1) or count > SCRYPT_MAX_COST):
            raise CryptoError(
                "`legacy_iterations` for scrypt is its cost N: a power of two "
                f"from 2 to {SCRYPT_MAX_COST} (Node's default {SCRYPT_DEFAULT_COST})"
            )
    elif name in NEEDS_ITERATIONS:
        raise CryptoError(
            f"`legacy_derivation`={name} needs `legacy_iterations` "
            "(the iteration count the Node service passed)"
        )
    return Derivation(name, salt, count)


def require_legacy_key(derivation: Derivation, legacy_key: str) -> None:
    """A derivation other than auto needs `legacy_key`: it is never applied to
    credsvc's own keys (see the module docstring)."""
    if derivation.name != AUTO and not legacy_key.strip():
        raise CryptoError(
            f"`legacy_derivation`={derivation.name} is set but "
            "`legacy_key` is not set: a derivation applies only to the Node service's "
            "key, never to `single_key`; set `legacy_key` to the Node "
            "service's key string (read-only for legacy values, and the key of "
            "`write_format`=legacy writes) and `single_key` to a new "
            "random key (flask --app wsgi keys generate)"
        )

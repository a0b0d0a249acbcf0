"""Encryption of credential values. Imports nothing from Flask.

- `aesgcm`: AES-256-GCM and the local-key formats: legacy `iv:authTag:ciphertext` written by
  the Node utility (readable forever, in every encoding and IV length Node writes; written
  only in compatibility mode) and the versioned, record-bound `v2`/`v5`.
- `legacy_keys`: how the Node service derived its key from its setting
  (`legacy_derivation`, applied to `legacy_key` only), and
  `own_key`: credsvc's own keys, never derived.
- `sealed`: encrypt-only ingest, `v7`: HPKE (X25519, HKDF-SHA256, AES-256-GCM) to a public key,
  signed with the ingest host's Ed25519 key; `Sealer` is the ingest side's keyring, which can
  encrypt but never decrypt.
- `transit`: `v6` envelope encryption under a root key held by OpenBao/Vault transit.
- `keyring`: named keys, the active one, the minimum one allowed to decrypt, and the
  `RecordContext` that binds a ciphertext to its record and owner. The rest of the code uses
  only this. Earlier generations (`v2`, `v3`, `v4`, legacy) are read, never written.

docs/ciphertext-format.md specifies every format byte for byte. Settings are arguments, never
read from the process here: credsvc.config reads them and names their variables.

Exceptions:

    ValueError
    ├── CryptoError                 a value cannot be encrypted or decrypted here
    │   └── DecryptionUnavailable   this process may not decrypt at all (HTTP 503)
    │       ├── TransitDenied       the transit token lacks the permission
    │       └── TransitUnavailable  transit unreachable or failing
    └── KeyringError                the key settings are unusable (startup)
"""

from credsvc.crypto.aesgcm import (
    CryptoError,
    DecryptionUnavailable,
    decrypt_json,
    encrypt_json,
    parse_key,
)
from credsvc.crypto.keyring import (
    Keyring,
    KeyringError,
    RecordContext,
    keyring_from_settings,
)
from credsvc.crypto.sealed import (
    Sealer,
    generate_keypair,
    generate_signing_pair,
    parse_public_key,
    parse_signing_key,
)
from credsvc.crypto.transit import TransitClient, TransitKey, TransitUnavailable

__all__ = [
    "CryptoError",
    "DecryptionUnavailable",
    "Keyring",
    "KeyringError",
    "RecordContext",
    "Sealer",
    "TransitClient",
    "TransitKey",
    "TransitUnavailable",
    "decrypt_json",
    "encrypt_json",
    "generate_keypair",
    "generate_signing_pair",
    "keyring_from_settings",
    "parse_key",
    "parse_public_key",
    "parse_signing_key",
]

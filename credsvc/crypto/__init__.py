"""Encryption of credential values. Imports nothing from Flask.

- `aesgcm`: the two ciphertext formats (legacy `iv:authTag:ciphertext` written by the Node
  utility, and the versioned, record-bound `v2` format) over raw 32-byte keys.
- `keyring`: named keys, the active one, the minimum one allowed to decrypt, and the
  `RecordContext` that binds a ciphertext to its record. The rest of the code uses only this.
"""

from credsvc.crypto.aesgcm import CryptoError, decrypt_json, encrypt_json, parse_key
from credsvc.crypto.keyring import (
    Keyring,
    KeyringError,
    RecordContext,
    keyring_from_settings,
)

__all__ = [
    "CryptoError",
    "Keyring",
    "KeyringError",
    "RecordContext",
    "decrypt_json",
    "encrypt_json",
    "keyring_from_settings",
    "parse_key",
]

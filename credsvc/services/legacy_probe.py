"""Which key derivation opens the Node service's stored values (`keys legacy-probe`).

Given a sample of legacy three-part values and the Node service's key string, try every
derivation of credsvc.crypto.legacy_keys and count, per derivation, the values it opens. Only
counts leave this module: never a value, a plaintext or a key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from credsvc.crypto import CryptoError, aesgcm, legacy_keys
from credsvc.directus import DirectusClient
from credsvc.services.keys import encrypted_fields

# Versioned prefixes: a value starting with one is not legacy (it is skipped, not tried).
VERSIONED_PREFIXES = ("v2:", "v3:", "v4:", "v5:", "v6:", "v7:")
DEFAULT_SAMPLE = 20


@dataclass
class ProbeReport:
    sources: Counter = field(default_factory=Counter)  # where the legacy values came from
    not_legacy: int = 0  # versioned values in the sample (not tried)
    malformed: Counter = field(default_factory=Counter)  # reason -> count
    encodings: Counter = field(default_factory=Counter)
    iv_lengths: Counter = field(default_factory=Counter)
    opened: dict[str, int] = field(default_factory=dict)  # derivation -> values it opens
    not_tried: dict[str, str] = field(default_factory=dict)  # derivation -> why
    opened_by_none: int = 0

    @property
    def legacy(self) -> int:
        return sum(self.encodings.values())

    @property
    def opening_all(self) -> list[str]:
        """Derivations that open every well-formed legacy value of the sample (if any)."""
        if not self.legacy:
            return []
        return [name for name, count in self.opened.items() if count == self.legacy]

    def as_json(self) -> dict:
        return {
            "sources": dict(self.sources),
            "legacy_values": self.legacy,
            "not_legacy": self.not_legacy,
            "malformed": dict(self.malformed),
            "encodings": dict(self.encodings),
            "iv_lengths": {str(k): v for k, v in sorted(self.iv_lengths.items())},
            "opened": self.opened,
            "not_tried": self.not_tried,
            "opened_by_none": self.opened_by_none,
            "opening_all": self.opening_all,
        }


def candidate_keys(
    secret: str, salt: str = "", iterations: str = ""
) -> tuple[dict[str, bytes], dict[str, str]]:
    """({derivation: key}, {derivation: why it was not tried}) for the key string `secret`.

    Salted derivations are tried only with a salt (and pbkdf2 with an iteration count); scrypt
    takes the iteration count as its cost N when it is a power of two, else Node's default.
    """
    keys: dict[str, bytes] = {}
    skipped: dict[str, str] = {}
    for name in legacy_keys.DERIVATIONS:
        if name in legacy_keys.NEEDS_SALT and not salt:
            skipped[name] = "needs a salt (CREDENTIALS_LEGACY_KEY_SALT or --salt)"
            continue
        if name in legacy_keys.NEEDS_ITERATIONS and not iterations:
            skipped[name] = "needs an iteration count (CREDENTIALS_LEGACY_KEY_ITERATIONS)"
            continue
        count = iterations if name in legacy_keys.NEEDS_ITERATIONS else ""
        if name == "scrypt" and iterations and _is_scrypt_cost(iterations):
            count = iterations
        try:
            derivation = legacy_keys.parse_derivation(
                name, salt if name in legacy_keys.NEEDS_SALT else "", count
            )
            key = derivation.derive(secret, "the probed key")
        except CryptoError as exc:
            skipped[name] = str(exc)
            continue
        same = next((other for other, known in keys.items() if known == key), None)
        if same:
            skipped[name] = f"gives the same key as {same} for this key string"
            continue
        keys[name] = key
    return keys, skipped


def advice(source: str, derivation: str) -> str:
    """The settings that make the service read what `derivation` of the key string from the
    variable `source` opens. A derivation applies to CREDENTIALS_LEGACY_KEY only, so a string
    tried from anywhere else moves there (credsvc.crypto.legacy_keys)."""
    setting = f"set CREDENTIALS_LEGACY_KEY_DERIVATION={derivation}"
    if source == "CREDENTIALS_LEGACY_KEY":
        return setting
    if source == "CREDENTIALS_ENCRYPTION_KEY" and derivation == legacy_keys.AUTO:
        return f"{setting} (the default): CREDENTIALS_ENCRYPTION_KEY opens them as it is"
    text = f"{setting} with CREDENTIALS_LEGACY_KEY set to the key string tried ({source})"
    if source == "CREDENTIALS_ENCRYPTION_KEY":
        text += (
            ", and CREDENTIALS_ENCRYPTION_KEY to a new random key (flask --app wsgi keys generate)"
        )
    return text


def _is_scrypt_cost(iterations: str) -> bool:
    try:
        legacy_keys.parse_derivation("scrypt", "salt", iterations)
    except CryptoError:
        return False
    return True


def probe(values: Iterable[tuple[str, str]], keys: dict[str, bytes]) -> ProbeReport:
    """Try each key on each (source, value); count per derivation what opens."""
    report = ProbeReport(opened={name: 0 for name in keys})
    for source, value in values:
        if value.startswith(VERSIONED_PREFIXES):
            report.not_legacy += 1
            continue
        try:
            parts, encoding = aesgcm.read_legacy(value)
        except CryptoError as exc:
            report.malformed[str(exc)] += 1
            continue
        report.sources[source] += 1
        report.encodings[encoding] += 1
        report.iv_lengths[len(parts[0])] += 1
        opened_here = False
        for name, key in keys.items():
            try:
                aesgcm.deserialize(aesgcm.open_legacy(key, *parts))
            except CryptoError:
                continue
            report.opened[name] += 1
            opened_here = True
        report.opened_by_none += not opened_here
    return report


def sample_directus(
    directus: DirectusClient, collection: str | None = None, limit: int = DEFAULT_SAMPLE
) -> list[tuple[str, str]]:
    """Up to `limit` legacy-looking values of each encrypted collection (or of `collection`),
    as (collection, value) pairs; versioned values are filtered out by Directus."""
    sample: list[tuple[str, str]] = []
    for coll, fld in encrypted_fields(collection):
        conditions = [{fld: {"_nnull": True}}]
        conditions += [{fld: {"_nstarts_with": prefix}} for prefix in VERSIONED_PREFIXES]
        rows = directus.find_items(
            coll, {"_and": conditions}, fields=("id", fld), sort=("id",), limit=limit
        )
        sample += [(coll, row[fld]) for row in rows if isinstance(row.get(fld), str)]
    return sample


def read_sample_file(lines: Iterable[str], source: str = "file") -> list[tuple[str, str]]:
    """One stored value per line; blank lines are skipped."""
    return [(source, line.strip()) for line in lines if line.strip()]

"""Node interop against Node itself (issue 15 item 3).

tests/node/credentials_crypto.mjs is the Node service's `encryptJSON`/`decryptJSON` in each
plausible variant (key derivation x IV length x encoding), using only Node's `crypto`. Node
writes values that credsvc, configured with the matching CREDENTIALS_LEGACY_KEY_DERIVATION,
reads; credsvc in compatibility mode (CREDENTIALS_WRITE_FORMAT=legacy) writes values that the
Node variant reads. The project's Node (deploy/directus/install.sh) runs it: missing Node is a
failure, not a skip.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from credsvc.config import Config
from credsvc.crypto import CryptoError, aesgcm
from credsvc.model import DOWNLOAD_CREDENTIALS
from credsvc.resources import build_keyring
from credsvc.services import legacy_probe
from deploy.directus import directusctl
from tests.conftest import TEST_ENV

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = ROOT / "tests" / "node" / "credentials_crypto.mjs"
ROW = {
    "id": "6f1c1b1e-2d2a-4c3b-8a4d-5e6f7a8b9c0d",
    "user_id": "u1",
    "creator_profile_id": "p1",
    "platform": "youtube",
    "auth_type": "password",
}
CTX = DOWNLOAD_CREDENTIALS.context(ROW)
VALUE = {"username": "créateur", "password": "p@ss:w0rd ✓", "n": [1, 2.5, None, True]}
PASSPHRASE = "node-service passphrase (not a key)"
HEX_KEY = "a1" * 32
# (name, how the Node service got its key: derivation, key string, salt, iterations)
VARIANTS = [
    ("hex", {"derivation": "hex", "secret": HEX_KEY}),
    ("base64", {"derivation": "base64", "secret": "obGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaE="}),
    ("raw", {"derivation": "raw", "secret": "0123456789abcdef0123456789abcdef"}),
    ("raw-prefix", {"derivation": "raw-prefix", "secret": "k" * 48}),
    ("sha256", {"derivation": "sha256", "secret": PASSPHRASE}),
    ("sha256-base64-32", {"derivation": "sha256-base64-32", "secret": PASSPHRASE}),
    ("sha256-hex-32", {"derivation": "sha256-hex-32", "secret": PASSPHRASE}),
    # Node's lenient base64 decoder: no padding, the URL-safe alphabet (credsvc's `auto`)
    ("base64-unpadded", {"derivation": "base64", "secret": "+/" * 21 + "8"}),
    ("base64url", {"derivation": "base64", "secret": "-_" * 21 + "8"}),
    ("scrypt", {"derivation": "scrypt", "secret": PASSPHRASE, "salt": "salt"}),
    (
        "scrypt-N1024",
        {"derivation": "scrypt", "secret": PASSPHRASE, "salt": "s", "iterations": 1024},
    ),
    (
        "pbkdf2-sha256",
        {"derivation": "pbkdf2-sha256", "secret": PASSPHRASE, "salt": "s", "iterations": 10000},
    ),
    (
        "pbkdf2-sha512",
        {"derivation": "pbkdf2-sha512", "secret": PASSPHRASE, "salt": "s", "iterations": 2048},
    ),
]
IV_LENGTHS = (12, 16)


def credsvc_env(node_key: dict) -> dict[str, str]:
    """The settings that describe the Node service's key to credsvc (docs/ciphertext-format.md):
    the key string as CREDENTIALS_LEGACY_KEY, its derivation, salt and iterations."""
    derivation = node_key["derivation"]
    env = {
        "CREDENTIALS_LEGACY_KEY": node_key["secret"],
        "CREDENTIALS_LEGACY_KEY_DERIVATION": "auto"
        if derivation in ("hex", "base64")
        else derivation,
    }
    if "salt" in node_key:
        env["CREDENTIALS_LEGACY_KEY_SALT"] = node_key["salt"]
    if "iterations" in node_key:
        env["CREDENTIALS_LEGACY_KEY_ITERATIONS"] = str(node_key["iterations"])
    return env


def node(request: dict) -> list:
    executable = directusctl.LOCAL_NODE
    assert executable.exists(), f"the project's Node is missing ({executable}); make install"
    done = subprocess.run(
        [str(executable), str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["results"]


def every_case():
    for name, node_key in VARIANTS:
        for iv_length in IV_LENGTHS:
            for encoding in aesgcm.LEGACY_ENCODINGS:
                yield name, node_key, iv_length, encoding


def test_node_writes_every_variant_and_credsvc_reads_it():
    cases = list(every_case())
    tokens = node(
        {
            "op": "encrypt",
            "cases": [
                {"key": key, "ivLength": iv, "encoding": enc, "value": VALUE}
                for _, key, iv, enc in cases
            ],
        }
    )
    rings = {
        name: build_keyring(Config.from_env({**TEST_ENV, **credsvc_env(key)}))
        for name, key in VARIANTS
    }
    read = {}
    for (name, _, iv_length, encoding), token in zip(cases, tokens, strict=True):
        (iv, _, _), found = aesgcm.read_legacy(token)
        assert len(iv) == iv_length
        assert found == encoding or (encoding, found) == ("base64-unpadded", "base64url")
        read[(name, iv_length, encoding)] = rings[name].decrypt(token, CTX)
    print(f"node -> credsvc: {len(read)} variants read")
    assert len(read) == len(VARIANTS) * len(IV_LENGTHS) * len(aesgcm.LEGACY_ENCODINGS)
    assert all(value == VALUE for value in read.values())
    # and only under the right derivation: the sha256 ring does not open the raw variant's
    raw_token = tokens[cases.index(("raw", VARIANTS[2][1], 16, "hex"))]
    with pytest.raises(CryptoError, match="authentication"):
        rings["sha256"].decrypt(raw_token, CTX)


def test_credsvc_in_compatibility_mode_writes_what_every_node_variant_reads():
    cases, tokens = [], []
    for _name, node_key in VARIANTS:
        for encoding in aesgcm.LEGACY_ENCODINGS:
            env = {
                **TEST_ENV,
                **credsvc_env(node_key),
                "CREDENTIALS_WRITE_FORMAT": "legacy",
                "CREDENTIALS_LEGACY_ENCODING": encoding,
            }
            token = build_keyring(Config.from_env(env)).encrypt(VALUE, CTX)
            cases.append({"key": node_key, "encoding": encoding, "token": token})
            tokens.append(token)
    results = node({"op": "decrypt", "cases": cases})
    print(f"credsvc (legacy write mode) -> node: {len(results)} variants")
    assert results == [{"value": VALUE}] * len(cases)


def test_node_refuses_tampered_and_versioned_values():
    key = {"derivation": "hex", "secret": HEX_KEY}
    ring = Config.from_env({**TEST_ENV, **credsvc_env(key), "CREDENTIALS_WRITE_FORMAT": "legacy"})
    good = build_keyring(ring).encrypt(VALUE, CTX)
    iv, tag, ciphertext = good.split(":")
    flipped = aesgcm.b64(bytes([aesgcm.unb64(tag, "tag")[0] ^ 1]) + aesgcm.unb64(tag, "tag")[1:])
    versioned = build_keyring(Config.from_env({**TEST_ENV, **credsvc_env(key)})).encrypt(VALUE, CTX)
    results = node(
        {
            "op": "decrypt",
            "cases": [
                {"key": key, "encoding": "base64", "token": good},
                {"key": key, "encoding": "base64", "token": ":".join((iv, flipped, ciphertext))},
                {"key": key, "encoding": "base64", "token": versioned},
            ],
        }
    )
    assert results[0] == {"value": VALUE}
    assert "error" in results[1] and "error" in results[2]  # only compatibility mode is readable


def test_legacy_probe_finds_the_derivation_of_node_written_values():
    for name, node_key in VARIANTS:
        tokens = node(
            {
                "op": "encrypt",
                "cases": [
                    {"key": node_key, "ivLength": iv, "encoding": "base64", "value": {"i": iv}}
                    for iv in IV_LENGTHS
                ],
            }
        )
        keys, _ = legacy_probe.candidate_keys(
            node_key["secret"], node_key.get("salt", ""), str(node_key.get("iterations", ""))
        )
        report = legacy_probe.probe([("node", token) for token in tokens], keys)
        expected = credsvc_env(node_key)["CREDENTIALS_LEGACY_KEY_DERIVATION"]
        assert report.opening_all == [expected], name

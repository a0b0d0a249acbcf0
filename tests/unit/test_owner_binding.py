"""Ownership is part of every ciphertext's binding (issue 10, items 3 and 4), at the keyring.

Someone with write access to Directus relabels a row: hands a victim's value to another user,
profile, platform, business, end user or field. Every format written now (v5 local key, v6
transit, v7 ingest) must then refuse to decrypt. The earlier generations, which bind the record
only (v2, v4, legacy), are still read until CREDENTIALS_REQUIRE_OWNER_BINDING; an ingest value
without the ingest signature (v3, what anyone holding the public key can write) is refused
unless CREDENTIALS_ACCEPT_UNSIGNED_INGEST. tests/integration/test_owner_binding.py proves the
same on a real Directus, through the API.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import replace

import pytest
import responses

from credsvc.config import Config, ConfigError
from credsvc.crypto import (
    CryptoError,
    RecordContext,
    Sealer,
    TransitClient,
    TransitKey,
    aesgcm,
    encrypt_json,
    generate_keypair,
    generate_signing_pair,
    keyring_from_settings,
    parse_public_key,
    parse_signing_key,
    sealed,
)
from credsvc.model import ENCRYPTED_COLUMNS, EncryptedColumn
from credsvc.resources import build_keyring
from tests.conftest import TEST_ENV
from tests.unit.test_keyring_formats import BAO, FakeTransit

VALUE = {"password": "hunter2-✓"}
LOCAL = "44" * 32  # CREDENTIALS_ENCRYPTION_KEY of the rings below: key id "k0"
INGEST_PRIVATE, INGEST_PUBLIC = generate_keypair()
SIGNING, VERIFY = generate_signing_pair()


def sample(owner_column: str) -> str:
    """A value of the kind the services write into `owner_column` (a fresh one each call)."""
    return {
        "user_id": lambda: str(uuid.uuid4()),
        "creator_profile_id": lambda: str(uuid.uuid4()),
        "platform": lambda: "youtube",
        "auth_type": lambda: "password",
        "business_id": lambda: "acme",
        "end_user_hash": lambda: hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        "field": lambda: "youtubeSid",
    }[owner_column]()


# Another plausible owner of each kind: what an attacker would relabel the row to.
ANOTHER = {
    "platform": "instagram",
    "auth_type": "cookies",
    "business_id": "globex",
    "field": "youtubeHsid",
}


def another(owner_column: str, current: str) -> str:
    other = ANOTHER.get(owner_column) or sample(owner_column)
    assert other != current
    return other


def row_of(column: EncryptedColumn) -> dict:
    return {"id": str(uuid.uuid4()), **{name: sample(name) for name in column.owner_columns}}


OWNER_CASES = [
    pytest.param(column, name, id=f"{column.collection}.{name}")
    for column in ENCRYPTED_COLUMNS
    for name in column.owner_columns
]
COLUMNS = [pytest.param(column, id=column.collection) for column in ENCRYPTED_COLUMNS]


def test_every_encrypted_column_is_bound_to_its_documented_owner_columns():
    # Written out here, not read from the model: dropping an owner column from credsvc.model
    # would silently stop binding it (docs/ciphertext-format.md lists the same).
    assert {(c.collection, c.field, c.owner_columns) for c in ENCRYPTED_COLUMNS} == {
        ("platform_connections", "encrypted_credentials", ("user_id", "platform")),
        (
            "download_credentials",
            "encrypted_credentials",
            ("user_id", "creator_profile_id", "platform", "auth_type"),
        ),
        ("platform_sessions", "encrypted_cookies", ("user_id", "creator_profile_id", "platform")),
        ("end_user_credentials", "encrypted_value", ("business_id", "end_user_hash", "field")),
    }
    for column in ENCRYPTED_COLUMNS:
        assert column.owner_columns and column.row_fields[0] == "id"
        assert column.row_fields[-1] == column.field
        assert set(column.owner_columns) <= set(column.row_fields)


# -- the rings ------------------------------------------------------------------------------


@pytest.fixture
def wire():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def transit_key() -> TransitKey:
    return TransitKey(TransitClient(BAO, "token", "credsvc"))


def workers(**switches):
    """A full deployment: local key k0, transit key bao1, the ingest side's private and verify
    keys; writes with `active` (k0 unless given)."""
    settings = {"active": "k0", **switches}
    return keyring_from_settings(
        LOCAL,
        keys="bao1:transit",
        transit_key=transit_key(),
        ingest_private=INGEST_PRIVATE,
        ingest_verify=VERIFY,
        **settings,
    )


def sealer(signing: str = SIGNING) -> Sealer:
    return Sealer("i1", parse_public_key(INGEST_PUBLIC), parse_signing_key(signing))


@pytest.fixture
def writers(wire):
    """Each format written now, and the ring that reads it."""
    FakeTransit(wire)
    reader = workers()
    return {
        "v5": (reader, reader),
        "v6": (workers(active="bao1"), reader),
        "v7": (sealer(), reader),
    }


WRITTEN = ["v5", "v6", "v7"]


# -- (a) relabelling an owner column makes every current format undecryptable ---------------


@pytest.mark.parametrize("fmt", WRITTEN)
@pytest.mark.parametrize("column, owner_column", OWNER_CASES)
def test_a_value_does_not_follow_its_row_to_another_owner(writers, fmt, column, owner_column):
    writer, reader = writers[fmt]
    row = row_of(column)
    token = writer.encrypt(VALUE, column.context(row))
    assert reader.format_of(token) == fmt
    assert reader.decrypt(token, column.context(row)) == VALUE  # the row as written: served
    for relabelled in (another(owner_column, row[owner_column]), None):
        moved = column.context({**row, owner_column: relabelled})
        with pytest.raises(CryptoError):
            reader.decrypt(token, moved)
        with pytest.raises(CryptoError):  # and `keys rewrap` cannot launder it
            reader.rewrap(token, moved)


@pytest.mark.parametrize("column", COLUMNS)
def test_a_row_read_without_an_owner_column_is_refused_before_decrypting(column):
    row = {**row_of(column), column.field: "v5:k0:unused"}
    assert column.context(row).owner == tuple((n, row[n]) for n in column.owner_columns)
    for name in column.owner_columns:
        with pytest.raises(CryptoError, match=name):
            column.context({k: v for k, v in row.items() if k != name})


@pytest.mark.parametrize("column", COLUMNS)
def test_owner_values_that_are_not_strings_are_refused_not_coerced(column):
    # `1` and "1", or a relation Directus expanded into an object, must not bind alike.
    name = column.owner_columns[0]
    for odd in (1, {"id": "x"}, ["x"], True):
        context = column.context({**row_of(column), name: odd})
        with pytest.raises(CryptoError):
            workers().encrypt(VALUE, context)


# -- (b) earlier generations: read by default, refused once owner binding is required --------


def old_value(fmt: str, context: RecordContext) -> str:
    """A value as written before owner binding (record-bound only, or legacy: not bound)."""
    if fmt == "v2":
        return aesgcm.encrypt_v2(VALUE, "k0", bytes.fromhex(LOCAL), context.encode(), fmt="v2")
    if fmt == "v4":
        return transit_key().encrypt(VALUE, "bao1", context.encode(), fmt="v4")
    return encrypt_json(VALUE, bytes.fromhex(LOCAL))


@pytest.mark.parametrize("fmt", ["v2", "v4", "legacy"])
@pytest.mark.parametrize("column", COLUMNS)
def test_earlier_generations_are_read_until_owner_binding_is_required(wire, fmt, column):
    FakeTransit(wire)
    row = row_of(column)
    context = column.context(row)
    token = old_value(fmt, context)
    default, strict = workers(), workers(require_owner_binding=True)
    assert default.format_of(token) == fmt
    assert default.decrypt(token, context) == VALUE
    # Why the switch exists: these generations never bound the owner, so a relabelled row
    # still decrypts. `keys rewrap`, then CREDENTIALS_REQUIRE_OWNER_BINDING, ends that.
    relabelled = {**row, column.owner_columns[0]: None}
    assert default.decrypt(token, column.context(relabelled)) == VALUE
    with pytest.raises(CryptoError, match="`require_owner_binding` is set"):
        strict.decrypt(token, context)
    with pytest.raises(CryptoError):
        strict.rewrap(token, context)
    # The current format is unaffected by the switch.
    assert strict.decrypt(strict.encrypt(VALUE, context), context) == VALUE


@pytest.mark.parametrize(
    "written, downgraded", [("v5", "v2"), ("v6", "v4"), ("v7", "v3")], ids=lambda f: f
)
@pytest.mark.parametrize("column", COLUMNS)
def test_relabelling_a_value_as_its_earlier_generation_is_refused(
    writers, written, downgraded, column
):
    """Renaming v5 to v2 (v6 to v4, v7 to v3 without its signature) would skip the owner
    check; the generation is part of the associated data, so the value no longer opens."""
    writer, _ = writers[written]
    permissive = workers(accept_unsigned_ingest=True)
    row = row_of(column)
    context = column.context(row)
    token = writer.encrypt(VALUE, context)
    parts = token.split(":")
    forged = ":".join([downgraded, *parts[1 : 4 if written == "v7" else None]])
    assert permissive.format_of(forged) == downgraded
    for context_ in (context, column.context({**row, column.owner_columns[0]: None})):
        with pytest.raises(CryptoError):
            permissive.decrypt(forged, context_)


def test_the_switches_are_read_from_the_environment():
    ring = build_keyring(Config.from_env(dict(TEST_ENV)))
    assert not ring.require_owner_binding
    assert not ring.accept_unsigned_ingest
    config = Config.from_env(
        dict(
            TEST_ENV,
            CREDENTIALS_REQUIRE_OWNER_BINDING="true",
            CREDENTIALS_ACCEPT_UNSIGNED_INGEST="true",
            CREDENTIALS_INGEST_PRIVATE_KEY=INGEST_PRIVATE,
        )
    )
    ring = build_keyring(config)
    assert ring.require_owner_binding and ring.accept_unsigned_ingest
    for name in ("CREDENTIALS_REQUIRE_OWNER_BINDING", "CREDENTIALS_ACCEPT_UNSIGNED_INGEST"):
        with pytest.raises(ConfigError, match=name):
            Config.from_env(dict(TEST_ENV, **{name: "maybe"}))


def test_workers_need_the_verify_key_with_the_ingest_private_key():
    env = dict(TEST_ENV, CREDENTIALS_INGEST_PRIVATE_KEY=INGEST_PRIVATE)
    with pytest.raises(ConfigError, match="CREDENTIALS_INGEST_VERIFY_KEY"):
        Config.from_env(env)
    with pytest.raises(ConfigError, match="CREDENTIALS_INGEST_VERIFY_KEY"):
        Config.from_env(dict(env, CREDENTIALS_INGEST_VERIFY_KEY="abcd"))
    with pytest.raises(ConfigError, match="CREDENTIALS_INGEST_VERIFY_KEY"):
        Config.from_env(dict(TEST_ENV, CREDENTIALS_INGEST_VERIFY_KEY=VERIFY))  # no private key
    assert build_keyring(Config.from_env(dict(env, CREDENTIALS_INGEST_VERIFY_KEY=VERIFY)))
    # After a rotation of the ingest pair, each private key id needs its verify key.
    rotated = dict(
        TEST_ENV,
        CREDENTIALS_INGEST_PRIVATE_KEY=f"i1:{INGEST_PRIVATE},i2:{INGEST_PRIVATE}",
        CREDENTIALS_INGEST_VERIFY_KEY=f"i1:{VERIFY}",
    )
    with pytest.raises(ConfigError, match="every ingest key id"):
        Config.from_env(rotated)


# -- (c) ingest values must carry the ingest side's signature --------------------------------


def attacker_v3(context: RecordContext, owner_bound: bool = False) -> str:
    """What anyone holding the ingest public key (it is no secret) can write into a row."""
    return sealed.seal_v3(
        VALUE, "i1", parse_public_key(INGEST_PUBLIC), context.encode(owner_bound=owner_bound)
    )


@pytest.mark.parametrize("column", COLUMNS)
def test_an_unsigned_ingest_value_is_refused_unless_explicitly_accepted(column):
    context = column.context(row_of(column))
    forged = attacker_v3(context)
    with pytest.raises(CryptoError, match="unsigned"):
        workers().decrypt(forged, context)
    with pytest.raises(CryptoError, match="unsigned"):
        workers().rewrap(forged, context)
    with pytest.raises(CryptoError):  # in the owner-bound encoding too
        workers().decrypt(attacker_v3(context, owner_bound=True), context)
    # The migration switch admits the earlier generation (and nothing else changes).
    permissive = workers(accept_unsigned_ingest=True)
    assert permissive.decrypt(forged, context) == VALUE
    assert permissive.rewrap(forged, context).startswith("v5:k0:")
    with pytest.raises(CryptoError):
        permissive.decrypt(forged, replace(context, record_id=str(uuid.uuid4())))


@pytest.mark.parametrize("column", COLUMNS)
def test_a_v7_signed_by_another_key_is_refused(column):
    context = column.context(row_of(column))
    forged = sealer(signing=generate_signing_pair()[0]).encrypt(VALUE, context)
    assert forged.startswith("v7:i1:")
    for ring in (workers(), workers(accept_unsigned_ingest=True)):
        with pytest.raises(CryptoError, match="authentication"):
            ring.decrypt(forged, context)


@pytest.mark.parametrize("column", COLUMNS)
def test_a_signature_moved_onto_another_value_is_refused(column):
    row = row_of(column)
    context = column.context(row)
    genuine = sealer().encrypt(VALUE, context)
    other = sealer().encrypt({"password": "another"}, context)
    attacker = attacker_v3(context, owner_bound=True).split(":")  # sealed, unsigned
    signature = genuine.split(":")[4]
    ring = workers()
    assert ring.decrypt(genuine, context) == VALUE
    moved = [
        ":".join([*other.split(":")[:4], signature]),  # another genuine value, same row
        ":".join(["v7", *attacker[1:], signature]),  # the attacker's own ciphertext
    ]
    for token in moved:
        with pytest.raises(CryptoError, match="authentication"):
            ring.decrypt(token, context)
    # And a genuine value (signature included) copied into another row of the same owner.
    elsewhere = column.context({**row, "id": str(uuid.uuid4())})
    with pytest.raises(CryptoError):
        ring.decrypt(genuine, elsewhere)


# -- (d) rewrap moves every earlier generation to the owner-bound one -----------------------


@pytest.mark.parametrize("column", COLUMNS)
def test_v2_under_the_active_key_needs_rewrap_and_becomes_v5_bound_to_its_owner(column):
    ring = workers()
    row = row_of(column)
    context = column.context(row)
    token = old_value("v2", context)
    assert ring.key_id_of(token) == ring.active_key_id == "k0"
    assert ring.needs_rewrap(token)
    rewrapped = ring.rewrap(token, context)
    assert rewrapped.startswith(ring.active_prefix) and ring.active_prefix == "v5:k0:"
    assert not ring.needs_rewrap(rewrapped)
    assert workers(require_owner_binding=True).decrypt(rewrapped, context) == VALUE
    for name in column.owner_columns:
        with pytest.raises(CryptoError):
            ring.decrypt(rewrapped, column.context({**row, name: another(name, row[name])}))


def test_needs_rewrap_by_generation(wire):
    FakeTransit(wire)
    local, on_transit = workers(), workers(active="bao1")
    column = ENCRYPTED_COLUMNS[0]
    context = column.context(row_of(column))
    values = {
        "v2": old_value("v2", context),
        "v4": old_value("v4", context),
        "legacy": old_value("legacy", context),
        "v3": attacker_v3(context),
        "v5": local.encrypt(VALUE, context),
        "v6": on_transit.encrypt(VALUE, context),
        "v7": sealer().encrypt(VALUE, context),
    }
    assert {fmt: local.format_of(token) for fmt, token in values.items()} == {
        fmt: fmt for fmt in values
    }
    # Active k0 (local): everything but v5 under k0 moves.
    assert [fmt for fmt, token in values.items() if not local.needs_rewrap(token)] == ["v5"]
    # Active bao1 (transit): everything but v6 under bao1 moves, v4 under bao1 included.
    assert [fmt for fmt, token in values.items() if not on_transit.needs_rewrap(token)] == ["v6"]
    assert on_transit.rewrap(values["v4"], context).startswith("v6:bao1:")


# -- (e) the owner encoding is injective ---------------------------------------------------

# fmt: off
TRICKY = [None, "None", "null", "", '"', '","', "]", "],[", '"]]', "\x00", "a\x00b", "a", "a,b",
          '["a"]', "ü", "\\u00fc", "\\", "\\x00", " "]
# fmt: on


def test_owner_encoding_is_injective_for_tricky_values():
    base = ("end_user_credentials", "row-1", "encrypted_value")
    owners = [()]
    owners += [(("business_id", a),) for a in TRICKY]
    owners += [(("business_id", a), ("field", b)) for a, b in itertools.product(TRICKY, TRICKY)]
    owners += [(('business_id","field', a),) for a in TRICKY]  # a column name with quotes
    owners += [(("field", "x"), ("business_id", "y")), (("business_id", "y"), ("field", "x"))]
    encoded = {}
    for owner in owners:
        text = RecordContext(*base, owner).encode(owner_bound=True)
        assert text.isascii() and text.count("\x00") == 3, owner
        assert text not in encoded, (owner, encoded.get(text))
        encoded[text] = owner
    assert len(encoded) == len(owners) == len(set(owners))
    # No owner-bound encoding equals a record-only one (they are also told apart by the format).
    assert RecordContext(*base).encode() not in encoded


@pytest.mark.parametrize(
    "written, read",
    [(a, b) for a, b in itertools.permutations([None, "None", "", "null", "\x00"], 2)],
)
def test_a_value_bound_to_one_tricky_owner_does_not_open_for_another(written, read):
    column = [c for c in ENCRYPTED_COLUMNS if c.collection == "end_user_credentials"][0]
    row = row_of(column)
    ring = workers()
    token = ring.encrypt(VALUE, column.context({**row, "field": written}))
    assert ring.decrypt(token, column.context({**row, "field": written})) == VALUE
    with pytest.raises(CryptoError):
        ring.decrypt(token, column.context({**row, "field": read}))

"""`flask keys ...`: key status, rewrap after a rotation, and key generation.

    flask --app wsgi keys status                  values per key id per collection
    flask --app wsgi keys rewrap                  move every value to the active key
    flask --app wsgi keys generate                a new 32-byte key for CREDENTIALS_KEYS
    flask --app wsgi keys generate-ingest-keypair an X25519 pair for CREDSVC_MODE=ingest
    flask --app wsgi keys legacy-probe            which key derivation opens the Node
                                                  service's legacy values (counts only)

README.md "Rotating keys" walks through a rotation with these commands.
"""

from __future__ import annotations

import json
import os
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from credsvc.cli import operator_directus
from credsvc.config import name_settings
from credsvc.crypto import Keyring, generate_keypair, generate_signing_pair
from credsvc.directus import DirectusError, DirectusResponseError
from credsvc.services import keys as key_service
from credsvc.services import legacy_probe

group = AppGroup("keys", help="Key status, rewrap after a rotation, key generation.")


def _services():
    return current_app.extensions["credsvc"]


def _collections(only: str | None) -> list[tuple[str, str]]:
    try:
        return key_service.encrypted_fields(only)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--collection") from None


def _describe(keyring: Keyring, label: str) -> str:
    """What a `key_status` label means; "k1 (v2)" is key k1 in an earlier format generation."""
    key_id, _, generation = label.partition(" ")
    if generation and key_id in keyring.usable_key_ids:
        return "earlier format (not owner-bound): needs rewrap"
    if key_id == keyring.active_key_id:
        return "active"
    if key_id in (key_service.UNKNOWN,):
        return "not a credsvc ciphertext"
    if key_id == "legacy":
        if getattr(keyring, "write_format", "") == "legacy":
            return (
                "legacy format (no key id), still written (CREDENTIALS_WRITE_FORMAT=legacy): "
                "keys rewrap converts them once that is switched off"
            )
        return "legacy format (no key id): needs rewrap"
    if key_id in keyring.usable_key_ids:
        return "decryptable, needs rewrap"
    if key_id in keyring.key_ids:
        return "below CREDENTIALS_MIN_DECRYPT_KEY: unreadable"
    return "key not configured: unreadable"


@group.command("status")
@click.option("--collection", help="Only this collection.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(collection: str | None, as_json: bool) -> None:
    """Count stored values per key id in every encrypted collection."""
    services = _services()
    keyring = services.keyring
    directus = operator_directus()
    fields = _collections(collection)
    counts: dict[str, dict[str, int]] = {}
    errors: dict[str, str] = {}
    for coll, _fld in fields:
        try:
            counts.update(key_service.key_status(directus, keyring, coll))
        except DirectusError as exc:
            errors[coll] = _upstream(exc)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "active": keyring.active_key_id,
                    "write_format": getattr(keyring, "write_format", "versioned"),
                    "counts": counts,
                    "errors": errors,
                },
                indent=2,
            )
        )
    else:
        click.echo(
            f"active key: {keyring.active_key_id}   configured: {', '.join(keyring.key_ids)}"
        )
        if getattr(keyring, "write_format", "") == "legacy":
            click.echo("writes: legacy three-part format (CREDENTIALS_WRITE_FORMAT=legacy)")
        click.echo(f"{'collection':<24} {'key id':<10} {'values':>8}  state")
        for coll, _fld in fields:
            if coll in errors:
                click.echo(f"{coll:<24} {'-':<10} {'-':>8}  ERROR: {errors[coll]}")
                continue
            if not counts[coll]:
                click.echo(f"{coll:<24} {'-':<10} {0:>8}  (no values)")
            for key_id, count in counts[coll].items():
                click.echo(f"{coll:<24} {key_id:<10} {count:>8}  {_describe(keyring, key_id)}")
        totals: dict[str, int] = {}
        for per_key in counts.values():
            for label, count in per_key.items():
                totals[label] = totals.get(label, 0) + count
        in_use = {label.partition(" ")[0] for label, count in totals.items() if count}
        click.echo(
            "total: " + (", ".join(f"{k}={v}" for k, v in sorted(totals.items())) or "no values")
        )
        retired = [
            k
            for k in keyring.key_ids
            if k != keyring.active_key_id and k not in in_use and not errors
        ]
        if retired:
            click.echo(
                "no values left under: "
                + ", ".join(retired)
                + " (safe to retire once every instance runs the new config)"
            )
    if errors:
        sys.exit(1)


@group.command("rewrap")
@click.option(
    "--batch-size",
    default=key_service.REWRAP_BATCH,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Rows per Directus batch PATCH.",
)
@click.option("--collection", help="Only this collection.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar (default: when stderr is a terminal).",
)
def rewrap(batch_size: int, collection: str | None, progress: bool | None) -> None:
    """Re-encrypt every stored value under the active key; resumable, safe to rerun."""
    services = _services()
    keyring = services.keyring
    if not getattr(keyring, "can_decrypt", False):
        raise click.ClickException("This deployment cannot decrypt (CREDSVC_MODE=ingest)")
    if keyring.write_format == "legacy":
        raise click.ClickException(
            "CREDENTIALS_WRITE_FORMAT=legacy: new writes are legacy, so a rewrap would convert "
            "nothing for good; unset it (once the Node service no longer reads), then rewrap"
        )
    directus = operator_directus()
    show = sys.stderr.isatty() if progress is None else progress
    click.echo(
        f"rewrapping to {keyring.active_key_id} ({keyring.active_prefix}...), "
        f"batch size {batch_size}"
    )
    problems = 0
    for coll, fld in _collections(collection):
        try:
            total = key_service.pending_count(directus, keyring, coll, fld)
            if show:
                with click.progressbar(
                    length=total, label=f"{coll:<24}", file=sys.stderr, show_pos=True, show_eta=True
                ) as bar:
                    result = key_service.rewrap_collection(
                        directus,
                        keyring,
                        coll,
                        fld,
                        batch_size=batch_size,
                        progress=bar.update,
                    )
            else:
                result = key_service.rewrap_collection(
                    directus, keyring, coll, fld, batch_size=batch_size
                )
        except DirectusError as exc:
            click.echo(f"{coll}: ERROR {_upstream(exc)}; nothing more done here, rerun later")
            problems += 1
            continue
        except key_service.GuardMissing as exc:
            click.echo(f"ERROR {exc}")
            sys.exit(1)
        click.echo(
            f"{coll}: selected {total}, rewrapped {result.rewrapped}, "
            f"skipped (changed during the job) {result.skipped_changed}, "
            f"failed {result.failed}"
        )
        if result.failed:
            problems += 1
        if result.failed_ids:
            click.echo(
                f"  cannot decrypt here (wrong/retired key or tampered): {_ids(result.failed_ids)}"
            )
        if result.rejected_ids:
            click.echo(f"  Directus refused the write: {_ids(result.rejected_ids)}")
    click.echo("done; rerun to pick up rows skipped because they changed, then `flask keys status`")
    if problems:
        sys.exit(1)


@group.command("generate")
def generate() -> None:
    """Print a new random 32-byte key (64 hex characters) for CREDENTIALS_KEYS."""
    click.echo(os.urandom(32).hex())


@group.command("generate-ingest-keypair")
def generate_ingest_keypair() -> None:
    """Print the ingest key pairs: X25519 (ingest seals, workers open) and Ed25519 (ingest
    signs, workers verify that a sealed value really came from the ingest side)."""
    private, public = generate_keypair()
    signing, verify = generate_signing_pair()
    click.echo(f"CREDENTIALS_INGEST_PRIVATE_KEY={private}   # workers only")
    click.echo(f"CREDENTIALS_INGEST_VERIFY_KEY={verify}    # workers only")
    click.echo(f"CREDENTIALS_INGEST_PUBLIC_KEY={public}    # the ingest deployment")
    click.echo(f"CREDENTIALS_INGEST_SIGNING_KEY={signing}   # the ingest deployment only")


@group.command("legacy-probe")
@click.option(
    "--file",
    "sample_file",
    type=click.File("r"),
    help="Stored values, one per line (instead of reading Directus).",
)
@click.option("--collection", help="Sample only this collection (default: every one).")
@click.option(
    "--limit",
    default=legacy_probe.DEFAULT_SAMPLE,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Legacy values sampled per collection.",
)
@click.option("--salt", help="Salt to try (default: CREDENTIALS_LEGACY_KEY_SALT).")
@click.option(
    "--iterations",
    help="PBKDF2 iterations / scrypt N (default: CREDENTIALS_LEGACY_KEY_ITERATIONS).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def legacy_probe_command(sample_file, collection, limit, salt, iterations, as_json) -> None:
    """Which CREDENTIALS_LEGACY_KEY_DERIVATION opens a sample of legacy values.

    The key string tried is CREDENTIALS_LEGACY_PROBE_KEY, else CREDENTIALS_LEGACY_KEY, else
    CREDENTIALS_ENCRYPTION_KEY. Prints counts only, never a value or a key; exits 1 unless some
    derivation opens every legacy value of the sample.
    """
    settings = _services().config.legacy_probe
    if not settings.secret:
        raise click.ClickException(
            "no key to try: set CREDENTIALS_LEGACY_PROBE_KEY to the Node service's key string"
        )
    if sample_file is not None:
        values = legacy_probe.read_sample_file(sample_file, "file")
    else:
        values = []
    if sample_file is None or collection:
        try:
            _collections(collection)
            values += legacy_probe.sample_directus(operator_directus(), collection, limit)
        except DirectusError as exc:
            raise click.ClickException(f"reading the sample: {_upstream(exc)}") from None
    keys, not_tried = legacy_probe.candidate_keys(
        settings.secret,
        settings.salt if salt is None else salt,
        settings.iterations if iterations is None else iterations.strip(),
    )
    report = legacy_probe.probe(values, keys)
    # The crypto package names a setting by keyword; the operator knows the variable.
    report.not_tried = {name: name_settings(why) for name, why in not_tried.items()}
    if as_json:
        click.echo(json.dumps({"key_from": settings.source, **report.as_json()}, indent=2))
    else:
        _print_probe(settings.source, report)
    if not report.opening_all:
        sys.exit(1)


def _print_probe(source: str, report: legacy_probe.ProbeReport) -> None:
    counts = ", ".join(f"{name} {n}" for name, n in sorted(report.sources.items())) or "none"
    click.echo(f"key tried: {source}")
    click.echo(f"legacy values: {report.legacy} ({counts}); not legacy: {report.not_legacy}")
    for reason, count in sorted(report.malformed.items()):
        click.echo(f"malformed: {count}: {reason}")
    if report.legacy:
        encodings = ", ".join(f"{k} {v}" for k, v in sorted(report.encodings.items()))
        ivs = ", ".join(f"{k} bytes: {v}" for k, v in sorted(report.iv_lengths.items()))
        click.echo(f"encodings: {encodings}; IV lengths: {ivs}")
    click.echo(f"{'derivation':<20} {'opens':>6}")
    for name, count in report.opened.items():
        click.echo(f"{name:<20} {count:>6}")
    for name, why in report.not_tried.items():
        click.echo(f"{name:<20} {'-':>6}  not tried: {why}")
    click.echo(f"opened by none: {report.opened_by_none}")
    if report.opening_all:
        click.echo("opens every value: " + ", ".join(report.opening_all))
        click.echo(legacy_probe.advice(source, report.opening_all[0]))
    else:
        click.echo("no derivation opens every value")


def _ids(ids: list[str]) -> str:
    more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
    return ", ".join(ids[:10]) + more


def _upstream(exc: DirectusError) -> str:
    if isinstance(exc, DirectusResponseError):
        return f"Directus {exc.status} {exc.code or ''}".strip()
    return type(exc).__name__

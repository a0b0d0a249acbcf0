"""A prepared Directus database on PostgreSQL, kept between test sessions as a SQL dump.

Bootstrapping Directus on PostgreSQL and applying the schema and guards takes a minute or more on
these machines. The first session that does it (`make test-postgres` or `make test-multi`) dumps
the database into pytest's cache; later sessions load the dump into their own throwaway cluster
(seconds) and rotate the admin's credentials. The key changes with Directus, the schema, the guard
triggers and the code that prepares the database, so a stale dump is never used.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIRECTUS = ROOT / "deploy" / "directus"
KEYED = (
    DIRECTUS / "package-lock.json",
    DIRECTUS / "schema.yaml",
    DIRECTUS / "guards.mjs",
    DIRECTUS / "directusctl.py",
    DIRECTUS / "app.py",
    DIRECTUS / "vendorize-snapshot.mjs",
    Path(__file__),
)


def key() -> str:
    digest = hashlib.sha256()
    for path in KEYED:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def restore(cluster, database: str, cache_dir: Path | None) -> dict[str, str] | None:
    """Load the dump into `database`; return the admin login it was made with, or None."""
    if cache_dir is None:
        return None
    folder = cache_dir / key()
    dump, admin = folder / "directus.sql", folder / "admin.json"
    if not (dump.exists() and admin.exists()):
        return None
    cluster.restore(dump, database)
    return json.loads(admin.read_text())


def save(cluster, database: str, admin: dict[str, str], cache_dir: Path | None) -> None:
    """Keep a dump of a freshly prepared `database` and its admin login (atomic renames)."""
    if cache_dir is None:
        return
    folder = cache_dir / key()
    folder.mkdir(parents=True, exist_ok=True)
    cluster.dump(database, folder / "directus.sql")
    tmp = folder / "admin.json.tmp"
    tmp.write_text(json.dumps(admin))
    tmp.replace(folder / "admin.json")

#!/usr/bin/env python3
"""`make extension`: extension/ packed into dist/credsvc-extension.zip, byte for byte the same
on every run from the same files (sorted entries, fixed timestamps and permissions), so the zip
can be compared, hashed or uploaded to a store as it is.

Usage: python3 -m deploy.package_extension [SOURCE_DIR] [OUTPUT_ZIP]
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "extension"
OUTPUT = ROOT / "dist" / "credsvc-extension.zip"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def packaged_files(source: Path) -> list[Path]:
    """The files that go into the zip, sorted: everything but hidden files and caches."""
    return sorted(
        path
        for path in source.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") or part == "__pycache__" for part in path.parts[-3:])
    )


def package(source: Path = SOURCE, output: Path = OUTPUT) -> Path:
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("manifest_version") != 3:
        raise SystemExit(f"{source}/manifest.json is not a Manifest V3 extension")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for path in packaged_files(source):
            entry = zipfile.ZipInfo(path.relative_to(source).as_posix(), FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            entry.create_system = 3  # unix, so the attributes above are read as such
            archive.writestr(entry, path.read_bytes(), compresslevel=9)
    partial.replace(output)
    return output


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else SOURCE
    output = Path(argv[2]) if len(argv) > 2 else OUTPUT
    path = package(source, output)
    with zipfile.ZipFile(path) as archive:
        count = len(archive.namelist())
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {count} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

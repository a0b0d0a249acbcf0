"""Assemble the Directus app as a self-contained folder a Heroku-style host can build and run.

    .venv/bin/python -m deploy.directus.bundle DEST      (or: make directus-app DEST=...)

DEST (new or empty) becomes the app's root: push it as the app's repository (or point a
subdirectory buildpack at it). Nothing in it refers to the rest of this repository:

    Procfile             web: / release: `python -m deploy.directus ...` (deploy/directus/Procfile)
    package.json         Node 22 + Directus 12.4.0 for the Node.js buildpack, which runs
    package-lock.json      `npm ci` and puts node_modules/ here, next to them
    extensions/          the credsvc-batch endpoint (deploy/directus/extensions, EXTENSIONS_PATH)
    .python-version      for the Python buildpack (deploy/directus/.python-version)
    requirements.txt     the repository's pinned runtime dependencies (`make lock`)
    deploy/              the app's Python: deploy/directus/{app,directusctl,provision,policies}
                         with schema.yaml, guards.mjs and vendorize-snapshot.mjs
    credsvc/             credsvc's package, a copy: the roles' grants come from its data model

No secret goes in: every setting is a config var of the app (docs/deployment.md). directusctl
finds node_modules/ in the folder of the app's package.json (this root), as Node resolves it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# (source in the repository, path in the bundle)
APP_FILES = (
    (HERE / "Procfile", "Procfile"),
    (HERE / "package.json", "package.json"),
    (HERE / "package-lock.json", "package-lock.json"),
    (HERE / ".python-version", ".python-version"),
    *(
        (HERE / "extensions" / "credsvc-batch" / name, f"extensions/credsvc-batch/{name}")
        for name in ("package.json", "index.mjs")
    ),
)
PYTHON_FILES = (
    ROOT / "deploy" / "__init__.py",
    HERE / "__init__.py",
    HERE / "__main__.py",
    HERE / "app.py",
    HERE / "directusctl.py",
    HERE / "provision.py",
    HERE / "policies.py",
    HERE / "schema.yaml",
    HERE / "guards.mjs",
    HERE / "vendorize-snapshot.mjs",
)
PACKAGE = ROOT / "credsvc"
REQUIREMENTS = ROOT / "requirements.txt"
REQUIREMENTS_HEADER = (
    "# The Directus app's Python dependencies: credsvc's runtime dependencies, pinned\n"
    "# (copied from the repository's requirements.txt by deploy/directus/bundle.py).\n"
)


class BundleError(RuntimeError):
    """The bundle cannot be made; the message says why."""


def pinned_requirements() -> str:
    """requirements.txt for the bundle: name==version lines only (nothing relative to the
    repository: no -r, -e or paths)."""
    pins = []
    for raw in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "==" not in line or line.startswith("-") or "/" in line:
            raise BundleError(f"{REQUIREMENTS.name}: not a pin: {raw!r}")
        pins.append(line)
    return REQUIREMENTS_HEADER + "\n".join(pins) + "\n"


def only_python_sources(folder: str, names: list[str]) -> list[str]:
    """copytree's ignore: of the package, only its `.py` files and folders go into the app, so
    nothing else that lies in a working tree (a local .env, a key file, an editor's swap file)
    is ever shipped; symlinks are not followed."""
    here = Path(folder)
    return [
        name
        for name in names
        if name == "__pycache__"
        or (here / name).is_symlink()
        or not ((here / name).is_dir() or name.endswith(".py"))
    ]


def build(dest: Path) -> list[str]:
    """Write the app into `dest` (created; must be empty if it exists); return its files."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BundleError(f"{dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    for source, target in APP_FILES:
        (dest / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest / target)
    (dest / "requirements.txt").write_text(pinned_requirements(), encoding="utf-8")
    for source in PYTHON_FILES:
        target = dest / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    shutil.copytree(PACKAGE, dest / PACKAGE.name, ignore=only_python_sources)
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m deploy.directus.bundle DEST", file=sys.stderr)
        return 2
    try:
        files = build(Path(argv[0]))
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    print(f"bundle: the Directus app in {argv[0]} ({len(files)} files); docs/deployment.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

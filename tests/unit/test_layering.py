"""Modules that STYLE.md says import nothing from Flask really do not, directly or through
another credsvc module: every import statement is read from the source (absolute and relative,
at module level or inside a function) and followed through the credsvc modules it names.

Importing `credsvc.x.y` also runs `credsvc/x/__init__.py`, so a subpackage's `__init__` counts
as imported. The root `credsvc/__init__.py` (the app factory, which imports Flask) is counted
only when a module names it (`import credsvc`, `from credsvc import create_app`), not as the
implied parent of every submodule: the rule is about what these modules' own code pulls in.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import credsvc

PACKAGE = Path(credsvc.__file__).parent
ROOT = "credsvc"
WEB_FRAMEWORK = ("flask", "werkzeug")
# STYLE.md habit 5, and the module docstrings that promise it.
FLASK_FREE = (
    "credsvc.cookies",
    "credsvc.crypto",
    "credsvc.directus",
    "credsvc.exceptions",
    "credsvc.services",
    "credsvc.callers",
    "credsvc.model",
    "credsvc.accesslog",
    "credsvc.webhooks",
)


def source_of(module: str) -> Path | None:
    """The file of a credsvc module or package, or None when there is none."""
    if module != ROOT and not module.startswith(ROOT + "."):
        return None
    base = PACKAGE.joinpath(*module.split(".")[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def modules_under(module: str) -> list[str]:
    """`module` and, for a package, every module below it."""
    path = source_of(module)
    assert path is not None, module
    if path.name != "__init__.py":
        return [module]
    found = []
    for file in sorted(path.parent.rglob("*.py")):
        parts = file.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append(".".join((ROOT, *parts)))
    return found


def resolve(importer: str, level: int, name: str | None) -> str:
    """The absolute name of `from <level dots><name> import ...` written in `importer`."""
    if level == 0:
        return name or ""
    path = source_of(importer)
    is_package = path is not None and path.name == "__init__.py"
    parts = (importer if is_package else importer.rpartition(".")[0]).split(".")
    if level - 1 >= len(parts):
        raise AssertionError(f"{importer}: a relative import goes above the top package")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{name}" if name else base


@cache
def direct_imports(module: str) -> tuple[str, ...]:
    """Every module an import statement of `module` names, resolved to absolute names."""
    path = source_of(module)
    assert path is not None, module
    return imports_in(path.read_text(encoding="utf-8"), module)


def imports_in(source: str, module: str) -> tuple[str, ...]:
    """The modules the import statements of `source`, written in `module`, name."""
    named: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            named += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = resolve(module, node.level, node.module)
            # `from pkg import sub` imports the submodule when there is one, else a name of pkg.
            submodules = [
                f"{source}.{alias.name}"
                for alias in node.names
                if source_of(f"{source}.{alias.name}") is not None
            ]
            if len(submodules) < len(node.names):
                named.append(source)
            named += submodules
    return tuple(named)


def executed(module: str) -> list[str]:
    """What `import <module>` runs in credsvc: each subpackage's __init__ on the way, the module
    itself (the root package only when it is the module named)."""
    parts = module.split(".")
    chain = [".".join(parts[:n]) for n in range(2, len(parts) + 1)]
    return chain if module != ROOT else [ROOT]


def path_to_web_framework(module: str, imports=direct_imports) -> list[str] | None:
    """The import chain from `module` to Flask or Werkzeug, or None when there is none."""
    seen: set[str] = set()

    def walk(current: str, chain: list[str]) -> list[str] | None:
        for named in imports(current):
            if named.split(".")[0] in WEB_FRAMEWORK:
                return [*chain, named]
            for step in executed(named) if source_of(named) else ():
                if step in seen:
                    continue
                seen.add(step)
                if found := walk(step, [*chain, step]):
                    return found
        return None

    seen.add(module)
    return walk(module, [module])


FLASK_FREE_MODULES = sorted({name for root in FLASK_FREE for name in modules_under(root)})


@pytest.mark.parametrize("module", FLASK_FREE_MODULES)
def test_module_reaches_no_flask(module):
    chain = path_to_web_framework(module)
    assert chain is None, " -> ".join(chain)


def test_the_cookies_package_imports_nothing_else_from_credsvc():
    """credsvc.cookies is pure Python: it may import its own modules, nothing else of ours."""
    for module in modules_under("credsvc.cookies"):
        outside = [
            named
            for named in direct_imports(module)
            if named.split(".")[0] == ROOT and not named.startswith("credsvc.cookies")
        ]
        assert not outside, f"{module} imports {outside}"


def test_the_access_log_imports_nothing_from_credsvc():
    """gunicorn loads credsvc.accesslog in its master process, before any app exists."""
    named = direct_imports("credsvc.accesslog")
    assert not [name for name in named if name.split(".")[0] == ROOT], named


# -- the checker itself --------------------------------------------------------------------------


def test_the_check_covers_every_listed_module():
    assert len(FLASK_FREE_MODULES) >= 14  # 5 in cookies, 5 in crypto, 4 single modules
    assert {"credsvc.cookies._netscape", "credsvc.crypto.keyring", "credsvc.directus"} <= set(
        FLASK_FREE_MODULES
    )


@pytest.mark.parametrize(
    ("importer", "level", "name", "expected"),
    [
        ("credsvc.cookies._netscape", 1, "_model", "credsvc.cookies._model"),
        ("credsvc.cookies._netscape", 2, "errors", "credsvc.errors"),
        ("credsvc.cookies", 1, "_json", "credsvc.cookies._json"),  # in an __init__
        ("credsvc.cookies", 2, None, "credsvc"),
        ("credsvc.directus", 1, "errors", "credsvc.errors"),
        ("credsvc.crypto.keyring", 0, "credsvc.crypto", "credsvc.crypto"),
    ],
)
def test_relative_imports_resolve(importer, level, name, expected):
    assert resolve(importer, level, name) == expected


def chain_for(added: str, module: str = "credsvc.cookies._netscape") -> list[str] | None:
    """The chain the check finds when `module` also had the statements `added`."""

    def imports(name: str) -> tuple[str, ...]:
        extra = imports_in(added, name) if name == module else ()
        return direct_imports(name) + extra

    return path_to_web_framework(module, imports)


@pytest.mark.parametrize(
    ("source", "reaches"),
    [
        ("from ..errors import ApiError", "credsvc.errors"),  # relative, one step away
        ("from credsvc.errors import ApiError", "credsvc.errors"),
        ("from .. import create_app", "credsvc"),  # the root package, named
        ("from ..api import health", "credsvc.api"),  # a subpackage's __init__
        ("def later():\n    from werkzeug.exceptions import NotFound", "werkzeug.exceptions"),
    ],
)
def test_the_check_follows_imports_to_flask(source, reaches):
    chain = chain_for(source)
    assert chain is not None and reaches in chain, chain
    assert chain[-1].split(".")[0] in WEB_FRAMEWORK


def test_an_import_of_a_flask_free_module_is_not_flagged():
    assert chain_for("from ..directus import DirectusClient\nfrom . import _model") is None

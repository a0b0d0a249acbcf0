"""docs/security.md names the test behind each cell of its threat model: those tests exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `U test_x.py::name`, `I test_y.py::name, ::other` ...: U = tests/unit, I = tests/integration
REFERENCE = re.compile(r"\b([UI]) `(test_\w+\.py)(?:::(\w+))?`((?:, `::\w+`)*)")


def references() -> list[tuple[Path, str | None]]:
    text = (ROOT / "docs" / "security.md").read_text()
    found = []
    for kind, name, test, more in REFERENCE.findall(text):
        path = ROOT / "tests" / ("unit" if kind == "U" else "integration") / name
        tests = ([test] if test else []) + re.findall(r"::(\w+)", more)
        found += [(path, t) for t in tests] or [(path, None)]
    return found


def test_every_test_the_threat_model_names_exists():
    refs = references()
    assert len(refs) >= 30  # the table names dozens; a broken pattern would find none
    missing = [
        f"{path.relative_to(ROOT)}::{test}"
        for path, test in refs
        if not path.exists() or (test and not re.search(rf"^def {test}\b", path.read_text(), re.M))
    ]
    assert not missing, missing

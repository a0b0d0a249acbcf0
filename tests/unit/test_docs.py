"""docs/security.md names the test behind each cell of its threat model: those tests exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `U test_x.py::name`, `I test_y.py::name, ::other` ...: U = tests/unit, I = tests/integration
REFERENCE = re.compile(r"\b([UI]) `((?:\w+/)?test_\w+\.py)(?:::(\w+))?`((?:, `::\w+`)*)")


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


# --- the README and docs/: titles, links, anchors, size -------------------------------------------

README = ROOT / "README.md"
README_LIMIT = 12_000  # bytes: the README is a front door; the manual lives in docs/
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
ENV_EXAMPLE = ROOT / ".env.example"
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
MARKDOWN_LINK = re.compile(r"!?\[(?:[^\]\n]|\][^(\n])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
ENV_LINK = re.compile(r"(?<![\w/.-])(docs/[\w./-]+?\.md)(#[\w-]+)?")


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code: links there are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", path.read_text()), re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[Path, str]]:
    """(file the link is relative to, target) for every relative link in the page."""
    if path == ENV_EXAMPLE:
        return [(ROOT / "x", f"{p}{a}") for p, a in ENV_LINK.findall(path.read_text())]
    targets = MARKDOWN_LINK.findall(prose(path.read_text()))
    return [(path, t) for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t, re.I)]


def dead_links(pages: list[Path]) -> list[str]:
    dead = []
    for page in pages:
        for base, target in links(page):
            file_part, _, anchor = target.partition("#")
            resolved = (base.parent / file_part).resolve() if file_part else page
            where = f"{page.relative_to(ROOT) if page.is_relative_to(ROOT) else page}: {target}"
            if not resolved.exists():
                dead.append(f"{where} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                dead.append(f"{where} (no such heading)")
            elif anchor and resolved.suffix != ".md":
                dead.append(f"{where} (an anchor into a file that is not Markdown)")
    return dead


def test_every_relative_link_and_anchor_resolves():
    found = sum(len(links(page)) for page in [*PAGES, ENV_EXAMPLE])
    assert found >= 100  # the README's table alone has 18; a broken pattern would find none
    assert len(links(ENV_EXAMPLE)) >= 10
    assert not dead_links([*PAGES, ENV_EXAMPLE]), dead_links([*PAGES, ENV_EXAMPLE])


def test_the_link_check_catches_a_dead_file_and_a_dead_anchor(tmp_path):
    page = ROOT / "docs" / "api.md"
    broken = tmp_path / "page.md"
    broken.write_text(
        "# T\n\n## Real heading\n\n[ok](#real-heading) [gone](#no-heading) "
        f"[missing]({page.parent}/nothing.md) [bad anchor]({page}#not-there)\n"
        "`[in code](nowhere.md)`\n```\n[in a block](nowhere.md)\n```\n"
    )
    dead = dead_links([broken])
    assert [d.split(": ", 1)[1] for d in dead] == [
        "#no-heading (no such heading)",
        f"{page.parent}/nothing.md (no such file)",
        f"{page}#not-there (no such heading)",
    ]


def test_anchors_follow_github_rules():
    assert slug("Workers: `POST /api/end-user-credentials/reveal`") == (
        "workers-post-apiend-user-credentialsreveal"
    )
    assert slug("## `DIRECTUS_SECRET`".lstrip("# ")) == "directus_secret"
    assert slug("Owner binding (format generations)") == "owner-binding-format-generations"
    assert "config-vars-1" in anchors(ROOT / "docs" / "deployment.md")  # the second "Config vars"


def test_every_page_of_docs_starts_with_a_title():
    untitled = [p.name for p in PAGES if not re.match(r"# \S", p.read_text())]
    assert len(PAGES) > 10
    assert not untitled, untitled


def test_the_readme_is_a_front_door_under_12_kb():
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; move detail into docs/"


def test_the_readme_names_the_two_commands_as_the_makefile_and_ci_have_them():
    readme = README.read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        assert re.search(rf"^make {target} ", readme, re.M)
        assert re.search(rf"^{target}: ", makefile, re.M)
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_every_variable_of_env_example_is_in_the_configuration_page():
    names = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    assert len(names) > 60
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = sorted(name for name in names if f"`{name}`" not in page)
    assert not missing, missing

"""Every test the docs cite exists: a renamed or deleted test must take its citation with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
NOT_TESTS = {"test_source"}  # names in backticks that are not tests (a key of the metrics JSON)


def _tests_by_file() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in (ROOT / "tests").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        out[path.name] = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
        }
    return out


_CITATION = re.compile(r"tests/(\w+\.py)(?:::(test_\w+))?|::(test_\w+)|(?<![\w/])(test_\w+)(?![\w.])")


def _citations(text: str) -> list[tuple[str | None, str]]:
    """``(file or None, test name)`` for each test named in backticks; ``::name`` takes the last file named."""
    cited: list[tuple[str | None, str]] = []
    last_file: str | None = None
    for span in re.findall(r"`([^`]+)`", text.replace("\n", " ")):
        for match in _CITATION.finditer(span):
            file, in_file, after_file, bare = match.groups()
            if file:
                last_file = file
                if in_file:
                    cited.append((file, in_file))
            elif after_file:
                cited.append((last_file, after_file))
            elif bare:
                cited.append((None, bare))
    return cited


def test_every_test_the_docs_cite_exists() -> None:
    tests = _tests_by_file()
    every = set().union(*tests.values())
    missing = []
    for doc in DOCS:
        for file, name in _citations(doc.read_text(encoding="utf-8")):
            known = tests.get(file, set()) if file else every
            if name not in known and name not in NOT_TESTS:
                missing.append(f"{doc.name}: {file + '::' if file else ''}{name}")
    assert not missing, "the docs cite tests that do not exist:\n" + "\n".join(missing)


def test_the_citation_finder_finds_citations() -> None:
    text = "see `tests/test_a.py::test_one`, `::test_two` and `test_three[case]`"
    assert _citations(text) == [("test_a.py", "test_one"), ("test_a.py", "test_two"), (None, "test_three")]

"""The public API has one source (``__init__.pyi``), and the API page documents only public names."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import daft_mnist

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "daft_mnist"


def _stub_names() -> dict[str, str]:
    tree = ast.parse((PACKAGE / "__init__.pyi").read_text())
    return {a.asname or a.name: n.module or "" for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}


def test_all_is_the_stub_and_every_name_lives_where_the_stub_says() -> None:
    names = _stub_names()
    assert daft_mnist.__all__ == sorted([*names, "__version__"])
    for name, module in names.items():
        assert getattr(daft_mnist, name) is getattr(importlib.import_module(module), name)
        assert not module.rsplit(".", 1)[-1].startswith("_"), f"{name} comes from private module {module}"


def _documented() -> list[tuple[str, list[str] | None]]:
    text = (ROOT / "docs" / "api.md").read_text()
    blocks = re.findall(r"^::: (\S+)\n((?:    .*\n)*)", text, flags=re.M)
    out = []
    for module, options in blocks:
        members = re.search(r"members: \[(.*)\]", options)
        out.append((module, [m.strip() for m in members.group(1).split(",")] if members else None))
    return out


@pytest.mark.parametrize(("module", "members"), _documented())
def test_every_documented_name_is_importable_from_the_top_level(module: str, members: list[str] | None) -> None:
    names = members if members is not None else list(importlib.import_module(module).__all__)
    missing = [n for n in names if n not in daft_mnist.__all__]
    assert not missing, f"docs/api.md documents {missing} of {module}, which daft_mnist does not export"
    for name in names:
        assert getattr(daft_mnist, name) is getattr(importlib.import_module(module), name)

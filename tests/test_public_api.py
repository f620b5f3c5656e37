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


PLUMBING = "# Torch plumbing, from its module"


def _documented(part: int) -> list[tuple[str, list[str] | None]]:
    """The ``::: module`` blocks of docs/api.md's first part (the top level, 0) or second (plumbing, 1)."""
    text = (ROOT / "docs" / "api.md").read_text().split(PLUMBING)[part]
    blocks = re.findall(r"^::: (\S+)\n((?:    .*\n)*)", text, flags=re.M)
    out = []
    for module, options in blocks:
        members = re.search(r"members: \[(.*)\]", options)
        out.append((module, [m.strip() for m in members.group(1).split(",")] if members else None))
    return out


@pytest.mark.parametrize(("module", "members"), _documented(0))
def test_every_documented_name_is_importable_from_the_top_level(module: str, members: list[str] | None) -> None:
    names = members if members is not None else list(importlib.import_module(module).__all__)
    missing = [n for n in names if n not in daft_mnist.__all__]
    assert not missing, f"docs/api.md documents {missing} of {module}, which daft_mnist does not export"
    for name in names:
        assert getattr(daft_mnist, name) is getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("module", "members"), _documented(1))
def test_the_torch_plumbing_lives_in_its_module_not_at_the_top_level(module: str, members: list[str] | None) -> None:
    assert members, f"docs/api.md: list the members of {module} in the plumbing part"
    for name in members:
        assert name in importlib.import_module(module).__all__
        assert name not in daft_mnist.__all__, f"{name} is torch plumbing: keep it out of the top level"


def test_every_exported_name_is_documented() -> None:
    documented = {
        name
        for part in (0, 1)
        for module, members in _documented(part)
        for name in (members if members is not None else importlib.import_module(module).__all__)
    }
    missing = sorted(set(daft_mnist.__all__) - documented - {"__version__"})
    assert not missing, f"exported but not on docs/api.md: {missing}"

"""daft-mnist: the Daft MNIST tutorial as composable Daft expressions and DataFrame helpers.

``import daft_mnist`` is cheap: torch and PIL are imported only when a model is built or an
image rendered, and the module behind each public name loads on its first use.

The public names are listed once, in ``__init__.pyi`` beside this file: type checkers read
it, and this module reads it at import time to build ``__all__`` and the table of where each
name lives (a few import statements parsed with :mod:`ast`, well under a millisecond).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

__version__ = "0.1.0"


def _read_exports() -> dict[str, str]:
    """``{public name: module}`` from the ``from MODULE import NAME as NAME`` lines of ``__init__.pyi``."""
    tree = ast.parse((Path(__file__).with_name("__init__.pyi")).read_text(encoding="utf-8"))
    return {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


_EXPORTS = _read_exports()
__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'daft_mnist' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

"""`import daft_mnist` stays cheap: torch and PIL load only when needed."""

from __future__ import annotations

import subprocess
import sys

import daft_mnist


def test_import_does_not_load_torch_or_pil() -> None:
    code = "import sys, daft_mnist; print(sorted(m for m in ('torch', 'PIL', 'daft') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_all_is_sorted_and_resolvable() -> None:
    assert daft_mnist.__all__ == sorted(daft_mnist.__all__)
    for name in daft_mnist.__all__:
        assert getattr(daft_mnist, name) is not None


def test_unknown_attribute_raises() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        daft_mnist.nope  # noqa: B018

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


def test_building_a_classifier_expression_imports_torch_in_the_calling_thread() -> None:
    """torch must not be imported for the first time inside a Daft UDF thread (that hung a
    CUDA pipeline on an H100), so the expression builder imports it on the caller's thread."""
    code = (
        "import sys\n"
        "from daft import col\n"
        "import daft_mnist\n"
        "assert 'torch' not in sys.modules\n"
        "before = 'torch' in sys.modules\n"
        "daft_mnist.Classifier()(col('image_2d'))\n"
        "print(before, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]

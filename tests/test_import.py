"""`import daft_mnist` stays cheap: torch and PIL load only when needed."""

from __future__ import annotations

import subprocess
import sys

import daft_mnist


def test_import_does_not_load_torch_or_pil() -> None:
    code = "import sys, daft_mnist; print(sorted(m for m in ('torch', 'PIL', 'daft') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_attribute_raises() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        daft_mnist.nope  # noqa: B018


def test_building_an_expression_is_free() -> None:
    """Building an expression loads no model and, where no CUDA device may be used, no torch."""
    code = (
        "import sys, time\n"
        "from daft import col\n"
        "import daft, daft_mnist\n"
        "from daft_mnist import classifier\n"
        "classifier._NVIDIA_DRIVER = '/nonexistent'  # as on a machine without an NVIDIA driver\n"
        "df = daft.from_pydict({'image': [[0] * 784]})\n"
        "exprs = [daft_mnist.classify_digit(col('image')), daft_mnist.classify_digit(col('image'), details=True),\n"
        "         daft_mnist.embed_digit(col('image')),\n"
        "         daft_mnist.Classifier(device='cpu').probabilities(col('image')),\n"
        "         daft_mnist.read_number(col('image')), daft_mnist.read_number(col('image'), details=True)]\n"
        "start = time.perf_counter()\n"
        "for _ in range(20):\n"
        "    daft_mnist.classify_digit(col('image'), details=True)\n"
        "each = (time.perf_counter() - start) / 20\n"
        "built = daft_mnist.classify(df).schema(), daft_mnist.read_numbers(df).schema()\n"
        "from daft_mnist.model._engine import model_build_count\n"
        "print('torch' in sys.modules, model_build_count(), each < 0.05)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "0", "True"]


def test_a_cuda_expression_imports_torch_in_the_calling_thread() -> None:
    """torch must not be imported for the first time inside a Daft UDF thread (that hung a
    CUDA pipeline on an H100), so a builder that may use CUDA imports it on the caller's thread."""
    code = (
        "import sys\n"
        "from daft import col\n"
        "import daft_mnist\n"
        "before = 'torch' in sys.modules\n"
        "daft_mnist.Classifier(device='cuda')(col('image_2d'))\n"
        "print(before, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]

"""Helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

from pathlib import Path


def benchmark_weights(tmp: Path) -> tuple[str | None, str]:
    """The bundled weights when installed (``None``), else a seeded random-init checkpoint in ``tmp``.

    Returns:
        ``(weights argument, description for the printed figures)``.
    """
    from daft_mnist.errors import WeightsError
    from daft_mnist.weights import bundled_weights_path

    try:
        bundled_weights_path()
        return None, "bundled"
    except WeightsError:
        import torch

        from daft_mnist.model import TUTORIAL_PREPROCESSING, Net, save_checkpoint

        torch.manual_seed(0)
        path = tmp / "random.pt"
        save_checkpoint(path, Net(), TUTORIAL_PREPROCESSING, {"note": "random init: throughput only"})
        return str(path), "random init (bundled weights not installed)"

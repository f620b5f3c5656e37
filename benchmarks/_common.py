"""Helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def benchmark_weights(tmp: Path) -> tuple[str | None, str]:
    """The bundled weights when installed (``None``), else a seeded random-init checkpoint in ``tmp``.

    Returns:
        ``(weights argument, description for the printed figures)``.
    """
    from daft_mnist.errors import WeightsError
    from daft_mnist.model.weights import bundled_weights_path

    try:
        bundled_weights_path()
        return None, "bundled"
    except WeightsError:
        import torch

        from daft_mnist.model.checkpoint import TUTORIAL_PREPROCESSING, Net, save_checkpoint

        torch.manual_seed(0)
        path = tmp / "random.pt"
        save_checkpoint(path, Net(), TUTORIAL_PREPROCESSING, {"note": "random init: throughput only"})
        return str(path), "random init (bundled weights not installed)"


def alternating_medians(rows: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall time of each row, the rows run in turn ``repeats`` times (after one warm-up each).

    Alternating the rows spreads the machine's noise over all of them, so their ratios are fair.
    """
    for run in rows.values():  # warm-up: imports, per-process caches, the model
        run()
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeats):
        for name, run in rows.items():
            gc.collect()
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}

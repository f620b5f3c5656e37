"""Offline tooling: training the tutorial's ``Net`` and calibrating its confidence.

Nothing at inference time imports this package: :func:`train` (with its augmentations in
``_strokes``) and :mod:`daft_mnist.training.calibration` (temperature fitting, ECE) make and
tune the weights that :mod:`daft_mnist.model` later loads.
"""

from __future__ import annotations

from daft_mnist.training._train import EpochStats, TrainResult, train

__all__ = ["EpochStats", "TrainResult", "train"]

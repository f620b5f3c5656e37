"""The whole-digit scorer: is a prepared 28x28 candidate one whole digit, or a fragment / a pair?

A small CNN (two convolutions, about 60k parameters) beside the digit classifier, whose weights
it does not touch: the classifier is confident on anything, a half of a ``0`` looks like a ``1``
to it. Trained by ``scripts/train_whole_digit.py`` on the candidates that
:func:`daft_mnist.vision._segment.candidates` makes from numbers composed of MNIST *training*
digits (whole digits against fragments, pairs and digits with a piece of a neighbour). Bundled
as ``model/bundled/whole_digit.pt``. torch is imported when the scorer is first built.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from daft_mnist.model._bundled_nets import load_bundled_net

__all__ = ["WHOLE_DIGIT_FILE", "build_net", "whole_digit_scores"]

WHOLE_DIGIT_FILE = "whole_digit.pt"

_lock = threading.Lock()
_net: Any = None


def build_net() -> Any:
    """A fresh (untrained) whole-digit network: ``(N, 1, 28, 28)`` in [0, 1] -> one logit per image."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 5 * 5, 64),
        nn.ReLU(),
        nn.Linear(64, 1),
    )


def _load() -> Any:
    global _net
    if _net is None:
        with _lock:
            if _net is None:
                _net = load_bundled_net(WHOLE_DIGIT_FILE, build_net)[0]
    return _net


def whole_digit_scores(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """Log-probability that each prepared candidate (uint8 ``(N, 784)`` or ``(N, 28, 28)``) is one whole digit."""
    import torch

    n = len(pixels)
    if n == 0:
        return np.zeros(0)
    net = _load()
    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.uint8).reshape(n, 1, 28, 28)).float() / 255.0
    with _lock, torch.inference_mode():
        logit = net(x)[:, 0].double().numpy()
    return np.asarray(-np.logaddexp(0.0, -logit), dtype=np.float64)

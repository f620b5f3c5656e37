"""The touching-pair reader: is a candidate two whole touching digits, and which two?

Cutting two touching digits apart damages both (a 0 touching a 6 loses the stroke they
share), and the digit classifier then misreads a half. This small CNN reads such a candidate
whole, on a 32x64 picture (:data:`daft_mnist.vision._segment.PAIR_SHAPE`): one logit for "two
whole digits, side by side", and the left and the right digit (10 classes each). The number
decoder weighs reading a candidate as a pair against cutting it
(:func:`daft_mnist.vision._segment.decode`).

Trained by ``scripts/train_touching_pairs.py`` on the candidates that
:func:`~daft_mnist.vision._segment.candidates` makes from numbers composed of MNIST *training*
digits, touching, overlapping and apart; the digit classifier's weights are not touched.
Bundled as ``model/bundled/touching_pair.pt``; torch is imported when it is first used.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from daft_mnist.model._bundled_nets import load_bundled_net

__all__ = ["PAIR_FILE", "build_net", "pair_scores"]

PAIR_FILE = "touching_pair.pt"

_lock = threading.Lock()
_net: Any = None
_temperature = 1.0


def build_net() -> Any:
    """A fresh (untrained) pair reader: ``(N, 1, 32, 64)`` in [0, 1] -> 21 logits.

    Logit 0: the candidate is two whole digits; 1-10: the left digit; 11-20: the right digit.
    """
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 4 * 8, 128),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(128, 21),
    )


def _load() -> Any:
    global _net, _temperature
    if _net is None:
        with _lock:
            if _net is None:
                net, metadata = load_bundled_net(PAIR_FILE, build_net)
                _temperature = float(metadata.get("temperature", 1.0))
                _net = net
    return _net


def pair_scores(crops: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Read possible touching pairs (uint8 ``(P, 32, 64)``).

    Returns:
        ``(P,)`` log-probability that each is two whole digits, and ``(P, 2, 10)`` calibrated
        log-probabilities of its left and right digit.
    """
    import torch

    n = len(crops)
    if n == 0:
        return np.zeros(0), np.zeros((0, 2, 10))
    net = _load()
    x = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.uint8).reshape(n, 1, 32, 64)).float() / 255.0
    with _lock, torch.inference_mode():
        out = net(x).double()
    is_pair = torch.nn.functional.logsigmoid(out[:, 0]).numpy()
    digits = torch.log_softmax(out[:, 1:].reshape(n, 2, 10) / _temperature, dim=2).numpy()
    return np.asarray(is_pair, dtype=np.float64), np.asarray(digits, dtype=np.float64)

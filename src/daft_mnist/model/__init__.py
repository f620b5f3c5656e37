"""The pure-torch model: the tutorial's ``Net``, checkpoints, weights, int8 and the engine.

Nothing here knows about Daft. The public names below are importable from
``daft_mnist.model`` (loaded on first use, so importing an internal module of this package,
such as the engine, does not import torch):

- :mod:`~daft_mnist.model.network`: ``Net``, ``Preprocessing``, ``MNIST_MEAN``, ``MNIST_STD``;
- :mod:`~daft_mnist.model.checkpoint`: ``Checkpoint``, ``load_checkpoint``, ``save_checkpoint``,
  ``load_model``, ``resolve_device``;
- :mod:`~daft_mnist.model.weights`: ``resolve_weights``;
- :mod:`~daft_mnist.model.quantize`: ``calibrate_int8``, ``Int8Calibration``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daft_mnist.model.checkpoint import CHECKPOINT_FORMAT as CHECKPOINT_FORMAT
    from daft_mnist.model.checkpoint import CHECKPOINT_VERSION as CHECKPOINT_VERSION
    from daft_mnist.model.checkpoint import DEVICES as DEVICES
    from daft_mnist.model.checkpoint import Checkpoint as Checkpoint
    from daft_mnist.model.checkpoint import load_checkpoint as load_checkpoint
    from daft_mnist.model.checkpoint import load_model as load_model
    from daft_mnist.model.checkpoint import resolve_device as resolve_device
    from daft_mnist.model.checkpoint import save_checkpoint as save_checkpoint
    from daft_mnist.model.network import MNIST_MEAN as MNIST_MEAN
    from daft_mnist.model.network import MNIST_STD as MNIST_STD
    from daft_mnist.model.network import TUTORIAL_PREPROCESSING as TUTORIAL_PREPROCESSING
    from daft_mnist.model.network import Net as Net
    from daft_mnist.model.network import Preprocessing as Preprocessing
    from daft_mnist.model.quantize import Int8Calibration as Int8Calibration
    from daft_mnist.model.quantize import calibrate_int8 as calibrate_int8
    from daft_mnist.model.weights import BUNDLED_WEIGHTS as BUNDLED_WEIGHTS
    from daft_mnist.model.weights import resolve_weights as resolve_weights

_HOME = {
    "network": ("MNIST_MEAN", "MNIST_STD", "TUTORIAL_PREPROCESSING", "Net", "Preprocessing"),
    "checkpoint": (
        "CHECKPOINT_FORMAT",
        "CHECKPOINT_VERSION",
        "DEVICES",
        "Checkpoint",
        "load_checkpoint",
        "load_model",
        "resolve_device",
        "save_checkpoint",
    ),
    "quantize": ("Int8Calibration", "calibrate_int8"),
    "weights": ("BUNDLED_WEIGHTS", "resolve_weights"),
}
_WHERE = {name: module for module, names in _HOME.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'daft_mnist.model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"daft_mnist.model.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""daft-mnist: the Daft MNIST tutorial as composable Daft expressions and DataFrame helpers.

``import daft_mnist`` is cheap: torch and PIL are imported only when a model is built or an
image rendered, and the modules behind the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from daft_mnist.classifier import Classifier
    from daft_mnist.diagnostics import bad_row_count, reset_bad_row_count
    from daft_mnist.errors import DaftMnistError, DataError, WeightsError
    from daft_mnist.frames import add_image_2d, add_pil_image, classify
    from daft_mnist.images import checked_pixels, image_2d, pixels_to_numpy, to_image
    from daft_mnist.io import DATA_DIR_ENV, TEST_URL, TRAIN_URL, load_mnist, read_idx
    from daft_mnist.labels import checked_labels
    from daft_mnist.metrics import accuracy_by_label, confusion_matrix, misclassified, overall_accuracy
    from daft_mnist.model import MNIST_MEAN, MNIST_STD, Net, Preprocessing, load_model
    from daft_mnist.plots import plot_confusion_matrix, plot_digits
    from daft_mnist.quantize import Int8Calibration, calibrate_int8
    from daft_mnist.training import TrainResult, train
    from daft_mnist.weights import resolve_weights

_EXPORTS: dict[str, str] = {
    "Classifier": "daft_mnist.classifier",
    "DATA_DIR_ENV": "daft_mnist.io",
    "DaftMnistError": "daft_mnist.errors",
    "DataError": "daft_mnist.errors",
    "Int8Calibration": "daft_mnist.quantize",
    "MNIST_MEAN": "daft_mnist.model",
    "MNIST_STD": "daft_mnist.model",
    "Net": "daft_mnist.model",
    "Preprocessing": "daft_mnist.model",
    "TEST_URL": "daft_mnist.io",
    "TRAIN_URL": "daft_mnist.io",
    "TrainResult": "daft_mnist.training",
    "WeightsError": "daft_mnist.errors",
    "accuracy_by_label": "daft_mnist.metrics",
    "add_image_2d": "daft_mnist.frames",
    "add_pil_image": "daft_mnist.frames",
    "bad_row_count": "daft_mnist.diagnostics",
    "calibrate_int8": "daft_mnist.quantize",
    "checked_labels": "daft_mnist.labels",
    "checked_pixels": "daft_mnist.images",
    "classify": "daft_mnist.frames",
    "confusion_matrix": "daft_mnist.metrics",
    "image_2d": "daft_mnist.images",
    "load_mnist": "daft_mnist.io",
    "load_model": "daft_mnist.model",
    "misclassified": "daft_mnist.metrics",
    "overall_accuracy": "daft_mnist.metrics",
    "pixels_to_numpy": "daft_mnist.images",
    "plot_confusion_matrix": "daft_mnist.plots",
    "plot_digits": "daft_mnist.plots",
    "read_idx": "daft_mnist.io",
    "reset_bad_row_count": "daft_mnist.diagnostics",
    "resolve_weights": "daft_mnist.weights",
    "to_image": "daft_mnist.images",
    "train": "daft_mnist.training",
}

__all__ = [
    "Classifier",
    "DATA_DIR_ENV",
    "DaftMnistError",
    "DataError",
    "Int8Calibration",
    "MNIST_MEAN",
    "MNIST_STD",
    "Net",
    "Preprocessing",
    "TEST_URL",
    "TRAIN_URL",
    "TrainResult",
    "WeightsError",
    "__version__",
    "accuracy_by_label",
    "add_image_2d",
    "add_pil_image",
    "bad_row_count",
    "calibrate_int8",
    "checked_labels",
    "checked_pixels",
    "classify",
    "confusion_matrix",
    "image_2d",
    "load_mnist",
    "load_model",
    "misclassified",
    "overall_accuracy",
    "pixels_to_numpy",
    "plot_confusion_matrix",
    "plot_digits",
    "read_idx",
    "reset_bad_row_count",
    "resolve_weights",
    "to_image",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'daft_mnist' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

"""The old import path of :mod:`daft_mnist.model.weights`, kept so that documented imports work."""

from daft_mnist.model.weights import BUNDLED_WEIGHTS as BUNDLED_WEIGHTS
from daft_mnist.model.weights import bundled_weights_path as bundled_weights_path
from daft_mnist.model.weights import resolve_weights as resolve_weights

__all__ = ["BUNDLED_WEIGHTS", "bundled_weights_path", "resolve_weights"]

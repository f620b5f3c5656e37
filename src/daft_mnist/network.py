"""The old import path of :mod:`daft_mnist.model.network`, kept so that documented imports work."""

from daft_mnist.model.network import MNIST_MEAN as MNIST_MEAN
from daft_mnist.model.network import MNIST_STD as MNIST_STD
from daft_mnist.model.network import TUTORIAL_PREPROCESSING as TUTORIAL_PREPROCESSING
from daft_mnist.model.network import Net as Net
from daft_mnist.model.network import Preprocessing as Preprocessing

__all__ = ["MNIST_MEAN", "MNIST_STD", "TUTORIAL_PREPROCESSING", "Net", "Preprocessing"]

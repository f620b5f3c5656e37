"""Pure PyTorch: the tutorial's CNN and the preprocessing contract stored with its weights.

Nothing here knows about Daft or about files: :mod:`daft_mnist.model.checkpoint` reads and writes
checkpoints of this network and builds it on a device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from daft_mnist.errors import WeightsError

__all__ = ["MNIST_MEAN", "MNIST_STD", "TUTORIAL_PREPROCESSING", "Net", "Preprocessing"]

MNIST_MEAN = 0.1307
"""Mean pixel value of the MNIST training set after scaling to [0, 1]."""
MNIST_STD = 0.3081
"""Standard deviation of the MNIST training set after scaling to [0, 1]."""


class Net(nn.Module):
    """The tutorial's CNN (PyTorch's ``examples/mnist`` model), layer for layer.

    The attribute names, and so the state-dict keys (``conv1.weight``, ``conv2.bias``,
    ``fc1.weight``, ...), are exactly the tutorial's, so its ``mnist_cnn.pt`` loads with
    :meth:`load_state_dict`. Input: float32 ``(N, 1, 28, 28)``, normalized as described by a
    :class:`Preprocessing`. Output: log-probabilities ``(N, 10)``; :meth:`features` gives the
    128 values of the penultimate layer that the last one reads (an embedding of the image).
    """

    preprocessing: Preprocessing
    metadata: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        self.preprocessing = TUTORIAL_PREPROCESSING
        self.metadata = {}
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer, ``relu(fc1(.))``: float32 ``(N, 128)``, the image's embedding."""
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        return F.relu(self.fc1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout2(self.features(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


@dataclass(frozen=True)
class Preprocessing:
    """How raw uint8 pixels become the model's input: ``(pixel * scale - mean) / std``.

    The same object is stored with the weights and applied in training and in inference,
    so the two can never drift apart.

    Attributes:
        scale: Multiplier that maps raw pixels to [0, 1] (``1/255``).
        mean: Mean subtracted after scaling.
        std: Standard deviation divided by after subtracting the mean.
        height: Input image height in pixels.
        width: Input image width in pixels.
    """

    scale: float = 1.0 / 255.0
    mean: float = MNIST_MEAN
    std: float = MNIST_STD
    height: int = 28
    width: int = 28

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError(f"Preprocessing.std must be > 0, got {self.std!r}")
        if not self.scale > 0:
            raise ValueError(f"Preprocessing.scale must be > 0, got {self.scale!r}")
        if self.height <= 0 or self.width <= 0:
            raise ValueError(f"Preprocessing shape must be positive, got {self.height}x{self.width}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The model's per-image input shape, ``(channels, height, width)``."""
        return (1, self.height, self.width)

    def to_dict(self) -> dict[str, float | int]:
        """Return a plain ``dict`` suitable for a ``weights_only`` checkpoint."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        """Build from :meth:`to_dict` output; unknown keys are an error."""
        known = {"scale", "mean", "std", "height", "width"}
        unknown = set(data) - known
        if unknown:
            raise WeightsError(f"unknown preprocessing keys {sorted(unknown)}; expected a subset of {sorted(known)}")
        return cls(
            scale=float(data.get("scale", 1.0 / 255.0)),
            mean=float(data.get("mean", MNIST_MEAN)),
            std=float(data.get("std", MNIST_STD)),
            height=int(data.get("height", 28)),
            width=int(data.get("width", 28)),
        )

    def normalize_numpy(self, pixels: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Normalize a batch of images to float32 ``(N, 1, H, W)``.

        Args:
            pixels: ``(N, H*W)``, ``(N, H, W)`` or ``(N, 1, H, W)`` raw pixel values.

        Returns:
            A new C-contiguous float32 array of shape ``(N, 1, H, W)``.
        """
        arr = np.asarray(pixels)
        n = arr.shape[0] if arr.ndim > 0 else 0
        if arr.ndim == 0 or arr.size != n * self.height * self.width:
            raise ValueError(
                f"expected a batch of {self.height}x{self.width} images (N, {self.height * self.width}), "
                f"(N, {self.height}, {self.width}) or (N, 1, {self.height}, {self.width}); got shape {arr.shape}"
            )
        # One vectorized pass into a fresh writable float32 buffer (torch adopts it without a copy).
        out = np.empty((n, 1, self.height, self.width), dtype=np.float32)
        a, b = self._affine()
        np.multiply(arr.reshape(out.shape), np.float32(a), out=out, dtype=np.float32, casting="same_kind")
        out += np.float32(b)
        return out

    def normalize_torch(self, pixels: torch.Tensor) -> torch.Tensor:
        """Torch version of :meth:`normalize_numpy`; keeps the tensor's device."""
        n = pixels.shape[0]
        a, b = self._affine()
        x = pixels.reshape(n, 1, self.height, self.width).to(torch.float32)
        return x.mul_(a).add_(b) if x.data_ptr() != pixels.data_ptr() else x * a + b

    def denormalize_numpy(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Inverse of :meth:`normalize_numpy`: back to raw pixel values (float64)."""
        arr = np.asarray(x, dtype=np.float64)
        return (arr * self.std + self.mean) / self.scale

    def _affine(self) -> tuple[float, float]:
        # (p * scale - mean) / std == p * (scale / std) + (-mean / std)
        return self.scale / self.std, -self.mean / self.std


TUTORIAL_PREPROCESSING = Preprocessing()
"""The normalization PyTorch's MNIST example (and so the tutorial's weights) trained with."""

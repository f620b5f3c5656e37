"""Pure PyTorch: static int8 inference for :class:`~daft_mnist.model.checkpoint.Net` on x86 CPUs.

``conv1``, ``conv2`` and ``fc1`` (with their ReLUs) run in int8: weights quantized per
output channel (symmetric, ``qint8``), activations per tensor (``quint8``, zero point 0,
since every quantized activation follows a ReLU). ``fc2`` and ``log_softmax`` stay in
float32: quantizing the logits too changed 4 of the 10,000 test predictions of the bundled
weights, against none with this split.

The normalization ``(p * scale - mean) / std`` is folded into ``conv1``'s weights and bias,
so the raw uint8 pixels *are* the quantized input (scale 1, zero point 0): there is no float
pass over the input at all.

Activation ranges come from calibration (:func:`calibrate_int8`): the largest value of each
of the three quantized ReLU outputs over a set of training images. They are stored in the
checkpoint's metadata under :data:`CALIBRATION_KEY` (three floats and a count), so a model
can be quantized where it is loaded, without data. :func:`~daft_mnist.training._train.train`
calibrates every checkpoint it writes, and the bundled weights carry a calibration.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from daft_mnist.data._options import check_int
from daft_mnist.model.network import Net

__all__ = [
    "CALIBRATION_KEY",
    "INT8_ENGINES",
    "Int8Calibration",
    "Int8Net",
    "calibrate_int8",
    "int8_unavailable_reason",
]

CALIBRATION_KEY = "int8_calibration"
"""Checkpoint metadata key holding an :class:`Int8Calibration` as a dict."""

INT8_ENGINES = ("x86", "fbgemm", "onednn")
"""torch quantized engines the int8 model is built for (x86 CPUs with AVX2 or newer)."""


@dataclass(frozen=True)
class Int8Calibration:
    """Activation ranges of the three quantized ReLU outputs, and how many images gave them.

    Attributes:
        conv1: Largest ``relu(conv1(x))`` value seen.
        conv2: Largest ``relu(conv2(.))`` value seen.
        fc1: Largest ``relu(fc1(.))`` value seen.
        images: Number of calibration images.
    """

    conv1: float
    conv2: float
    fc1: float
    images: int

    def __post_init__(self) -> None:
        for name in ("conv1", "conv2", "fc1"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"int8 calibration {name!r} must be a positive finite number, got {value!r}")
        if isinstance(self.images, bool) or not isinstance(self.images, int) or self.images < 1:
            raise ValueError(f"int8 calibration 'images' must be a positive integer, got {self.images!r}")

    def to_dict(self) -> dict[str, float | int]:
        """Plain JSON types, for checkpoint metadata."""
        return {"conv1": float(self.conv1), "conv2": float(self.conv2), "fc1": float(self.fc1), "images": self.images}

    @classmethod
    def from_dict(cls, data: Any) -> Int8Calibration:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: ``data`` is not a dict with exactly the expected keys and valid values.
        """
        expected = {"conv1", "conv2", "fc1", "images"}
        if not isinstance(data, dict) or set(data) != expected:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"int8 calibration must be a dict with keys {sorted(expected)}, got {got}")
        return cls(data["conv1"], data["conv2"], data["fc1"], data["images"])


def int8_unavailable_reason() -> str | None:
    """Why int8 inference cannot run with this torch build, or ``None`` when it can."""
    engines = list(torch.backends.quantized.supported_engines)
    if not any(e in engines for e in INT8_ENGINES):
        return f"torch has no x86 quantized engine (supported engines: {engines}; needs one of {list(INT8_ENGINES)})"
    engine = torch.backends.quantized.engine
    if engine not in INT8_ENGINES:
        return f"torch.backends.quantized.engine is {engine!r}; the int8 model needs one of {list(INT8_ENGINES)}"
    return None


def _relu_outputs(net: Net, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a1 = F.relu(net.conv1(x))
    a2 = F.relu(net.conv2(a1))
    a3 = F.relu(net.fc1(torch.flatten(F.max_pool2d(a2, 2), 1)))
    return a1, a2, a3


def calibrate_int8(net: Net, pixels: npt.ArrayLike, *, chunk_size: int = 1024) -> Int8Calibration:
    """Measure the activation ranges int8 inference needs, on representative images.

    Use training images (not the images you will evaluate on). A few thousand are plenty:
    on the bundled weights 500, 2,000 and 10,000 images all gave int8 predictions identical
    to float32 on the whole test set.

    Args:
        net: The float model (its preprocessing contract is used to normalize).
        pixels: uint8 images, ``(N, 784)`` or ``(N, 28, 28)``, raw 0-255 values.
        chunk_size: Images per forward pass.

    Returns:
        The calibration, ready for :class:`Int8Net` or a checkpoint's metadata.

    Raises:
        ValueError: No images, or pixels that are not uint8-compatible.
    """
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    arr = np.asarray(pixels)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ValueError("int8 calibration needs at least one image, got none")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > 255:
            raise ValueError(f"int8 calibration expects uint8 pixels 0-255, got dtype {arr.dtype}")
        arr = arr.astype(np.uint8)
    maxima = [0.0, 0.0, 0.0]
    device = next(net.parameters()).device
    with torch.inference_mode():
        for start in range(0, len(arr), chunk_size):
            x = torch.from_numpy(net.preprocessing.normalize_numpy(arr[start : start + chunk_size])).to(device)
            for i, a in enumerate(_relu_outputs(net, x)):
                maxima[i] = max(maxima[i], float(a.max()))
    if min(maxima) <= 0:
        raise ValueError(f"int8 calibration found an all-zero activation (maxima {maxima}): not a trained model?")
    return Int8Calibration(maxima[0], maxima[1], maxima[2], len(arr))


def _float(t: torch.Tensor | None) -> torch.Tensor:
    if t is None:  # pragma: no cover - Net's layers all have biases
        raise ValueError("expected a tensor, got None")
    return t.detach().to("cpu", torch.float32)


def _per_channel_qint8(weight: torch.Tensor) -> torch.Tensor:
    w = _float(weight)
    amax = w.abs().flatten(1).amax(1).clamp(min=1e-12)
    scales = (amax / 127.0).to(torch.float64)
    return torch.quantize_per_channel(w, scales, torch.zeros(len(scales), dtype=torch.int64), 0, torch.qint8)


class Int8Net(nn.Module):
    """:class:`~daft_mnist.model.checkpoint.Net` quantized for int8 inference on x86 CPUs.

    Input: raw uint8 pixels ``(N, 1, 28, 28)`` (no normalization: it is folded into
    ``conv1``). Output: float32 log-probabilities ``(N, 10)``, like :class:`Net`.

    Raises:
        RuntimeError: int8 inference is unavailable with this torch build
            (:func:`int8_unavailable_reason`).
    """

    def __init__(self, net: Net, calibration: Int8Calibration) -> None:
        super().__init__()
        with warnings.catch_warnings():
            # torch 2.13 announces that quantized tensors will be removed (pytorch#184982). While
            # they exist they are the fastest int8 path here; once they are gone this build
            # fails, and precision="auto" falls back to float32. The warning is emitted once
            # per process, by the first quantized tensor: here, with the warm-up below.
            warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
            self._build(net, calibration)
            with torch.inference_mode():
                self(torch.zeros((1, 1, 28, 28), dtype=torch.uint8))

    def _build(self, net: Net, calibration: Int8Calibration) -> None:
        reason = int8_unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"int8 inference is unavailable: {reason}")
        from torch.ao.nn.intrinsic import quantized as nniq

        prep = net.preprocessing
        if prep.input_shape != (1, 28, 28):
            raise ValueError(f"Int8Net expects 1x28x28 inputs, got preprocessing for {prep.input_shape}")
        a, b = prep._affine()
        w1, b1 = _float(net.conv1.weight), _float(net.conv1.bias)
        self.conv1: Any = nniq.ConvReLU2d(1, 32, 3)  # type: ignore[no-untyped-call]
        self.conv1.set_weight_bias(_per_channel_qint8(w1 * a), b1 + b * w1.sum((1, 2, 3)))
        self.conv2: Any = nniq.ConvReLU2d(32, 64, 3)  # type: ignore[no-untyped-call]
        self.conv2.set_weight_bias(_per_channel_qint8(net.conv2.weight), _float(net.conv2.bias))
        self.fc1: Any = nniq.LinearReLU(9216, 128)  # type: ignore[no-untyped-call]
        self.fc1.set_weight_bias(_per_channel_qint8(net.fc1.weight), _float(net.fc1.bias))
        ranges = ((self.conv1, calibration.conv1), (self.conv2, calibration.conv2), (self.fc1, calibration.fc1))
        for module, top in ranges:
            module.scale, module.zero_point = float(top) / 255.0, 0
        self.fc2 = nn.Linear(128, 10)
        self.fc2.load_state_dict({k: v.detach().to("cpu", torch.float32) for k, v in net.fc2.state_dict().items()})
        self.calibration = calibration
        self.requires_grad_(False)
        self.eval()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = torch._make_per_tensor_quantized_tensor(pixels, 1.0, 0)
        x = self.conv1(x)
        x = self.conv2(x)
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = self.fc1(x).dequantize()
        return F.log_softmax(self.fc2(x), dim=1)

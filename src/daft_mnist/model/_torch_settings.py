"""torch settings scoped to the library's own work: set inside a block, the caller's restored after.

torch's thread count and TF32 switches are process-wide; a user's own torch code in the same
process must run afterwards as it did before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["ieee_float32", "torch_threads"]


@contextlib.contextmanager
def ieee_float32(torch: Any) -> Iterator[None]:
    """Switch TF32 off for CUDA convolutions and matmuls inside the block, then restore.

    cuDNN convolutions default to TF32 on Ampere and newer GPUs (10-bit mantissa), which
    moves MNIST probabilities by about 4e-4; the library promises float32 results. Uses
    the ``fp32_precision`` settings where torch has them (2.9+), else ``allow_tf32``.
    """
    settings: list[tuple[Any, str, object]]
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        settings = [(conv, "fp32_precision", "ieee"), (torch.backends.cuda.matmul, "fp32_precision", "ieee")]
    else:  # pragma: no cover - torch < 2.9
        settings = [(torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False)]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in settings]
    try:
        for obj, name, value in settings:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``num_threads`` inside the block, then restored.

    ``None`` leaves it alone. ``torch.set_num_threads`` is process-wide; scoping it keeps a
    user's own torch code in the same process running as it did before.
    """
    if num_threads is None:
        yield
        return
    import torch

    saved = torch.get_num_threads()
    if saved == num_threads:
        yield
        return
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)

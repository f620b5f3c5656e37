"""Arrow adapter: a Daft ``Image`` or ``Tensor`` column's Arrow data as numpy arrays, without copies.

Daft stores fixed-shape images and tensors as ``FixedSizeList`` storage (one stack), and images
of any size as ``struct<data, channel, height, width, mode>``; both become ``(H, W, C)`` uint8
views of the Arrow buffers here. Pure pyarrow/numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from daft_mnist.data._rules import unwrap
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ImageBatch", "image_batch"]


@dataclass(frozen=True)
class ImageBatch:
    """The rows of one batch: an ``(H, W, C)`` uint8 array per row, or ``None`` for a null row.

    Attributes:
        images: One array per row (``None`` where the row is null or unusable).
        reasons: Why a row is unusable (``None`` for good and for null rows).
        stack: All rows as one ``(N, H, W, C)`` array when the column has a fixed shape and no
            nulls (the fast path), else ``None``.
    """

    images: list[npt.NDArray[np.uint8] | None]
    reasons: list[str | None]
    stack: npt.NDArray[np.uint8] | None = None


def image_batch(arr: pa.Array | pa.ChunkedArray, *, shape: tuple[int, ...] | None = None) -> ImageBatch:
    """Views of the images of an Arrow column from Daft.

    Args:
        arr: A Daft ``Image`` (any mode or size) or uint8 ``Tensor`` column's Arrow data.
        shape: The column's fixed shape ``(H, W)`` or ``(H, W, C)`` when its Daft type has one
            (``Image[L; 28 x 28]``, ``Tensor[UInt8; [28, 28]]``); ``None`` for variable shapes.

    Returns:
        The :class:`ImageBatch`.

    Raises:
        DataError: The column is not images: a type other than uint8 images/tensors.
    """
    import pyarrow as pa

    raw = unwrap(arr)
    n = len(raw)
    if pa.types.is_fixed_size_list(raw.type):
        if shape is None:
            raise DataError(f"expected images, got fixed-size lists of {raw.type.list_size} values without a shape")
        if not pa.types.is_uint8(raw.type.value_type):
            raise DataError(f"expected uint8 images, got values of type {raw.type.value_type}")
        hwc = shape if len(shape) == 3 else (*shape, 1)
        flat = np.asarray(raw.flatten().to_numpy(zero_copy_only=False), dtype=np.uint8)  # respects slicing
        if raw.null_count == 0:
            stack = flat[: n * int(np.prod(hwc))].reshape(n, *hwc)
            return ImageBatch(list(stack), [None] * n, stack)
        valid = np.asarray(raw.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        rows = iter(flat.reshape(-1, *hwc))
        return ImageBatch([next(rows) if ok else None for ok in valid], [None] * n)
    if not pa.types.is_struct(raw.type) or raw.type.get_field_index("data") < 0:
        raise DataError(f"expected a Daft Image or uint8 Tensor column, got Arrow type {raw.type}")
    data = raw.field("data")
    if not pa.types.is_uint8(data.type.value_type):
        raise DataError(
            f"expected 8-bit images (L, LA, RGB, RGBA), got pixel values of type {data.type.value_type}; "
            "convert them first with .convert_image('RGBA')"
        )
    heights = np.asarray(raw.field("height").to_numpy(zero_copy_only=False))
    widths = np.asarray(raw.field("width").to_numpy(zero_copy_only=False))
    channels = np.asarray(raw.field("channel").to_numpy(zero_copy_only=False))
    offsets = np.asarray(data.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    flat = np.asarray(data.values.to_numpy(zero_copy_only=False), dtype=np.uint8)
    valid = np.asarray(raw.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    images: list[npt.NDArray[np.uint8] | None] = []
    reasons: list[str | None] = []
    for i in range(n):
        if not valid[i]:
            images.append(None)
            reasons.append(None)
            continue
        h, w, c = int(heights[i]), int(widths[i]), int(channels[i])
        start, end = int(offsets[i]), int(offsets[i + 1])
        if h == 0 or w == 0 or end - start != h * w * c or c not in (1, 2, 3, 4):
            images.append(None)
            reasons.append(f"image of {w}x{h} pixels with {c} channels holds {end - start} bytes: empty or corrupt")
            continue
        images.append(flat[start:end].reshape(h, w, c))
        reasons.append(None)
    return ImageBatch(images, reasons)

"""Expression builders for MNIST pixels: validate, reshape to 28x28, render as images.

Every builder takes and returns a :class:`daft.Expression`, so it composes inside any
``select`` / ``with_column``. The work is done by Daft's native casts; the only Python that
runs is one vectorized check per batch (never per row), which turns what a bare cast would
silently make null (a list of the wrong length, a pixel outside 0-255) into a clear error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from daft_mnist._rules import HEIGHT, NUM_PIXELS, WIDTH, OnError, check_on_error, pixel_check, pixels_to_numpy, unwrap
from daft_mnist.diagnostics import record_bad_rows
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    from daft import Expression

    from daft_mnist.io import JsonLines

__all__ = [
    "checked_pixels",
    "image_2d",
    "pixels_to_numpy",
    "to_image",
]

def _check_batch(series: Any, on_error: str, column: str, source: JsonLines | None = None) -> Any:
    """Batch body shared by the checking UDF: returns FixedSizeList[UInt8; 784].

    ``source``: the JSON-lines file the column was read from, to name the bad lines too.
    """
    import pyarrow as pa

    raw = unwrap(series.to_arrow())
    n = len(raw)
    bad, reasons, values, lengths = pixel_check(raw, column, NUM_PIXELS)
    out_type = pa.list_(pa.uint8(), NUM_PIXELS)
    if bad.any():
        if on_error == "raise":
            lines = source.first_bad("image") if source is not None else ""
            raise DataError(
                f"column {column!r}: {int(bad.sum())} of {n} rows are not valid MNIST images ({'; '.join(reasons)})"
                f"{lines}; pass on_error='null' to keep going with null for those rows"
            )

        record_bad_rows(column, int(bad.sum()), reasons)
        flat_all = np.nan_to_num(np.asarray(values.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.float64))
        full = np.zeros((n, NUM_PIXELS), dtype=np.uint8)
        if lengths is None:
            full[~bad] = flat_all.reshape(n, NUM_PIXELS)[~bad].astype(np.uint8)
        else:
            keep = np.repeat(~bad, np.where(lengths > 0, lengths, 0))
            full[~bad] = flat_all[keep].reshape(-1, NUM_PIXELS).astype(np.uint8)
        return pa.FixedSizeListArray.from_arrays(
            pa.array(full.reshape(-1), type=pa.uint8()), NUM_PIXELS, mask=pa.array(bad)
        )
    if pa.types.is_fixed_size_list(raw.type) and pa.types.is_uint8(values.type) and raw.null_count == 0:
        return raw if raw.type == out_type else raw.cast(out_type)
    flat_u8 = pa.array(np.asarray(values.to_numpy(zero_copy_only=False)).astype(np.uint8), type=pa.uint8())
    return pa.FixedSizeListArray.from_arrays(flat_u8, NUM_PIXELS)


def _checker(on_error: OnError, column: str, source: JsonLines | None = None) -> Any:
    import daft
    from daft import DataType

    check_on_error(on_error)

    @daft.func.batch(return_dtype=DataType.fixed_size_list(DataType.uint8(), NUM_PIXELS), use_process=False)
    def check_mnist_pixels(images: daft.Series) -> Any:
        if source is None:
            return _check_batch(images, on_error, column)
        return _check_batch(images, on_error, column, source)

    return check_mnist_pixels


def _name_of(expr: Expression) -> str:
    try:
        return str(expr.name())
    except Exception:
        return "image"


def checked_pixels(expr: Expression, *, on_error: OnError = "raise") -> Expression:
    """Check that every row holds exactly 784 integer pixels in 0-255; return them as ``List[UInt8; 784]``.

    A bare ``cast`` turns a wrong-length list or an out-of-range pixel into a silent null;
    this raises :class:`~daft_mnist.errors.DataError` naming the column, the row (within its
    batch) and the problem instead.

    Args:
        expr: Lists of pixels (any integer or float type), 28x28 tensors or images.
        on_error: ``"raise"`` (default) fails the query on the first bad batch; ``"null"``
            keeps every row, with null for bad ones, and counts them
            (:func:`daft_mnist.bad_row_count`).

    Returns:
        A ``FixedSizeList[UInt8; 784]`` expression with the input's name.
    """
    name = _name_of(expr)
    out: Expression = _checker(on_error, name)(expr).alias(name)
    return out


def image_2d(expr: Expression, *, on_error: OnError = "raise") -> Expression:
    """Reshape 784 pixels into a fixed-shape ``Tensor[UInt8; [28, 28]]`` (row-major).

    Args:
        expr: Lists of 784 pixel values (as read by :func:`~daft_mnist.load_mnist`) or
            anything :func:`checked_pixels` accepts.
        on_error: See :func:`checked_pixels`.

    Returns:
        An expression of type ``Tensor[UInt8; [28, 28]]``.

    Examples:
        >>> import daft
        >>> from daft_mnist import image_2d
        >>> df = daft.from_pydict({"image": [list(range(784))]})
        >>> df.select(image_2d(df["image"]).alias("t")).schema()["t"].dtype
        Tensor[UInt8; [28, 28]]
    """
    from daft import DataType

    return checked_pixels(expr, on_error=on_error).cast(DataType.tensor(DataType.uint8(), (HEIGHT, WIDTH)))


def to_image(expr: Expression) -> Expression:
    """Turn 28x28 pixels into a Daft ``Image[L; 28 x 28]`` (grayscale), shown as thumbnails in notebooks.

    Args:
        expr: A ``Tensor[UInt8; [28, 28]]`` (from :func:`image_2d`) or 784-pixel lists.

    Returns:
        An expression of type ``Image[L; 28 x 28]``.
    """
    from daft import DataType

    out: Expression = checked_pixels(expr).cast(DataType.image("L", HEIGHT, WIDTH))
    return out

"""Expression builders for MNIST pixels: validate, reshape to 28x28, render as images.

Every builder takes and returns a :class:`daft.Expression`, so it composes inside any
``select`` / ``with_column``. The work is done by Daft's native casts; the only Python that
runs is one vectorized check per batch (never per row), which turns what a bare cast would
silently make null (a list of the wrong length, a pixel outside 0-255) into a clear error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa
    from daft import Expression

__all__ = [
    "HEIGHT",
    "NUM_PIXELS",
    "WIDTH",
    "checked_pixels",
    "image_2d",
    "pixels_to_numpy",
    "to_image",
]

HEIGHT = 28
WIDTH = 28
NUM_PIXELS = HEIGHT * WIDTH

OnError = Literal["raise", "null"]


def _unwrap(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    return arr


def _values_and_lengths(arr: pa.Array, column: str) -> tuple[pa.Array, npt.NDArray[np.int64] | None, int | None]:
    """Return (flat values, per-row lengths or None when fixed, fixed size or None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_struct(arr.type):
        # Daft's variable-shape Image / Tensor: struct<data: list<...>, ...>
        try:
            idx = arr.type.get_field_index("data")
        except KeyError:
            idx = -1
        if idx < 0:
            raise DataError(f"column {column!r}: expected images as lists, tensors or Daft images; got {arr.type}")
        data = arr.field(idx)
        if arr.null_count:
            data = pc.if_else(arr.is_valid(), data, pa.nulls(len(arr), data.type))
        arr = data
    if pa.types.is_fixed_size_list(arr.type):
        return arr.flatten(), None, arr.type.list_size
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        lengths = pc.list_value_length(arr).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return arr.flatten(), lengths, None
    raise DataError(
        f"column {column!r}: expected images as lists of {NUM_PIXELS} pixels or 28x28 tensors/images; got {arr.type}"
    )


def _bad_rows(
    arr: pa.Array, column: str, expected: int
) -> tuple[npt.NDArray[np.bool_], list[str], pa.Array, npt.NDArray[np.int64] | None]:
    """Vectorized check: boolean mask of bad rows plus a human description of the first few."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(arr)
    values, lengths, fixed = _values_and_lengths(arr, column)
    bad = np.zeros(n, dtype=bool)
    reasons: list[str] = []
    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if nulls.any():
        bad |= nulls
        reasons.append(f"row {int(np.flatnonzero(nulls)[0])}: image is null (or not a list)")
    if fixed is not None:
        if fixed != expected:
            raise DataError(f"column {column!r}: expected {expected} pixels per image, got fixed-size lists of {fixed}")
        row_of_value = None
    else:
        assert lengths is not None
        wrong = (lengths != expected) & ~nulls
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            reasons.append(f"row {i}: expected {expected} pixels, got {int(lengths[i])}")
            bad |= wrong
        row_of_value = np.repeat(np.arange(n), np.where(lengths > 0, lengths, 0))
    if len(values) and not pa.types.is_uint8(values.type):
        t = values.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
            raise DataError(f"column {column!r}: expected integer pixel values 0-255, got values of type {t}")
        v = values.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            vbad = ~((v >= 0) & (v <= 255))
            if pa.types.is_floating(t):
                vbad |= v != np.floor(v)
        if values.null_count:
            vbad |= np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if vbad.any():
            first = int(np.flatnonzero(vbad)[0])
            rows = (first // expected) if row_of_value is None else int(row_of_value[first])
            reasons.append(f"row {rows}: pixel value {v[first]!r} is not an integer in 0-255")
            bad_rows = np.flatnonzero(vbad) // expected if row_of_value is None else row_of_value[np.flatnonzero(vbad)]
            bad[np.unique(bad_rows)] = True
    elif values.null_count:
        vnull = np.flatnonzero(np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool))
        rows_idx = vnull // expected if row_of_value is None else row_of_value[vnull]
        reasons.append(f"row {int(rows_idx[0])}: a pixel value is null")
        bad[np.unique(rows_idx)] = True
    del pc
    return bad, reasons, values, lengths


def pixels_to_numpy(arr: pa.Array | pa.ChunkedArray, *, column: str = "image") -> npt.NDArray[np.uint8]:
    """Convert an Arrow column of images to a uint8 ``(N, 784)`` array, checking every row.

    Fixed-size uint8 storage (the output of :func:`image_2d`, :func:`to_image` or
    :func:`~daft_mnist.load_mnist`) is viewed without a copy.

    Args:
        arr: Lists of 784 pixels, 28x28 tensors, or 28x28 single-channel Daft images.
        column: Column name used in error messages.

    Returns:
        A uint8 array of shape ``(N, 784)``.

    Raises:
        DataError: A row is null, has the wrong number of pixels or a pixel outside 0-255.
    """
    raw = _unwrap(arr)
    n = len(raw)
    bad, reasons, values, _ = _bad_rows(raw, column, NUM_PIXELS)
    if bad.any():
        raise DataError(
            f"column {column!r}: {int(bad.sum())} of {n} rows are not valid MNIST images ({'; '.join(reasons)})"
        )
    if n == 0:
        return np.empty((0, NUM_PIXELS), dtype=np.uint8)
    v = values.to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(v, dtype=np.uint8).reshape(n, NUM_PIXELS)


def _check_batch(series: Any, on_error: str, column: str) -> Any:
    """Batch body shared by the checking UDF: returns FixedSizeList[UInt8; 784]."""
    import pyarrow as pa

    raw = _unwrap(series.to_arrow())
    n = len(raw)
    bad, reasons, values, lengths = _bad_rows(raw, column, NUM_PIXELS)
    out_type = pa.list_(pa.uint8(), NUM_PIXELS)
    if bad.any():
        if on_error == "raise":
            raise DataError(
                f"column {column!r}: {int(bad.sum())} of {n} rows are not valid MNIST images ({'; '.join(reasons)}); "
                "pass on_error='null' to keep going with null for those rows"
            )
        from daft_mnist._log import record_bad_rows

        record_bad_rows(column, int(bad.sum()), reasons)
        import pyarrow.compute as pc

        if lengths is None:
            flat = np.asarray(values.fill_null(0).to_numpy(zero_copy_only=False))
            flat = np.where((flat >= 0) & (flat <= 255), flat, 0).astype(np.uint8)
        else:
            keep = np.repeat(~bad, np.where(lengths > 0, lengths, 0))
            v = np.asarray(values.fill_null(0).to_numpy(zero_copy_only=False))[keep]
            flat = v.astype(np.uint8)
            good = int((~bad).sum())
            full = np.zeros((n, NUM_PIXELS), dtype=np.uint8)
            full[~bad] = flat.reshape(good, NUM_PIXELS)
            flat = full.reshape(-1)
        fsl = pa.FixedSizeListArray.from_arrays(pa.array(flat, type=pa.uint8()), NUM_PIXELS, mask=pa.array(bad))
        del pc
        return fsl
    if pa.types.is_fixed_size_list(raw.type) and pa.types.is_uint8(values.type) and raw.null_count == 0:
        return raw if raw.type == out_type else raw.cast(out_type)
    flat_u8 = pa.array(np.asarray(values.to_numpy(zero_copy_only=False)).astype(np.uint8), type=pa.uint8())
    return pa.FixedSizeListArray.from_arrays(flat_u8, NUM_PIXELS)


def _checker(on_error: OnError, column: str) -> Any:
    import daft
    from daft import DataType

    if on_error not in ("raise", "null"):
        raise ValueError(f"on_error must be 'raise' or 'null', got {on_error!r}")

    @daft.func.batch(return_dtype=DataType.fixed_size_list(DataType.uint8(), NUM_PIXELS), use_process=False)
    def check_mnist_pixels(images: daft.Series) -> Any:
        return _check_batch(images, on_error, column)

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

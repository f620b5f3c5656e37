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

    from daft_mnist.io import JsonLines

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
    """Return (flat values of the non-null rows, per-row lengths or None, fixed size or None).

    ``lengths`` is ``None`` only when every row holds exactly ``fixed`` values, so that value
    ``i`` belongs to row ``i // fixed``; otherwise null rows have length -1 and hold no values.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_null(arr.type):  # every row null (or no rows): a list column with nothing in it
        arr = pa.nulls(len(arr), pa.list_(pa.float64()))
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
        size = arr.type.list_size
        if arr.null_count == 0:
            return arr.flatten(), None, size
        # flatten() skips null rows, so value i no longer belongs to row i // size
        valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        return arr.flatten(), np.where(valid, size, -1).astype(np.int64), size
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        lengths = pc.list_value_length(arr).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return arr.flatten(), lengths, None
    raise DataError(
        f"column {column!r}: expected images as lists of {NUM_PIXELS} pixels or 28x28 tensors/images; got {arr.type}"
    )


def _fmt_value(v: float) -> str:
    """A pixel or label value as the user wrote it: ``3``, ``-1``, ``1.5``, ``inf``."""
    if np.isfinite(v) and float(v) == int(v):
        return str(int(v))
    return repr(float(v))


def _bad_rows(
    arr: pa.Array, column: str, expected: int
) -> tuple[npt.NDArray[np.bool_], list[str], pa.Array, npt.NDArray[np.int64] | None]:
    """Vectorized check: boolean mask of bad rows plus a human description of the first few.

    Returns (bad-row mask, reasons, flat values of the non-null rows, per-row lengths or None).
    """
    import pyarrow as pa

    n = len(arr)
    values, lengths, fixed = _values_and_lengths(arr, column)
    bad = np.zeros(n, dtype=bool)
    reasons: list[str] = []

    def where(i: int) -> str:
        return f"row {i}" if n == 1 else f"row {i} of a {n}-row batch"

    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if nulls.any():
        bad |= nulls
        reasons.append(f"{where(int(np.flatnonzero(nulls)[0]))}: image is null, missing or not a list of numbers")
    if fixed is not None and fixed != expected:
        raise DataError(f"column {column!r}: expected {expected} pixels per image, got fixed-size lists of {fixed}")
    if lengths is None:
        row_of_value = None
    else:
        wrong = (lengths != expected) & ~nulls
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            reasons.append(f"{where(i)}: expected {expected} pixels, got {int(lengths[i])}")
            bad |= wrong
        row_of_value = np.repeat(np.arange(n), np.where(lengths > 0, lengths, 0))

    def rows_of(value_idx: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        out = value_idx // expected if row_of_value is None else row_of_value[value_idx]
        return np.asarray(out, dtype=np.int64)

    t = values.type
    if pa.types.is_null(t):  # only empty or null lists: Arrow types the (absent) values as null
        values = values.cast(pa.float64())
        t = values.type
    if len(values) and not pa.types.is_uint8(t):
        if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
            raise DataError(f"column {column!r}: expected integer pixel values 0-255, got values of type {t}")
        v = values.to_numpy(zero_copy_only=False)
        vnull = (
            np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            if values.null_count
            else np.zeros(len(v), dtype=bool)
        )
        with np.errstate(invalid="ignore"):
            vbad = ~((v >= 0) & (v <= 255))
            if pa.types.is_floating(t):
                vbad |= v != np.floor(v)
        vbad &= ~vnull
        if vnull.any():
            rows_null = rows_of(np.flatnonzero(vnull))
            reasons.append(f"{where(int(rows_null[0]))}: a pixel value is null or not a number")
            bad[np.unique(rows_null)] = True
        if vbad.any():
            first = int(np.flatnonzero(vbad)[0])
            rows_bad = rows_of(np.flatnonzero(vbad))
            reasons.append(f"{where(int(rows_bad[0]))}: pixel value {_fmt_value(v[first])} is not an integer in 0-255")
            bad[np.unique(rows_bad)] = True
    elif values.null_count:
        rows_null = rows_of(np.flatnonzero(np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)))
        reasons.append(f"{where(int(rows_null[0]))}: a pixel value is null")
        bad[np.unique(rows_null)] = True
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


def _check_batch(series: Any, on_error: str, column: str, source: JsonLines | None = None) -> Any:
    """Batch body shared by the checking UDF: returns FixedSizeList[UInt8; 784].

    ``source``: the JSON-lines file the column was read from, to name the bad lines too.
    """
    import pyarrow as pa

    raw = _unwrap(series.to_arrow())
    n = len(raw)
    bad, reasons, values, lengths = _bad_rows(raw, column, NUM_PIXELS)
    out_type = pa.list_(pa.uint8(), NUM_PIXELS)
    if bad.any():
        if on_error == "raise":
            lines = source.first_bad("image") if source is not None else ""
            raise DataError(
                f"column {column!r}: {int(bad.sum())} of {n} rows are not valid MNIST images ({'; '.join(reasons)})"
                f"{lines}; pass on_error='null' to keep going with null for those rows"
            )
        from daft_mnist._log import record_bad_rows

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

    if on_error not in ("raise", "null"):
        raise ValueError(f"on_error must be 'raise' or 'null', got {on_error!r}")

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

"""The MNIST data rules, in one place: sizes, label range, ``on_error``, and the row checks.

Everything that decides whether a value is a valid MNIST image or label lives here: the
vectorized checks the column builders and the classifier run per batch, and the per-value
reasons the JSON line finder uses. No Daft, no torch: pyarrow and numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft
    import pyarrow as pa

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "HEIGHT",
    "NUM_CLASSES",
    "NUM_PIXELS",
    "ON_ERROR_VALUES",
    "WIDTH",
    "OnError",
    "check_on_error",
    "fmt_value",
    "label_check",
    "label_problem",
    "pixel_check",
    "pixel_problem",
    "pixels_to_numpy",
    "require_columns",
    "unwrap",
]

HEIGHT = 28
"""Image height in pixels."""
WIDTH = 28
"""Image width in pixels."""
NUM_PIXELS = HEIGHT * WIDTH
"""Pixels per image (784)."""
NUM_CLASSES = 10
"""Digits 0-9."""
DEFAULT_BATCH_SIZE = 1024
"""Rows per model call unless the user says otherwise."""

OnError = Literal["raise", "null"]
"""What a malformed row does: ``"raise"`` fails the query, ``"null"`` keeps the row with a null."""
ON_ERROR_VALUES: tuple[OnError, ...] = ("raise", "null")


def check_on_error(value: Any) -> OnError:
    """Return ``value`` if it is a valid ``on_error`` option, else raise ``ValueError`` saying what is accepted."""
    if value not in ON_ERROR_VALUES:
        raise ValueError(f"on_error must be 'raise' or 'null', got {value!r}")
    out: OnError = value
    return out


def unwrap(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The one plain Arrow array behind a Daft Series' Arrow data (chunks combined, extension types unwrapped)."""
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


def fmt_value(v: float) -> str:
    """A pixel or label value as the user wrote it: ``3``, ``-1``, ``1.5``, ``inf``."""
    if np.isfinite(v) and float(v) == int(v):
        return str(int(v))
    return repr(float(v))


def pixel_check(
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
            reasons.append(f"{where(int(rows_bad[0]))}: pixel value {fmt_value(v[first])} is not an integer in 0-255")
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
    raw = unwrap(arr)
    n = len(raw)
    bad, reasons, values, _ = pixel_check(raw, column, NUM_PIXELS)
    if bad.any():
        raise DataError(
            f"column {column!r}: {int(bad.sum())} of {n} rows are not valid MNIST images ({'; '.join(reasons)})"
        )
    if n == 0:
        return np.empty((0, NUM_PIXELS), dtype=np.uint8)
    v = values.to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(v, dtype=np.uint8).reshape(n, NUM_PIXELS)


def label_check(
    arr: pa.Array | pa.ChunkedArray, column: str
) -> tuple[npt.NDArray[np.bool_], list[str], npt.NDArray[np.float64]]:
    """Vectorized check of a label column: (bad-row mask, reasons for the first bad row, values as float64).

    A label is good when it is an integer 0-9 (given as an int or an integral float).

    Raises:
        DataError: The column is not numeric.
    """
    import pyarrow as pa

    arr = unwrap(arr)
    n = len(arr)
    t = arr.type
    if n and not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)):
        raise DataError(f"column {column!r}: expected integer labels 0-9, got values of type {t}")
    if pa.types.is_null(t):
        values = np.zeros(n, dtype=np.float64)
        nulls = np.ones(n, dtype=bool)
    else:
        values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
        nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    with np.errstate(invalid="ignore"):
        bad = nulls | ~((values >= 0) & (values <= NUM_CLASSES - 1) & (values == np.floor(values)))
    reasons: list[str] = []
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = "null, missing or not a number" if nulls[i] else fmt_value(values[i])
        where = f"row {i}" if n == 1 else f"row {i} of a {n}-row batch"
        reasons.append(f"{where}: expected an integer label 0-9, got {what}")
    return bad, reasons, values


def pixel_problem(image: Any) -> str | None:
    """Why a parsed JSON ``image`` is not 784 integer pixels in 0-255 (None when it is)."""
    if not isinstance(image, list):
        return "image is null, missing or not a list of numbers"
    if len(image) != NUM_PIXELS:
        return f"expected {NUM_PIXELS} pixels, got {len(image)}"
    for v in image:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "a pixel value is null or not a number"
        if not (0 <= v <= 255 and float(v).is_integer()):
            return f"pixel value {v!r} is not an integer in 0-255"
    return None


def label_problem(label: Any) -> str | None:
    """Why a parsed JSON ``label`` is not an integer 0-9 (None when it is)."""
    if isinstance(label, bool) or not isinstance(label, (int, float)):
        return "expected an integer label 0-9, got null, missing or not a number"
    if not (0 <= label <= 9 and float(label).is_integer()):
        return f"expected an integer label 0-9, got {label!r}"
    return None


def require_columns(df: daft.DataFrame, names: Iterable[str]) -> None:
    """Raise ``ValueError`` naming the columns of ``names`` that ``df`` lacks, and the columns it has."""
    have = df.column_names
    missing = [n for n in names if n not in have]
    if missing:
        raise ValueError(f"expected column(s) {missing} in the DataFrame, got columns {have}")



"""Training's inputs, checked before the first step: frames, arrays, labels and options.

A label is an integer 0-9 (an int, or an integral float such as ``3.0``): fractions, booleans,
nulls and values outside 0-9 are refused naming the rows, never truncated or trained on. An
empty evaluation set, a missing column, pixels that would wrap in uint8 and options of the
wrong kind are refused before any training work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from daft_mnist.data._options import check_choice, check_int, check_number, check_optional_int
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft

__all__ = ["check_hyperparameters", "check_options", "checked_arrays", "frame_to_arrays", "label_array"]


def frame_to_arrays(
    df: daft.DataFrame, image: str, label: str, *, what: str = "df"
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    import daft

    from daft_mnist.data._rules import require_columns
    from daft_mnist.images import pixels_to_numpy

    if not isinstance(df, daft.DataFrame):
        raise TypeError(f"{what} must be a daft.DataFrame, got {type(df).__name__}")
    require_columns(df, [image, label])
    table = df.select(image, label).to_arrow()
    pixels = pixels_to_numpy(table.column(image), column=image)
    return pixels, label_array(table.column(label), column=label, what=what)


def label_array(values: Any, *, column: str = "label", what: str = "df") -> npt.NDArray[np.int64]:
    """``values`` (an Arrow column or an array) as int64 labels, every one an integer 0-9.

    A label is an integer 0-9, given as an int or an integral float (``3.0``); booleans,
    fractions (``3.5``), nulls, NaN and values outside 0-9 are refused, naming the rows, so a
    label is never truncated or taken for another.

    Raises:
        DataError: Some labels are not integers 0-9, or the values are not numbers.
    """
    import pyarrow as pa

    from daft_mnist.data._rules import MAX_REPORTED, label_check

    if not isinstance(values, pa.Array | pa.ChunkedArray):
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise DataError(f"{what}: expected a 1-D array of labels, got shape {arr.shape}")
        values = pa.array(arr)
    try:
        check = label_check(values, column)
    except DataError as exc:  # not numbers at all (strings, booleans)
        raise DataError(f"{what}, {exc}") from None
    if check.any():
        n = len(check)
        rows = "; ".join(f"row {int(i)}: {check.reason(int(i))}" for i in check.bad_rows(MAX_REPORTED))
        more = f" (first {MAX_REPORTED} shown)" if check.count > MAX_REPORTED else ""
        raise DataError(
            f"{what}, column {column!r}: {check.count} of {n} rows are not integer labels 0-9, so nothing was "
            f"trained{more}: {rows}"
        )
    return np.asarray(check.numbers, dtype=np.int64)


def checked_arrays(
    pixels: npt.NDArray[Any], labels: npt.NDArray[Any], what: str
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Pixels as uint8 ``(N, 784)`` and labels as int64, refused (naming the rows) unless every value is valid."""
    from daft_mnist.data._rules import NUM_PIXELS

    pixels = np.asarray(pixels)
    n = int(pixels.shape[0]) if pixels.ndim else 0
    if n == 0:
        raise DataError(f"cannot train: {what} has no rows (expected at least one image); nothing was trained")
    if pixels.size != n * NUM_PIXELS:
        raise DataError(
            f"{what}: expected {NUM_PIXELS} pixels per image ((N, 784) or (N, 28, 28)), got shape {pixels.shape}"
        )
    flat = pixels.reshape(n, NUM_PIXELS)
    if flat.dtype != np.uint8:
        if flat.dtype.kind not in "iuf":
            raise DataError(f"{what}: expected integer pixel values 0-255, got an array of {flat.dtype}")
        with np.errstate(invalid="ignore"):
            bad_rows = np.flatnonzero((~((flat >= 0) & (flat <= 255) & (flat == np.floor(flat)))).any(axis=1))
        if len(bad_rows):
            raise DataError(
                f"{what}: {len(bad_rows)} of {n} images have pixel values that are not integers 0-255 "
                f"(rows {bad_rows[:10].tolist()}), so nothing was trained"
            )
        flat = flat.astype(np.uint8)
    checked = label_array(labels, what=what)
    if checked.shape != (n,):
        raise DataError(f"{what}: expected one label per image ({n}), got {checked.shape[0]} labels")
    return flat, checked


def check_hyperparameters(
    *, epochs: Any, batch_size: Any, learning_rate: Any, weight_decay: Any, num_threads: Any = None
) -> None:
    """Refuse settings that cannot train before any data is read (the one option check)."""
    check_int("epochs", epochs, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_number("learning_rate", learning_rate, above=0)
    check_number("weight_decay", weight_decay, minimum=0)
    check_optional_int("num_threads", num_threads, minimum=1)


def check_options(*, augment: object, seed: object, progress: object) -> None:
    """Refuse options of the wrong kind before any data is read."""
    check_choice("augment", augment, (True, False, "strokes"))
    check_int("seed", seed, minimum=0)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable taking an EpochStats, or None, got {type(progress).__name__}")

"""The MNIST data rules, in one place: sizes, label range, ``on_error``, and the row checks.

Everything that decides whether a value is a valid MNIST image or label lives here: the
vectorized checks (:func:`pixel_check`, :func:`label_check`) that the column checks, the
classifier and the JSON line finder all run, and their per-row reasons (:class:`RowCheck`).
No Daft, no torch: pyarrow and numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from daft_mnist.data._options import check_choice
from daft_mnist.errors import DataError, OnError

if TYPE_CHECKING:
    import daft
    import pyarrow as pa

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "HEIGHT",
    "MAX_REPORTED",
    "NUM_CLASSES",
    "NUM_PIXELS",
    "ON_ERROR_VALUES",
    "WIDTH",
    "LabelCheck",
    "OnError",
    "PixelCheck",
    "RowCheck",
    "RowSource",
    "check_on_error",
    "fmt_value",
    "fresh_names",
    "label_check",
    "pixel_check",
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
MAX_REPORTED = 3
"""Bad rows (or lines) named in one error message."""

ON_ERROR_VALUES: tuple[OnError, ...] = ("raise", "null")


def check_on_error(value: Any) -> OnError:
    """Return ``value`` if it is a valid ``on_error`` option, else raise ``OptionError`` (a ``ValueError``).

    The message: ``on_error: expected one of 'raise', 'null', got 'skip' (str)``.
    """
    out: OnError = check_choice("on_error", value, ON_ERROR_VALUES)
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


class RowSource(Protocol):
    """Where a column came from (a file), to name the lines of its bad rows in errors.

    Implemented by the JSON-lines loader; the column checks only call :meth:`first_bad`, on
    the error path.
    """

    def first_bad(self, field: str, limit: int = ...) -> str:
        """`` (in FILE: line N: why; ...)`` for the first bad values of ``field``, or ``""``."""
        ...


# Reason codes of RowCheck.code (0: the row is good).
GOOD = 0
NULL_IMAGE = 1
WRONG_LENGTH = 2
NULL_PIXEL = 3
NULL_PIXEL_U8 = 4
BAD_PIXEL = 5
NULL_LABEL = 6
BAD_LABEL = 7


_Check = TypeVar("_Check", bound="RowCheck")


@dataclass(frozen=True)
class RowCheck:
    """Which rows of a batch are bad and why: the one implementation of the row rules.

    Computed with numpy over the whole batch (no Python per row); a reason string is built
    only for the rows asked about. Used by the column checks, the classifier and the JSON
    line finder alike, so they call the same rows bad for the same reasons.

    Attributes:
        bad: Boolean mask, one entry per row.
        code: Reason code per row (``0`` for a good row).
        detail: Per row, the list length (wrong length) or the index into ``numbers`` of
            the offending value (bad pixel or label); unused otherwise.
        numbers: The values that ``detail`` points into (flat pixels, or labels).
        expected: Pixels per image the check asked for.
        noun: What a label check's values are called in its reasons (``label``, ``prediction``).
    """

    bad: npt.NDArray[np.bool_]
    code: npt.NDArray[np.int8]
    detail: npt.NDArray[np.int64]
    numbers: npt.NDArray[Any]
    expected: int = NUM_PIXELS
    noun: str = "label"

    def __len__(self) -> int:
        return len(self.bad)

    @property
    def count(self) -> int:
        """How many rows are bad."""
        return int(self.bad.sum())

    def any(self) -> bool:
        """Whether any row is bad."""
        return bool(self.bad.any())

    def reason(self, i: int) -> str | None:
        """Why row ``i`` is bad (``None`` when it is good), without its place in the batch.

        E.g. ``"expected 784 pixels, got 783"``, ``"pixel value 300 is not an integer in 0-255"``.
        """
        code = int(self.code[i])
        if code == GOOD:
            return None
        if code == NULL_IMAGE:
            return "image is null, missing or not a list of numbers"
        if code == WRONG_LENGTH:
            return f"expected {self.expected} pixels, got {int(self.detail[i])}"
        if code == NULL_PIXEL:
            return "a pixel value is null or not a number"
        if code == NULL_PIXEL_U8:
            return "a pixel value is null"
        if code == BAD_PIXEL:
            return f"pixel value {fmt_value(self.numbers[self.detail[i]])} is not an integer in 0-255"
        if code == NULL_LABEL:
            return f"expected an integer {self.noun} 0-9, got null, missing or not a number"
        return f"expected an integer {self.noun} 0-9, got {fmt_value(self.numbers[self.detail[i]])}"

    def reasons(self, rows: Iterable[int] | None = None) -> list[str | None]:
        """:meth:`reason` of each of ``rows`` (default: every row)."""
        return [self.reason(int(i)) for i in (range(len(self)) if rows is None else rows)]

    def ignoring_nulls(self: _Check, nulls: npt.NDArray[np.bool_]) -> _Check:
        """This check with the ``nulls`` rows counted good: a null goes through a step as a null.

        A null coming into a pipeline step is not a malformed value: the step that made it
        null reported it (with its reason) already, so it is neither raised nor counted again.
        """
        if not nulls.any():
            return self
        keep = ~nulls
        return replace(self, bad=self.bad & keep, code=np.where(keep, self.code, GOOD).astype(np.int8))

    def bad_rows(self, limit: int | None = None) -> npt.NDArray[np.intp]:
        """Indices of the bad rows, in order (the first ``limit`` of them)."""
        rows = np.flatnonzero(self.bad)
        return rows if limit is None else rows[:limit]

    def described(self, limit: int = MAX_REPORTED) -> list[str]:
        """The first ``limit`` bad rows as ``"row i of a n-row batch: why"`` (``"row i: why"`` for one row)."""
        n = len(self)
        return [
            f"{f'row {i}' if n == 1 else f'row {i} of a {n}-row batch'}: {self.reason(int(i))}"
            for i in self.bad_rows(limit)
        ]

    def summary(self, limit: int = MAX_REPORTED) -> str:
        """:meth:`described` joined for a message: ``"row 1 of a 3-row batch: ...; row 2 ..."``."""
        return "; ".join(self.described(limit))


@dataclass(frozen=True)
class PixelCheck(RowCheck):
    """:class:`RowCheck` of an image column, with the values it read.

    Attributes:
        values: Flat pixel values of the non-null rows (Arrow).
        lengths: Per-row lengths (``-1`` for null rows), or ``None`` when every row holds
            exactly ``expected`` values (value ``i`` belongs to row ``i // expected``).
    """

    values: Any = None
    lengths: npt.NDArray[np.int64] | None = None

    def rows(self, keep: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.uint8]:
        """The pixels of the ``keep`` rows (default: every row) as uint8 ``(k, expected)``, from
        the values this check read: nothing is checked or read again. uint8 input of whole rows
        is a view, not a copy. The kept rows must be good ones."""
        n = len(self.bad)
        values = self.values.fill_null(0) if self.values.null_count else self.values
        flat = np.asarray(values.to_numpy(zero_copy_only=False))
        if self.lengths is None:
            whole = flat.reshape(n, self.expected)
            picked = whole if keep is None else whole[keep]
        else:
            mine = np.where(self.lengths > 0, self.lengths, 0)
            picked = (flat if keep is None else flat[np.repeat(keep, mine)]).reshape(-1, self.expected)
        out: npt.NDArray[np.uint8] = picked if picked.dtype == np.uint8 else np.nan_to_num(picked).astype(np.uint8)
        return out


@dataclass(frozen=True)
class LabelCheck(RowCheck):
    """:class:`RowCheck` of a label column; ``numbers`` are the labels as float64."""


def _first_per_row(
    flagged_values: npt.NDArray[np.bool_], rows_of: Any
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """(rows with a flagged value, index of the first flagged value of each)."""
    idx = np.flatnonzero(flagged_values)
    rows = rows_of(idx)
    first_rows, first_pos = np.unique(rows, return_index=True)
    return first_rows, idx[first_pos]


def pixel_check(arr: pa.Array, column: str, expected: int = NUM_PIXELS) -> PixelCheck:
    """Vectorized check of an image column: which rows are not ``expected`` integer pixels in 0-255, and why.

    A row's reason is the first that applies: the image is null (or not a list); its
    length is wrong; else its first pixel that is null or outside 0-255 / fractional.

    Raises:
        DataError: The column as a whole is not images (wrong type, fixed size not ``expected``).
    """
    import pyarrow as pa

    n = len(arr)
    values, lengths, fixed = _values_and_lengths(arr, column)
    if fixed is not None and fixed != expected:
        raise DataError(f"column {column!r}: expected {expected} pixels per image, got fixed-size lists of {fixed}")
    code = np.zeros(n, dtype=np.int8)
    detail = np.zeros(n, dtype=np.int64)
    if arr.null_count:
        code[np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = NULL_IMAGE
    if lengths is not None:
        wrong = (lengths != expected) & (code == GOOD)
        code[wrong] = WRONG_LENGTH
        detail[wrong] = lengths[wrong]

    def rows_of(value_idx: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        if lengths is None:
            return np.asarray(value_idx // expected, dtype=np.int64)
        row_of_value = np.repeat(np.arange(n), np.where(lengths > 0, lengths, 0))
        return np.asarray(row_of_value[value_idx], dtype=np.int64)

    t = values.type
    if pa.types.is_null(t):  # only empty or null lists: Arrow types the (absent) values as null
        values = values.cast(pa.float64())
        t = values.type
    numbers: npt.NDArray[Any] = np.zeros(0)
    vnull = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool) if values.null_count else None
    flagged, null_code = vnull, NULL_PIXEL_U8
    if len(values) and not pa.types.is_uint8(t):
        if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
            raise DataError(f"column {column!r}: expected integer pixel values 0-255, got values of type {t}")
        numbers = values.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            flagged = ~((numbers >= 0) & (numbers <= 255))
            if pa.types.is_floating(t):
                flagged |= numbers != np.floor(numbers)
        if vnull is not None:
            flagged |= vnull
        null_code = NULL_PIXEL
    if flagged is not None and flagged.any():
        rows, first = _first_per_row(flagged, rows_of)
        free = code[rows] == GOOD
        rows, first = rows[free], first[free]
        code[rows] = BAD_PIXEL if vnull is None else np.where(vnull[first], null_code, BAD_PIXEL)
        detail[rows] = first
    return PixelCheck(code != GOOD, code, detail, numbers, expected, values=values, lengths=lengths)


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
    check = pixel_check(raw, column, NUM_PIXELS)
    if check.any():
        raise DataError(f"column {column!r}: {check.count} of {n} rows are not valid MNIST images ({check.summary()})")
    if n == 0:
        return np.empty((0, NUM_PIXELS), dtype=np.uint8)
    return np.ascontiguousarray(check.rows())


def label_check(arr: pa.Array | pa.ChunkedArray, column: str, *, noun: str = "label") -> LabelCheck:
    """Vectorized check of a label column: which rows are not an integer 0-9, and why.

    A label is good when it is an integer 0-9 (given as an int or an integral float).
    ``numbers`` of the result holds the labels as float64 (0 for null).

    Raises:
        DataError: The column is not numeric.
    """
    import pyarrow as pa

    arr = unwrap(arr)
    n = len(arr)
    t = arr.type
    if n and not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)):
        hint = (
            f"; they are strings: convert them with col({column!r}).cast(DataType.int64()) (a string that is "
            "not a number becomes null, so check the result)"
            if pa.types.is_string(t) or pa.types.is_large_string(t)
            else ""
        )
        raise DataError(f"column {column!r}: expected integer labels 0-9, got values of type {t}{hint}")
    if pa.types.is_null(t):
        values = np.zeros(n, dtype=np.float64)
        nulls = np.ones(n, dtype=bool)
    else:
        values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
        nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    with np.errstate(invalid="ignore"):
        bad = nulls | ~((values >= 0) & (values <= NUM_CLASSES - 1) & (values == np.floor(values)))
    code = np.where(nulls, NULL_LABEL, np.where(bad, BAD_LABEL, GOOD)).astype(np.int8)
    return LabelCheck(bad, code, np.arange(n, dtype=np.int64), values, noun=noun)


def fresh_names(taken: Iterable[str], *bases: str) -> list[str]:
    """A name for each of ``bases`` that is none of ``taken`` nor another's: ``base``, else ``base_1``, ...

    The library's temporary columns are named this way from the frame's own schema, so a user's
    column of the same name is never read, replaced or dropped by them.
    """
    used = set(taken)
    names = []
    for base in bases:
        name, k = base, 0
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        names.append(name)
    return names


def require_columns(df: daft.DataFrame, names: Iterable[str]) -> None:
    """Raise ``ValueError`` naming the columns of ``names`` that ``df`` lacks, and the columns it has."""
    have = df.column_names
    missing = [n for n in names if n not in have]
    if missing:
        raise ValueError(f"expected column(s) {missing} in the DataFrame, got columns {have}")

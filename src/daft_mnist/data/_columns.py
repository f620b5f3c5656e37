"""Checked columns: the Daft batch UDFs that check pixels and labels, and the loaders' cast to the library schema.

The expression builders (:mod:`daft_mnist.images`, :mod:`daft_mnist.labels`) and every
loader use these, so a column is checked the same way wherever it comes from. The rules
themselves are in :mod:`daft_mnist.data._rules`; a loader that knows the file a column came from
passes it as a :class:`~daft_mnist.data._rules.RowSource`, so errors name the file's lines too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from daft_mnist.data._rules import (
    HEIGHT,
    NUM_PIXELS,
    WIDTH,
    OnError,
    RowCheck,
    RowSource,
    check_on_error,
    label_check,
    pixel_check,
    unwrap,
)
from daft_mnist.diagnostics import record_bad_rows
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft
    import pyarrow as pa

__all__ = [
    "is_image_or_tensor",
    "needs_styling",
    "picture_shape",
    "apply_on_error",
    "ERROR_COLUMN",
    "LINE_ERROR",
    "check_labels_batch",
    "check_pixels_batch",
    "empty_frame",
    "finish",
    "is_valid_pixels",
    "label_checker",
    "not_pixels_error",
    "pixel_checker",
    "proves_valid_pixels",
]


def is_valid_pixels(raw: pa.Array) -> bool:
    """Whether ``raw`` is ``FixedSizeList[UInt8; 784]`` storage without a null row or pixel: valid by its type.

    Such a column (what :func:`~daft_mnist.load_mnist`, ``image_2d`` and ``to_image`` give)
    needs no check; the pixel checker passes it through without a copy.
    """
    import pyarrow as pa

    t = raw.type
    return bool(
        pa.types.is_fixed_size_list(t)
        and t.list_size == NUM_PIXELS
        and pa.types.is_uint8(t.value_type)
        and raw.null_count == 0
        and raw.flatten().null_count == 0
    )


def _valid_by_type(raw: pa.Array) -> bool:
    """``FixedSizeList[UInt8; 784]`` storage with no null pixel: every non-null row is valid by its type."""
    import pyarrow as pa

    t = raw.type
    return bool(
        pa.types.is_fixed_size_list(t)
        and t.list_size == NUM_PIXELS
        and pa.types.is_uint8(t.value_type)
        and raw.flatten().null_count == 0
    )


def proves_valid_pixels(dtype: daft.DataType) -> bool:
    """Whether a Daft column type proves every non-null row is a valid MNIST image.

    True for ``FixedSizeList[UInt8; 784]`` (as :func:`~daft_mnist.load_mnist` gives),
    ``Tensor[UInt8; [28, 28]]`` and ``Image[L; 28 x 28]``: 784 bytes per row, each 0-255 by
    type. A frame helper given such a column casts it natively, without a Python check.
    """
    from daft import DataType

    return dtype in (
        DataType.fixed_size_list(DataType.uint8(), NUM_PIXELS),
        DataType.tensor(DataType.uint8(), (HEIGHT, WIDTH)),
        DataType.image("L", HEIGHT, WIDTH),
    )


_C = TypeVar("_C", bound=RowCheck)

_WHAT = {
    "image": ("rows are not valid MNIST images", "pass on_error='null' to keep going with null for those rows"),
    "prediction": ("rows are not valid MNIST images", "pass on_error='null' to give them a null prediction"),
    "label": ("labels are invalid", "pass on_error='null' to keep those rows with a null label"),
}


def apply_on_error(
    check: _C,
    raw: pa.Array,
    *,
    on_error: str,
    column: str,
    step: str,
    field: str,
    source: RowSource | None = None,
    nulls_are_bad: bool = False,
) -> tuple[npt.NDArray[np.bool_], _C]:
    """The ``on_error`` rule for one checked batch: raise naming ``step``, or count; the rows to null.

    ``field``: ``"image"`` or ``"label"`` (a column check), or ``"prediction"`` (the classifier).

    A null row is not malformed (it stays null, uncounted) unless ``nulls_are_bad`` (a loader,
    for which a null is a missing value).
    """
    nulls = np.asarray(raw.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if not nulls_are_bad:
        check = check.ignoring_nulls(nulls)
    if check.any():
        if on_error == "raise":
            what, advice = _WHAT[field]
            lines = source.first_bad(field) if source is not None and field != "prediction" else ""
            raise DataError(
                f"{step}: column {column!r}: {check.count} of {len(check)} {what} ({check.summary()}){lines}; {advice}"
            )
        record_bad_rows(column, check.count, check.described())
    out: npt.NDArray[np.bool_] = check.bad | nulls
    return out, check


_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def not_pixels_error(series: Any, step: str, column: str) -> DataError | None:
    """A clear error when ``series`` holds pictures or Python objects where MNIST pixels are expected.

    Pictures of another size or mode (a Daft ``Image`` other than ``Image[L; 28 x 28]``, or a
    uint8 tensor of another shape) name their size and mode and point to :func:`mnist_style`;
    a Python column (``PIL.Image`` objects, for example) says how to make it an image column.
    ``None`` when the column may hold pixels (its values are then checked row by row).
    """
    from daft import DataType

    dtype = series.datatype()
    fix = (
        f"pictures of other sizes or modes are prepared as MNIST digits by daft_mnist.mnist_style(col({column!r})) "
        "(classify and add_image_2d apply it for you; daft_mnist.load_images reads folders of them)"
    )
    if dtype == DataType.python():
        return DataError(
            f"{step}: column {column!r}: expected MNIST pixels, got Python objects (PIL images, say); make it an "
            f"image column first with col({column!r}).cast(DataType.image()) — 28x28 grayscale images are then "
            f"MNIST pixels, and {fix}"
        )
    if not needs_styling(dtype):
        return None
    found = str(dtype)
    if not (dtype.is_fixed_shape_image() or dtype.is_fixed_shape_tensor()):
        raw = unwrap(series.to_arrow())
        if raw.null_count < len(raw) and raw.type.get_field_index("height") >= 0:
            i = int(np.flatnonzero(np.asarray(raw.is_valid().to_numpy(zero_copy_only=False), dtype=bool))[0])
            w, h = raw.field("width")[i].as_py(), raw.field("height")[i].as_py()
            c = raw.field("channel")[i].as_py()
            found += f" (row {i}: {w}x{h} pixels, mode {_MODES.get(c, f'{c} channels')})"
    return DataError(
        f"{step}: column {column!r}: expected MNIST pixels (784-pixel lists, Tensor[UInt8; [28, 28]] or "
        f"Image[L; 28 x 28]), got {found}; {fix}"
    )


def _fill_reasons(reasons: list[str | None], check: RowCheck) -> None:
    for i in check.bad_rows():
        reasons[int(i)] = check.reason(int(i))


def check_pixels_batch(
    series: Any,
    on_error: str,
    column: str,
    source: RowSource | None = None,
    *,
    step: str = "checked_pixels",
    nulls_are_bad: bool = False,
    reasons: list[str | None] | None = None,
) -> Any:
    """Batch body of the pixel checker: returns ``FixedSizeList[UInt8; 784]``.

    A null row stays null and is neither raised nor counted (the step that made it null
    reported it), except where ``nulls_are_bad``: a loader, for which a null is a missing
    image. Already-valid input (:func:`is_valid_pixels` / valid by its type: a
    ``load_mnist`` column, a 28x28 uint8 tensor or image) is returned as is, without a copy
    or a value scan.

    Args:
        series: The Daft Series of one batch.
        on_error: ``"raise"`` or ``"null"``: what a malformed row does.
        column: Column name for messages.
        source: The file the column was read from, to name the bad lines too.
        step: The function the user called, named in errors (``"image_2d"``, ...).
        nulls_are_bad: Whether a null row is itself a bad row (a loader's missing image).
        reasons: A list of one entry per row to fill with the reason of each bad row.
    """
    import pyarrow as pa

    wrong_kind = not_pixels_error(series, step, column)
    if wrong_kind is not None:
        raise wrong_kind
    raw = unwrap(series.to_arrow())
    out_type = pa.list_(pa.uint8(), NUM_PIXELS)
    if is_valid_pixels(raw) or (not nulls_are_bad and _valid_by_type(raw)):
        return raw if raw.type == out_type else raw.cast(out_type)
    n = len(raw)
    check = pixel_check(raw, column, NUM_PIXELS)
    bad, check = apply_on_error(
        check,
        raw,
        on_error=on_error,
        column=column,
        step=step,
        field="image",
        source=source,
        nulls_are_bad=nulls_are_bad,
    )
    if reasons is not None:
        _fill_reasons(reasons, check)
    if not bad.any():
        if pa.types.is_fixed_size_list(raw.type) and pa.types.is_uint8(check.values.type):
            return raw if raw.type == out_type else raw.cast(out_type)
        return pa.FixedSizeListArray.from_arrays(pa.array(check.rows().reshape(-1), type=pa.uint8()), NUM_PIXELS)
    full = np.zeros((n, NUM_PIXELS), dtype=np.uint8)
    full[~bad] = check.rows(~bad)
    return pa.FixedSizeListArray.from_arrays(
        pa.array(full.reshape(-1), type=pa.uint8()), NUM_PIXELS, mask=pa.array(bad)
    )


def pixel_checker(
    on_error: OnError,
    column: str,
    source: RowSource | None = None,
    *,
    step: str = "checked_pixels",
    nulls_are_bad: bool = False,
) -> Any:
    """A Daft batch UDF checking an image column into ``FixedSizeList[UInt8; 784]`` (:func:`check_pixels_batch`)."""
    import daft
    from daft import DataType

    check_on_error(on_error)

    @daft.func.batch(return_dtype=DataType.fixed_size_list(DataType.uint8(), NUM_PIXELS), use_process=False)
    def check_mnist_pixels(images: daft.Series) -> Any:
        return check_pixels_batch(images, on_error, column, source, step=step, nulls_are_bad=nulls_are_bad)

    return check_mnist_pixels


def check_labels_batch(
    series: Any,
    on_error: str,
    column: str,
    source: RowSource | None = None,
    *,
    step: str = "checked_labels",
    nulls_are_bad: bool = False,
    reasons: list[str | None] | None = None,
) -> Any:
    """Batch body of the label checker: ``Int64`` labels 0-9; null rows stay null (see :func:`check_pixels_batch`)."""
    import pyarrow as pa

    raw = unwrap(series.to_arrow())
    check = label_check(raw, column)
    bad, check = apply_on_error(
        check,
        raw,
        on_error=on_error,
        column=column,
        step=step,
        field="label",
        source=source,
        nulls_are_bad=nulls_are_bad,
    )
    if reasons is not None:
        _fill_reasons(reasons, check)
    out = np.where(bad, 0, check.numbers).astype(np.int64)
    return pa.array(out, type=pa.int64(), mask=bad if bad.any() else None)


def label_checker(
    on_error: OnError,
    column: str,
    source: RowSource | None = None,
    *,
    step: str = "checked_labels",
    nulls_are_bad: bool = False,
) -> Any:
    """A Daft batch UDF checking one label column into ``Int64`` (see :func:`check_labels_batch`)."""
    import daft
    from daft import DataType

    check_on_error(on_error)

    @daft.func.batch(return_dtype=DataType.int64(), use_process=False)
    def check_mnist_labels(labels: daft.Series) -> Any:
        return check_labels_batch(labels, on_error, column, source, step=step, nulls_are_bad=nulls_are_bad)

    return check_mnist_labels


ERROR_COLUMN = "load_error"
"""The column a loader adds under ``on_error="null"``: why the row's image or label is null."""
LINE_ERROR = "__line_error"
"""A raw column a reader may add: why a source line could not be read at all (it wins over the checks)."""


def finish(
    df: daft.DataFrame, on_error: OnError = "raise", source: RowSource | None = None, *, step: str = "load_mnist"
) -> daft.DataFrame:
    """Checked cast of a loader's raw ``image`` and ``label`` columns to ``List[UInt8; 784]`` and ``Int64`` 0-9.

    With ``source``, errors about bad rows also name their lines in that file. Under
    ``on_error="null"`` the frame also gets :data:`ERROR_COLUMN` (String): for each row whose
    image or label became null, why (``"image: expected 784 pixels, got 783"``), so the
    reason travels with the row through the pipeline; null for good rows.
    """
    from daft import col

    if on_error == "raise":
        return df.select(
            pixel_checker(on_error, "image", source, step=step, nulls_are_bad=True)(col("image")).alias("image"),
            label_checker(on_error, "label", source, step=step, nulls_are_bad=True)(col("label")).alias("label"),
        )
    checked = _row_checker(source, step)(col("image"), col("label")).alias("__row")
    error = col("__row")[ERROR_COLUMN]
    if LINE_ERROR in df.column_names:
        from daft.functions import when

        error = when(col(LINE_ERROR).not_null(), col(LINE_ERROR)).otherwise(error)
        checked_df = df.select(checked, col(LINE_ERROR))
    else:
        checked_df = df.select(checked)
    return checked_df.select(
        col("__row")["image"].alias("image"),
        col("__row")["label"].alias("label"),
        error.alias(ERROR_COLUMN),
    )


def _row_checker(source: RowSource | None, step: str) -> Any:
    """One batch UDF checking image and label together under ``"null"``, with a reason per bad row."""
    import daft
    import pyarrow as pa
    from daft import DataType

    dtype = DataType.struct(
        {
            "image": DataType.fixed_size_list(DataType.uint8(), NUM_PIXELS),
            "label": DataType.int64(),
            ERROR_COLUMN: DataType.string(),
        }
    )

    @daft.func.batch(return_dtype=dtype, use_process=False)
    def check_mnist_rows(images: daft.Series, labels: daft.Series) -> Any:
        n = len(images)
        why_image: list[str | None] = [None] * n
        why_label: list[str | None] = [None] * n
        image = check_pixels_batch(images, "null", "image", source, step=step, nulls_are_bad=True, reasons=why_image)
        label = check_labels_batch(labels, "null", "label", source, step=step, nulls_are_bad=True, reasons=why_label)
        errors = [
            "; ".join(f"{field}: {why}" for field, why in (("image", a), ("label", b)) if why is not None) or None
            for a, b in zip(why_image, why_label, strict=True)
        ]
        return pa.StructArray.from_arrays(
            [unwrap(image), unwrap(label), pa.array(errors, type=pa.string())], names=["image", "label", ERROR_COLUMN]
        )

    return check_mnist_rows


def empty_frame(on_error: OnError = "raise") -> daft.DataFrame:
    """A frame with no rows and exactly the schema :func:`~daft_mnist.load_mnist` gives."""
    import daft
    import pyarrow as pa

    table = pa.table(
        {
            "image": pa.array([], type=pa.list_(pa.uint8(), NUM_PIXELS)),
            "label": pa.array([], type=pa.int64()),
        }
    )
    return finish(daft.from_arrow(table), on_error)


def is_image_or_tensor(dtype: Any) -> bool:
    """Whether a Daft type is an ``Image`` or a ``Tensor``, of fixed shape or not."""
    return bool(dtype.is_image() or dtype.is_fixed_shape_image() or dtype.is_tensor() or dtype.is_fixed_shape_tensor())


def picture_shape(dtype: Any) -> tuple[int, ...] | None:
    """``(H, W[, C])`` of a fixed-shape Daft image or tensor type, else ``None``."""
    if dtype.is_fixed_shape_image():
        channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}.get(str(dtype.image_mode).split(".")[-1])
        return None if channels is None else (*tuple(dtype.shape), channels)
    if dtype.is_fixed_shape_tensor():
        return tuple(dtype.shape)
    return None


def needs_styling(dtype: Any) -> bool:
    """Whether a column of this Daft type holds pictures to prepare, not MNIST pixels.

    Images of any size or mode other than ``Image[L; 28 x 28]``, and fixed-shape uint8
    tensors of pictures (``[H, W]`` other than ``[28, 28]``, or ``[H, W, C]`` with 1, 3 or 4
    channels) need :func:`mnist_style`. Everything else keeps the MNIST path, where it is
    checked as 784 pixels: 784-pixel lists, ``Tensor[UInt8; [28, 28]]``, ``Image[L; 28 x 28]``,
    and variable-shape tensors (``daft.from_pydict`` of numpy arrays gives one; its rows may
    be flat 784-pixel vectors: cast pictures to ``Image`` to have them prepared).
    """
    from daft import DataType

    if dtype in (DataType.tensor(DataType.uint8(), (HEIGHT, WIDTH)), DataType.image("L", HEIGHT, WIDTH)):
        return False
    if dtype.is_image() or dtype.is_fixed_shape_image():
        return True
    if dtype.is_fixed_shape_tensor() and dtype.dtype == DataType.uint8():
        shape = tuple(dtype.shape)
        return len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3, 4))
    return False

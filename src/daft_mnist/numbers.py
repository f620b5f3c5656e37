"""Handwritten numbers of any length: :func:`read_number` and :func:`read_numbers`.

A picture of a number (an amount, a date, a page number, a meter reading) is read digit by
digit: its ink is found as the single-digit preparation finds a digit's, underlines, ruled
lines, page edges, dots and specks are set aside, the ink is over-segmented into pieces and
every run of pieces that could be one digit is prepared MNIST-style and classified, all in one
batched model call; the segmentation whose digits are most probable wins (see
:mod:`daft_mnist.vision._segment`). A small second network, trained on fragments and touching
pairs made from MNIST training digits, tells one whole digit from a piece or a pair
(``scripts/train_whole_digit.py``). The model is built once per worker process and shared with
``classify_digit`` (same weights and device: the same model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from daft_mnist.classifier import Classifier, check_model_options, model_spec
from daft_mnist.data._options import check_bool, check_text
from daft_mnist.data._rules import OnError

if TYPE_CHECKING:
    from typing import Unpack

    import daft
    from daft import DataType, Expression

    from daft_mnist.classifier import ModelOptions

__all__ = ["number_details_dtype", "read_number", "read_numbers"]


_NULL_IMAGE = "image is null before read_number (pass reasons= the column holding the earlier step's reason)"


def number_details_dtype() -> DataType:
    """The struct of ``read_number(..., details=True)``::

    {number: String, confidence: Float64,
     digits: List[{digit: Int64, confidence: Float64, x0: Int64, y0: Int64, x1: Int64, y1: Int64}],
     alternatives: List[{number: String, confidence: Float64}],
     error: String}
    """
    from daft import DataType

    digit = DataType.struct(
        {
            "digit": DataType.int64(),
            "confidence": DataType.float64(),
            "x0": DataType.int64(),
            "y0": DataType.int64(),
            "x1": DataType.int64(),
            "y1": DataType.int64(),
        }
    )
    other = DataType.struct({"number": DataType.string(), "confidence": DataType.float64()})
    out: DataType = DataType.struct(
        {
            "number": DataType.string(),
            "confidence": DataType.float64(),
            "digits": DataType.list(digit),
            "alternatives": DataType.list(other),
            "error": DataType.string(),
        }
    )
    return out


def _pictures(images: daft.Series, on_error: str, step: str) -> tuple[list[Any], list[str | None]]:
    """One uint8 picture per row (``None`` for null and unusable rows) and each unusable row's reason."""
    from daft_mnist._udf import batch_rows
    from daft_mnist.data._columns import is_image_or_tensor, picture_shape
    from daft_mnist.data._rules import unwrap
    from daft_mnist.errors import DataError
    from daft_mnist.vision._image_arrays import image_batch

    dtype = images.datatype()
    if is_image_or_tensor(dtype):
        batch = image_batch(images.to_arrow(), shape=picture_shape(dtype))
        pictures: list[Any] = list(batch.images)
        reasons = list(batch.reasons)
    else:  # lists of 784 pixels (MNIST rows): the classifier's one vectorized check and its reasons
        rows = batch_rows(images, "raise" if on_error == "raise" else "null", step)
        nulls = np.asarray(unwrap(images.to_arrow()).is_null().to_numpy(zero_copy_only=False), dtype=bool)
        kept = iter(rows.pixels.reshape(-1, 28, 28))
        valid = np.ones(len(nulls), dtype=bool) if rows.valid is None else rows.valid
        pictures = [next(kept) if ok else None for ok in valid]
        reasons = [None if null else why for null, why in zip(nulls, rows.reasons, strict=True)]
    bad = [i for i, why in enumerate(reasons) if why is not None]
    if bad and on_error == "raise":
        i = bad[0]
        raise DataError(
            f"{step}: column {images.name()!r}: {len(bad)} of {len(reasons)} images cannot be read "
            f"(row {i}: {reasons[i]}); pass on_error='null' to keep going with null for those rows"
        )
    return pictures, reasons


def _read_rows(
    images: daft.Series, spec: Any, on_error: str, min_confidence: float | None, earlier: list[Any] | None = None
) -> list[dict[str, Any]]:
    """The details struct of each row of a batch (``earlier``: each row's reason from an earlier step)."""
    from daft_mnist._udf import abstain_reason
    from daft_mnist.model._engine import get_model
    from daft_mnist.model._number_reader import NumberResult, read_batch

    pictures, reasons = _pictures(images, on_error, "read_number")
    results = read_batch(pictures, get_model(spec))
    rows: list[dict[str, Any]] = []
    for i, result in enumerate(results):
        if result is None:  # a null image (not malformed: null whatever on_error) or an unusable one
            why = reasons[i] or (earlier[i] if earlier is not None and earlier[i] is not None else _NULL_IMAGE)
            result = NumberResult(None, error=why)
        elif result.number is not None and min_confidence is not None and (result.confidence or 0.0) < min_confidence:
            result.error = abstain_reason(result.confidence or 0.0, min_confidence)
            result.number = None
        rows.append(result.as_dict())
    return rows


def read_number(
    image: Expression,
    *,
    details: bool = False,
    min_confidence: float | None = None,
    on_error: OnError = "raise",
    reasons: Expression | None = None,
    **options: Unpack[ModelOptions],
) -> Expression:
    """Read the handwritten number in each picture: its digits as a ``String``.

    Args:
        image: Pictures of one number each, any size and mode (an ``Image`` column from
            :func:`~daft_mnist.load_images` or ``decode_image()``, uint8 tensors), or lists of
            784 pixels.
        details: Return the struct of :func:`number_details_dtype` instead: the number, its
            confidence (the product of its digits' calibrated probabilities), each digit with
            its confidence and box (``x0, y0, x1, y1`` in the picture's pixels, end-exclusive),
            the next most probable readings, and ``error``: why ``number`` is null.
        min_confidence: Abstain: a number less confident than this (in [0, 1]) is null, with
            the reason ``"confidence 0.42 below min_confidence 0.9"``.
        on_error: ``"raise"`` (default) fails on an unusable picture (corrupt, empty); ``"null"``
            gives it a null number (with its reason in ``details``' ``error``). A null picture
            gives a null number whatever ``on_error`` says.
        reasons: A String expression holding why a row's picture is null (such as a loader's
            ``load_error``), reported as that row's ``error``.
        **options: The model options of :func:`~daft_mnist.classify_digit`: ``weights``,
            ``sha256``, ``device``, ``precision``, ``batch_size``, ``max_concurrency``,
            ``gpus``, ``cpus``, ``num_threads``.

    Returns:
        A ``String`` expression (leading zeros kept; null for a blank picture, one with nothing
        readable, or an abstention), or with ``details`` the struct.

    Raises:
        ValueError: An invalid option.

    Examples:
        >>> import daft
        >>> from daft_mnist.numbers import read_number
        >>> df = daft.from_pydict({"image": [[0] * 784]})
        >>> out = df.select(read_number(df["image"], details=True, on_error="null").alias("n")).to_pydict()
        >>> out["n"][0]["number"], out["n"][0]["error"]
        (None, 'image is blank (no ink)')
    """
    import daft

    check_model_options(dict(options), "read_number")
    details = check_bool("details", details)
    clf = Classifier(on_error=on_error, min_confidence=min_confidence, **options)  # validates every option
    spec = model_spec(clf)
    mc = None if clf.min_confidence is None else float(clf.min_confidence)
    err = clf.on_error
    dtype = number_details_dtype() if details else daft.DataType.string()

    @daft.func.batch(
        return_dtype=dtype,
        batch_size=clf.batch_size,
        cpus=clf.cpus,
        gpus=float(clf.gpus),
        max_concurrency=clf.max_concurrency,
        use_process=False,
    )
    def read_number_batch(images: daft.Series, *earlier: daft.Series) -> Any:
        import pyarrow as pa

        rows = _read_rows(images, spec, err, mc, earlier[0].to_pylist() if earlier else None)
        if details:
            return pa.array(rows, type=dtype.to_arrow_dtype())
        return pa.array([r["number"] for r in rows], type=pa.string())

    out: Expression = read_number_batch(image) if reasons is None else read_number_batch(image, reasons)
    return out


def read_numbers(
    df: daft.DataFrame,
    *,
    image: str = "image",
    output: str = "number",
    details: bool = False,
    reasons: str | None = None,
    **options: Any,
) -> daft.DataFrame:
    """Add ``output`` (the number read in each picture of ``image``, a ``String``) and
    ``{output}_error`` (why it is null), or with ``details`` the struct of :func:`read_number`.

    A thin wrapper over :func:`read_number`; ``options`` go through (``min_confidence``,
    ``on_error``, the model options). ``reasons`` names a String column holding why a row's
    picture is null (as ``load_images(..., on_error="null")``'s ``load_error``); the library
    reads no column it was not told about.

    Examples:
        >>> import daft
        >>> from daft_mnist.numbers import read_numbers
        >>> df = read_numbers(daft.from_pydict({"image": [[0] * 784]}), on_error="null")
        >>> df.to_pydict()["number_error"]
        ['image is blank (no ink)']
    """
    from daft import col

    from daft_mnist.data._rules import require_columns

    check_text("image", image)
    check_text("output", output)
    details = check_bool("details", details)
    require_columns(df, [image] if reasons is None else [image, reasons])
    struct = read_number(col(image), details=True, reasons=None if reasons is None else col(reasons), **options)
    if details:
        return df.with_column(output, struct)
    tmp = f"__{output}_details"
    df = df.with_column(tmp, struct)
    df = df.with_column(output, col(tmp)["number"]).with_column(f"{output}_error", col(tmp)["error"])
    return df.exclude(tmp)

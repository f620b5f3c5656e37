"""The Daft layer over the engine: the ``@daft.cls`` model class and its Arrow adapters.

:func:`batch_rows` turns a batch (a Daft Series) into uint8 pixels and the reason of every
row that is not run; the ``_as_*`` helpers turn results back into Arrow with nulls.
:data:`MnistModel` is one ``@daft.cls`` class; its constructor takes a small frozen
:class:`ModelRun` (the weights and how to answer), and it has one batch method per return
type (:data:`RETURN_DTYPES`). Each instance holds one process-wide
:class:`~daft_mnist.model._engine.LoadedModel` (:func:`~daft_mnist.model._engine.get_model`), built on the
worker when the first batch arrives.

The resources (``batch_size``, ``cpus``, ``gpus``, ``max_concurrency``) are the fields of the
``daft.udf.udf_v2.Func`` a method of a Daft class instance is; :func:`model_expression` sets
them per expression with :func:`dataclasses.replace`, as Daft's own ``Func.with_concurrency``
does (``tests/test_classifier.py`` checks that Daft's plan shows them), so one class serves
every option set and pickles by reference: no class per option set, no names to rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import daft
import numpy as np
import numpy.typing as npt
from daft import DataType

from daft_mnist.data._columns import apply_on_error, needs_styling, not_pixels_error
from daft_mnist.data._rules import NUM_CLASSES, NUM_PIXELS, OnError, pixel_check, unwrap
from daft_mnist.model._certainty import CertaintyBatch, answered, certainty
from daft_mnist.model._engine import EMBEDDING_SIZE, ModelSpec, get_model
from daft_mnist.preparation import checked_styles

if TYPE_CHECKING:
    from daft import Expression

__all__ = [
    "DETAILS_DTYPE",
    "NULL_IMAGE_REASON",
    "RETURN_DTYPES",
    "MnistModel",
    "ModelRun",
    "Rows",
    "UdfOptions",
    "abstain_reason",
    "batch_pixels",
    "batch_rows",
    "model_expression",
]

NULL_IMAGE_REASON = "image is null before classify (pass reasons= the column holding the earlier step's reason)"
"""The error of a row whose image came in null and whose reason was not passed (``reasons=``)."""


def _details_dtype() -> DataType:
    fields: dict[str, DataType] = {
        "prediction": DataType.int64(),
        "confidence": DataType.float32(),
        "top": DataType.fixed_size_list(
            DataType.struct({"digit": DataType.int64(), "probability": DataType.float32()}), TOP_K
        ),
        "margin": DataType.float32(),
        "entropy": DataType.float32(),
        "error": DataType.string(),
    }
    struct: DataType = DataType.struct(fields)
    return struct


TOP_K = 3
"""How many of the most probable digits the details give (``top``)."""

DETAILS_DTYPE = _details_dtype()
"""What ``classify_digit(..., details=True)`` returns, one struct per row, never null::

    Struct[prediction: Int64, confidence: Float32,
           top: FixedSizeList[Struct[digit: Int64, probability: Float32]; 3],
           margin: Float32, entropy: Float32, error: String]
"""

RETURN_DTYPES: dict[str, DataType] = {
    "predict": DataType.int64(),
    "details": DETAILS_DTYPE,
    "probabilities": DataType.tensor(DataType.float32(), (NUM_CLASSES,)),
    "embed": DataType.embedding(DataType.float32(), EMBEDDING_SIZE),
}
"""The model class's batch methods and what each returns."""


@dataclass(frozen=True)
class UdfOptions:
    """What Daft's scheduler takes per expression (validated by the caller)."""

    batch_size: int
    cpus: float | None
    gpus: float
    max_concurrency: int | None


@dataclass(frozen=True)
class ModelRun:
    """The model class's one constructor argument: which model, and how to answer.

    Attributes:
        spec: The weights and how to run them (built on the worker).
        on_error: ``"raise"`` or ``"null"`` for a malformed image.
        min_confidence: Withhold (null) predictions less confident than this; ``None``: never.
    """

    spec: ModelSpec
    on_error: OnError = "raise"
    min_confidence: float | None = None


@dataclass(frozen=True)
class Rows:
    """A batch ready for the model: the pixels of the rows to run, and why the others are not run.

    Attributes:
        pixels: uint8 ``(M, 784)``, the rows to run, in order.
        valid: Which of the batch's ``N`` rows ``pixels`` holds (``None``: all of them).
        reasons: Per row of the batch, why it is not run (``None`` for rows that are run); a
            null image gives :data:`NULL_IMAGE_REASON`.
    """

    pixels: npt.NDArray[np.uint8]
    valid: npt.NDArray[np.bool_] | None
    reasons: list[str | None]


def batch_pixels(
    images: daft.Series, on_error: OnError, step: str = "classify_digit"
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_] | None]:
    """Pixels of the rows to run and their validity mask (``None`` when every row is run): :func:`batch_rows`."""
    rows = batch_rows(images, on_error, step)
    return rows.pixels, rows.valid


def batch_rows(images: daft.Series, on_error: OnError, step: str = "classify_digit") -> Rows:
    """The rows to run, and the reason of every row that is not run.

    The one place the model side calls the data rules. A null image gets a null result
    whatever ``on_error`` says, and is not counted again (the step that made it null
    reported it). A malformed image (wrong length, a pixel outside 0-255) raises under
    ``"raise"``, naming ``step``; under ``"null"`` it gets a null result and is logged and
    counted. The pixels come from the one check (no second pass); a column valid by its type
    (28x28 uint8 tensors or images, ``List[UInt8; 784]``) costs that check a look at its nulls,
    not a scan of its values. Pictures of any other size or mode (``Image`` columns,
    uint8 tensors of other shapes) are prepared as MNIST digits first (:func:`_styled_rows`).

    Raises:
        DataError: With ``on_error="raise"``, a malformed image.
    """

    column = images.name()
    if needs_styling(images.datatype()):
        return _styled_rows(images, on_error, step)
    wrong_kind = not_pixels_error(images, step, column)
    if wrong_kind is not None:
        raise wrong_kind
    arr = unwrap(images.to_arrow())
    n = len(arr)
    check = pixel_check(arr, column, NUM_PIXELS)
    bad, check = apply_on_error(check, arr, on_error=on_error, column=column, step=step, field="prediction")
    if not bad.any():
        return Rows(check.rows(), None, [None] * n)
    reasons: list[str | None] = [None] * n
    for i in np.flatnonzero(bad):
        reasons[i] = check.reason(int(i)) or NULL_IMAGE_REASON  # a null row has no reason of its own here
    return Rows(check.rows(~bad), ~bad, reasons)


def _styled_rows(images: daft.Series, on_error: OnError, step: str) -> Rows:
    """Pictures of any size prepared as MNIST digits (:func:`~daft_mnist.preparation.checked_styles`).

    A picture with no digit gets a null result, with its reason logged and counted.
    """
    styled = checked_styles(images, on_error, images.name(), step)
    if styled.ok.all():
        return Rows(styled.pixels, None, [None] * len(styled.ok))
    reasons = [
        None if ok else (why if why is not None else NULL_IMAGE_REASON)
        for ok, why in zip(styled.ok, styled.reasons, strict=True)
    ]
    return Rows(styled.pixels[styled.ok], styled.ok, reasons)


def _spread(values: npt.NDArray[Any], valid: npt.NDArray[np.bool_] | None) -> npt.NDArray[Any]:
    """``values`` of the valid rows placed at their rows of the whole batch (zeros elsewhere)."""
    if valid is None:
        return values
    full = np.zeros((len(valid), *values.shape[1:]), dtype=values.dtype)
    full[valid] = values
    return full


def _mask(valid: npt.NDArray[np.bool_] | None) -> Any:
    import pyarrow as pa

    return None if valid is None else pa.array(~valid)


def _as_column(values: npt.NDArray[Any], valid: npt.NDArray[np.bool_] | None, dtype: Any) -> Any:
    """One value per row: an Arrow array of ``dtype``, null where not ``valid``."""
    import pyarrow as pa

    return pa.array(_spread(values, valid), type=dtype, mask=None if valid is None else ~valid)


def _as_vectors(values: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_] | None, dtype: DataType) -> daft.Series:
    """A float32 vector per row, ``(N, k)``: a Series of ``dtype`` (a tensor or an embedding)."""
    import pyarrow as pa

    full = _spread(values, valid)
    storage = pa.FixedSizeListArray.from_arrays(
        pa.array(full.reshape(-1), type=pa.float32()), full.shape[1], mask=_mask(valid)
    )
    return daft.Series.from_arrow(storage).cast(dtype)


def abstain_reason(confidence: float, min_confidence: float) -> str:
    """``"confidence 0.42 below min_confidence 0.9"``, with as many digits as it takes to be true.

    The threshold is shown exactly as given (its shortest form: ``0.9``, ``0.9999999``) and the
    confidence with the fewest decimals (at least 2) that show it below the threshold:
    ``0.99989 below 0.9999``, never ``1.00 below 0.9999``.
    """
    shown_min = f"{min_confidence:g}"
    if float(shown_min) != min_confidence:
        shown_min = repr(float(min_confidence))
    for digits in range(2, 18):
        shown = f"{confidence:.{digits}f}"
        if float(shown) < min_confidence:
            return f"confidence {shown} below min_confidence {shown_min}"
    return f"confidence {confidence!r} below min_confidence {shown_min}"


def _details(rows: Rows, batch: CertaintyBatch, keep: npt.NDArray[np.bool_], reasons: list[str | None]) -> Any:
    """The :data:`DETAILS_DTYPE` struct of a batch: never null; fields null where no image was run."""
    import pyarrow as pa

    run = np.ones(len(reasons), dtype=bool) if rows.valid is None else rows.valid
    answered_rows = run.copy()
    answered_rows[run] = keep
    top = pa.StructArray.from_arrays(
        [
            pa.array(_spread(batch.top_digits, rows.valid).reshape(-1), type=pa.int64()),
            pa.array(_spread(batch.top_probabilities.astype(np.float32), rows.valid).reshape(-1), type=pa.float32()),
        ],
        names=["digit", "probability"],
    )
    arrays = [
        _as_column(batch.prediction[keep], answered_rows, pa.int64()),
        _as_column(batch.confidence.astype(np.float32), rows.valid, pa.float32()),
        pa.FixedSizeListArray.from_arrays(top, TOP_K, mask=_mask(rows.valid)),
        _as_column(batch.margin.astype(np.float32), rows.valid, pa.float32()),
        _as_column(batch.entropy.astype(np.float32), rows.valid, pa.float32()),
        pa.array(reasons, type=pa.string()),
    ]
    return pa.StructArray.from_arrays(arrays, names=["prediction", "confidence", "top", "margin", "entropy", "error"])


class _MnistModel:
    """The class behind :data:`MnistModel`: one model per process, shared by its instances.

    Confidences and probabilities are calibrated with the checkpoint's temperature
    (:attr:`~daft_mnist.model._engine.LoadedModel.temperature`); the predicted digit does not depend
    on it. With ``min_confidence``, predictions less confident than it are null (abstain).
    """

    def __init__(self, run: ModelRun) -> None:
        self.model = get_model(run.spec)
        self.on_error = run.on_error
        self.min_confidence = run.min_confidence

    def _scores(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if not len(pixels):
            return np.empty((0, NUM_CLASSES), np.float32)
        return np.asarray(self.model.log_probabilities(pixels).numpy(), dtype=np.float32)

    @daft.method.batch(return_dtype=RETURN_DTYPES["predict"])
    def predict(self, images: daft.Series) -> Any:
        """Predicted digit (Int64) per image; null where not run or withheld by ``min_confidence``."""
        import pyarrow as pa

        rows = batch_rows(images, self.on_error)
        if self.min_confidence is None:
            return _as_column(self.model.predict(rows.pixels), rows.valid, pa.int64())
        batch = certainty(self._scores(rows.pixels), self.model.temperature, k=1)
        keep = answered(batch.confidence, self.min_confidence)
        run = np.ones(len(rows.reasons), dtype=bool) if rows.valid is None else rows.valid
        out = run.copy()
        out[run] = keep
        return _as_column(batch.prediction[keep], out, pa.int64())

    @daft.method.batch(return_dtype=RETURN_DTYPES["details"])
    def details(self, images: daft.Series, reasons: daft.Series | None = None) -> Any:
        """The :data:`DETAILS_DTYPE` struct per image; ``reasons``: why an image came in null."""
        rows = batch_rows(images, self.on_error)
        batch = certainty(self._scores(rows.pixels), self.model.temperature, k=TOP_K)
        keep = answered(batch.confidence, self.min_confidence)
        why = list(rows.reasons)
        if reasons is not None:
            given = reasons.to_pylist()
            why = [g if w == NULL_IMAGE_REASON and g is not None else w for w, g in zip(why, given, strict=True)]
        if self.min_confidence is not None and not keep.all():
            where = np.flatnonzero(np.ones(len(why), bool) if rows.valid is None else rows.valid)
            for j in np.flatnonzero(~keep):
                why[where[j]] = abstain_reason(float(batch.confidence[j]), self.min_confidence)
        return _details(rows, batch, keep, why)

    @daft.method.batch(return_dtype=RETURN_DTYPES["probabilities"])
    def probabilities(self, images: daft.Series) -> Any:
        """Calibrated probabilities of the ten digits, ``Tensor[Float32; [10]]``."""
        from daft_mnist.model._certainty import scaled_probabilities

        rows = batch_rows(images, self.on_error)
        logp = self._scores(rows.pixels)
        t = self.model.temperature
        probs = np.exp(logp) if t == 1.0 else scaled_probabilities(logp, t).astype(np.float32)
        return _as_vectors(probs, rows.valid, RETURN_DTYPES["probabilities"])

    @daft.method.batch(return_dtype=RETURN_DTYPES["embed"])
    def embed(self, images: daft.Series) -> Any:
        """The CNN's penultimate layer, ``Embedding[Float32; 128]``."""
        pixels, valid = batch_pixels(images, self.on_error, "embed_digit")
        return _as_vectors(self.model.embed(pixels), valid, RETURN_DTYPES["embed"])


MnistModel: Any = daft.cls(_MnistModel, use_process=False, name_override="daft_mnist.MnistModel")
"""The ``@daft.cls`` model class: ``MnistModel(ModelRun(...)).predict(image)``; see :func:`model_expression`."""
# ``daft.cls`` returns a class defined inside Daft; naming it after this module's attribute lets
# (cloud)pickle ship a reference instead of the class's code, so an expression stays small.
MnistModel.__module__ = __name__
MnistModel.__name__ = MnistModel.__qualname__ = "MnistModel"


def model_expression(
    run: ModelRun, options: UdfOptions, method: str, image: Expression, *more: Expression
) -> Expression:
    """``MnistModel(run).<method>(image, *more)`` with ``options``' resources and batch size.

    Building it loads nothing: the model is built on the worker, on the first batch.
    """
    if method not in RETURN_DTYPES:
        raise ValueError(f"method must be one of {sorted(RETURN_DTYPES)}, got {method!r}")
    func = replace(
        getattr(MnistModel(run), method),
        batch_size=options.batch_size,
        cpus=options.cpus,
        gpus=options.gpus,
        max_concurrency=options.max_concurrency,
    )
    expression: Expression = func(image, *more)
    return expression

"""The Daft layer over the engine: the ``@daft.cls`` model class and its Arrow adapters.

:func:`batch_pixels` turns a batch (a Daft Series) into uint8 pixels and a validity mask;
the ``_as_*`` helpers turn results back into Arrow with nulls. :class:`_ModelUdf` holds one
process-wide :class:`~daft_mnist.model._engine.LoadedModel` (:func:`~daft_mnist.model._engine.get_model`).

Resources and batch size go through Daft's public API: ``daft.cls(cpus=, gpus=,
max_concurrency=)`` and ``daft.method.batch(batch_size=)``, which take them when a class is
defined. :func:`udf_class` therefore defines one class per :class:`UdfOptions` and caches
it. Each class is named after its options (``MnistModel__b1024_cn_g0p0_mn``) and this
module's ``__getattr__`` rebuilds it from that name, so pickles refer to the class and its
methods by name in a few bytes, on any worker.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import daft
import numpy as np
import numpy.typing as npt
from daft import DataType

from daft_mnist.data._columns import apply_on_error, needs_styling, not_pixels_error
from daft_mnist.data._rules import NUM_CLASSES, NUM_PIXELS, OnError, pixel_check, unwrap
from daft_mnist.diagnostics import ROW_COUNTERS
from daft_mnist.model._certainty import answered, certainty, details_dtype
from daft_mnist.model._engine import EMBEDDING_SIZE, ModelSpec, get_model
from daft_mnist.preparation import checked_styles

__all__ = [
    "COUNTERS",
    "NULL_IMAGE_REASON",
    "RETURN_DTYPES",
    "Rows",
    "UdfOptions",
    "batch_pixels",
    "batch_rows",
    "report_method",
    "udf_class",
]

NULL_IMAGE_REASON = "image is null (see the step that produced it)"
"""The error of a row whose image came in null (the step that made it null gave the reason)."""

COUNTERS = ROW_COUNTERS
"""Names of the Daft UDF counters of the classifying methods (:data:`daft_mnist.diagnostics.ROW_COUNTERS`)."""

_REPORT_FIELDS = {"c": "confidence", "d": "details", "e": "error"}


def report_method(confidence: bool, details: bool, errors: bool) -> str:
    """The batch method returning ``{prediction, [confidence], [details], [error]}`` (at least one asked)."""
    letters = "c" * confidence + "d" * details + "e" * errors
    if not letters:
        raise ValueError("report_method needs confidence, details or errors")
    return "predict_with_confidence" if letters == "c" else f"report_{letters}"


def _report_dtype(letters: str) -> DataType:
    fields: dict[str, DataType] = {"prediction": DataType.int64()}
    types = {"c": DataType.float32(), "d": details_dtype(), "e": DataType.string()}
    for letter in letters:
        fields[_REPORT_FIELDS[letter]] = types[letter]
    struct: DataType = DataType.struct(fields)
    return struct


RETURN_DTYPES: dict[str, DataType] = {
    "predict": DataType.int64(),
    "predict_with_confidence": DataType.struct({"prediction": DataType.int64(), "confidence": DataType.float32()}),
    "probabilities": DataType.tensor(DataType.float32(), (NUM_CLASSES,)),
    "embed": DataType.embedding(DataType.float32(), EMBEDDING_SIZE),
    **{
        f"report_{letters}": _report_dtype(letters)
        for letters in ("c", "d", "e", "cd", "ce", "de", "cde")
        if letters != "c"  # confidence alone is predict_with_confidence
    },
}
"""The model class's batch methods and what each returns (``report_*``: see :func:`report_method`)."""

_CLASS_PREFIX = "MnistModel__"
_IMPL_PREFIX = "_MnistModelImpl__"


def _encode(value: float | None) -> str:
    return "n" if value is None else repr(value).replace(".", "p")


def _decode_float(text: str) -> float | None:
    return None if text == "n" else float(text.replace("p", "."))


def _decode_int(text: str) -> int | None:
    return None if text == "n" else int(text)


@dataclass(frozen=True)
class UdfOptions:
    """The arguments Daft takes when the model class is defined (validated by the caller)."""

    batch_size: int
    cpus: float | None
    gpus: float
    max_concurrency: int | None

    @property
    def suffix(self) -> str:
        """These options as a Python identifier-like name part (``b1024_cn_g0p0_mn``)."""
        return f"b{self.batch_size}_c{_encode(self.cpus)}_g{_encode(self.gpus)}_m{_encode(self.max_concurrency)}"

    @classmethod
    def from_suffix(cls, suffix: str) -> UdfOptions:
        """Inverse of :attr:`suffix`.

        Raises:
            ValueError: ``suffix`` was not made by :attr:`suffix`.
        """
        parts = suffix.split("_")
        if len(parts) != 4 or [p[:1] for p in parts] != ["b", "c", "g", "m"]:
            raise ValueError(f"not a model class suffix: {suffix!r}")
        batch_size, max_concurrency = _decode_int(parts[0][1:]), _decode_int(parts[3][1:])
        gpus = _decode_float(parts[2][1:])
        if batch_size is None or gpus is None:
            raise ValueError(f"not a model class suffix: {suffix!r}")
        return cls(batch_size, _decode_float(parts[1][1:]), gpus, max_concurrency)


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
    bad, check = apply_on_error(check, arr, on_error, column, None, step, False, "prediction")
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


def _count(classified: int, failed: int, abstained: int | None = None) -> None:
    """Add to the query's UDF counters (:data:`COUNTERS`), read back from ``DataFrame.metrics``."""
    from daft.udf.metrics import increment_counter

    increment_counter(COUNTERS["classified"], classified, description="rows given a predicted digit")
    increment_counter(COUNTERS["failed"], failed, description="rows without a prediction: null, malformed or no digit")
    if abstained is not None:
        increment_counter(COUNTERS["abstained"], abstained, description="predictions withheld by min_confidence")


def _abstain_reason(confidence: float, min_confidence: float) -> str:
    return f"confidence {confidence:.2f} below min_confidence {min_confidence:g}"


class _ModelUdf:
    """The class that :func:`udf_class` hands to ``daft.cls``: one model per process, shared.

    Confidences and probabilities are calibrated with the checkpoint's temperature
    (:attr:`~daft_mnist.model._engine.LoadedModel.temperature`); the predicted digit does not depend
    on it. With ``min_confidence``, predictions less confident than it are null (abstain).
    """

    def __init__(self, spec: ModelSpec, on_error: OnError = "raise", min_confidence: float | None = None) -> None:
        self.model = get_model(spec)
        self.on_error = on_error
        self.min_confidence = min_confidence

    def _scores(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if not len(pixels):
            return np.empty((0, NUM_CLASSES), np.float32)
        return np.asarray(self.model.log_probabilities(pixels).numpy(), dtype=np.float32)

    def _run(self, images: daft.Series, k: int) -> tuple[Rows, Any, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Rows, their certainty (top ``k``), which of the run rows are answered, and the output validity."""
        rows = batch_rows(images, self.on_error)
        batch = certainty(self._scores(rows.pixels), self.model.temperature, k=k)
        keep = answered(batch.confidence, self.min_confidence)
        run = np.ones(len(rows.reasons), dtype=bool) if rows.valid is None else rows.valid
        out = run.copy()
        out[run] = keep
        _count(int(keep.sum()), int((~run).sum()), None if self.min_confidence is None else int((~keep).sum()))
        return rows, batch, keep, out

    def predict(self, images: daft.Series) -> Any:
        """Predicted digit (Int64) per image."""
        import pyarrow as pa

        if self.min_confidence is not None:
            _, batch, keep, out = self._run(images, 1)
            return _as_column(batch.prediction[keep], out, pa.int64())
        rows = batch_rows(images, self.on_error)
        pred = self.model.predict(rows.pixels)
        _count(len(pred), len(rows.reasons) - len(pred))
        return _as_column(pred, rows.valid, pa.int64())

    def predict_with_confidence(self, images: daft.Series) -> Any:
        """Struct of predicted digit and its calibrated probability."""
        return self.report(images, "c")

    def report(self, images: daft.Series, letters: str) -> Any:
        """Struct ``{prediction, [confidence], [details], [error]}`` (``letters``: c, d, e)."""
        import pyarrow as pa

        rows, batch, keep, out = self._run(images, 3 if "d" in letters else 1)
        arrays = [_as_column(batch.prediction[keep], out, pa.int64())]
        names = ["prediction"]
        if "c" in letters:
            # Kept for abstaining rows too: it is why they abstained.
            arrays.append(_as_column(batch.confidence.astype(np.float32), rows.valid, pa.float32()))
            names.append("confidence")
        if "d" in letters:
            arrays.append(batch.to_arrow(rows.valid))
            names.append("details")
        if "e" in letters:
            reasons = list(rows.reasons)
            if self.min_confidence is not None and not keep.all():
                where = np.flatnonzero(np.ones(len(reasons), bool) if rows.valid is None else rows.valid)
                for j in np.flatnonzero(~keep):
                    reasons[where[j]] = _abstain_reason(float(batch.confidence[j]), self.min_confidence)
            arrays.append(pa.array(reasons, type=pa.string()))
            names.append("error")
        # With an error field the struct is never null (a failed row is {prediction: null, error: "..."});
        # without, it is null where no image was run, as the prediction.
        return pa.StructArray.from_arrays(arrays, names=names, mask=None if "e" in letters else _mask(rows.valid))

    def probabilities(self, images: daft.Series) -> Any:
        """Calibrated probabilities of the ten digits, ``Tensor[Float32; [10]]``."""
        from daft_mnist.model._certainty import scaled_probabilities

        rows = batch_rows(images, self.on_error)
        logp = self._scores(rows.pixels)
        t = self.model.temperature
        probs = np.exp(logp) if t == 1.0 else scaled_probabilities(logp, t).astype(np.float32)
        _count(len(logp), len(rows.reasons) - len(logp))
        return _as_vectors(probs, rows.valid, RETURN_DTYPES["probabilities"])

    def embed(self, images: daft.Series) -> Any:
        """The CNN's penultimate layer, ``Embedding[Float32; 128]``."""
        pixels, valid = batch_pixels(images, self.on_error, "embed_digit")
        return _as_vectors(self.model.embed(pixels), valid, RETURN_DTYPES["embed"])


def _batch_method(impl_name: str, name: str, batch_size: int) -> Callable[..., Any]:
    """``_ModelUdf.<name>`` as a Daft batch method of class ``impl_name``, findable by name."""
    if name.startswith("report_"):
        letters = name.removeprefix("report_")

        def run(self: _ModelUdf, images: daft.Series) -> Any:
            return self.report(images, letters)

        run.__doc__ = f"Struct of the prediction and its {', '.join(_REPORT_FIELDS[x] for x in letters)}."
    else:
        run = getattr(_ModelUdf, name)

    def method(self: _ModelUdf, images: daft.Series) -> Any:
        return run(self, images)

    method.__name__ = name
    method.__qualname__ = f"{impl_name}.{name}"
    method.__module__ = __name__
    method.__doc__ = run.__doc__
    decorated: Callable[..., Any] = daft.method.batch(method, return_dtype=RETURN_DTYPES[name], batch_size=batch_size)
    return decorated


@functools.cache
def _impl_class(options: UdfOptions) -> type:
    """The plain class with Daft batch methods for ``options`` (one per options, cached)."""
    name = _IMPL_PREFIX + options.suffix
    methods = {method: _batch_method(name, method, options.batch_size) for method in RETURN_DTYPES}
    impl = type(name, (_ModelUdf,), {"__module__": __name__, "__qualname__": name, **methods})
    return impl


@functools.cache
def udf_class(options: UdfOptions) -> Any:
    """The ``@daft.cls`` model class for ``options``: defined once per process, picklable by name.

    Instantiate it with ``(spec, on_error, min_confidence)`` and call one of :data:`RETURN_DTYPES`' methods
    on an image expression.
    """
    wrapped: Any = daft.cls(
        _impl_class(options),
        cpus=options.cpus,
        gpus=options.gpus,
        max_concurrency=options.max_concurrency,
        use_process=False,
        name_override="daft_mnist.MnistModel",
    )
    # ``daft.cls`` returns a class defined inside Daft; naming it after an attribute of this
    # module (served by ``__getattr__`` below) lets (cloud)pickle ship a reference instead of
    # the class's code, so the UDF expression stays a few hundred bytes plus its settings.
    wrapped.__module__ = __name__
    wrapped.__name__ = wrapped.__qualname__ = _CLASS_PREFIX + options.suffix
    wrapped.__doc__ = "Daft class UDF around the model engine; use it through daft_mnist.classifier."
    return wrapped


def __getattr__(name: str) -> Any:
    """The model classes by name (``MnistModel__<options>``, ``_MnistModelImpl__<options>``), for unpickling."""
    for prefix, build in ((_CLASS_PREFIX, udf_class), (_IMPL_PREFIX, _impl_class)):
        if name.startswith(prefix):
            try:
                options = UdfOptions.from_suffix(name.removeprefix(prefix))
            except ValueError:
                break
            return build(options)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

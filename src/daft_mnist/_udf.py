"""The Daft layer over the engine: the ``@daft.cls`` model class and its Arrow adapters.

:func:`batch_pixels` turns a batch (a Daft Series) into uint8 pixels and a validity mask;
the ``_as_*`` helpers turn results back into Arrow with nulls. :class:`_ModelUdf` holds one
process-wide :class:`~daft_mnist._engine.LoadedModel` (:func:`~daft_mnist._engine.get_model`).

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

from daft_mnist._columns import not_pixels_error
from daft_mnist._engine import EMBEDDING_SIZE, ModelSpec, get_model
from daft_mnist._rules import NUM_CLASSES, NUM_PIXELS, OnError, pixel_check, pixels_to_numpy, unwrap
from daft_mnist.diagnostics import record_bad_rows
from daft_mnist.errors import DataError
from daft_mnist.preparation import checked_styles, needs_styling

__all__ = ["RETURN_DTYPES", "UdfOptions", "batch_pixels", "udf_class"]

RETURN_DTYPES: dict[str, DataType] = {
    "predict": DataType.int64(),
    "predict_with_confidence": DataType.struct({"prediction": DataType.int64(), "confidence": DataType.float32()}),
    "probabilities": DataType.tensor(DataType.float32(), (NUM_CLASSES,)),
    "embed": DataType.embedding(DataType.float32(), EMBEDDING_SIZE),
}
"""The model class's batch methods and what each returns."""

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


def batch_pixels(
    images: daft.Series, on_error: OnError, step: str = "classify_digit"
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_] | None]:
    """Pixels of the rows to run and their validity mask (``None`` when every row is run).

    The one place the model side calls the data rules. A null image gets a null result
    whatever ``on_error`` says, and is not counted again (the step that made it null
    reported it). A malformed image (wrong length, a pixel outside 0-255) raises under
    ``"raise"``, naming ``step``; under ``"null"`` it gets a null result and is logged and
    counted. A column valid by its type (28x28 uint8 tensors or images, ``List[UInt8;
    784]``) is not checked again. Pictures of any other size or mode (``Image`` columns,
    uint8 tensors of other shapes) are prepared as MNIST digits first (:func:`_styled_pixels`).

    Raises:
        DataError: With ``on_error="raise"``, a malformed image.
    """
    import pyarrow as pa

    column = images.name()
    if needs_styling(images.datatype()):
        return _styled_pixels(images, on_error, step)
    wrong_kind = not_pixels_error(images, step, column)
    if wrong_kind is not None:
        raise wrong_kind
    arr = unwrap(images.to_arrow())
    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool) if arr.null_count else None
    check = pixel_check(arr, column, NUM_PIXELS)
    if nulls is not None:
        check = check.ignoring_nulls(nulls)
    if check.any():
        if on_error == "raise":
            raise DataError(
                f"{step}: column {column!r}: {check.count} of {len(check)} rows are not valid MNIST images "
                f"({check.summary()}); pass on_error='null' to give them a null prediction"
            )
        record_bad_rows(column, check.count, check.described())
    bad = check.bad if nulls is None else check.bad | nulls
    if not bad.any():
        return pixels_to_numpy(arr, column=column), None
    valid = ~bad
    return pixels_to_numpy(arr.filter(pa.array(valid)), column=column), valid


def _styled_pixels(
    images: daft.Series, on_error: OnError, step: str
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_] | None]:
    """Pictures of any size prepared as MNIST digits (:func:`~daft_mnist.preparation.checked_styles`).

    A picture with no digit gets a null result, with its reason logged and counted.
    """
    styled = checked_styles(images, on_error, images.name(), step)
    if styled.ok.all():
        return styled.pixels, None
    return styled.pixels[styled.ok], styled.ok


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


class _ModelUdf:
    """The class that :func:`udf_class` hands to ``daft.cls``: one model per process, shared."""

    def __init__(self, spec: ModelSpec, on_error: OnError = "raise") -> None:
        self.model = get_model(spec)
        self.on_error = on_error

    def predict(self, images: daft.Series) -> Any:
        """Predicted digit (Int64) per image."""
        import pyarrow as pa

        pixels, valid = batch_pixels(images, self.on_error)
        return _as_column(self.model.predict(pixels), valid, pa.int64())

    def predict_with_confidence(self, images: daft.Series) -> Any:
        """Struct of predicted digit and its softmax probability."""
        import pyarrow as pa

        pixels, valid = batch_pixels(images, self.on_error)
        if len(pixels):
            top, idx = self.model.log_probabilities(pixels).max(1)
            pred = np.asarray(idx.numpy(), dtype=np.int64)
            conf = np.exp(np.asarray(top.numpy(), dtype=np.float32))
        else:
            pred, conf = np.empty(0, np.int64), np.empty(0, np.float32)
        return pa.StructArray.from_arrays(
            [_as_column(pred, valid, pa.int64()), _as_column(conf, valid, pa.float32())],
            names=["prediction", "confidence"],
            mask=_mask(valid),
        )

    def probabilities(self, images: daft.Series) -> Any:
        """Softmax probabilities of the ten digits, ``Tensor[Float32; [10]]``."""
        pixels, valid = batch_pixels(images, self.on_error)
        probs = (
            np.exp(np.asarray(self.model.log_probabilities(pixels).numpy(), dtype=np.float32))
            if len(pixels)
            else np.empty((0, NUM_CLASSES), np.float32)
        )
        return _as_vectors(probs, valid, RETURN_DTYPES["probabilities"])

    def embed(self, images: daft.Series) -> Any:
        """The CNN's penultimate layer, ``Embedding[Float32; 128]``."""
        pixels, valid = batch_pixels(images, self.on_error, "embed_digit")
        return _as_vectors(self.model.embed(pixels), valid, RETURN_DTYPES["embed"])


def _batch_method(impl_name: str, name: str, batch_size: int) -> Callable[..., Any]:
    """``_ModelUdf.<name>`` as a Daft batch method of class ``impl_name``, findable by name."""
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

    Instantiate it with ``(spec, on_error)`` and call one of :data:`RETURN_DTYPES`' methods
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

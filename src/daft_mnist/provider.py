"""A Daft AI provider: the MNIST CNN behind ``daft.functions.classify_image`` and ``embed_image``.

Daft 0.7's AI functions resolve a :class:`daft.ai.provider.Provider` (``provider=`` or the
session's, set with ``daft.set_provider``), ask it for a *descriptor* (a small picklable
factory: :class:`daft.ai.protocols.ImageClassifierDescriptor` /
:class:`~daft.ai.protocols.ImageEmbedderDescriptor`) and ship the descriptor to the workers
inside a class UDF, where ``descriptor.instantiate()`` builds the object that implements the
:class:`~daft.ai.protocols.ImageClassifier` / :class:`~daft.ai.protocols.ImageEmbedder`
protocol. Here the descriptors hold only the model's location and options; the objects they
instantiate take the model from the library's per-process cache (``daft_mnist.model._engine.get_model``), so a
worker running ``classify_image``, ``embed_image`` and :class:`~daft_mnist.Classifier` builds one model.

    >>> import daft
    >>> import daft_mnist as dm
    >>> from daft.functions import classify_image, embed_image
    >>> from daft_mnist.provider import MnistProvider
    >>> df = dm.load_images("digits/")  # doctest: +SKIP
    >>> df = df.with_column("digit", classify_image(daft.col("image"),
    ...     labels=[str(d) for d in range(10)], provider=MnistProvider()))  # doctest: +SKIP
    >>> df = df.with_column("vector", embed_image(daft.col("image"), provider=MnistProvider()))  # doctest: +SKIP

By name, beside the provider the session already uses::

    daft.attach_provider(MnistProvider(), alias="mnist")
    classify_image(col("image"), labels=[str(d) for d in range(10)], provider="mnist")

``attach_provider`` keeps a current provider the user has set; when none was set, Daft makes
the first attached one current, and ``daft.set_provider(None)`` right after puts that back.

One route, one answer: the rows Daft hands over are put back into a Daft Series and go through
the classifier's own code (``daft_mnist._udf.batch_rows``, the code behind
:func:`~daft_mnist.classify`), so every picture gets the same preparation decision, the same
checks and the same reasons: a 28x28 grey picture of bright ink on dark is an MNIST digit as it
is, any other picture is prepared as MNIST's were (:func:`~daft_mnist.mnist_style`), float pixels
must be whole numbers 0-255 as for ``classify``. A row that gives no digit (null, blank, noise,
malformed) gets a null label and a null embedding, never a confident digit; its reason is logged
(logger ``daft_mnist``) with the words ``classify`` uses.

Daft 0.7.26's ``classify_image`` turns each row into a PIL image with ``Image.fromarray``
before the provider sees it, which fails for one-channel *Image* columns (arrays of shape
``(H, W, 1)``) and for null rows. While this module is imported, that wrapper's ``fromarray``
takes those two too (a one-channel picture becomes an ``L`` image, a null stays ``None``);
everything else goes to Pillow unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from daft.ai.protocols import ImageClassifierDescriptor, ImageEmbedderDescriptor
from daft.ai.provider import Provider
from daft.ai.typing import EmbeddingDimensions, UDFOptions

from daft_mnist.data._files import is_remote
from daft_mnist.data._options import check_choice, check_int, check_optional_int, check_text, option_error
from daft_mnist.data._rules import DEFAULT_BATCH_SIZE, NUM_PIXELS
from daft_mnist.errors import DataError, OptionError
from daft_mnist.model._engine import ModelSpec, get_model

if TYPE_CHECKING:
    from daft.ai.typing import Options

__all__ = [
    "DIGIT_NAMES",
    "EMBEDDING_SIZE",
    "MnistImageClassifier",
    "MnistImageClassifierDescriptor",
    "MnistImageEmbedder",
    "MnistImageEmbedderDescriptor",
    "MnistProvider",
    "check_labels",
    "prepare_images",
    "rows_series",
]

EMBEDDING_SIZE = 128
"""Width of the embedding: the CNN's penultimate layer, ``relu(fc1(...))``."""

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""Example label names; any ten labels work, one per digit 0-9 in order."""

_MODEL_OPTIONS = ("weights", "sha256", "device", "precision", "num_threads")
_PRECISIONS = ("auto", "float32", "int8")
_UDF_OPTIONS = ("batch_size", "max_retries", "on_error", "concurrency", "num_gpus")


# --- the library's preparation, on the rows Daft hands to a provider --------------------------


class _FromArray:
    """What Daft's ``classify_image`` wrapper calls ``pil_image.fromarray`` on: ``PIL.Image`` plus
    one-channel ``(H, W, 1)`` arrays (made ``L``) and ``None`` (kept), which Pillow refuses."""

    def __getattr__(self, name: str) -> Any:
        from PIL import Image

        return getattr(Image, name)

    @staticmethod
    def fromarray(obj: Any, mode: str | None = None) -> Any:
        from PIL import Image

        if obj is None:
            return None
        if isinstance(obj, np.ndarray) and obj.ndim == 3 and obj.shape[2] == 1:
            obj = obj[:, :, 0]
        return Image.fromarray(obj) if mode is None else Image.fromarray(obj, mode)


def _install_fromarray() -> None:
    try:
        from daft.ai import _expressions
    except ImportError:  # another Daft: nothing to mend
        return
    if hasattr(_expressions, "pil_image") and not isinstance(_expressions.pil_image, _FromArray):
        _expressions.pil_image = _FromArray()


_install_fromarray()


def _picture(row: Any) -> Any:
    """A PIL image as the uint8 array ``classify`` would read from an ``Image`` column."""
    from PIL import Image

    if isinstance(row, Image.Image):
        from daft_mnist.data._decode import to_8bit

        arr = np.asarray(to_8bit(row))
        return arr[:, :, None] if arr.ndim == 2 else arr
    return row


def rows_series(rows: Sequence[Any], name: str = "image") -> Any:
    """The rows Daft's AI functions hand over, as the Daft Series ``classify`` would have read them.

    PIL images and ``(H, W, C)`` arrays become an ``Image`` column (8-bit; other PIL modes
    converted as :func:`~daft_mnist.load_images` converts files); 2-D arrays of one shape a
    fixed-shape tensor column, of several shapes a tensor column; lists of pixel values a list
    column. The classifier's code then checks and prepares them.
    """
    import daft
    from daft import DataType

    values = [_picture(r) for r in rows]
    first = next((v for v in values if v is not None), None)
    if first is None or (isinstance(first, np.ndarray) and first.ndim == 3 and first.dtype == np.uint8):
        bad = [v.shape for v in values if v is not None and (v.ndim != 3 or v.shape[2] not in (1, 2, 3, 4))]
        if bad:
            raise DataError(f"not an image: an array of shape {bad[0]} (expected (H, W) or (H, W, C), C = 1 to 4)")
        return daft.Series.from_pylist(values, name=name, dtype=DataType.image())
    if isinstance(first, np.ndarray):
        shapes = {v.shape for v in values if v is not None}
        kinds = {v.dtype for v in values if v is not None}
        if len(shapes) == 1 and len(kinds) == 1 and all(v is not None for v in values) and first.ndim >= 2:
            series = daft.Series.from_pylist(values, name=name)
            return series.cast(DataType.tensor(DataType.from_numpy_dtype(first.dtype), first.shape))
        return daft.Series.from_pylist([None if v is None else np.asarray(v) for v in values], name=name)
    return daft.Series.from_pylist([None if v is None else list(np.asarray(v).reshape(-1)) for v in values], name=name)


def prepare_images(
    images: Sequence[Any], step: str = "classify_image"
) -> tuple[npt.NDArray[np.uint8], list[str | None]]:
    """Rows as Daft's AI functions hand them over -> uint8 pixels ``(N, 784)`` and a reason per row.

    The classifier's own code (:func:`daft_mnist._udf.batch_rows`) on :func:`rows_series` of
    the rows, with ``on_error="null"``: the same preparation decision, checks and reasons as
    :func:`~daft_mnist.classify`. Rows with a reason hold zeros.
    """
    from daft_mnist._udf import batch_rows

    n = len(images)
    if not n:
        return np.zeros((0, NUM_PIXELS), dtype=np.uint8), []
    rows = batch_rows(rows_series(images), "null", step)
    pixels = np.zeros((n, NUM_PIXELS), dtype=np.uint8)
    if rows.valid is None:
        pixels[:] = rows.pixels
    else:
        pixels[rows.valid] = rows.pixels
    return pixels, list(rows.reasons)


# --- descriptors (small, picklable) and what they instantiate --------------------------------


@dataclass(frozen=True)
class _ModelOptions:
    weights: str | None = None
    sha256: str | None = None
    device: str = "auto"
    precision: str = "auto"
    num_threads: int | None = None

    def spec(self) -> Any:
        return ModelSpec(
            weights=self.weights,
            sha256=self.sha256,
            device=self.device,
            num_threads=self.num_threads,
            precision=self.precision,
        )

    def model_name(self) -> str:
        return self.weights or "daft_mnist bundled CNN"


@dataclass(frozen=True)
class _DescriptorBase:
    provider_name: str
    model: _ModelOptions
    udf: dict[str, Any] = field(default_factory=dict)

    def get_provider(self) -> str:
        return self.provider_name

    def get_model(self) -> str:
        return self.model.model_name()

    def get_options(self) -> Options:
        return dict(self.udf)

    def get_udf_options(self) -> UDFOptions:
        # A local model fails the same way again: no retries unless asked for.
        options = UDFOptions(max_retries=0, batch_size=DEFAULT_BATCH_SIZE)
        if self.model.device == "auto" or self.model.device.startswith("cuda"):
            from daft.ai.utils import get_gpu_udf_options

            gpu = get_gpu_udf_options()  # one instance per visible GPU, as Daft's own providers
            options.concurrency, options.num_gpus = gpu.concurrency, gpu.num_gpus
        for key, value in self.udf.items():
            setattr(options, key, value)
        return options


@dataclass(frozen=True)
class MnistImageClassifierDescriptor(_DescriptorBase, ImageClassifierDescriptor):
    """Picklable factory of :class:`MnistImageClassifier`: the weights' location and options only."""

    def instantiate(self) -> MnistImageClassifier:
        return MnistImageClassifier(self.model)


@dataclass(frozen=True)
class MnistImageEmbedderDescriptor(_DescriptorBase, ImageEmbedderDescriptor):
    """Picklable factory of :class:`MnistImageEmbedder`; embeddings are ``Embedding[Float32; 128]``."""

    def get_dimensions(self) -> EmbeddingDimensions:
        from daft import DataType

        return EmbeddingDimensions(size=EMBEDDING_SIZE, dtype=DataType.float32())

    def instantiate(self) -> MnistImageEmbedder:
        return MnistImageEmbedder(self.model)


def check_labels(labels: Any) -> list[str]:
    """The ten labels, one per digit 0-9 in order; anything else is an ``OptionError`` (a ``ValueError``)."""
    expected = 'ten names, one per digit 0-9 in order (e.g. ["0", ..., "9"] or ["zero", ..., "nine"])'
    if isinstance(labels, str):
        names: list[Any] = [labels]
    elif isinstance(labels, Iterable) and not isinstance(labels, bytes | bytearray | Mapping):
        names = list(labels)
    else:
        raise option_error("labels", expected, labels)
    if len(names) != 10:
        raise OptionError(
            f"MnistProvider classifies digits: labels must be 10 names, one per digit 0-9 in order "
            f'(e.g. ["0", ..., "9"] or ["zero", ..., "nine"]), got {len(names)} label{"s" * (len(names) != 1)}: '
            f"{names[:12]!r}"
        )
    for name in names:
        if not isinstance(name, str):
            raise option_error("labels", f"{expected}, each a str", name)
    return [str(name) for name in names]


class MnistImageClassifier:
    """Implements Daft's ``ImageClassifier`` protocol with the process's shared model (no digit: null)."""

    def __init__(self, options: _ModelOptions) -> None:
        self.model = get_model(options.spec())

    def classify_image(self, images: list[Any], labels: str | list[str]) -> list[Any]:
        """The label of each image's digit; ``None`` where it has none (null, blank or noise)."""
        names = check_labels(labels)
        pixels, reasons = prepare_images(images)
        ok = np.array([why is None for why in reasons], dtype=bool)
        out: list[str | None] = [None] * len(images)
        for i, digit in zip(np.flatnonzero(ok), self.model.predict(pixels[ok]), strict=True):
            out[i] = names[int(digit)]
        return out


class MnistImageEmbedder:
    """Implements Daft's ``ImageEmbedder`` protocol: 128 floats per image (null image: null)."""

    def __init__(self, options: _ModelOptions) -> None:
        self.model = get_model(options.spec())

    def embed_image(self, images: list[Any]) -> list[Any]:
        pixels, reasons = prepare_images(images, "embed_image")
        ok = np.array([why is None for why in reasons], dtype=bool)
        out: list[Any] = [None] * len(images)
        for i, vector in zip(np.flatnonzero(ok), self.model.embed(pixels[ok]), strict=True):
            out[i] = vector
        return out


# --- the provider ----------------------------------------------------------------------------


def _absolute(weights: str | os.PathLike[str] | None) -> str | None:
    """Local paths made absolute on the driver (workers may run elsewhere); URLs kept."""
    if weights is None:
        return None
    w = os.fspath(weights)
    return w if is_remote(w) else os.path.abspath(os.path.expanduser(w.removeprefix("file://")))


class MnistProvider(Provider):
    """Daft AI provider of the MNIST CNN: ``classify_image`` gives a digit's label, ``embed_image``
    its 128-d embedding.

    Args:
        name: The provider's name in a Daft session (``daft.set_provider(MnistProvider())``
            attaches it under this name).
        weights: ``None`` for the bundled weights, a local path or a URL. A ``model=`` given
            to ``classify_image``/``embed_image`` overrides it.
        sha256: Expected SHA-256 of the weights (required for URLs).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        precision: ``"auto"``, ``"float32"`` or ``"int8"`` (see :class:`~daft_mnist.Classifier`).
        num_threads: torch intra-op threads per worker.

    Per call, ``classify_image``/``embed_image`` also take these as options, and Daft's UDF
    options ``batch_size``, ``max_retries`` (default 0), ``on_error``, ``concurrency``, ``num_gpus``.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        weights: str | os.PathLike[str] | None = None,
        sha256: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        num_threads: int | None = None,
    ) -> None:
        self._name = name or "daft_mnist"
        if name is not None:
            check_text("name", name)
        self._model = self._check(_ModelOptions(_absolute(weights), sha256, device, precision, num_threads))

    @staticmethod
    def _check(model: _ModelOptions) -> _ModelOptions:
        check_choice("precision", model.precision, _PRECISIONS)
        check_text("device", model.device)
        num_threads = check_optional_int("num_threads", model.num_threads, minimum=1)
        return replace(model, num_threads=num_threads)

    @staticmethod
    def _check_udf(options: dict[str, Any]) -> dict[str, Any]:
        checks: dict[str, Any] = {
            "batch_size": lambda v: check_int("batch_size", v, minimum=1),
            "max_retries": lambda v: check_int("max_retries", v, minimum=0),
            "on_error": lambda v: check_choice("on_error", v, ("raise", "log", "ignore")),
            "concurrency": lambda v: check_optional_int("concurrency", v, minimum=1),
            "num_gpus": lambda v: check_optional_int("num_gpus", v, minimum=0),
        }
        return {key: checks[key](value) for key, value in options.items()}

    @property
    def name(self) -> str:
        return self._name

    def _split(self, model: str | None, options: dict[str, Any]) -> tuple[_ModelOptions, dict[str, Any]]:
        unknown = sorted(set(options) - set(_MODEL_OPTIONS) - set(_UDF_OPTIONS))
        if unknown:
            raise ValueError(
                f"MnistProvider: unknown options {unknown}; known: {sorted(_MODEL_OPTIONS + _UDF_OPTIONS)}"
            )
        chosen = {k: options[k] for k in _MODEL_OPTIONS if k in options}
        if model is not None:
            chosen["weights"] = model
        if "weights" in chosen:
            chosen["weights"] = _absolute(chosen["weights"])
        spec = self._check(_ModelOptions(**{**self._model.__dict__, **chosen}))
        return spec, self._check_udf({k: options[k] for k in _UDF_OPTIONS if k in options})

    def get_image_classifier(self, model: str | None = None, **options: Any) -> MnistImageClassifierDescriptor:
        """Descriptor for ``daft.functions.classify_image`` (``model``: weights path or URL)."""
        spec, udf = self._split(model, options)
        return MnistImageClassifierDescriptor(self._name, spec, udf)

    def get_image_embedder(self, model: str | None = None, **options: Any) -> MnistImageEmbedderDescriptor:
        """Descriptor for ``daft.functions.embed_image`` (``model``: weights path or URL)."""
        spec, udf = self._split(model, options)
        return MnistImageEmbedderDescriptor(self._name, spec, udf)

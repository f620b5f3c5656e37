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
    >>> from daft.functions import classify_image, embed_image
    >>> from daft_mnist.provider import MnistProvider
    >>> df = daft.from_glob_path("digits/*.png")  # doctest: +SKIP
    >>> df = df.with_column("image", daft.col("path").url.download().image.decode())  # doctest: +SKIP
    >>> df = df.with_column("digit", classify_image(daft.col("image").convert_image("RGB"),
    ...     labels=[str(d) for d in range(10)], provider=MnistProvider()))  # doctest: +SKIP
    >>> df = df.with_column("vector", embed_image(daft.col("image"), provider=MnistProvider()))  # doctest: +SKIP

Images are prepared as :func:`~daft_mnist.classify` prepares them (:func:`prepare_images`):
28x28 one-channel images are MNIST digits as they are; pictures of any other size or mode go
through the library's MNIST-style preparation (:func:`~daft_mnist.mnist_style`). A picture
with no digit (blank, noise) gets a null label and a null embedding, never a confident digit.

Daft 0.7.26's ``classify_image`` turns each row into a PIL image with ``Image.fromarray``
before the provider sees it, which fails for one-channel *Image* columns (``Image[L]``:
arrays of shape ``(H, W, 1)``). Pass ``convert_image("RGB")`` of such a column, or a
``Tensor[UInt8; [28, 28]]`` column (:func:`~daft_mnist.image_2d`); ``embed_image`` takes both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from daft.ai.protocols import ImageClassifierDescriptor, ImageEmbedderDescriptor
from daft.ai.provider import Provider
from daft.ai.typing import EmbeddingDimensions, UDFOptions

from daft_mnist.data._files import is_remote
from daft_mnist.data._rules import HEIGHT, NUM_PIXELS, WIDTH
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
]

EMBEDDING_SIZE = 128
"""Width of the embedding: the CNN's penultimate layer, ``relu(fc1(...))``."""

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""Example label names; any ten labels work, one per digit 0-9 in order."""

_MODEL_OPTIONS = ("weights", "sha256", "device", "precision", "num_threads")
_PRECISIONS = ("auto", "float32", "int8")
_UDF_OPTIONS = ("batch_size", "max_retries", "on_error", "concurrency", "num_gpus")


# --- the library's preparation, on the rows Daft hands to a provider --------------------------


def _as_uint8_array(image: Any) -> npt.NDArray[np.uint8]:
    """A PIL image or an array as uint8 ``(H, W)`` or ``(H, W, C)`` (floats in [0, 1] and 16-bit scaled)."""
    arr = np.asarray(image)
    if arr.ndim == 1 and arr.size == NUM_PIXELS:
        arr = arr.reshape(HEIGHT, WIDTH)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise ValueError(f"not an image: an array of shape {arr.shape}")
    if arr.dtype != np.uint8:
        scaled = arr.astype(np.float64)
        if arr.dtype.kind == "f" and scaled.size and np.nanmax(scaled) <= 1.0:
            scaled = scaled * 255.0
        elif arr.dtype.itemsize > 1 and arr.dtype.kind in "ui" and scaled.size and scaled.max() > 255:
            scaled = scaled / 257.0  # 16-bit
        arr = np.clip(np.nan_to_num(scaled), 0, 255).round().astype(np.uint8)
    return arr


def _as_gray_28x28(arr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A 28x28 gray picture given as RGB(A) with equal channels (and opaque) as one channel; else ``arr``.

    ``classify_image`` needs ``convert_image("RGB")`` of a grayscale Image column (module
    docstring): the MNIST digit comes back as three equal channels and is used as it is.
    """
    if arr.shape not in ((HEIGHT, WIDTH, 3), (HEIGHT, WIDTH, 4)):
        return arr
    rgb = arr[:, :, :3]
    if (rgb == rgb[:, :, :1]).all() and (arr.shape[2] == 3 or (arr[:, :, 3] == 255).all()):
        return np.ascontiguousarray(arr[:, :, 0])
    return arr


def prepare_images(images: Sequence[Any]) -> tuple[npt.NDArray[np.uint8], list[str | None]]:
    """Rows as Daft's AI functions hand them over -> uint8 pixels ``(N, 784)`` and a reason per row.

    The preparation :func:`~daft_mnist.classify` applies: a 28x28 grayscale image (an
    ``(28, 28)`` or ``(28, 28, 1)`` array, 784 pixels, an ``L`` PIL image, or three equal
    channels as ``convert_image("RGB")`` of one gives) is an MNIST digit and is used as it
    is; any other picture is prepared as an MNIST digit (:func:`~daft_mnist.mnist_style`:
    grayscale, ink bright on dark, cropped, scaled and centred). A row that gives no digit
    (``None``, a blank or noisy picture) has zeros and its reason (``None`` for a prepared
    row); the provider returns null for it, never a confident label.

    Raises:
        ValueError: A row is not an image (an array of another shape).
    """
    from daft_mnist.vision._prepare import prepare_batch

    n = len(images)
    pixels = np.zeros((n, NUM_PIXELS), dtype=np.uint8)
    reasons: list[str | None] = [None] * n
    pictures: list[npt.NDArray[np.uint8]] = []
    rows: list[int] = []
    for i, image in enumerate(images):
        if image is None:
            reasons[i] = "image is null"
            continue
        arr = _as_gray_28x28(_as_uint8_array(image))
        if arr.shape == (HEIGHT, WIDTH):
            pixels[i] = arr.reshape(-1)
        else:
            pictures.append(arr)
            rows.append(i)
    if pictures:
        prepared = prepare_batch(pictures)
        for k, i in enumerate(rows):
            why = prepared.reasons[k] if prepared.reasons else None
            if why is None:
                pixels[i] = prepared.pixels[k].reshape(-1)
            else:
                reasons[i] = why
    return pixels, reasons


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
        options = UDFOptions(max_retries=0, batch_size=1024)
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


def check_labels(labels: str | Sequence[str]) -> list[str]:
    """The ten labels, one per digit 0-9 in order; any other count is a ``ValueError``."""
    names = [labels] if isinstance(labels, str) else list(labels)
    if len(names) != 10:
        raise ValueError(
            f"MnistProvider classifies digits: labels must be 10 names, one per digit 0-9 in order "
            f'(e.g. ["0", ..., "9"] or ["zero", ..., "nine"]), got {len(names)} label{"s" * (len(names) != 1)}: '
            f"{names[:12]!r}"
        )
    return names


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
        pixels, reasons = prepare_images(images)
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
        self._model = _ModelOptions(_absolute(weights), sha256, device, precision, num_threads)
        self._check(self._model)

    @staticmethod
    def _check(model: _ModelOptions) -> None:
        if model.precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {list(_PRECISIONS)}, got {model.precision!r}")
        if model.num_threads is not None and model.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {model.num_threads!r}")

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
        spec = _ModelOptions(**{**self._model.__dict__, **chosen})
        self._check(spec)
        return spec, {k: options[k] for k in _UDF_OPTIONS if k in options}

    def get_image_classifier(self, model: str | None = None, **options: Any) -> MnistImageClassifierDescriptor:
        """Descriptor for ``daft.functions.classify_image`` (``model``: weights path or URL)."""
        spec, udf = self._split(model, options)
        return MnistImageClassifierDescriptor(self._name, spec, udf)

    def get_image_embedder(self, model: str | None = None, **options: Any) -> MnistImageEmbedderDescriptor:
        """Descriptor for ``daft.functions.embed_image`` (``model``: weights path or URL)."""
        spec, udf = self._split(model, options)
        return MnistImageEmbedderDescriptor(self._name, spec, udf)

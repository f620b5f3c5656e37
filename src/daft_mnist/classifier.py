"""The CNN as Daft expressions: :func:`classify_digit`, :func:`embed_digit` and :class:`Classifier`.

Shaped like Daft's own AI functions (``daft.functions.classify_image``, ``embed_image``):
an image expression in, an expression of one fixed type out, options as keywords.

Building an expression is cheap (about a millisecond): it checks the options, loads no
model and, on a machine without an NVIDIA driver, does not import torch. Each worker
process builds the model once, on the first batch, and shares it between batches,
partitions, queries and expressions with the same weights and device. Where a CUDA device
may be used (``device="cuda..."``, ``gpus > 0``, or ``device="auto"`` on a machine with an
NVIDIA driver), building imports torch once (about a second) in the thread that builds the
query: on an H100 machine a pipeline whose first ``import torch`` ran in a Daft UDF thread
hung in its first host-to-CUDA copy.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from daft_mnist._scheduling import check_schedulable
from daft_mnist.data._files import is_remote
from daft_mnist.data._options import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_optional_int,
    check_optional_number,
    option_error,
)
from daft_mnist.data._rules import DEFAULT_BATCH_SIZE, OnError, check_on_error
from daft_mnist.errors import OptionError
from daft_mnist.model._engine import PRECISIONS, ModelSpec, Precision
from daft_mnist.model.weights import weights_text

if TYPE_CHECKING:
    from typing import Unpack

    from daft import Expression

__all__ = ["ClassifyOptions", "Classifier", "ModelOptions", "Precision", "classify_digit", "embed_digit"]


class ModelOptions(TypedDict, total=False):
    """Keyword options of :func:`classify_digit` and :func:`embed_digit` that pick and place the model.

    :class:`Classifier`'s fields except ``on_error`` and ``min_confidence``.
    """

    weights: str | os.PathLike[str] | None
    sha256: str | None
    device: str
    precision: Precision
    batch_size: int
    max_concurrency: int | None
    gpus: float
    cpus: float | None
    num_threads: int | None


class ClassifyOptions(ModelOptions, total=False):
    """Keyword options of :func:`daft_mnist.classify` passed on to :func:`classify_digit`."""

    on_error: OnError
    min_confidence: float | None


def check_model_options(options: dict[str, object], function: str) -> None:
    """A ``TypeError`` naming the keyword arguments that are not :class:`ModelOptions`."""
    unknown = sorted(set(options) - ModelOptions.__optional_keys__)
    if unknown:
        hint = " (details=True gives the confidence and the error)" if {"confidence", "errors"} & set(unknown) else ""
        raise TypeError(f"{function}() got unexpected keyword argument(s) {unknown}{hint}")


_NVIDIA_DRIVER = "/proc/driver/nvidia/version"


def _may_use_cuda(device: str, gpus: float) -> bool:
    """Whether the model may run on CUDA, decided without importing torch."""
    if gpus > 0 or device.startswith("cuda"):
        return True
    return device == "auto" and os.path.exists(_NVIDIA_DRIVER)


@dataclass(frozen=True)
class Classifier:
    """Expression-level MNIST classifier: ``Classifier(...)(col("image_2d"))`` is an Int64 expression.

    A small picklable descriptor: it holds where the weights are and how to run them, never
    the model itself. The model is built once per worker process on first use.
    :func:`classify_digit` and :func:`embed_digit` are the functional form.

    Args:
        weights: ``None`` for the bundled weights (found in the installed package on each
            worker), a local path (made absolute here, so workers do not depend on the
            driver's working directory), or a remote URL (downloaded once per machine into
            the verified cache).
        sha256: Expected SHA-256 of the weights file (required for remote URLs).
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        batch_size: Rows per model call.
        max_concurrency: Model instances Daft may run at once (default: Daft's choice). On
            Ray each instance is an actor. Checked when the expression is built: more
            instances than the runner can schedule is a ``ValueError``.
        cpus: CPUs per instance for Daft's scheduler (default: Daft's, 1 on Ray).
        gpus: GPUs per instance, passed to Daft's scheduler (fractions up to 1 allowed).
        num_threads: torch intra-op threads in each worker (default: torch's choice).
        precision: ``"auto"`` (default: int8 on CPU when the checkpoint carries an int8
            calibration, as the bundled one does, else float32), ``"float32"`` (exact float
            model), or ``"int8"`` (required: an error where it cannot run). Embeddings
            always come from the float model.
        on_error: ``"raise"`` (default) fails on a malformed image; ``"null"`` gives it a
            null result (logged; :meth:`details` says why). A null image gives a null result
            whatever this says.
        min_confidence: Abstain: a prediction whose calibrated confidence is below this
            (in [0, 1]) is null, with the reason ``"confidence 0.42 below min_confidence 0.9"``
            in :meth:`details`' ``error``. ``None`` (default) answers every row. Not used by
            :meth:`embed`.

    Confidences and probabilities are calibrated: the softmax of the logits divided by the
    checkpoint's temperature (``metadata["temperature"]``; 1.1537 for the bundled weights, see
    the model card; 1 when a checkpoint has none). The predicted digit does not depend on it.

    Examples:
        >>> import daft
        >>> from daft_mnist import Classifier
        >>> clf = Classifier(batch_size=512)
        >>> df = daft.from_pydict({"image": [[0] * 784]})
        >>> df.select(clf(df["image"]).alias("digit")).schema()["digit"].dtype
        Int64
    """

    weights: str | os.PathLike[str] | None = None
    sha256: str | None = None
    device: str = "auto"
    batch_size: int = DEFAULT_BATCH_SIZE
    max_concurrency: int | None = None
    gpus: float = 0.0
    cpus: float | None = None
    num_threads: int | None = None
    on_error: OnError = "raise"
    precision: Precision = "auto"
    min_confidence: float | None = None

    def __post_init__(self) -> None:
        if self.weights is not None:
            weights = weights_text(self.weights)
            if not is_remote(weights):
                weights = os.path.abspath(os.path.expanduser(weights.removeprefix("file://")))
            object.__setattr__(self, "weights", weights)
        if not isinstance(self.device, str):
            raise option_error("device", "a string ('auto', 'cpu', 'cuda', 'cuda:N')", self.device)
        set_ = functools.partial(object.__setattr__, self)
        set_("batch_size", check_int("batch_size", self.batch_size, minimum=1))
        set_("max_concurrency", check_optional_int("max_concurrency", self.max_concurrency, minimum=1))
        set_("gpus", _check_gpus(self.gpus))
        set_("cpus", check_optional_number("cpus", self.cpus, above=0))
        set_("num_threads", check_optional_int("num_threads", self.num_threads, minimum=1))
        check_on_error(self.on_error)
        check_choice("precision", self.precision, PRECISIONS)
        set_("min_confidence", check_optional_number("min_confidence", self.min_confidence, minimum=0, maximum=1))

    def _expression(self, method: str, image: Expression, *more: Expression) -> Expression:
        from daft_mnist._udf import ModelRun, UdfOptions, model_expression

        spec = model_spec(self)
        m = None if self.min_confidence is None else float(self.min_confidence)
        options = UdfOptions(
            self.batch_size, None if self.cpus is None else float(self.cpus), float(self.gpus), self.max_concurrency
        )
        return model_expression(ModelRun(spec, self.on_error, m), options, method, image, *more)

    def __call__(self, image: Expression) -> Expression:
        """Predicted digit (``Int64``) for each image of ``image``.

        Args:
            image: 28x28 ``Tensor[UInt8]`` (from :func:`~daft_mnist.image_2d`), 28x28
                grayscale images, lists of 784 pixels, or pictures of any size.
        """
        return self._expression("predict", image)

    def details(self, image: Expression, *, reasons: Expression | None = None) -> Expression:
        """The prediction with its certainty and its reason, one struct per row (never null)::

            {prediction: Int64, confidence: Float32,
             top: FixedSizeList[{digit: Int64, probability: Float32}; 3],
             margin: Float32, entropy: Float32, error: String}

        ``prediction`` is the predicted digit (null where the row has none, as
        :meth:`__call__` gives), ``confidence`` its calibrated probability (kept for a
        prediction withheld by ``min_confidence``: it is why), ``top`` the three most
        probable digits, ``margin`` the first probability minus the second, ``entropy`` the
        Shannon entropy in nats (0 to ln 10); these four are null where no image was run.
        ``error`` says why a row has no prediction, null for a predicted row:
        the malformed-pixel reason (``"expected 784 pixels, got 783"``, with
        ``on_error="null"``), the picture's (``"image is blank (no ink)"``), ``"confidence
        0.42 below min_confidence 0.9"``, or for a null image the row's value of ``reasons``
        (when given and not null), else ``"image is null before classify (pass reasons=
        ...)"``.

        Args:
            image: As for :meth:`__call__`.
            reasons: A String expression holding why a row's image is null (a loader's
                ``load_error`` column, for example).
        """
        if reasons is None:
            return self._expression("details", image)
        return self._expression("details", image, reasons)

    def probabilities(self, image: Expression) -> Expression:
        """All ten calibrated probabilities, ``Tensor[Float32; [10]]`` (their maximum is the confidence)."""
        return self._expression("probabilities", image)

    def embed(self, image: Expression) -> Expression:
        """The CNN's penultimate layer (``relu(fc1)``, float model), ``Embedding[Float32; 128]``."""
        return self._expression("embed", image)


def _check_gpus(value: object) -> float:
    try:
        gpus = check_number("gpus", value, minimum=0)
    except OptionError:
        gpus = -1.0
    if gpus < 0 or (gpus > 1 and not gpus.is_integer()):
        raise option_error("gpus", "a fraction in [0, 1] or a whole number", value)
    return gpus


def model_spec(classifier: Classifier) -> ModelSpec:
    """The weights and how to run them, for a model expression built now (``classify_digit``,
    ``read_number``): checks that the runner can schedule the resources asked, and imports torch
    here first where the model may use CUDA (see the module docstring: torch's first import must
    not happen in a UDF thread of a pipeline that uses CUDA)."""
    gpus = float(classifier.gpus)
    check_schedulable(max_concurrency=classifier.max_concurrency, cpus=classifier.cpus, gpus=gpus)
    if "torch" not in sys.modules and _may_use_cuda(classifier.device, gpus):
        importlib.import_module("torch")
    weights = None if classifier.weights is None else os.fspath(classifier.weights)
    return ModelSpec(weights, classifier.sha256, classifier.device, classifier.num_threads, classifier.precision)


def classify_digit(
    image: Expression,
    *,
    details: bool = False,
    min_confidence: float | None = None,
    on_error: OnError = "raise",
    reasons: Expression | None = None,
    **options: Unpack[ModelOptions],
) -> Expression:
    """Classify each MNIST digit image with the CNN: the predicted digit, ``Int64``.

    Args:
        image: 28x28 ``Tensor[UInt8]`` (from :func:`~daft_mnist.image_2d`), 28x28 grayscale
            ``Image``, lists of 784 pixels 0-255, or pictures of any size (prepared as MNIST
            digits, see :func:`~daft_mnist.mnist_style`).
        details: Return one struct per row instead (never null): ``prediction``,
            ``confidence`` (calibrated), ``top`` (the three most probable digits with their
            probabilities), ``margin``, ``entropy`` and ``error`` (why the row has no
            prediction; null for a predicted row). See :meth:`Classifier.details`.
        min_confidence: Abstain: a prediction whose calibrated confidence is below this (in
            [0, 1]) is null (with ``details``, ``error`` says so). ``None`` answers every row.
        on_error: ``"raise"`` (default) fails on a malformed image; ``"null"`` gives it a
            null prediction (with ``details``, ``error`` says why).
        reasons: With ``details``: a String expression holding why a row's image is null
            (such as a loader's ``load_error``), reported as that row's ``error``.
        **options: The model's options, all keyword-only: ``weights=None`` (bundled),
            ``sha256=None``, ``device="auto"``, ``precision="auto"``, ``batch_size=1024``,
            ``max_concurrency=None``, ``gpus=0.0``, ``cpus=None``, ``num_threads=None``
            (see :class:`Classifier`).

    Returns:
        An ``Int64`` expression (null for bad images under ``on_error="null"``, null images
        and abstentions); with ``details``, a struct expression of the type above.

    Raises:
        ValueError: An invalid option, ``reasons`` without ``details``, or more model
            instances than the runner can schedule.

    Examples:
        >>> import daft
        >>> from daft_mnist import classify_digit
        >>> df = daft.from_pydict({"image": [[0] * 784]})
        >>> df = df.with_column("digit", classify_digit(df["image"], precision="float32"))
        >>> df.schema()["digit"].dtype
        Int64
        >>> bad = daft.from_pydict({"image": [[0] * 783, None]})
        >>> out = bad.select(classify_digit(bad["image"], details=True, on_error="null").alias("r"))
        >>> [row["error"][:30] for row in out.to_pydict()["r"]]
        ['expected 784 pixels, got 783', 'image is null before classify ']
    """
    check_model_options(dict(options), "classify_digit")
    details = check_bool("details", details)
    classifier = Classifier(on_error=on_error, min_confidence=min_confidence, **options)
    if details:
        return classifier.details(image, reasons=reasons)
    if reasons is not None:
        raise ValueError("reasons= is reported in the details' error field: pass details=True with it")
    return classifier(image)


def embed_digit(image: Expression, *, on_error: OnError = "raise", **options: Unpack[ModelOptions]) -> Expression:
    """Embed each MNIST digit image: the CNN's penultimate layer, ``Embedding[Float32; 128]``.

    The 128 ``relu(fc1)`` values the classifier's last layer reads, from the float model
    whatever the precision; digits the model finds alike are close, so the column works with
    Daft's ``cosine_distance`` for nearest-neighbour search.

    Args:
        image: 28x28 ``Tensor[UInt8]``, 28x28 grayscale ``Image``, or lists of 784 pixels.
        on_error: ``"raise"`` (default) or ``"null"`` (a malformed image gets a null embedding).
        **options: The model's options of :func:`classify_digit`, keyword-only.

    Returns:
        An ``Embedding[Float32; 128]`` expression.

    Raises:
        ValueError: An invalid option.

    Examples:
        >>> import daft
        >>> from daft.functions import cosine_distance
        >>> from daft_mnist import embed_digit
        >>> df = daft.from_pydict({"image": [[0] * 784, [255] * 784]})
        >>> df = df.with_column("e", embed_digit(df["image"]))
        >>> df.schema()["e"].dtype
        Embedding[Float32; 128]
        >>> out = df.select(cosine_distance(df["e"], df["e"]).alias("d")).to_pydict()["d"]
        >>> [abs(round(d, 4)) for d in out]  # each embedding against itself
        [0.0, 0.0]
    """
    check_model_options(dict(options), "embed_digit")
    return Classifier(on_error=on_error, **options).embed(image)

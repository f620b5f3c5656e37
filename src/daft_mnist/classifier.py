"""The CNN as Daft expressions: :func:`classify_digit`, :func:`embed_digit` and :class:`Classifier`.

Shaped like Daft's own AI functions (``daft.functions.classify_image``, ``embed_image``):
an image expression in, an expression out, options as keywords. Building an expression is
free; each worker process builds the model once, on first use, and shares it between
batches, partitions, queries and expressions with the same weights and device.
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from daft_mnist._scheduling import check_schedulable
from daft_mnist.data._files import is_remote
from daft_mnist.data._rules import DEFAULT_BATCH_SIZE, OnError, check_on_error
from daft_mnist.model._engine import PRECISIONS, ModelSpec, Precision
from daft_mnist.model.weights import weights_text

if TYPE_CHECKING:
    from typing import Unpack

    from daft import Expression

__all__ = ["ClassifyOptions", "Classifier", "ModelOptions", "classify_digit", "embed_digit"]


class ModelOptions(TypedDict, total=False):
    """Keyword options of :func:`classify_digit` and :func:`embed_digit`: :class:`Classifier`'s fields."""

    weights: str | os.PathLike[str] | None
    sha256: str | None
    device: str
    precision: Precision
    batch_size: int
    max_concurrency: int | None
    gpus: float
    cpus: float | None
    num_threads: int | None
    on_error: OnError
    min_confidence: float | None


class ClassifyOptions(ModelOptions, total=False):
    """Keyword options of :func:`classify_digit` and :func:`daft_mnist.classify`."""

    confidence: bool
    details: bool
    errors: bool


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
        on_error: ``"raise"`` (default) fails on a null or malformed image; ``"null"`` gives
            null and malformed images a null result (malformed ones are logged and counted,
            see :func:`daft_mnist.bad_row_count`).
        min_confidence: Abstain: a prediction whose calibrated confidence is below this
            (in [0, 1]) is null, with the reason ``"confidence 0.42 below min_confidence 0.9"``
            in :meth:`report`'s ``error``. ``None`` (default) answers every row. Not used by
            :meth:`embed`.

    Confidences and probabilities are calibrated: the softmax of the logits divided by the
    checkpoint's temperature (``metadata["temperature"]``; 1.1537 for the bundled weights, see
    the model card; 1 when a checkpoint has none). The predicted digit does not depend on it.

    Each classifying method adds to two Daft UDF counters of the query, read back after it
    runs with :func:`daft_mnist.diagnostics.row_counters`: rows classified and rows failed
    (null, malformed, or no digit), and with ``min_confidence`` rows abstained.

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
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.max_concurrency is not None and (not isinstance(self.max_concurrency, int) or self.max_concurrency < 1):
            raise ValueError(f"max_concurrency must be a positive integer or None, got {self.max_concurrency!r}")
        if not (math.isfinite(self.gpus) and (0 <= self.gpus <= 1 or float(self.gpus).is_integer())):
            raise ValueError(f"gpus must be a fraction in [0, 1] or a whole number, got {self.gpus!r}")
        if self.cpus is not None and not (self.cpus >= 0 and math.isfinite(self.cpus)):
            raise ValueError(f"cpus must be a non-negative number or None, got {self.cpus!r}")
        check_on_error(self.on_error)
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {self.num_threads!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        m = self.min_confidence
        if m is not None and (isinstance(m, bool) or not isinstance(m, int | float) or not 0.0 <= m <= 1.0):
            raise ValueError(f"min_confidence must be a number in [0, 1] or None, got {m!r}")

    @property
    def spec(self) -> ModelSpec:
        """The :class:`~daft_mnist.model._engine.ModelSpec` shipped to workers."""
        weights = None if self.weights is None else os.fspath(self.weights)
        return ModelSpec(weights, self.sha256, self.device, self.num_threads, self.precision)

    def _expression(self, method: str, image: Expression) -> Expression:
        from daft_mnist._udf import UdfOptions, udf_class

        check_schedulable(max_concurrency=self.max_concurrency, cpus=self.cpus, gpus=float(self.gpus))
        # Import torch here, in the thread that builds the query (normally the main thread),
        # not for the first time inside a Daft UDF thread: on an H100 machine a pipeline
        # whose first ``import torch`` ran in the UDF thread hung in its first host-to-CUDA
        # copy, while the same pipeline with torch imported up front ran in 4.4 s.
        importlib.import_module("torch")
        options = UdfOptions(
            self.batch_size, None if self.cpus is None else float(self.cpus), float(self.gpus), self.max_concurrency
        )
        m = None if self.min_confidence is None else float(self.min_confidence)
        instance = udf_class(options)(self.spec, self.on_error, m)
        expression: Expression = getattr(instance, method)(image)
        return expression

    def __call__(self, image: Expression) -> Expression:
        """Predicted digit (``Int64``) for each image of ``image``.

        Args:
            image: 28x28 ``Tensor[UInt8]`` (from :func:`~daft_mnist.image_2d`), 28x28
                grayscale images, or lists of 784 pixels.
        """
        return self._expression("predict", image)

    def with_confidence(self, image: Expression) -> Expression:
        """Struct ``{prediction: Int64, confidence: Float32}`` (calibrated probability of the prediction).

        Under ``min_confidence`` an abstaining row keeps its confidence; its prediction is null.
        """
        return self._expression("predict_with_confidence", image)

    def details(self, image: Expression) -> Expression:
        """Per-row certainty, a struct (null where no image was classified)::

            {prediction: Int64, confidence: Float32,
             top: FixedSizeList[{digit: Int64, probability: Float32}; 3],
             margin: Float32, entropy: Float32}

        ``confidence`` is the calibrated probability of ``prediction`` (the most probable
        digit), ``top`` the three most probable digits, ``margin`` the first probability minus
        the second, ``entropy`` the Shannon entropy in nats (0 to ln 10). ``prediction`` here is
        the model's answer even when ``min_confidence`` withholds it from the prediction column.
        """
        return self.report(image, details=True)["details"]

    def report(
        self, image: Expression, *, confidence: bool = False, details: bool = False, errors: bool = False
    ) -> Expression:
        """Struct of the prediction and the fields asked for, from one model call per batch.

        ``{prediction: Int64, confidence: Float32, details: <see details()>, error: String}``,
        with ``confidence``, ``details`` and ``error`` present when asked. ``error`` names why
        a row has no prediction: ``"image is null (see the step that produced it)"``, the
        malformed-pixel reason (``"expected 784 pixels, got 783"``, ``"pixel value 300 is not
        an integer in 0-255"``; with ``on_error="null"``), the picture's (``"image is blank (no
        ink)"``), or ``"confidence 0.42 below min_confidence 0.9"``; null for a predicted row.
        With ``errors`` the struct is never null; without, it is null where no image was run.

        Raises:
            ValueError: None of ``confidence``, ``details``, ``errors`` is set.
        """
        from daft_mnist._udf import report_method

        if not (confidence or details or errors):
            raise ValueError("report() needs confidence=True, details=True or errors=True; call the classifier itself")
        return self._expression(report_method(confidence, details, errors), image)

    def probabilities(self, image: Expression) -> Expression:
        """All ten calibrated probabilities, ``Tensor[Float32; [10]]`` (their maximum is the confidence)."""
        return self._expression("probabilities", image)

    def embed(self, image: Expression) -> Expression:
        """The CNN's penultimate layer (``relu(fc1)``, float model), ``Embedding[Float32; 128]``."""
        return self._expression("embed", image)


def classify_digit(
    image: Expression,
    *,
    confidence: bool = False,
    details: bool = False,
    errors: bool = False,
    **options: Unpack[ModelOptions],
) -> Expression:
    """Classify each MNIST digit image with the CNN: the predicted digit, ``Int64``.

    Args:
        image: 28x28 ``Tensor[UInt8]`` (from :func:`~daft_mnist.image_2d`), 28x28 grayscale
            ``Image``, lists of 784 pixels 0-255, or pictures of any size (prepared as MNIST
            digits, see :func:`~daft_mnist.mnist_style`).
        confidence: Return a struct ``{prediction: Int64, confidence: Float32}`` instead,
            the confidence being the prediction's calibrated probability (the softmax at the
            checkpoint's temperature; earlier releases gave the plain softmax probability).
        details: Add ``details``, the per-row certainty struct of :meth:`Classifier.details`
            (prediction, confidence, top 3 digits with probabilities, margin, entropy).
        errors: Add ``error``, a ``String`` naming why the row has no prediction (null for a
            predicted row; see :meth:`Classifier.report`). The struct is then never null, so
            ``where(expr["error"].is_null())`` routes the bad rows.
        **options: :class:`Classifier`'s options, all keyword-only: ``weights=None`` (bundled),
            ``sha256=None``, ``device="auto"``, ``precision="auto"``, ``batch_size=1024``,
            ``max_concurrency=None``, ``gpus=0.0``, ``cpus=None``, ``num_threads=None``,
            ``on_error="raise"``, ``min_confidence=None`` (abstain below it: a null prediction).

    Returns:
        An ``Int64`` expression, null for bad images under ``on_error="null"`` (and for
        abstentions); with ``confidence``, ``details`` or ``errors``, a struct of
        ``prediction`` and the fields asked for, in that order.

    Raises:
        ValueError: An invalid option, or more model instances than the runner can schedule.

    Examples:
        >>> import daft
        >>> from daft_mnist.classifier import classify_digit
        >>> df = daft.from_pydict({"image": [[0] * 784]})
        >>> df = df.with_column("digit", classify_digit(df["image"], precision="float32"))
        >>> df.schema()["digit"].dtype
        Int64
        >>> df.select(classify_digit(df["image"], confidence=True).alias("s")).schema()["s"].dtype
        Struct[prediction: Int64, confidence: Float32]
        >>> bad = daft.from_pydict({"image": [[0] * 783, None]})
        >>> out = bad.select(classify_digit(bad["image"], errors=True, on_error="null").alias("r"))
        >>> [row["error"] for row in out.to_pydict()["r"]]
        ['expected 784 pixels, got 783', 'image is null (see the step that produced it)']
    """
    classifier = Classifier(**options)
    if details or errors:
        return classifier.report(image, confidence=confidence, details=details, errors=errors)
    return classifier.with_confidence(image) if confidence else classifier(image)


def embed_digit(image: Expression, **options: Unpack[ModelOptions]) -> Expression:
    """Embed each MNIST digit image: the CNN's penultimate layer, ``Embedding[Float32; 128]``.

    The 128 ``relu(fc1)`` values the classifier's last layer reads, from the float model
    whatever the precision; digits the model finds alike are close, so the column works with
    Daft's ``cosine_distance`` for nearest-neighbour search.

    Args:
        image: 28x28 ``Tensor[UInt8]``, 28x28 grayscale ``Image``, or lists of 784 pixels.
        **options: The options of :func:`classify_digit`, keyword-only (``min_confidence``
            is refused: embeddings do not abstain).

    Returns:
        An ``Embedding[Float32; 128]`` expression.

    Raises:
        ValueError: An invalid option.

    Examples:
        >>> import daft
        >>> from daft.functions import cosine_distance
        >>> from daft_mnist.classifier import embed_digit
        >>> df = daft.from_pydict({"image": [[0] * 784, [255] * 784]})
        >>> df = df.with_column("e", embed_digit(df["image"]))
        >>> df.schema()["e"].dtype
        Embedding[Float32; 128]
        >>> out = df.select(cosine_distance(df["e"], df["e"]).alias("d")).to_pydict()["d"]
        >>> [abs(round(d, 4)) for d in out]  # each embedding against itself
        [0.0, 0.0]
    """
    if options.get("min_confidence") is not None:
        raise ValueError("embed_digit does not take min_confidence: embeddings do not abstain")
    return Classifier(**options).embed(image)

"""The cached class UDF that runs the CNN, and :class:`Classifier`, its picklable front.

:class:`Classifier` is a small frozen descriptor (weights location, checksum, device,
batching and resource options). Calling it on an expression hands a :class:`ModelSpec` to
the ``@daft.cls`` UDF :class:`MnistModel`; each worker process builds the model once (a
process-wide cache keyed by the spec), however many batches, partitions, queries or UDF
instances use it. Inference runs in ``eval()`` mode under ``torch.inference_mode()``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import daft
import numpy as np
import numpy.typing as npt
from daft import DataType

from daft_mnist._files import is_remote
from daft_mnist._rules import DEFAULT_BATCH_SIZE, OnError
from daft_mnist.diagnostics import record_bad_rows
from daft_mnist.errors import DataError, WeightsError

if TYPE_CHECKING:
    from daft import Expression

    from daft_mnist.model import Net, Preprocessing

__all__ = [
    "Classifier",
    "LoadedModel",
    "MnistModel",
    "ModelSpec",
    "check_schedulable",
    "get_model",
    "model_build_count",
]

Precision = Literal["auto", "float32", "int8"]

log = logging.getLogger("daft_mnist")


@dataclass(frozen=True)
class ModelSpec:
    """Everything a worker needs to build the model: small, hashable and picklable."""

    weights: str | None = None
    sha256: str | None = None
    device: str = "auto"
    num_threads: int | None = None
    precision: str = "auto"


PRECISIONS = ("auto", "float32", "int8")


@contextlib.contextmanager
def ieee_float32(torch: Any) -> Iterator[None]:
    """Switch TF32 off for CUDA convolutions and matmuls inside the block, then restore.

    cuDNN convolutions default to TF32 on Ampere and newer GPUs (10-bit mantissa), which
    moves MNIST probabilities by about 4e-4; the library promises float32 results. Uses
    the ``fp32_precision`` settings where torch has them (2.9+), else ``allow_tf32``.
    """
    settings: list[tuple[Any, str, object]]
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        settings = [(conv, "fp32_precision", "ieee"), (torch.backends.cuda.matmul, "fp32_precision", "ieee")]
    else:  # pragma: no cover - torch < 2.9
        settings = [(torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False)]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in settings]
    try:
        for obj, name, value in settings:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


class LoadedModel:
    """A ready model: weights loaded, eval mode, on its device; thread-safe ``predict``.

    The hot path has no per-row Python: uint8 pixels (a zero-copy view of the Arrow buffer)
    are normalized by one vectorized numpy pass into a float32 buffer that torch adopts
    without a copy, and the network runs on chunks of :attr:`chunk_size` images (small
    enough for the activations to stay in cache; 128 by default). On CPU the network uses
    channels-last memory and a traced and inference-optimized TorchScript graph (oneDNN
    convolutions fused with their ReLU); its outputs are checked against the eager model
    when it is built, and the eager model is used if tracing is unavailable or disagrees.
    Calls are serialized by a lock, so concurrent Daft threads never start competing
    OpenMP thread teams; each call uses all of torch's intra-op threads.

    On CUDA the uint8 pixels are copied to the device (a quarter of the bytes of float32)
    and normalized there, :attr:`cuda_chunk_size` images per forward pass, in IEEE float32:
    TF32 convolutions and matmuls (cuDNN's default for convolutions) are switched off for
    the call and the caller's settings restored afterwards, so CUDA results match the CPU.

    Precision (``spec.precision``): ``"float32"`` always runs the float model.
    ``"int8"`` runs :class:`~daft_mnist.quantize.Int8Net` (static int8, CPU only, about 3x
    faster here) and needs a checkpoint with an int8 calibration. ``"auto"`` (the default)
    picks int8 when that is possible (CPU device, calibrated checkpoint, an x86 quantized
    engine) and float32 otherwise; :attr:`precision` says which was chosen. The bundled
    weights' int8 predictions equal their float32 predictions on all 10,000 test images
    (a ``slow`` test checks at least 99.9 % agreement and no accuracy drop); probabilities
    differ slightly.
    """

    chunk_size: int = 128
    """Images per forward pass. 128 measured best on the 2-core AVX-512 machine of the benchmarks
    (2.0 s per 10,000 images, against 3.2 s at 256 and 3.4 s at 512)."""

    int8_chunk_size: int = 512
    """Images per forward pass of the int8 model. One prototype run on the benchmark machine,
    per 10,000 images: 0.49 s at 512, 0.51 s at 256, 0.52 s at 128, 0.62 s at 64."""

    cuda_chunk_size: int = 4096
    """Images per forward pass on CUDA: about 1 GB of float32 activations at the peak (the conv1
    and conv2 outputs, 234 kB per image; computed, not measured). 4,096-image batches are what
    ran on the H100 (``benchmarks/gpu_check.py``)."""

    def __init__(self, spec: ModelSpec) -> None:
        import torch

        from daft_mnist.model import load_model, resolve_device

        self.spec = spec
        self.device = resolve_device(spec.device)
        self.net: Net = load_model(spec.weights, sha256=spec.sha256, device=self.device)
        self.preprocessing: Preprocessing = self.net.preprocessing
        self._torch = torch
        self._lock = threading.Lock()
        self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.compiled = False
        self._forward: Any = self.net
        self._int8: Any = None
        self.calibration = self._read_calibration()
        """The checkpoint's :class:`~daft_mnist.quantize.Int8Calibration`, or ``None``."""
        self.precision = self._choose_precision(spec.precision)
        if self.precision == "int8":
            self._int8 = self._build_int8(required=spec.precision == "int8")
            if self._int8 is None:
                self.precision = "float32"
        if self.precision == "float32" and self.device.type == "cpu":
            self._forward = self._trace()

    def _build_int8(self, *, required: bool) -> Any:
        """The int8 model, or ``None`` (with a warning) when it cannot be built and is not required."""
        from daft_mnist.quantize import Int8Net

        try:
            model = Int8Net(self.net, self.calibration)
        except Exception as exc:
            if required:
                raise RuntimeError(
                    f"precision='int8': the int8 model could not be built with torch {self._torch.__version__} "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            log.warning(
                "precision='auto': the int8 model could not be built (%s: %s); using float32", type(exc).__name__, exc
            )
            return None
        return model

    def _read_calibration(self) -> Any:
        from daft_mnist.quantize import CALIBRATION_KEY, Int8Calibration

        raw = self.net.metadata.get(CALIBRATION_KEY)
        if raw is None:
            return None
        try:
            return Int8Calibration.from_dict(raw)
        except ValueError as exc:
            raise WeightsError(f"{self.spec.weights or 'bundled weights'}: invalid {CALIBRATION_KEY}: {exc}") from None

    def _choose_precision(self, requested: str) -> str:
        """``"float32"`` or ``"int8"``: what ``requested`` means for this model and device."""
        if requested not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {requested!r}")
        if requested == "float32":
            return "float32"
        from daft_mnist.quantize import CALIBRATION_KEY, int8_unavailable_reason

        problems = []
        if self.device.type != "cpu":
            problems.append(f"int8 runs on CPU only, and this model is on {self.device}")
        if self.calibration is None:
            problems.append(
                f"the checkpoint has no {CALIBRATION_KEY!r} (write one with daft_mnist.calibrate_int8 "
                "and save_checkpoint, or train with daft_mnist.train)"
            )
        reason = int8_unavailable_reason()
        if reason is not None:
            problems.append(reason)
        if not problems:
            return "int8"
        if requested == "int8":
            raise ValueError("precision='int8' is not possible: " + "; ".join(problems))
        log.info("precision='auto' uses float32: %s", "; ".join(problems))
        return "float32"

    def _trace(self) -> Any:
        """A traced, frozen and inference-optimized copy of the net, or the eager net if that fails."""
        import copy
        import warnings

        torch = self._torch
        example = torch.from_numpy(
            self._normalize(np.random.default_rng(0).integers(0, 256, (32, 784), dtype=np.uint8))
        )
        try:
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.optimize_for_inference(torch.jit.trace(copy.deepcopy(self.net), example))
                with torch.inference_mode():
                    ok = all(
                        torch.allclose(traced(x), self.net(x), rtol=1e-4, atol=1e-4)
                        for x in (example, example[:1], example[:7])
                    )
        except Exception as exc:  # pragma: no cover - depends on the torch build
            log.info("TorchScript optimization unavailable (%s: %s); using the eager model", type(exc).__name__, exc)
            return self.net
        if not ok:  # pragma: no cover - a torch bug, not something inputs can cause
            log.warning("the optimized TorchScript model disagrees with the eager model; using the eager model")
            return self.net
        self.compiled = True
        return traced

    def _normalize(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """``(N, 784)`` uint8 -> float32 ``(N, 1, H, W)`` in one vectorized pass, new writable buffer."""
        return self.preprocessing.normalize_numpy(pixels)

    def log_probabilities(self, pixels: npt.NDArray[np.uint8]) -> Any:
        """Run the CNN on uint8 ``(N, 784)`` pixels; returns a CPU float32 tensor ``(N, 10)``."""
        torch = self._torch
        n = len(pixels)
        out = torch.empty((n, 10), dtype=torch.float32)
        with self._lock, torch.inference_mode():
            if self._int8 is not None:
                step = self.int8_chunk_size
                height, width = self.preprocessing.height, self.preprocessing.width
                for start in range(0, n, step):
                    # A writable uint8 copy of the chunk (the Arrow view is read-only): the int8
                    # model takes raw pixels, so this is the only pass over the input.
                    chunk = np.array(pixels[start : start + step], dtype=np.uint8)
                    x = torch.from_numpy(chunk).view(len(chunk), 1, height, width)
                    out[start : start + len(chunk)] = self._int8(x)
                return out
            if self.device.type == "cpu":
                step = self.chunk_size
                for start in range(0, n, step):
                    chunk = pixels[start : start + step]
                    out[start : start + len(chunk)] = self._forward(torch.from_numpy(self._normalize(chunk)))
                return out
            with ieee_float32(torch):
                step = self.cuda_chunk_size
                for start in range(0, n, step):
                    raw = torch.from_numpy(np.array(pixels[start : start + step], dtype=np.uint8)).to(self.device)
                    x = self.preprocessing.normalize_torch(raw).contiguous(memory_format=torch.channels_last)
                    out[start : start + len(raw)] = self._forward(x).float().cpu()
        return out

    def predict(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
        """Predicted digit per image, int64 ``(N,)``."""
        if len(pixels) == 0:
            return np.empty(0, dtype=np.int64)
        return np.asarray(self.log_probabilities(pixels).argmax(1).numpy(), dtype=np.int64)


_cache: dict[ModelSpec, LoadedModel] = {}
_cache_lock = threading.Lock()
_builds = 0


def get_model(spec: ModelSpec) -> LoadedModel:
    """The process-wide model for ``spec``, built on first use and reused afterwards."""
    global _builds
    model = _cache.get(spec)
    if model is not None:
        return model
    with _cache_lock:
        model = _cache.get(spec)
        if model is None:
            if spec.num_threads is not None:
                import torch

                torch.set_num_threads(spec.num_threads)
            model = LoadedModel(spec)
            _cache[spec] = model
            _builds += 1
        return model


def model_build_count() -> int:
    """How many models this process has built (for tests and diagnostics)."""
    return _builds


def _series_pixels(images: daft.Series, on_error: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_] | None]:
    """Pixels of the rows to run and their mask (``None`` when every row is run).

    With ``on_error="null"``, null rows and malformed rows (wrong length, pixel outside
    0-255) get a null result; malformed ones are logged and counted (null inputs were
    counted by the step that made them null).
    """
    import pyarrow as pa

    from daft_mnist._rules import NUM_PIXELS, pixels_to_numpy, unwrap
    from daft_mnist._rules import pixel_check_tuple as pixel_check

    column = images.name()
    arr = unwrap(images.to_arrow())
    if on_error == "raise":
        if arr.null_count:
            nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            first = int(np.flatnonzero(nulls)[0])
            raise DataError(
                f"column {column!r}: {int(nulls.sum())} of {len(arr)} images are null "
                f"(first at row {first} of its batch); "
                "pass on_error='null' to give them a null prediction"
            )
        return pixels_to_numpy(arr, column=column), None
    bad, reasons, _, _ = pixel_check(arr, column, NUM_PIXELS)
    if not bad.any():
        return pixels_to_numpy(arr, column=column), None
    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    malformed = int((bad & ~nulls).sum())
    if malformed:
        record_bad_rows(column, malformed, reasons)
    valid = ~bad
    return pixels_to_numpy(arr.filter(pa.array(valid)), column=column), valid


def _with_nulls(values: npt.NDArray[Any], valid: npt.NDArray[np.bool_] | None, dtype: Any) -> Any:
    import pyarrow as pa

    if valid is None:
        return pa.array(values, type=dtype)
    full = np.zeros((len(valid), *values.shape[1:]), dtype=values.dtype)
    full[valid] = values
    return pa.array(full, type=dtype, mask=~valid)


class _MnistModelImpl:
    """The class :data:`MnistModel` wraps: a module-level name, so pickles refer to it by name."""

    def __init__(self, spec: ModelSpec, on_error: str = "raise") -> None:
        self.model = get_model(spec)
        self.on_error = on_error

    @daft.method.batch(return_dtype=DataType.int64(), batch_size=DEFAULT_BATCH_SIZE)
    def predict(self, images: daft.Series) -> Any:
        """Predicted digit (Int64) per image."""
        import pyarrow as pa

        pixels, valid = _series_pixels(images, self.on_error)
        return _with_nulls(self.model.predict(pixels), valid, pa.int64())

    @daft.method.batch(
        return_dtype=DataType.struct({"prediction": DataType.int64(), "confidence": DataType.float32()}),
        batch_size=DEFAULT_BATCH_SIZE,
    )
    def predict_with_confidence(self, images: daft.Series) -> Any:
        """Struct of predicted digit and its softmax probability."""
        import pyarrow as pa

        pixels, valid = _series_pixels(images, self.on_error)
        if len(pixels):
            logp = self.model.log_probabilities(pixels)
            top, idx = logp.max(1)
            pred = np.asarray(idx.numpy(), dtype=np.int64)
            conf = np.exp(np.asarray(top.numpy(), dtype=np.float32))
        else:
            pred, conf = np.empty(0, np.int64), np.empty(0, np.float32)
        return pa.StructArray.from_arrays(
            [_with_nulls(pred, valid, pa.int64()), _with_nulls(conf, valid, pa.float32())],
            names=["prediction", "confidence"],
            mask=None if valid is None else pa.array(~valid),
        )

    @daft.method.batch(return_dtype=DataType.tensor(DataType.float32(), (10,)), batch_size=DEFAULT_BATCH_SIZE)
    def probabilities(self, images: daft.Series) -> Any:
        """Softmax probabilities of the ten digits, ``Tensor[Float32; [10]]``."""
        import pyarrow as pa

        pixels, valid = _series_pixels(images, self.on_error)
        probs = (
            np.exp(np.asarray(self.model.log_probabilities(pixels).numpy(), dtype=np.float32))
            if len(pixels)
            else np.empty((0, 10), np.float32)
        )
        if valid is not None:
            full = np.zeros((len(valid), 10), dtype=np.float32)
            full[valid] = probs
            probs = full
        storage = pa.FixedSizeListArray.from_arrays(
            pa.array(probs.reshape(-1), type=pa.float32()), 10, mask=None if valid is None else pa.array(~valid)
        )
        return daft.Series.from_arrow(storage).cast(DataType.tensor(DataType.float32(), (10,)))


MnistModel: Any = daft.cls(_MnistModelImpl, name_override="daft_mnist.MnistModel", use_process=False)
# ``daft.cls`` returns a class defined inside Daft; naming it after this module's attribute
# lets (cloud)pickle ship a reference to ``daft_mnist.udfs.MnistModel`` instead of the
# class's code, so the UDF expression stays a few hundred bytes plus its settings.
MnistModel.__module__ = __name__
MnistModel.__name__ = MnistModel.__qualname__ = "MnistModel"
MnistModel.__doc__ = """Daft class UDF around :class:`LoadedModel`; use it through :class:`Classifier`."""


def _local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _schedulable() -> tuple[str, float, float, float, float] | None:
    """What the current runner can schedule: (where, CPUs, GPUs, largest node's CPUs, its GPUs).

    ``None`` when unknown: the Ray runner before Ray is initialized.
    """
    from daft.runners import _get_runner, get_or_infer_runner_type

    runner: Any = _get_runner()
    kind = runner.name if runner is not None else get_or_infer_runner_type()
    if kind == "ray":
        try:  # Any: Ray is optional (the ``ray`` extra) and only partly typed
            ray: Any = importlib.import_module("ray")
        except ImportError:
            return None
        if not ray.is_initialized():
            return None
        total = ray.cluster_resources()
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        return (
            "the Ray cluster",
            float(total.get("CPU", 0)),
            float(total.get("GPU", 0)),
            max((float(n.get("CPU", 0)) for n in nodes), default=0.0),
            max((float(n.get("GPU", 0)) for n in nodes), default=0.0),
        )
    from daft.internal.gpu import cuda_visible_devices

    cpus, gpus = float(_local_cpus()), float(len(cuda_visible_devices()))
    return "this machine (Daft's native runner)", cpus, gpus, cpus, gpus


def check_schedulable(*, max_concurrency: int | None, cpus: float | None, gpus: float) -> None:
    """Fail fast when the model instances asked for cannot all run on the current runner.

    Daft waits (by default two minutes) for class-UDF instances that the cluster can never
    start, then goes on with fewer or fails; this raises at once instead. Nothing is checked
    when Daft chooses the concurrency and no resources are asked for, or when the Ray runner
    is selected but Ray is not initialized yet.

    Args:
        max_concurrency: Model instances asked for (``None``: Daft's choice, counted as 1).
        cpus: CPUs per instance (``None``: Daft's default of 1).
        gpus: GPUs per instance.

    Raises:
        ValueError: More CPUs or GPUs asked for than the runner has, in total or on any one node.
    """
    if max_concurrency is None and cpus is None and not gpus:
        return
    found = _schedulable()
    if found is None:
        return
    where, total_cpus, total_gpus, node_cpus, node_gpus = found
    instances = max_concurrency or 1
    per_cpu = 1.0 if cpus is None else float(cpus)
    asked = f"max_concurrency={max_concurrency}, cpus={cpus}, gpus={gpus:g}"
    eps = 1e-9
    if per_cpu > node_cpus + eps or gpus > node_gpus + eps:
        raise ValueError(
            f"Classifier({asked}): one model instance needs {per_cpu:g} CPUs and {gpus:g} GPUs, but the largest "
            f"node of {where} has {node_cpus:g} CPUs and {node_gpus:g} GPUs, so no instance could ever start; "
            "lower cpus/gpus (gpus=0 runs on CPU)"
        )
    if instances * per_cpu > total_cpus + eps or instances * gpus > total_gpus + eps:
        raise ValueError(
            f"Classifier({asked}): {instances} model instances need {instances * per_cpu:g} CPUs and "
            f"{instances * gpus:g} GPUs, but {where} has {total_cpus:g} CPUs and {total_gpus:g} GPUs; "
            f"lower max_concurrency to at most {_max_instances(per_cpu, gpus, total_cpus, total_gpus)} "
            "(or ask for fewer cpus/gpus per instance) instead of waiting for instances that cannot start"
        )


def _max_instances(per_cpu: float, gpus: float, total_cpus: float, total_gpus: float) -> int:
    limits = [total_cpus / per_cpu] if per_cpu > 0 else []
    if gpus > 0:
        limits.append(total_gpus / gpus)
    return int(min(limits)) if limits else 0


@dataclass(frozen=True)
class Classifier:
    """Expression-level MNIST classifier: ``Classifier(...)(col("image_2d"))`` is an Int64 expression.

    A small picklable descriptor: it holds where the weights are and how to run them, never
    the model itself. The model is built once per worker process on first use.

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
            model), or ``"int8"`` (required: an error where it cannot run). See
            :class:`LoadedModel`.
        on_error: ``"raise"`` (default) fails on a null or malformed image; ``"null"`` gives
            null and malformed images a null prediction (malformed ones are logged and counted,
            see :func:`daft_mnist.bad_row_count`).

    Examples:
        >>> import daft
        >>> from daft_mnist import Classifier, image_2d, load_mnist
        >>> clf = Classifier(batch_size=512)
        >>> df = load_mnist().limit(4)  # doctest: +SKIP
        >>> df.select(clf(image_2d(df["image"])).alias("digit"))  # doctest: +SKIP
    """

    weights: str | None = None
    sha256: str | None = None
    device: str = "auto"
    batch_size: int = DEFAULT_BATCH_SIZE
    max_concurrency: int | None = None
    gpus: float = 0.0
    cpus: float | None = None
    num_threads: int | None = None
    on_error: OnError = "raise"
    precision: Precision = "auto"

    def __post_init__(self) -> None:
        if self.weights is not None:
            weights = os.fspath(self.weights)
            if not is_remote(weights):
                weights = os.path.abspath(os.path.expanduser(weights.removeprefix("file://")))
            object.__setattr__(self, "weights", weights)
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.max_concurrency is not None and (not isinstance(self.max_concurrency, int) or self.max_concurrency < 1):
            raise ValueError(f"max_concurrency must be a positive integer or None, got {self.max_concurrency!r}")
        if self.gpus < 0 or (self.gpus > 1 and not float(self.gpus).is_integer()):
            raise ValueError(f"gpus must be a fraction in [0, 1] or a whole number, got {self.gpus!r}")
        if self.cpus is not None and not self.cpus >= 0:
            raise ValueError(f"cpus must be a non-negative number or None, got {self.cpus!r}")
        if self.on_error not in ("raise", "null"):
            raise ValueError(f"on_error must be 'raise' or 'null', got {self.on_error!r}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {self.num_threads!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")

    @property
    def spec(self) -> ModelSpec:
        """The :class:`ModelSpec` shipped to workers."""
        return ModelSpec(self.weights, self.sha256, self.device, self.num_threads, self.precision)

    def _method(self, name: str) -> Any:
        check_schedulable(max_concurrency=self.max_concurrency, cpus=self.cpus, gpus=float(self.gpus))
        # Import torch here, in the thread that builds the query (normally the main thread),
        # not for the first time inside a Daft UDF thread: on an H100 machine a pipeline
        # whose first ``import torch`` ran in the UDF thread hung in its first host-to-CUDA
        # copy, while the same pipeline with torch imported up front ran in 4.4 s.
        importlib.import_module("torch")
        instance = MnistModel(self.spec, self.on_error)
        func = getattr(instance, name)
        return dataclasses.replace(
            func,
            batch_size=self.batch_size,
            cpus=None if self.cpus is None else float(self.cpus),
            gpus=float(self.gpus),
            max_concurrency=self.max_concurrency,
        )

    def __call__(self, images: Expression) -> Expression:
        """Predicted digit (``Int64``) for each image of ``images``.

        Args:
            images: 28x28 ``Tensor[UInt8]`` (from :func:`~daft_mnist.image_2d`), 28x28
                grayscale images, or lists of 784 pixels.
        """
        return self._method("predict")(images)  # type: ignore[no-any-return]

    def with_confidence(self, images: Expression) -> Expression:
        """Struct ``{prediction: Int64, confidence: Float32}`` (softmax probability of the prediction)."""
        return self._method("predict_with_confidence")(images)  # type: ignore[no-any-return]

    def probabilities(self, images: Expression) -> Expression:
        """All ten softmax probabilities, ``Tensor[Float32; [10]]``."""
        return self._method("probabilities")(images)  # type: ignore[no-any-return]

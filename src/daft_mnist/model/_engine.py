"""The inference engine, pure PyTorch (nothing here knows about Daft).

:class:`LoadedModel` is a ready model: weights loaded, eval mode, on its device. Which of
three runners does the work is chosen once, when it is built:

* :class:`_Float32Cpu`: the float model on CPU, channels-last, as a traced and
  inference-optimized TorchScript graph (oneDNN convolutions fused with their ReLU).
* :class:`_Int8Cpu`: :class:`~daft_mnist.model.quantize.Int8Net` on raw uint8 pixels.
* :class:`_Cuda`: the float model on a CUDA device, in IEEE float32 (:func:`ieee_float32`).

:func:`get_model` keeps one :class:`LoadedModel` per :class:`ModelSpec` in each process.
torch is imported when a model is built, never when this module is imported.
"""

from __future__ import annotations

import copy
import logging
import os
import stat
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from daft_mnist.data._files import file_sha256, is_remote
from daft_mnist.data._rules import NUM_CLASSES
from daft_mnist.errors import WeightsError
from daft_mnist.model._torch_settings import ieee_float32, torch_threads

if TYPE_CHECKING:
    import torch

    from daft_mnist.model.network import Net, Preprocessing
    from daft_mnist.model.quantize import Int8Calibration

__all__ = [
    "EMBEDDING_SIZE",
    "PRECISIONS",
    "LoadedModel",
    "ModelSpec",
    "Precision",
    "choose_precision",
    "get_model",
    "torch_threads",
    "weights_identity",
    "ieee_float32",
    "model_build_count",
]

Precision = Literal["auto", "float32", "int8"]
PRECISIONS: tuple[Precision, ...] = ("auto", "float32", "int8")

EMBEDDING_SIZE = 128
"""Width of :meth:`LoadedModel.embed`'s vectors: ``Net.fc1``'s outputs."""

log = logging.getLogger("daft_mnist")


@dataclass(frozen=True)
class ModelSpec:
    """Everything a worker needs to build the model: small, hashable and picklable."""

    weights: str | None = None
    sha256: str | None = None
    device: str = "auto"
    num_threads: int | None = None
    precision: str = "auto"


def _chunked(
    pixels: npt.NDArray[np.uint8], step: int, width: int, run: Callable[[npt.NDArray[np.uint8]], Any]
) -> torch.Tensor:
    """``run`` on ``step`` images at a time, into one CPU float32 tensor ``(N, width)``."""
    import torch

    out = torch.empty((len(pixels), width), dtype=torch.float32)
    for start in range(0, len(pixels), step):
        chunk = pixels[start : start + step]
        out[start : start + len(chunk)] = run(chunk)
    return out


def _writable_uint8(chunk: npt.NDArray[np.uint8]) -> torch.Tensor:
    """A writable uint8 copy of ``chunk`` as a tensor (Arrow views are read-only)."""
    import torch

    return torch.from_numpy(np.array(chunk, dtype=np.uint8))


class _Float32Cpu:
    """The float model on CPU: normalized float32 chunks through a traced, fused graph.

    uint8 pixels (a zero-copy view of the Arrow buffer) are normalized by one vectorized
    numpy pass into a float32 buffer that torch adopts without a copy. The traced graph's
    outputs are checked against the eager model when it is built, and the eager model is
    used if tracing is unavailable or disagrees (:attr:`compiled` says which).
    """

    chunk_size: int = 128
    """Images per forward pass. 128 measured best on the 2-core AVX-512 machine of the benchmarks
    (2.0 s per 10,000 images, against 3.2 s at 256 and 3.4 s at 512)."""

    def __init__(self, net: Net, *, trace: bool = True) -> None:
        self.net = net
        self.preprocessing: Preprocessing = net.preprocessing
        self.compiled = False
        self.forward: Any = self._trace() if trace else net

    def _trace(self) -> Any:
        """A traced, frozen and inference-optimized copy of the net, or the eager net if that fails."""
        import torch

        sample = np.random.default_rng(0).integers(0, 256, (32, 784), dtype=np.uint8)
        example = torch.from_numpy(self.preprocessing.normalize_numpy(sample))
        try:
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.optimize_for_inference(torch.jit.trace(copy.deepcopy(self.net), example))  # type: ignore[no-untyped-call]
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

    def _input(self, chunk: npt.NDArray[np.uint8]) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.preprocessing.normalize_numpy(chunk))

    def log_probabilities(self, pixels: npt.NDArray[np.uint8]) -> torch.Tensor:
        return _chunked(pixels, self.chunk_size, NUM_CLASSES, lambda c: self.forward(self._input(c)))

    def embed(self, pixels: npt.NDArray[np.uint8]) -> torch.Tensor:
        return _chunked(pixels, self.chunk_size, EMBEDDING_SIZE, lambda c: self.net.features(self._input(c)))


class _Int8Cpu:
    """:class:`~daft_mnist.model.quantize.Int8Net` on raw uint8 pixels (the only pass over the input).

    Embeddings come from the eager float model (``fc1`` is quantized here, so its int8
    outputs would be a coarser, different vector).
    """

    chunk_size: int = 512
    """Images per forward pass of the int8 model. One prototype run on the benchmark machine,
    per 10,000 images: 0.49 s at 512, 0.51 s at 256, 0.52 s at 128, 0.62 s at 64."""

    compiled = False

    def __init__(self, int8: Any, float32: _Float32Cpu) -> None:
        self.int8 = int8
        self.float32 = float32
        prep = float32.preprocessing
        self.shape = (1, prep.height, prep.width)

    def log_probabilities(self, pixels: npt.NDArray[np.uint8]) -> torch.Tensor:
        return _chunked(
            pixels,
            self.chunk_size,
            NUM_CLASSES,
            lambda c: self.int8(_writable_uint8(c).view(len(c), *self.shape)),
        )

    def embed(self, pixels: npt.NDArray[np.uint8]) -> torch.Tensor:
        return self.float32.embed(pixels)


class _Cuda:
    """The float model on CUDA: uint8 copied to the device (a quarter of float32's bytes),
    normalized there, in IEEE float32 (TF32 off for the call, the caller's settings restored)."""

    chunk_size: int = 4096
    """Images per forward pass on CUDA: about 1 GB of float32 activations at the peak (the conv1
    and conv2 outputs, 234 kB per image; computed, not measured). 4,096-image batches are what
    ran on the H100 (``benchmarks/gpu_check.py``)."""

    compiled = False

    def __init__(self, net: Net, device: torch.device) -> None:
        self.net = net
        self.device = device

    def _run(self, pixels: npt.NDArray[np.uint8], width: int, layer: Callable[[torch.Tensor], torch.Tensor]) -> Any:
        import torch

        def run(chunk: npt.NDArray[np.uint8]) -> torch.Tensor:
            raw = _writable_uint8(chunk).to(self.device)
            x = self.net.preprocessing.normalize_torch(raw).contiguous(memory_format=torch.channels_last)
            return layer(x).float().cpu()

        with ieee_float32(torch):
            return _chunked(pixels, self.chunk_size, width, run)

    def log_probabilities(self, pixels: npt.NDArray[np.uint8]) -> torch.Tensor:
        return self._run(pixels, NUM_CLASSES, self.net)  # type: ignore[no-any-return]

    def embed(self, pixels: npt.NDArray[np.uint8]) -> torch.Tensor:
        return self._run(pixels, EMBEDDING_SIZE, self.net.features)  # type: ignore[no-any-return]


def choose_precision(requested: str, device: torch.device, calibration: Int8Calibration | None) -> Precision:
    """``"float32"`` or ``"int8"``: what ``requested`` means for this device and checkpoint.

    Raises:
        ValueError: ``requested`` is not a precision, or is ``"int8"`` where int8 cannot run.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {requested!r}")
    if requested == "float32":
        return "float32"
    from daft_mnist.model.quantize import CALIBRATION_KEY, int8_unavailable_reason

    problems = []
    if device.type != "cpu":
        problems.append(f"int8 runs on CPU only, and this model is on {device}")
    if calibration is None:
        problems.append(
            f"the checkpoint has no {CALIBRATION_KEY!r} (write one with daft_mnist.model.calibrate_int8 "
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


class LoadedModel:
    """A ready model: weights loaded, eval mode, on its device; thread-safe.

    Calls are serialized by a lock, so concurrent Daft threads never start competing OpenMP
    thread teams; each call uses all of torch's intra-op threads, under
    ``torch.inference_mode()``, on chunks of images sized for the runner.

    Precision (``spec.precision``): ``"float32"`` always runs the float model.
    ``"int8"`` runs :class:`~daft_mnist.model.quantize.Int8Net` (static int8, CPU only, about 3x
    faster here) and needs a checkpoint with an int8 calibration. ``"auto"`` (the default)
    picks int8 when that is possible (CPU device, calibrated checkpoint, an x86 quantized
    engine) and float32 otherwise; :attr:`precision` says which was chosen. The bundled
    weights' int8 predictions equal their float32 predictions on all 10,000 test images
    (a ``slow`` test checks at least 99.9 % agreement and no accuracy drop); probabilities
    differ slightly. :meth:`embed` always runs the float model.
    """

    def __init__(self, spec: ModelSpec) -> None:
        import torch

        from daft_mnist.model.checkpoint import load_model, resolve_device

        self.spec = spec
        self.device = resolve_device(spec.device)
        self.net: Net = load_model(spec.weights, sha256=spec.sha256, device=self.device)
        self.preprocessing: Preprocessing = self.net.preprocessing
        self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.calibration = self._read_calibration()
        """The checkpoint's :class:`~daft_mnist.model.quantize.Int8Calibration`, or ``None``."""
        self.temperature: float = self._read_temperature()
        """The checkpoint's softmax temperature (``metadata["temperature"]``), ``1.0`` when it has none."""
        self.precision: Precision = choose_precision(spec.precision, self.device, self.calibration)
        with torch.random.fork_rng(devices=[]):  # modules built on the way draw initial weights
            self._runner = self._build_runner()
        self.compiled: bool = self._runner.compiled
        """Whether the float32 CPU runner uses the traced, inference-optimized graph."""
        self._lock = threading.Lock()

    def _read_calibration(self) -> Int8Calibration | None:
        from daft_mnist.model.quantize import CALIBRATION_KEY, Int8Calibration

        raw = self.net.metadata.get(CALIBRATION_KEY)
        if raw is None:
            return None
        try:
            return Int8Calibration.from_dict(raw)
        except ValueError as exc:
            raise WeightsError(f"{self.spec.weights or 'bundled weights'}: invalid {CALIBRATION_KEY}: {exc}") from None

    def _read_temperature(self) -> float:
        from daft_mnist.model._certainty import temperature_from_metadata

        try:
            return temperature_from_metadata(self.net.metadata)
        except ValueError as exc:
            raise WeightsError(f"{self.spec.weights or 'bundled weights'}: {exc}") from None

    def _build_runner(self) -> _Float32Cpu | _Int8Cpu | _Cuda:
        if self.device.type != "cpu":
            return _Cuda(self.net, self.device)
        if self.precision == "int8":
            int8 = self._build_int8(required=self.spec.precision == "int8")
            if int8 is not None:
                return _Int8Cpu(int8, _Float32Cpu(self.net, trace=False))
            self.precision = "float32"
        return _Float32Cpu(self.net)

    def _build_int8(self, *, required: bool) -> Any:
        """The int8 model, or ``None`` (with a warning) when it cannot be built and is not required."""
        import torch

        from daft_mnist.model.quantize import Int8Net

        assert self.calibration is not None  # choose_precision picked int8
        try:
            return Int8Net(self.net, self.calibration)
        except Exception as exc:
            if required:
                raise RuntimeError(
                    f"precision='int8': the int8 model could not be built with torch {torch.__version__} "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            log.warning(
                "precision='auto': the int8 model could not be built (%s: %s); using float32", type(exc).__name__, exc
            )
            return None

    def log_probabilities(self, pixels: npt.NDArray[np.uint8]) -> torch.Tensor:
        """Run the CNN on uint8 ``(N, 784)`` pixels; returns a CPU float32 tensor ``(N, 10)``."""
        import torch

        with self._lock, torch_threads(self.spec.num_threads), torch.inference_mode():
            return self._runner.log_probabilities(pixels)

    def predict(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
        """Predicted digit per image, int64 ``(N,)``."""
        if len(pixels) == 0:
            return np.empty(0, dtype=np.int64)
        return np.asarray(self.log_probabilities(pixels).argmax(1).numpy(), dtype=np.int64)

    def embed(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The penultimate layer (``relu(fc1(.))``, float model) per image: float32 ``(N, 128)``."""
        import torch

        if len(pixels) == 0:
            return np.empty((0, EMBEDDING_SIZE), dtype=np.float32)
        with self._lock, torch_threads(self.spec.num_threads), torch.inference_mode():
            return np.asarray(self._runner.embed(pixels).numpy(), dtype=np.float32)


_cache: dict[ModelSpec, tuple[object, LoadedModel]] = {}
_cache_lock = threading.Lock()
_builds = 0
_HASH_LIMIT = 256 << 20
"""Files up to this size are hashed to identify them; larger ones by size, time and inode."""


def weights_identity(spec: ModelSpec) -> object:
    """What identifies the content of ``spec``'s weights now, so a file changed in place is read again.

    A local file (or the bundled one) is identified by its SHA-256 (a few milliseconds for the
    tutorial's 4.8 MB) together with its size, modification time and inode; a remote URL by
    the SHA-256 it must be given with. ``None`` when the file cannot be read: building the
    model then gives the error that says why.
    """
    if spec.weights is not None and is_remote(spec.weights):
        return spec.sha256
    try:
        if spec.weights is None:
            from daft_mnist.model.weights import bundled_weights_path

            path = bundled_weights_path()
        else:
            path = Path(os.path.expanduser(spec.weights.removeprefix("file://")))
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            return None
        digest = file_sha256(path) if st.st_size <= _HASH_LIMIT else None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest)
    except (OSError, WeightsError):
        return None


def get_model(spec: ModelSpec) -> LoadedModel:
    """The process-wide model for ``spec``, built on first use and reused while its weights are unchanged.

    The cache is keyed by the spec *and* by what the weights file holds (:func:`weights_identity`):
    weights saved again to the same path (a retrain in a notebook) are loaded again, never
    answered with the old model. One model is kept per spec.
    """
    global _builds
    identity = weights_identity(spec)
    cached = _cache.get(spec)
    if cached is not None and identity is not None and cached[0] == identity:
        return cached[1]
    with _cache_lock:
        cached = _cache.get(spec)
        if cached is not None and identity is not None and cached[0] == identity:
            return cached[1]
        with torch_threads(spec.num_threads):  # tracing runs on the threads the model will use
            model = LoadedModel(spec)
        _builds += 1
        # A file replaced while it was being read is not cached under either identity.
        if identity is not None and weights_identity(spec) == identity:
            _cache[spec] = (identity, model)
        else:
            _cache.pop(spec, None)
        return model


def model_build_count() -> int:
    """How many models this process has built (for tests and diagnostics)."""
    return _builds

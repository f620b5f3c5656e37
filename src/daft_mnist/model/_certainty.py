"""Per-row certainty, temperature scaling, calibration error and abstention: pure numpy.

Nothing here knows about Daft or the model. Inputs are log-probabilities ``(N, 10)`` (what
:class:`~daft_mnist.model.checkpoint.Net` returns: ``log_softmax(logits)``) or logits; numpy arrays or
CPU torch tensors (anything :func:`numpy.asarray` takes). Work is done in float64.

**Temperature scaling** divides the logits by ``T`` before the softmax. The model outputs
``log_softmax(z) = z - logsumexp(z)``, which differs from the logits ``z`` by a per-row
constant; dividing by ``T`` keeps it a per-row constant (``c / T``), and the softmax ignores
per-row constants, so ``softmax(log_softmax(z) / T) == softmax(z / T)``: the temperature can
be applied to the model's output directly (:func:`scaled_log_probabilities`; tested). ``T > 1``
softens overconfident probabilities, ``T < 1`` sharpens them, and the argmax (the prediction)
never changes.

Fitting the temperature and measuring calibration (NLL, expected calibration error, the
coverage/accuracy trade-off of abstaining) are in :mod:`daft_mnist.training.calibration`.

The temperature travels with the weights, in the checkpoint's metadata under
:data:`TEMPERATURE_KEY` (see :func:`temperature_record` and :func:`temperature_from_metadata`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "TEMPERATURE_KEY",
    "CertaintyBatch",
    "answered",
    "certainty",
    "details_dtype",
    "scaled_log_probabilities",
    "scaled_probabilities",
    "temperature_from_metadata",
    "temperature_record",
]

TEMPERATURE_KEY = "temperature"
"""Checkpoint metadata key: ``{"value": T, "images": n, "source": "..."}``."""

TEMPERATURE_BOUNDS = (0.05, 20.0)
"""The range :func:`fit_temperature` searches (and :func:`temperature_from_metadata` accepts)."""

Float64Array = npt.NDArray[np.float64]


def _as_scores(scores: Any) -> Float64Array:
    """``(N, K)`` finite float64 scores; ``-inf`` (a probability of exactly 0) is floored."""
    if hasattr(scores, "detach"):  # a torch tensor, possibly on a device
        scores = scores.detach().cpu().numpy()
    arr = np.array(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(f"expected scores of shape (N, classes) with at least 2 classes, got shape {arr.shape}")
    if np.isnan(arr).any() or np.isposinf(arr).any():
        raise ValueError("scores contain NaN or +inf")
    # exp(-1e4) is 0 in float64: the floor changes no probability, and keeps p * log p finite.
    np.maximum(arr, -1e4, out=arr)
    return arr


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


def _log_softmax(x: Float64Array) -> Float64Array:
    m = x.max(axis=1, keepdims=True)
    shifted = x - m
    out: Float64Array = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out


def scaled_log_probabilities(scores: Any, temperature: float = 1.0) -> Float64Array:
    """``log_softmax(scores / T)``, float64 ``(N, K)``.

    Args:
        scores: Logits or log-probabilities ``(N, K)``; both give the same result.
        temperature: ``T > 0``. ``1.0`` returns the (renormalized) log-probabilities unchanged.
    """
    t = _check_temperature(temperature)
    x = _as_scores(scores)
    return _log_softmax(x if t == 1.0 else x / t)


def scaled_probabilities(scores: Any, temperature: float = 1.0) -> Float64Array:
    """``softmax(scores / T)``, float64 ``(N, K)``; rows sum to 1."""
    return np.exp(scaled_log_probabilities(scores, temperature))


@dataclass(frozen=True)
class CertaintyBatch:
    """Per-row certainty of a batch, each field an array with one entry (or row) per image.

    Attributes:
        prediction: int64 ``(N,)``: the most probable digit (ties: the lower digit).
        confidence: float64 ``(N,)``: its (temperature-scaled) probability.
        top_digits: int64 ``(N, k)``: the ``k`` most probable digits, most probable first.
        top_probabilities: float64 ``(N, k)``: their probabilities, non-increasing.
        margin: float64 ``(N,)``: first minus second probability, in [0, 1].
        entropy: float64 ``(N,)``: Shannon entropy in nats, in [0, log K].
        temperature: The temperature applied.
    """

    prediction: npt.NDArray[np.int64]
    confidence: Float64Array
    top_digits: npt.NDArray[np.int64]
    top_probabilities: Float64Array
    margin: Float64Array
    entropy: Float64Array
    temperature: float

    def __len__(self) -> int:
        return len(self.prediction)

    def to_pylist(self) -> list[dict[str, Any]]:
        """One plain dict per row, in the shape of :func:`details_dtype` (for tests and small frames)."""
        return [
            {
                "prediction": int(self.prediction[i]),
                "confidence": float(self.confidence[i]),
                "top": [
                    {"digit": int(d), "probability": float(p)}
                    for d, p in zip(self.top_digits[i], self.top_probabilities[i], strict=True)
                ],
                "margin": float(self.margin[i]),
                "entropy": float(self.entropy[i]),
            }
            for i in range(len(self))
        ]

    def to_arrow(self, valid: npt.NDArray[np.bool_] | None = None) -> Any:
        """A ``pyarrow.StructArray`` of :func:`details_dtype`'s shape.

        Args:
            valid: Optional mask over the *output* rows (``valid.sum() == len(self)``): rows
                where it is ``False`` are null (the ``on_error="null"`` rows of a batch).
        """
        import pyarrow as pa

        n = len(self)
        k = self.top_digits.shape[1]
        rows = n if valid is None else len(valid)
        if valid is not None and int(valid.sum()) != n:
            raise ValueError(f"valid marks {int(valid.sum())} rows, but the batch has {n}")

        def spread(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            if valid is None:
                return values
            full = np.zeros((rows, *values.shape[1:]), dtype=values.dtype)
            full[valid] = values
            return full

        mask = None if valid is None else pa.array(~valid)
        top = pa.StructArray.from_arrays(
            [
                pa.array(spread(self.top_digits).reshape(-1), type=pa.int64()),
                pa.array(spread(self.top_probabilities).astype(np.float32).reshape(-1), type=pa.float32()),
            ],
            names=["digit", "probability"],
        )
        return pa.StructArray.from_arrays(
            [
                pa.array(spread(self.prediction), type=pa.int64()),
                pa.array(spread(self.confidence).astype(np.float32), type=pa.float32()),
                pa.FixedSizeListArray.from_arrays(top, k),
                pa.array(spread(self.margin).astype(np.float32), type=pa.float32()),
                pa.array(spread(self.entropy).astype(np.float32), type=pa.float32()),
            ],
            names=["prediction", "confidence", "top", "margin", "entropy"],
            mask=mask,
        )


def details_dtype(k: int = 3) -> Any:
    """The Daft type of a details column: ``Struct[prediction: Int64, confidence: Float32,
    top: FixedSizeList[Struct[digit: Int64, probability: Float32]; k], margin: Float32, entropy: Float32]``."""
    from daft import DataType

    return DataType.struct(
        {
            "prediction": DataType.int64(),
            "confidence": DataType.float32(),
            "top": DataType.fixed_size_list(
                DataType.struct({"digit": DataType.int64(), "probability": DataType.float32()}), k
            ),
            "margin": DataType.float32(),
            "entropy": DataType.float32(),
        }
    )


def certainty(scores: Any, temperature: float = 1.0, *, k: int = 3) -> CertaintyBatch:
    """Prediction, calibrated confidence, top-``k``, margin and entropy for each row.

    Args:
        scores: Log-probabilities (the model's output) or logits, ``(N, K)``.
        temperature: Divides the logits first (see the module docstring); the prediction
            does not depend on it.
        k: How many of the most probable digits to report (at most ``K``).
    """
    t = _check_temperature(temperature)
    x = _as_scores(scores)
    logp = _log_softmax(x if t == 1.0 else x / t)
    n, classes = logp.shape
    if not 1 <= k <= classes:
        raise ValueError(f"k must be between 1 and {classes}, got {k}")
    probs = np.exp(logp)
    # Ranked by the scores, not the rounded probabilities: the same for every T, and the
    # prediction is the scores' argmax (the first maximum, as torch's and numpy's argmax).
    # Division by T > 0 and exp are monotone, so the probabilities in this order never increase.
    order = np.argsort(-x, axis=1, kind="stable")
    top_probs = np.take_along_axis(probs, order, axis=1)
    second = top_probs[:, 1] if classes > 1 else np.zeros(n)
    entropy = -(probs * logp).sum(axis=1)
    return CertaintyBatch(
        prediction=order[:, 0].astype(np.int64),
        confidence=top_probs[:, 0].copy(),
        top_digits=order[:, :k].astype(np.int64),
        top_probabilities=top_probs[:, :k].copy(),
        margin=np.clip(top_probs[:, 0] - second, 0.0, 1.0),
        entropy=np.clip(entropy, 0.0, math.log(classes)),
        temperature=t,
    )


# --- abstaining -----------------------------------------------------------------------------


def answered(confidence: Any, min_confidence: float | None) -> npt.NDArray[np.bool_]:
    """Which rows keep their prediction under ``min_confidence=`` (``confidence >= min_confidence``).

    ``None`` (or 0) answers every row; the rest abstain (a null prediction).
    """
    c = np.asarray(confidence, dtype=np.float64)
    if min_confidence is None:
        return np.ones(c.shape, dtype=bool)
    m = float(min_confidence)
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
    out: npt.NDArray[np.bool_] = c >= m
    return out


# --- the temperature stored with the weights ------------------------------------------------


def temperature_record(value: float, *, images: int, source: str) -> dict[str, Any]:
    """The metadata entry stored under :data:`TEMPERATURE_KEY`: ``{"value", "images", "source"}``."""
    t = _check_temperature(value)
    if images < 1:
        raise ValueError(f"images must be >= 1, got {images}")
    return {"value": t, "images": int(images), "source": str(source)}


def temperature_from_metadata(metadata: Mapping[str, Any] | None) -> float:
    """The checkpoint's temperature, or ``1.0`` (no scaling) when it has none.

    Raises:
        ValueError: The entry is present but malformed, or outside :data:`TEMPERATURE_BOUNDS`.
    """
    raw = (metadata or {}).get(TEMPERATURE_KEY)
    if raw is None:
        return 1.0
    value = raw.get("value") if isinstance(raw, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"metadata {TEMPERATURE_KEY!r} must be a dict with a numeric 'value', got {raw!r}")
    t = _check_temperature(value)
    lo, hi = TEMPERATURE_BOUNDS
    if not lo <= t <= hi:
        raise ValueError(f"metadata {TEMPERATURE_KEY!r} value {t} is outside [{lo}, {hi}]")
    return t

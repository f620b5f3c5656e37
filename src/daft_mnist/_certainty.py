"""Per-row certainty, temperature scaling, calibration error and abstention: pure numpy.

Nothing here knows about Daft or the model. Inputs are log-probabilities ``(N, 10)`` (what
:class:`~daft_mnist.model.Net` returns: ``log_softmax(logits)``) or logits; numpy arrays or
CPU torch tensors (anything :func:`numpy.asarray` takes). Work is done in float64.

**Temperature scaling** divides the logits by ``T`` before the softmax. The model outputs
``log_softmax(z) = z - logsumexp(z)``, which differs from the logits ``z`` by a per-row
constant; dividing by ``T`` keeps it a per-row constant (``c / T``), and the softmax ignores
per-row constants, so ``softmax(log_softmax(z) / T) == softmax(z / T)``: the temperature can
be applied to the model's output directly (:func:`scaled_log_probabilities`; tested). ``T > 1``
softens overconfident probabilities, ``T < 1`` sharpens them, and the argmax (the prediction)
never changes.

The temperature travels with the weights, in the checkpoint's metadata under
:data:`TEMPERATURE_KEY` (see :func:`temperature_record` and :func:`temperature_from_metadata`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "TEMPERATURE_KEY",
    "CertaintyBatch",
    "CoveragePoint",
    "AbstainCurve",
    "abstain_curve",
    "accuracy_at_coverage",
    "answered",
    "certainty",
    "details_dtype",
    "expected_calibration_error",
    "fit_temperature",
    "nll",
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


# --- fitting a temperature ------------------------------------------------------------------


def _labels(labels: Any, n: int, classes: int) -> npt.NDArray[np.int64]:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"expected {n} labels, got shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise ValueError(f"labels must be in 0..{classes - 1}, got values from {y.min()} to {y.max()}")
    return y.astype(np.int64)


def nll(scores: Any, labels: Any, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(scores / T)``."""
    logp = scaled_log_probabilities(scores, temperature)
    y = _labels(labels, *logp.shape)
    return float(-logp[np.arange(len(y)), y].mean()) if len(y) else 0.0


def fit_temperature(
    scores: Any,
    labels: Any,
    *,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    tol: float = 1e-7,
) -> float:
    """The temperature that minimizes the NLL of ``labels``: deterministic, no random start.

    With ``s = 1/T`` the NLL is ``mean(logsumexp(s*z) - s*z[y])``, convex in ``s``, so its
    derivative ``mean(E_p[z] - z[y])`` (``p = softmax(s*z)``) increases with ``s`` and its zero
    is found by bisection over ``log s`` to ``tol``. The optimum of ``log T`` is the same. When
    the NLL keeps falling toward a bound (for example every row right with a wide margin), the
    bound is returned; when it does not depend on ``T`` at all (uniform rows), ``1.0``.

    Args:
        scores: Logits or log-probabilities ``(N, K)`` (same result: the module docstring).
        labels: True classes ``(N,)``.
        bounds: ``(T_min, T_max)`` searched.
        tol: Width in ``log T`` at which to stop.

    Returns:
        ``T`` as a Python float.
    """
    z = _as_scores(scores)
    z = z - z.max(axis=1, keepdims=True)  # a per-row constant: changes nothing (module docstring)
    y = _labels(labels, *z.shape)
    if not len(y):
        raise ValueError("fit_temperature needs at least one row")
    if float(np.ptp(z, axis=1).max()) < 1e-9:
        return 1.0  # every row (nearly) uniform: the NLL does not depend on T
    lo_t, hi_t = float(bounds[0]), float(bounds[1])
    if not 0 < lo_t < hi_t:
        raise ValueError(f"bounds must satisfy 0 < T_min < T_max, got {bounds!r}")
    z_true = z[np.arange(len(y)), y]

    def slope(s: float) -> float:
        p = np.exp(_log_softmax(z * s))
        return float(((p * z).sum(axis=1) - z_true).mean())

    # log s in [-log T_max, -log T_min]; slope(s) is non-decreasing in s.
    lo, hi = -math.log(hi_t), -math.log(lo_t)
    if slope(math.exp(lo)) >= 0:
        return hi_t
    if slope(math.exp(hi)) <= 0:
        return lo_t
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if slope(math.exp(mid)) < 0:
            lo = mid
        else:
            hi = mid
    return float(math.exp(-0.5 * (lo + hi)))


# --- calibration error ----------------------------------------------------------------------


def _confidence_and_correct(probs: Any, labels: Any) -> tuple[Float64Array, npt.NDArray[np.bool_]]:
    p = np.asarray(probs.detach().cpu().numpy() if hasattr(probs, "detach") else probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"expected probabilities of shape (N, classes), got shape {p.shape}")
    y = _labels(labels, *p.shape)
    pred = p.argmax(axis=1)
    return p.max(axis=1), pred == y


def expected_calibration_error(probs: Any, labels: Any, bins: int = 15) -> float:
    """Top-label expected calibration error with ``bins`` equal-width confidence bins.

    ``sum_b |B_b|/N * |accuracy(B_b) - mean confidence(B_b)|``, bins ``(b/B, (b+1)/B]`` (the
    first also holds 0). ``0`` for an empty input.

    Args:
        probs: Probabilities ``(N, K)`` (rows summing to 1; e.g. :func:`scaled_probabilities`).
        labels: True classes ``(N,)``.
        bins: Number of bins (15, as in Guo et al. 2017).
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    conf, correct = _confidence_and_correct(probs, labels)
    n = len(conf)
    if n == 0:
        return 0.0
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    conf_sum = np.bincount(idx, weights=conf, minlength=bins)
    right_sum = np.bincount(idx, weights=correct.astype(np.float64), minlength=bins)
    return float(np.abs(right_sum - conf_sum).sum() / n)


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


@dataclass(frozen=True)
class AbstainCurve:
    """Coverage and accuracy of the answered rows for each ``min_confidence`` threshold.

    Attributes:
        threshold: The thresholds, increasing.
        coverage: Fraction of rows answered (``confidence >= threshold``), non-increasing.
        accuracy: Accuracy of the answered rows (NaN where none is answered).
        answered: Number of rows answered.
    """

    threshold: Float64Array
    coverage: Float64Array
    accuracy: Float64Array
    answered: npt.NDArray[np.int64]


def _conf_correct_arrays(confidence: Any, correct: Any) -> tuple[Float64Array, npt.NDArray[np.bool_]]:
    c = np.asarray(confidence, dtype=np.float64).reshape(-1)
    r = np.asarray(correct, dtype=bool).reshape(-1)
    if c.shape != r.shape:
        raise ValueError(f"confidence and correct differ in length: {c.shape[0]} vs {r.shape[0]}")
    return c, r


def abstain_curve(confidence: Any, correct: Any, thresholds: Sequence[float] | Any | None = None) -> AbstainCurve:
    """The coverage/accuracy trade-off of ``min_confidence``.

    Args:
        confidence: Confidence of each row's prediction ``(N,)``.
        correct: Whether each prediction is right ``(N,)``.
        thresholds: Thresholds to evaluate (default: 0 and every distinct confidence, which
            traces the whole curve).
    """
    c, r = _conf_correct_arrays(confidence, correct)
    t = np.unique(np.concatenate([[0.0], c])) if thresholds is None else np.sort(np.asarray(thresholds, np.float64))
    # Rows answered at threshold t: confidence >= t. Sort once, count with searchsorted.
    order = np.argsort(c, kind="stable")
    c_sorted, r_sorted = c[order], r[order]
    right_from = np.concatenate([np.cumsum(r_sorted[::-1])[::-1], [0]])  # right answers among rows i..N-1
    start = np.searchsorted(c_sorted, t, side="left")
    n_answered = (len(c) - start).astype(np.int64)
    right = right_from[start].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n_answered > 0, right / np.maximum(n_answered, 1), np.nan)
    cov = n_answered / len(c) if len(c) else np.zeros(len(t))
    return AbstainCurve(threshold=t, coverage=cov.astype(np.float64), accuracy=acc, answered=n_answered)


@dataclass(frozen=True)
class CoveragePoint:
    """The accuracy of the answered rows when (at least) ``target`` of the rows are answered.

    Attributes:
        target: Coverage asked for (0.95 for 95 %).
        threshold: The ``min_confidence`` that gives it: the confidence of the ``ceil(target*N)``-th
            most confident row.
        coverage: Coverage actually reached (above ``target`` when confidences tie at the threshold).
        accuracy: Accuracy of the answered rows.
        answered: Number of rows answered.
    """

    target: float
    threshold: float
    coverage: float
    accuracy: float
    answered: int


def accuracy_at_coverage(confidence: Any, correct: Any, coverage: float) -> CoveragePoint:
    """The ``min_confidence`` threshold for ``coverage`` and the accuracy of the rows it answers."""
    c, r = _conf_correct_arrays(confidence, correct)
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage!r}")
    if not len(c):
        raise ValueError("accuracy_at_coverage needs at least one row")
    k = max(1, math.ceil(coverage * len(c) - 1e-9))
    threshold = float(np.sort(c)[::-1][k - 1])
    keep = c >= threshold
    return CoveragePoint(
        target=float(coverage),
        threshold=threshold,
        coverage=float(keep.mean()),
        accuracy=float(r[keep].mean()),
        answered=int(keep.sum()),
    )


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

"""Calibration, pure numpy: fitting the temperature, NLL, expected calibration error and the
coverage/accuracy trade-off of abstaining (``min_confidence=``).

Inputs are as in :mod:`daft_mnist.model._certainty`: log-probabilities or logits ``(N, K)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from daft_mnist.model._certainty import (
    TEMPERATURE_BOUNDS,
    Float64Array,
    _as_scores,
    _log_softmax,
    scaled_log_probabilities,
)

__all__ = [
    "AbstainCurve",
    "CoveragePoint",
    "abstain_curve",
    "accuracy_at_coverage",
    "expected_calibration_error",
    "fit_temperature",
    "nll",
]


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

"""Decoding a number from its digit candidates: the most probable segmentation, in numpy.

:func:`decode` picks the segmentation (a path through the atoms of
:func:`daft_mnist.vision._segment.candidates`) whose digits are most probable, by dynamic
programming: a candidate read as one digit scores its digit's log-probability plus its shape's
(a geometric prior and the whole-digit scorer's log-probability); a possible touching pair read
whole scores the pair reader's log-probabilities; a number scores the sum of its digits' and
its cuts'. The forward algorithm over the same lattice says how much of the score of all
segmentations the chosen one holds (:attr:`Reading.segmentation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from daft_mnist.vision._segment import Candidates

__all__ = ["Reading", "Weights", "decode"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Weights:
    """The weights of :func:`decode`'s score (log-probability units)."""

    digit: float = 0.0
    """Added per digit: above 0 favours more, shorter digits."""
    wide: float = 4.0
    """Per digit height of width beyond :attr:`max_width`."""
    max_width: float = 1.0
    short: float = 8.0
    """Per digit height of height under :attr:`min_height`."""
    min_height: float = 0.55
    gap: float = 3.0
    """Per digit height of empty columns inside a digit made of several atoms."""
    cut: float = 1.0
    """Per stroke crossed by a cut that separates two digits."""
    shape: float = 1.0
    """Weight of the whole-digit score (log-probability that a candidate is one whole digit)."""
    pair: float = -3.0
    """Added to a touching pair read as one (two digits from one candidate, by the pair reader)."""


@dataclass
class Reading:
    """A decoded number.

    Attributes:
        candidates: Which candidate each digit is, left to right (a touching pair's two digits
            share their candidate).
        digits: The digits.
        confidences: Each digit's probability.
        score: The path's total score.
        parts: Per digit: ``0`` the whole candidate, ``1`` / ``2`` the left / right digit of a
            pair read by the pair reader.
        log_probabilities: ``(len(digits), 10)``: each digit's log-probabilities.
        segmentation: How much of the score of all segmentations (their shapes' scores, whatever
            the digits, summed by the forward algorithm) the chosen one holds: near 1 when no
            other way to cut the number comes close.
    """

    candidates: list[int]
    digits: list[int]
    confidences: list[float]
    score: float
    parts: list[int] = field(default_factory=list)
    log_probabilities: FloatArray = field(default_factory=lambda: np.zeros((0, 10)))
    segmentation: float = 1.0


def decode(
    cands: Candidates,
    log_probabilities: npt.ArrayLike,
    whole: npt.ArrayLike | None = None,
    weights: Weights = Weights(),
    *,
    pair: npt.ArrayLike | None = None,
    pair_digits: npt.ArrayLike | None = None,
) -> Reading:
    """The most probable segmentation and its digits, by dynamic programming over the atoms.

    Args:
        cands: From :func:`candidates` (with at least one atom).
        log_probabilities: ``(M, 10)`` calibrated log-probabilities of each candidate's digit.
        whole: ``(M,)`` log-probability that each candidate is one whole digit (or ``None``).
        weights: The score's weights.
        pair: ``(P,)`` log-probability that each of :attr:`Candidates.pairs` is two whole
            touching digits (or ``None``: no candidate is read as a pair).
        pair_digits: ``(P, 2, 10)`` log-probabilities of its left and right digit.
    """
    logp = np.asarray(log_probabilities, dtype=np.float64)
    geo = cands.geometry
    score = logp.max(axis=1) + weights.digit
    score -= weights.wide * np.maximum(0.0, geo[:, 0] - weights.max_width)
    score -= weights.short * np.maximum(0.0, weights.min_height - geo[:, 1])
    score -= weights.gap * geo[:, 2] * (cands.spans[:, 1] - cands.spans[:, 0] > 1)
    if whole is not None:
        score += weights.shape * np.asarray(whole, dtype=np.float64)
    m_count = len(score)
    # Options: each candidate read as one digit (option m < M), each possible pair as two (M + p).
    starts = cands.spans[:, 0].tolist()
    stops = cands.spans[:, 1].tolist()
    option_score = score.tolist()
    # The same without the digits' terms: how likely each option's shape is, whatever its digits.
    shape_score = (score - logp.max(axis=1)).tolist()
    pair_logp = np.zeros((0, 2, 10))
    if pair is not None and pair_digits is not None and len(cands.pairs):
        pair_logp = np.asarray(pair_digits, dtype=np.float64).reshape(-1, 2, 10)
        shape = np.asarray(pair, dtype=np.float64) + weights.pair
        both = shape + pair_logp.max(axis=2).sum(axis=1)
        for p, m in enumerate(cands.pairs.tolist()):
            starts.append(starts[m])
            stops.append(stops[m])
            option_score.append(float(both[p]))
            shape_score.append(float(shape[p]))
    n = cands.atoms
    best = np.full(n + 1, -np.inf)
    back = np.full(n + 1, -1, dtype=np.int64)
    best[0] = 0.0
    every = np.full(n + 1, -np.inf)  # log of the sum over all segmentations of their shapes' scores
    every[0] = 0.0
    ends: dict[int, list[int]] = {}
    for o, j in enumerate(stops):
        ends.setdefault(j, []).append(o)
    for j in range(1, n + 1):
        for o in ends.get(j, []):
            i = starts[o]
            cut = weights.cut * cands.cut_cost[i] * (i > 0)
            total = best[i] + option_score[o] - cut
            if total > best[j]:
                best[j], back[j] = total, o
            every[j] = np.logaddexp(every[j], every[i] + shape_score[o] - cut)
    options: list[int] = []
    j = n
    while j > 0:
        o = int(back[j])
        options.append(o)
        j = starts[o]
    options.reverse()
    chosen_shape = sum(shape_score[o] - weights.cut * cands.cut_cost[starts[o]] * (starts[o] > 0) for o in options)
    segmentation = float(np.exp(min(0.0, chosen_shape - every[n])))
    chosen: list[int] = []
    parts: list[int] = []
    rows: list[FloatArray] = []
    for o in options:
        if o < m_count:
            chosen.append(o)
            parts.append(0)
            rows.append(logp[o])
        else:
            p = o - m_count
            chosen += [int(cands.pairs[p])] * 2
            parts += [1, 2]
            rows += [pair_logp[p, 0], pair_logp[p, 1]]
    table = np.asarray(rows, dtype=np.float64).reshape(-1, 10)
    digits = [int(r.argmax()) for r in table]
    conf = [float(np.exp(r.max())) for r in table]
    return Reading(chosen, digits, conf, float(best[n]), parts, table, segmentation)

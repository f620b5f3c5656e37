"""Decoding a number from its digit candidates: the most probable segmentation, in numpy.

:func:`decode` picks the segmentation (a path through the atoms of
:func:`daft_mnist.vision._segment.candidates`) whose digits are most probable, by dynamic
programming: a candidate read as one digit scores its digit's log-probability plus its shape's
(a geometric prior and the whole-digit scorer's log-probability); a possible touching pair read
whole scores the pair reader's log-probabilities; a number scores the sum of its digits' and
its cuts'. Flat ink (what is left of a line among a patterned background's specks, a dash) is
skipped, at a cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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
    flat: float = 0.35
    """A candidate less high than this (digit heights) lying low beside the digits is not a
    digit: it is skipped (what is left of an underline or a baseline among a patterned
    background's specks) ..."""
    skip: float = 1.0
    """... at this cost."""


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
    """

    candidates: list[int]
    digits: list[int]
    confidences: list[float]
    score: float
    parts: list[int] = field(default_factory=list)
    log_probabilities: FloatArray = field(default_factory=lambda: np.zeros((0, 10)))


def _skippable(cands: Candidates, flat: float) -> npt.NDArray[np.bool_]:
    """Candidates less high than ``flat`` digit heights that lie low beside the digits: below 60 %
    of the digits' height (what is left of an underline or a baseline), not over or under a
    taller atom (a 2's foot shares at least 30 % of its width with one). A 5's flag or a 7's bar
    apart from its digit lies high: it stays to be read with its digit."""
    low = cands.geometry[:, 1] < flat
    tall = (cands.spans[:, 1] - cands.spans[:, 0] == 1) & ~low
    if not tall.any():
        return np.zeros(len(low), dtype=bool)
    x0, y0, x1 = cands.boxes[:, 0], cands.boxes[:, 1], cands.boxes[:, 2]
    top, bottom = int(cands.boxes[tall, 1].min()), int(cands.boxes[tall, 3].max())
    shared = np.minimum(x1[:, None], x1[tall][None, :]) - np.maximum(x0[:, None], x0[tall][None, :])
    over = (shared > 0.3 * np.maximum(x1 - x0, 1)[:, None]).any(axis=1)
    return np.asarray(low & ~over & (y0 >= top + 0.6 * (bottom - top)), dtype=bool)


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
    # Options: each candidate read as one digit, each possible pair read as two, each flat atom
    # skipped (what is left of a line or a dash): (first atom, end atom, score, what).
    flat = _skippable(cands, weights.flat)
    options: list[tuple[int, int, float, tuple[str, int]]] = [
        (i, j, float(score[m]), ("digit", m)) for m, (i, j) in enumerate(cands.spans.tolist()) if not flat[m]
    ]
    pair_logp = np.zeros((0, 2, 10))
    if pair is not None and pair_digits is not None and len(cands.pairs):
        pair_logp = np.asarray(pair_digits, dtype=np.float64).reshape(-1, 2, 10)
        both = np.asarray(pair, dtype=np.float64) + weights.pair + pair_logp.max(axis=2).sum(axis=1)
        for p, m in enumerate(cands.pairs.tolist()):
            options.append((int(cands.spans[m, 0]), int(cands.spans[m, 1]), float(both[p]), ("pair", p)))
    options += [(i, j, -weights.skip, ("skip", m)) for m, (i, j) in enumerate(cands.spans.tolist()) if flat[m]]
    n = cands.atoms
    best = np.full(n + 1, -np.inf)
    digits_so_far = np.zeros(n + 1, dtype=np.int64)
    back = np.full(n + 1, -1, dtype=np.int64)
    best[0] = 0.0
    ends: dict[int, list[int]] = {}
    for o, (_, j, _, _) in enumerate(options):
        ends.setdefault(j, []).append(o)
    for j in range(1, n + 1):
        for o in ends.get(j, []):
            i, _, value, (kind, _) = options[o]
            if kind == "skip" and j == n and digits_so_far[i] == 0:
                continue  # a number has at least one digit
            total = best[i] + value - weights.cut * cands.cut_cost[i] * (i > 0)
            if total > best[j]:
                best[j], back[j] = total, o
                digits_so_far[j] = digits_so_far[i] + (kind != "skip")
    if not np.isfinite(best[n]):  # only flat ink: read it as digits after all
        return decode(cands, logp, whole, replace(weights, flat=0.0), pair=pair, pair_digits=pair_digits)
    path: list[int] = []
    j = n
    while j > 0:
        o = int(back[j])
        path.append(o)
        j = options[o][0]
    path.reverse()
    chosen: list[int] = []
    parts: list[int] = []
    rows: list[FloatArray] = []
    for o in path:
        kind, k = options[o][3]
        if kind == "digit":
            chosen.append(k)
            parts.append(0)
            rows.append(logp[k])
        elif kind == "pair":
            chosen += [int(cands.pairs[k])] * 2
            parts += [1, 2]
            rows += [pair_logp[k, 0], pair_logp[k, 1]]
    table = np.asarray(rows, dtype=np.float64).reshape(-1, 10)
    digits = [int(r.argmax()) for r in table]
    conf = [float(np.exp(r.max())) for r in table]
    return Reading(chosen, digits, conf, float(best[n]), parts, table)

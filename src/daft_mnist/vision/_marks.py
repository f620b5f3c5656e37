"""Whether the ink of a picture looks like a digit's strokes: the marks it is made of, and the no-digit rules.

A blank page brings marks that are not a digit: specks of dust, a grey smudge, the edge of a
shadow, paper texture, a filled square. After the preparation has removed the background and
stretched the contrast, each of them can look like ink, and the network, which has never seen
anything but digits, gives it a confident digit ("0" at 0.99 for a filled square). Ink is a
digit only when it looks like pen strokes, measured on the prepared working picture:

* **size**: the heaviest connected mark spans at least :data:`MIN_MARK` of the picture's longer
  side (a speck does not), and the marks are not scattered specks (:data:`SCATTERED`);
* **shape**: strokes are thin for their length: the mean stroke width is at most
  :data:`MAX_THICKNESS` of the ink's longer side, ink bold and filled is large (:data:`BOLD`),
  and the ink does not cover its box (:data:`MAX_SOLIDITY`);
* **contrast**: ink that is not a thin stroke has sharp edges for its level (a smudge or a
  shadow's edge has a wide grey halo and little ink: :data:`MAX_SOFTNESS`), and the ink stands
  out from the paper (:data:`FAINT`).

The thresholds leave a margin from every picture of the real-digits folder (its digits are one
or two marks spanning 0.42 or more of the picture, at most 0.22 thick, at most 0.27 soft, 36
grey levels or more above the paper) and from all 10,000 MNIST test digits drawn as 28x28
pictures (at most three marks, 0.37 thick, 0.27 soft; none is refused), and keep blurred,
low-contrast and thin-stroked digits (``scripts/robustness_suite.py``: 3 of its 2,250 distorted
pictures refused, small bold digits on a 3x canvas with specks); they were set on one seeded
set of ``tests/blank_pages.py``'s pages and checked on others (``benchmarks/blank_pages.py``
prints the false-digit rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from daft_mnist.vision._image_ops import stroke_width

__all__ = ["SCATTERED_REASON", "Marks", "find_marks", "ink_features", "no_digit_reasons"]

SCATTERED_REASON = "image has no digit: only scattered specks"
"""The start of the reason of :data:`SCATTERED` marks (a number's digits are several marks too)."""

MIN_MARK = 0.12
"""The heaviest mark must span at least this fraction of the picture's longer side."""
SCATTERED = (4, 0.5, 7)
"""``(count, extent, many)``: ``count`` marks or more none of which spans ``extent`` of the
picture, or ``many`` marks, are specks (digits are one to three marks)."""
BOLD = (0.2, 0.5, 0.45)
"""``(thickness, fill, extent)``: ink this thick that fills this much of its box and spans less
than ``extent`` of the picture is a filled shape (bold digits are drawn large)."""
MAX_THICKNESS = 0.4
"""Mean stroke width over the ink's longer side above this is a filled shape at any size (a
filled square: 0.5-0.65, a disc 0.4-0.5; MNIST's boldest "8": 0.37, a thick "1": 0.2-0.3)."""
MAX_SOLIDITY = 0.85
"""Ink covering more of its box than this (pinholes closed) is a filled shape (MNIST: at most 0.79)."""
MAX_SOFTNESS = (0.4, 0.1, 0.45)
"""``(softness, thickness, solidity)``: a grey halo this soft for the ink's level (its softness
over the level as a fraction of 255) around ink that is not a thin stroke (thicker than
``thickness`` or covering more of its box than ``solidity``) is a smudge or a shadow's edge. A
blurred photo of a digit is as soft, but its strokes stay thin (0.03-0.07)."""
FAINT = (10.0, 24.0, 0.1, 0.05)
"""``(level, low, softness, thickness)``: typical ink under ``level`` grey levels above the paper,
or under ``low`` with a soft halo or hair-thin ink (paper texture, a shadow's residue), is faint
marks; a low-contrast photo of a digit (13-22 levels) keeps strokes of normal width."""
_SPECK_FRACTION = 0.1
"""Marks with under this fraction of the heaviest mark's mass are specks (dropped from larger pictures)."""


@dataclass(frozen=True)
class Marks:
    """The connected marks of each picture, on a grid of cells about 1/64 of the picture.

    Attributes:
        count: Marks kept per picture (those with at least a tenth of the heaviest one's mass).
        extent: The heaviest mark's longer side, as a fraction of the picture's longer side.
        solidity: See below.
    """

    count: npt.NDArray[np.int64]
    extent: npt.NDArray[np.float64]
    solidity: npt.NDArray[np.float64]
    """How much of its bounding box the heaviest mark covers, pinholes closed (halved for a box
    twice as long as wide, a "1"): a filled square or disc 0.8-1, a digit's strokes less."""


def _label(ink: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """8-connected component labels of ``ink`` cells, ``n * size`` off ink.

    A component's label is the flat index of one of its cells. Runs of ink along each row are
    the nodes; runs touching in neighbouring rows (diagonals included) are joined, roots hooked
    onto the smaller root and paths compressed until every pair agrees (a few rounds of
    vectorized work over the runs, not over the cells).
    """
    n, hh, ww = ink.shape
    rows = ink.reshape(n * hh, ww)
    starts = rows & ~np.pad(rows, ((0, 0), (1, 0)))[:, :ww]
    first = np.flatnonzero(starts.ravel())  # the first cell of each run, run r + 1 at first[r]
    run = np.where(ink, np.cumsum(starts.ravel()).reshape(n, hh, ww), 0)
    above, below = run[:, :-1, :], run[:, 1:, :]
    pairs = [(above, below), (above[:, :, 1:], below[:, :, :-1]), (above[:, :, :-1], below[:, :, 1:])]
    touching = [_new_pairs(a, b) for a, b in pairs]
    u = np.concatenate([a[t] for (a, _), t in zip(pairs, touching, strict=True)])
    v = np.concatenate([b[t] for (_, b), t in zip(pairs, touching, strict=True)])
    parent = np.arange(len(first) + 1)
    while True:
        while True:  # compress: every run points to its root
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            parent = up
        pu, pv = parent[u], parent[v]
        differ = pu != pv
        if not differ.any():
            break
        u, v, pu, pv = u[differ], v[differ], pu[differ], pv[differ]
        np.minimum.at(parent, np.maximum(pu, pv), np.minimum(pu, pv))
    label = np.full(n * hh * ww, n * hh * ww, dtype=np.int64)
    on = run.ravel() > 0
    label[on] = first[parent[run.ravel()[on]] - 1]
    return label.reshape(n, hh, ww)


def _new_pairs(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Where runs ``a`` and ``b`` touch, once per pair along a row (not once per cell of overlap)."""
    both = (a > 0) & (b > 0)
    same = np.zeros_like(both)
    same[..., 1:] = (a[..., 1:] == a[..., :-1]) & (b[..., 1:] == b[..., :-1])
    return both & ~same


def _grow(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """``mask`` dilated by one cell (3x3), per picture."""
    return _neighbourhood(mask, np.logical_or, False)


def _shrink(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """``mask`` eroded by one cell (3x3), per picture; beyond the picture is no ink."""
    return _neighbourhood(mask, np.logical_and, True)


def _neighbourhood(mask: npt.NDArray[np.bool_], op: np.ufunc, start: bool) -> npt.NDArray[np.bool_]:
    _, hh, ww = mask.shape
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    out = np.full(mask.shape, start)
    for dy in range(3):
        for dx in range(3):
            op(out, padded[:, dy : dy + hh, dx : dx + ww], out=out)
    return out


def _solidity(mark: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Per picture, how much of ``mark``'s bounding box it covers once its pinholes are closed,
    with a box elongated like a "1" counted half (:attr:`Marks.solidity`)."""
    n = len(mark)
    closed = _shrink(_grow(mark))
    rows, cols = _span(np.asarray(closed.any(axis=2))), _span(np.asarray(closed.any(axis=1)))
    area = np.maximum(rows * cols, 1)
    cover = closed.reshape(n, -1).sum(axis=1) / area
    elongated = np.maximum(rows, cols) >= 2 * np.maximum(np.minimum(rows, cols), 1)
    return np.asarray(np.where(elongated, cover / 2, cover), dtype=np.float64)


def _span(occupied: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Per row of ``occupied``, the distance from its first True to its last, inclusive (0 if none)."""
    m = occupied.shape[1]
    first = occupied.argmax(axis=1)
    last = m - 1 - occupied[:, ::-1].argmax(axis=1)
    return np.where(occupied.any(axis=1), last - first + 1, 0).astype(np.int64)


def find_marks(y: npt.NDArray[np.float32], *, drop_specks: bool) -> tuple[npt.NDArray[np.float32], Marks]:
    """The marks of each picture in ``y`` (ink in [0, 1]); with ``drop_specks``, specks erased.

    Specks are the marks with under a tenth of the heaviest mark's mass: dust, stray marks.
    Erasing them keeps a grown ring of one cell around the kept marks, so that the grey edges of
    their strokes stay.
    """
    n, h, w = y.shape
    c = max(1, round(max(h, w) / 64))
    hh, ww = -(-h // c), -(-w // c)
    size = hh * ww
    cells = np.pad(y, ((0, 0), (0, hh * c - h), (0, ww * c - w))).reshape(n, hh, c, ww, c)
    mass = cells.sum(axis=(2, 4))
    ink: npt.NDArray[np.bool_] = np.asarray((cells > 0.5).any(axis=(2, 4)))
    # Marks one cell apart are one mark (a stroke broken by a faint stretch); labels of the
    # joined marks are kept only on the ink cells themselves.
    lab = np.where(ink, _label(_grow(ink)), n * size).ravel()
    comp = np.bincount(lab, weights=mass.ravel(), minlength=n * size + 1)[: n * size]
    heaviest = comp.reshape(n, size).max(axis=1)
    kept = (comp >= _SPECK_FRACTION * np.repeat(heaviest, size)) & (comp > 0)
    count = kept.reshape(n, size).sum(axis=1).astype(np.int64)
    # The heaviest mark's extent, from the rows and columns its cells occupy.
    top = comp.reshape(n, size).argmax(axis=1) + np.arange(n) * size
    heaviest_cells = (lab.reshape(n, size) == top[:, None]).reshape(n, hh, ww)
    span = np.maximum(_span(heaviest_cells.any(axis=2)), _span(heaviest_cells.any(axis=1)))
    extent = np.minimum(1.0, span * c / max(h, w)).astype(np.float64)
    marks = Marks(count, extent, _solidity(heaviest_cells))
    if not drop_specks:
        return y, marks
    # Specks are dropped by the marks as they are (not joined), as before the marks were judged.
    raw = _label(ink).ravel()
    raw_mass = np.bincount(raw, weights=mass.ravel(), minlength=n * size + 1)[: n * size]
    raw_kept = raw_mass >= _SPECK_FRACTION * np.repeat(raw_mass.reshape(n, size).max(axis=1), size)
    keep = np.where(ink, raw_kept[np.minimum(raw, n * size - 1)].reshape(n, hh, ww), False)
    # The ring: one cell, then on through cells holding some ink, as far as a stroke's grey edge
    # reaches. That edge is about one MNIST pixel (max(h, w) / 28 picture pixels) wide whatever
    # the picture's size: a fixed one-cell ring cut the grey ends of thin strokes off pictures
    # enlarged 2-3x (cells of 1 px), and the digit's box shrank with them.
    ring = _grow(keep)
    for _ in range(max(1, round(max(h, w) / (28 * c))) - 1):
        ring |= _grow(ring) & (mass > 0)
    full = np.repeat(np.repeat(ring, c, axis=1), c, axis=2)[:, :h, :w]
    return np.where(full, y, 0.0).astype(np.float32), marks


def ink_features(
    y: npt.NDArray[np.float32], x: npt.NDArray[np.float32], box: tuple[npt.NDArray[np.int64], ...]
) -> dict[str, npt.NDArray[np.float64]]:
    """Per picture: ``thickness`` (mean stroke width over the ink ``box``'s longer side), ``fill``
    (the box's fraction that is ink), ``softness`` and ``level`` (typical ink, in grey levels
    above the paper, from ``x``)."""
    mask = y > 0.5
    n = len(y)
    y0, y1, x0, x1 = box
    size = np.maximum(np.maximum(y1 - y0, x1 - x0), 1).astype(np.float64)
    area = np.maximum((y1 - y0) * (x1 - x0), 1).astype(np.float64)
    fill = mask.reshape(n, -1).sum(axis=1) / area
    thickness = stroke_width(mask) / size
    # The grey halo: pixels between a quarter and three quarters of the ink level, over the
    # length of the strong ink's edge, is the halo's width; over the ink's size, its softness.
    strong = y > 0.75
    halo = (y > 0.25).reshape(n, -1).sum(axis=1) - strong.reshape(n, -1).sum(axis=1)
    padded = np.pad(strong, ((0, 0), (1, 1), (1, 1)))
    edge = (padded[:, 1:, :] != padded[:, :-1, :]).sum(axis=(1, 2)) + (padded[:, :, 1:] != padded[:, :, :-1]).sum(
        axis=(1, 2)
    )
    softness = halo / np.maximum(edge * (np.pi / 8), 1.0) / size
    # The median of x over the ink: sorted, the ink's values are the last k of each row.
    values = np.sort(np.where(mask, x, -1.0).reshape(n, -1), axis=1)
    p = values.shape[1]
    k = mask.reshape(n, -1).sum(axis=1)
    rows = np.arange(n)
    mid = (values[rows, np.clip(p - k + (k - 1) // 2, 0, p - 1)] + values[rows, np.clip(p - k + k // 2, 0, p - 1)]) / 2
    level = np.where(k > 0, mid, 0.0).astype(np.float64)
    return {"thickness": thickness, "fill": fill, "softness": softness.astype(np.float64), "level": level}


def no_digit_reasons(marks: Marks, features: dict[str, npt.NDArray[np.float64]]) -> list[str | None]:
    """Why each picture's ink is not a digit (``None`` when it looks like one), by the rules above."""
    reasons: list[str | None] = []
    for i in range(len(marks.count)):
        extent, count = float(marks.extent[i]), int(marks.count[i])
        thick, fill = features["thickness"][i], features["fill"][i]
        level = features["level"][i]
        soft = features["softness"][i] * 255.0 / max(level, 1.0)
        if extent < MIN_MARK:
            reasons.append(f"image has no digit: only a small mark ({extent:.0%} of the picture's size)")
        elif (count >= SCATTERED[0] and extent < SCATTERED[1]) or count >= SCATTERED[2]:
            reasons.append(f"{SCATTERED_REASON} ({count} marks)")
        elif (
            thick > MAX_THICKNESS
            or (thick > BOLD[0] and fill > BOLD[1] and extent < BOLD[2])
            or marks.solidity[i] > MAX_SOLIDITY
        ):
            reasons.append("image has no digit: a filled shape, not pen strokes")
        elif soft > MAX_SOFTNESS[0] and (thick > MAX_SOFTNESS[1] or marks.solidity[i] > MAX_SOFTNESS[2]):
            reasons.append("image has no digit: only a soft smudge or shadow, no sharp strokes")
        elif level < FAINT[0] or (level < FAINT[1] and (features["softness"][i] > FAINT[2] or thick < FAINT[3])):
            reasons.append(f"image has no digit: only faint marks ({level:.0f} grey levels above the paper)")
        else:
            reasons.append(None)
    return reasons

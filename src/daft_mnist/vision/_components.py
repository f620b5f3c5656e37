"""Ink components of one picture, in numpy: labels, boxes, straight lines, the digits' height.

Used by :mod:`daft_mnist.vision._segment` (reading numbers) and by
:mod:`daft_mnist.vision._prepare` (a picture that clearly holds several digits is not one digit).
Everything works on one boolean ink mask ``(h, w)`` at working resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from daft_mnist.vision._image_ops import close_rows, downscale, stroke_width

__all__ = [
    "Components",
    "clear_digit_count",
    "column_gap",
    "components",
    "hysteresis",
    "mean_stroke",
    "run_lengths",
    "solid_edges",
    "thin_lines",
]

Mask = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

INK_LOW, INK_HIGH = 0.2, 0.5
"""Hysteresis thresholds on ink in [0, 1]: pixels above ``INK_LOW`` are ink when their component
reaches ``INK_HIGH`` somewhere (light pencil strokes stay whole; faint texture does not start one)."""


@dataclass
class Components:
    """8-connected components of a mask.

    Attributes:
        labels: int32 ``(h, w)``: component index, ``-1`` for background.
        area, x0, x1, y0, y1: Per component: pixel count and end-exclusive box.
    """

    labels: npt.NDArray[np.int32]
    area: IntArray
    x0: IntArray
    x1: IntArray
    y0: IntArray
    y1: IntArray

    @property
    def count(self) -> int:
        """How many components."""
        return len(self.area)

    @property
    def height(self) -> IntArray:
        """Box heights."""
        return self.y1 - self.y0

    @property
    def width(self) -> IntArray:
        """Box widths."""
        return self.x1 - self.x0

    def digit_height(self) -> float:
        """Typical digit height: the median box height of the heavy components (at least 15 % of
        the heaviest's area) that are not long flat lines, nor span the picture's height (page
        edges, ruling lines) when others do not; 0 without components."""
        if not self.count:
            return 0.0
        inside = self.height < 0.9 * self.labels.shape[0]
        pool = inside if inside.any() else np.ones(self.count, dtype=bool)
        heavy = pool & (self.area >= 0.15 * self.area[pool].max())
        h, w = self.height[heavy], self.width[heavy]
        upright = w < 3 * h
        return float(np.median(h[upright] if upright.any() else h))


def _runs(row: Mask) -> tuple[IntArray, IntArray]:
    d = np.diff(np.concatenate(([0], row.view(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def components(mask: Mask) -> Components:
    """8-connected components, by runs per row and union-find over overlapping runs."""
    h, w = mask.shape
    parent: list[int] = []

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    runs: list[tuple[int, int, int, int]] = []
    prev: list[tuple[int, int, int]] = []
    for r in np.flatnonzero(mask.any(axis=1)).tolist():
        if runs and runs[-1][0] != r - 1:
            prev = []
        starts, ends = _runs(mask[r])
        cur: list[tuple[int, int, int]] = []
        j = 0
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            idx = len(parent)
            parent.append(idx)
            while j < len(prev) and prev[j][1] < s:
                j += 1
            k = j
            while k < len(prev) and prev[k][0] <= e:  # 8-connected: [s - 1, e] touches
                a, b = find(idx), find(prev[k][2])
                if a != b:
                    parent[max(a, b)] = min(a, b)
                k += 1
            cur.append((s, e, idx))
            runs.append((r, s, e, idx))
        prev = cur
    labels = np.full((h, w), -1, dtype=np.int32)
    roots: dict[int, int] = {}
    for r, s, e, idx in runs:
        labels[r, s:e] = roots.setdefault(find(idx), len(roots))
    n = len(roots)
    ys, xs = np.nonzero(labels >= 0)
    lab = labels[ys, xs]
    x0, x1 = np.full(n, w, dtype=np.int64), np.zeros(n, dtype=np.int64)
    y0, y1 = np.full(n, h, dtype=np.int64), np.zeros(n, dtype=np.int64)
    np.minimum.at(x0, lab, xs)
    np.maximum.at(x1, lab, xs + 1)
    np.minimum.at(y0, lab, ys)
    np.maximum.at(y1, lab, ys + 1)
    return Components(labels, np.bincount(lab, minlength=n).astype(np.int64), x0, x1, y0, y1)


def hysteresis(ink: npt.NDArray[np.float32]) -> Mask:
    """Ink pixels: above :data:`INK_LOW`, in a component that reaches :data:`INK_HIGH`."""
    low = ink > INK_LOW
    comp = components(low)
    if not comp.count:
        return low
    peak = np.zeros(comp.count, dtype=np.float32)
    np.maximum.at(peak, comp.labels[low], ink[low])
    return np.asarray(low & (peak >= INK_HIGH)[np.maximum(comp.labels, 0)], dtype=bool)


def run_lengths(mask: Mask, axis: int) -> npt.NDArray[np.int32]:
    """For each pixel of ``mask``, the length of its run along ``axis`` (1: horizontal)."""
    m = mask if axis == 1 else mask.T
    out = np.zeros(m.shape, dtype=np.int32)
    for r in np.flatnonzero(m.any(axis=1)).tolist():
        starts, ends = _runs(m[r])
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            out[r, s:e] = e - s
    return out if axis == 1 else out.T


def thin_lines(mask: Mask, digit_height: float, stroke: float, axis: int) -> Mask:
    """Pixels of long, thin, straight strokes along ``axis`` (1: horizontal, 0: vertical).

    A line is thin across (at most two strokes wide) and runs on, allowing a slight slant and
    the strokes that cross it, for at least 1.5 digit heights (and 8 stroke widths): underlines,
    ruled baselines and ruling lines that do not span the whole picture, the fringe of a page
    edge. A digit's strokes are shorter than that.
    """
    across = run_lengths(mask, 1 - axis)
    thin = mask & (across <= max(2.0, 2.0 * stroke))
    t = thin if axis == 1 else thin.T
    m = mask if axis == 1 else mask.T
    slant = t.copy()
    slant[1:] |= t[:-1]
    slant[:-1] |= t[1:]
    gap = max(1, round(1.5 * stroke))
    # Crossing strokes bridge the line, background does not (two digits' strokes in a row are
    # not a line). A vertical line also bridges gaps of two pixels: where the ink finding removed
    # a whole-row line that crossed it.
    along = close_rows(slant, gap) & (slant | m)
    if axis == 0:
        along |= close_rows(slant, 2)
    long = run_lengths(along, 1) >= max(1.5 * digit_height, 8.0 * stroke)
    line = t & long
    return line if axis == 1 else line.T


def solid_edges(mask: Mask, digit_height: float) -> Mask:
    """Solid bands along the picture's sides: a black page edge, a dark scanner margin.

    A band is a run of at least 0.35 digit heights of columns (or rows) each inked over at least
    60 % of its length and over 1.3 digit heights (longer than any digit), in the outer quarter of
    the picture, in a picture at least 1.5 digit heights across the band (a tight crop's ``1`` is
    neither that wide nor in such a picture; a ``3``'s right side is not that long).
    The background removal may break a band into digit-sized pieces, so the whole band goes,
    with a margin of 0.15 digit heights for its fringe. Returns its pixels.
    """
    out = np.zeros(mask.shape, dtype=bool)
    pad = max(2, round(0.15 * digit_height))
    for axis in (0, 1):  # 0: columns (left and right edges), 1: rows (top and bottom)
        across = mask.shape[axis]
        length = mask.shape[1 - axis]
        if across < 1.5 * digit_height:
            continue
        inked = mask.sum(axis=axis)
        high = (inked >= 0.6 * across) & (inked >= 1.3 * digit_height)
        starts, ends = _runs(high)
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if e - s >= 0.35 * digit_height and (s <= 0.25 * length or e >= 0.75 * length):
                lo, hi = max(0, s - pad), min(length, e + pad)
                if axis == 0:
                    out[:, lo:hi] = True
                else:
                    out[lo:hi, :] = True
    return out & mask


def mean_stroke(mask: Mask) -> float:
    """Mean stroke width of the mask's ink, at least 1 pixel."""
    return max(1.0, float(stroke_width(mask[None])[0]))


def clear_digit_count(ink: npt.NDArray[np.float32]) -> int:
    """How many digits a picture clearly holds side by side (0 or 1 when it is not clear).

    Conservative, for telling a number from a single digit without the model: heavy
    components (at least 25 % of the heaviest's area) about as tall as the tallest (60 %), no
    wider than 1.3 of its height, separated from each other by a gap (at least 5 % of
    the height), on a common line (vertical overlap); long straight lines are not counted.
    """
    k = -(-ink.shape[0] // 64)
    if k > 1:  # a digit's layout shows at 64 rows; labelling costs grow with the rows
        ink = downscale(ink[None], k)[0]
    mask = hysteresis(ink)
    if not mask.any():
        return 0
    comp = components(mask)
    hd = comp.digit_height()
    stroke = mean_stroke(mask)
    lines = thin_lines(mask, hd, stroke, 1) | thin_lines(mask, hd, stroke, 0)
    if lines.any():
        comp = components(mask & ~lines)
        if not comp.count:
            return 0
    tall = float(comp.height[comp.height <= 1.8 * hd].max(initial=0))
    if tall <= 0:
        return 0
    big = (comp.area >= 0.25 * comp.area.max()) & (comp.height >= 0.6 * tall) & (comp.width <= 1.3 * tall)
    idx = np.flatnonzero(big)
    if len(idx) < 2:
        return len(idx)
    order = idx[np.argsort(comp.x0[idx])]
    count = 1
    end = comp.x1[order[0]]
    top, bottom = comp.y0[order[0]], comp.y1[order[0]]
    for i in order[1:].tolist():
        overlap = min(bottom, comp.y1[i]) - max(top, comp.y0[i])
        if comp.x0[i] - end >= 0.05 * tall and overlap >= 0.5 * comp.height[i]:
            count += 1
        elif comp.x0[i] < end:  # overlapping in x: parts of one digit, or not clear
            return 1
        end = max(end, comp.x1[i])
    return count


def column_gap(ink: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """Per picture of a stack ``(N, h, w)``: whether its ink has an empty column gap at least 5 %
    of the ink's height wide between inked columns. A cheap, vectorized first look: only such
    pictures can hold digits side by side (:func:`clear_digit_count` is then asked)."""
    m = np.asarray(ink > 0.5, dtype=bool)
    cols = np.asarray(m.any(axis=1), dtype=bool)
    rows = np.asarray(m.any(axis=2), dtype=bool)
    w = cols.shape[1]
    height = np.where(rows.any(axis=1), rows.shape[1] - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1), 0)
    idx = np.arange(w)[None, :]
    seen = np.maximum.accumulate(np.where(cols, idx, -1), axis=1)  # last inked column so far
    gap = idx - seen - 1  # empty columns since then (counts past the last inked column too)
    ahead = np.flip(np.maximum.accumulate(np.flip(cols, axis=1), axis=1), axis=1)  # an inked column to come
    inner = np.where(cols & (seen >= 0), 0, gap)
    longest = np.where(ahead & (seen >= 0), inner, 0).max(axis=1, initial=0)
    return np.asarray(longest >= np.maximum(1.0, 0.05 * height), dtype=bool)

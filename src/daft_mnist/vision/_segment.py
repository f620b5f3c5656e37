"""Finding the digits of a handwritten number, in numpy: over-segmentation into candidates.

A picture of a number becomes digit candidates in four steps, each generalizing the
single-digit preparation (:mod:`daft_mnist.vision._prepare`) to a line of digits:

1. **ink** (:func:`~daft_mnist.vision._ink.find_ink`): polarity, background, whole-row
   lines, contrast, at a working resolution that keeps a wide number's digits large;
2. **clean-up** (:mod:`~daft_mnist.vision._components`): ink by hysteresis (light pencil
   strokes stay whole), then long thin straight strokes removed (underlines, ruled baselines,
   ruling lines, the fringe of a page edge: longer than 1.5 digit heights), then specks, dots
   and commas (small components that sit beside the digits, not over or under one of them);
3. **atoms**: the remaining components, each wide one (at least 0.75 digit heights) cut further
   along top-to-bottom paths that cross the least ink (touching digits); an atom is a piece
   that belongs to one digit;
4. **candidates**: every run of 1 to :data:`MAX_ATOMS` consecutive atoms (left to right) is a
   candidate digit (parts of a broken digit: a 5's flag, a 7's bar), cropped and prepared
   MNIST-style like any picture, with a geometric prior (width, height, inner gaps, cuts).

:func:`daft_mnist.vision._reading.decode` then picks the most probable segmentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from daft_mnist.vision._components import (
    Components,
    components,
    hysteresis,
    mean_stroke,
    solid_edges,
    thin_lines,
)
from daft_mnist.vision._image_ops import max_filter, resize_matrix, stroke_width
from daft_mnist.vision._ink import find_ink

__all__ = ["MAX_ATOMS", "PAIR_SHAPE", "Candidates", "candidates"]

MAX_ATOMS = 4
"""A digit is made of at most this many atoms."""
_WORK_HEIGHT, _WORK_WIDTH = 160, 1024
"""The largest working resolution (:func:`~daft_mnist.vision._ink.find_ink`'s default)."""
_CANVAS = 44
"""Side of the square canvas each candidate is drawn on before preparation (under 48: no
speck removal, the candidate is already clean)."""

PAIR_SHAPE = (32, 64)
"""Height and width of a touching-pair candidate's picture (:attr:`Candidates.pair_crops`)."""
_PAIR_INNER = (24, 58)
"""The pair's ink is scaled to fit this box (as MNIST fits a digit in 20 of 28 pixels)."""
_PAIR_STROKE = 2.6
"""Strokes thinner than this (pixels of the pair's picture) are thickened to it, MNIST's width at that scale."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class Candidates:
    """The digit candidates of one picture.

    Attributes:
        reason: Why the picture has nothing to read (then there are no candidates).
        atoms: How many atoms.
        spans: ``(M, 2)``: candidate ``m`` is atoms ``spans[m, 0]`` to ``spans[m, 1] - 1``.
        crops: uint8 ``(M, S, S)``: each candidate's ink alone, bright on black, centred.
        boxes: ``(M, 4)``: ``x0, y0, x1, y1`` (end-exclusive) in the picture's pixels.
        geometry: ``(M, 3)``: width and height in digit heights, empty inner columns in digit heights.
        cut_cost: ``(atoms,)``: strokes crossed by the cut before each atom (0 between components).
        masks: With ``candidates(..., masks=True)``: each candidate's pixels at working
            resolution (``factor`` x ``factor`` blocks of the picture); else empty.
        factor: Working pixels per picture pixel, per side.
        pairs: ``(P,)``: the candidates that may be two touching digits (0.45 to 2 digit
            heights wide, one atom or atoms cut from one stroke): the pair reader reads them.
        pair_crops: uint8 ``(P, *PAIR_SHAPE)``: each such candidate's ink, bright on black,
            scaled to fit :data:`_PAIR_INNER`, centred, strokes thickened to MNIST's width.
        pair_boxes: ``(P, 2, 4)``: the left and the right digit's boxes in the picture's pixels
            (split at the least ink near the middle).
        origin: ``(x, y)``: the picture pixel where the working pixels start (not ``(0, 0)``
            when a small number in a large picture was zoomed into).
    """

    reason: str | None
    atoms: int = 0
    spans: IntArray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    crops: npt.NDArray[np.uint8] = field(default_factory=lambda: np.zeros((0, _CANVAS, _CANVAS), np.uint8))
    boxes: IntArray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    geometry: FloatArray = field(default_factory=lambda: np.zeros((0, 3)))
    cut_cost: FloatArray = field(default_factory=lambda: np.zeros(0))
    masks: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    factor: int = 1
    pairs: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    pair_crops: npt.NDArray[np.uint8] = field(default_factory=lambda: np.zeros((0, *PAIR_SHAPE), np.uint8))
    pair_boxes: IntArray = field(default_factory=lambda: np.zeros((0, 2, 4), np.int64))
    origin: tuple[int, int] = (0, 0)


def candidates(image: npt.ArrayLike, *, masks: bool = False, zoom: bool = True) -> Candidates:
    """The digit candidates of a picture of a number (any size, ``HxW[xC]`` uint8).

    A number small in a large picture (a phone photo of a page) is first found at the working
    resolution, then read again from the picture's pixels around it (``zoom``), so that its
    digits keep their detail: a number 200 px high in a 12-megapixel photo is about 10
    working pixels high at first, about 100 after zooming.
    """
    arr = np.asarray(image)
    found = find_ink(arr)
    if found.reason is not None:
        return Candidates(found.reason)
    ink = found.ink
    atoms, hd, cuts = _atoms(ink)
    n = int(atoms.max()) + 1 if atoms.size else 0
    if n == 0:
        return Candidates("image has no clear digit: no ink stands out from the background")
    if zoom and found.factor > 1:
        closer = _zoomed(arr, atoms, hd, found.factor, masks)
        if closer is not None:
            return closer
    spans, boxes, geometry, pixels = [], [], [], []
    for i in range(n):
        for j in range(i + 1, min(n, i + MAX_ATOMS) + 1):
            mask = (atoms >= i) & (atoms < j)
            ys, xs = np.nonzero(mask)
            x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
            if j > i + 1 and x1 - x0 > 1.8 * hd:
                continue
            empty = int((~mask[:, x0:x1].any(axis=0)).sum())
            spans.append((i, j))
            boxes.append((x0, y0, x1, y1))
            geometry.append(((x1 - x0) / hd, (y1 - y0) / hd, empty / hd))
            pixels.append(mask)
    box = np.asarray(boxes, dtype=np.int64)
    k = found.factor
    height, width = np.shape(image)[:2]
    limit = np.asarray([width, height, width, height], dtype=np.int64)
    pairs = np.asarray(
        [
            m
            for m, ((i, j), (w, _, _)) in enumerate(zip(spans, geometry, strict=True))
            if 0.45 <= w <= 2.0 and (j == i + 1 or bool((cuts[i + 1 : j] > 0).any()))
        ],
        dtype=np.int64,
    )
    pair_crops, pair_boxes = _pair_crops(ink, [pixels[m] for m in pairs.tolist()], box[pairs])
    return Candidates(
        None,
        n,
        np.asarray(spans, dtype=np.int64),
        _crops(ink, pixels, box),
        np.minimum(box * k, limit),
        np.asarray(geometry, dtype=np.float64),
        cuts,
        pixels if masks else [],
        k,
        pairs,
        pair_crops,
        np.minimum(pair_boxes * k, limit),
    )


def _crops(ink: npt.NDArray[np.float32], masks: list[npt.NDArray[np.bool_]], boxes: IntArray) -> npt.NDArray[np.uint8]:
    """Each candidate's ink, scaled so that its longest side fits the canvas, centred."""
    out = np.zeros((len(masks), _CANVAS, _CANVAS), dtype=np.uint8)
    inner = _CANVAS - 4
    for m, (mask, (x0, y0, x1, y1)) in enumerate(zip(masks, boxes.tolist(), strict=True)):
        crop = (ink * mask)[y0:y1, x0:x1]
        h, w = crop.shape
        scale = min(1.0, inner / max(h, w))
        if scale < 1.0:
            rows, cols = resize_matrix(h, max(1, round(h * scale))), resize_matrix(w, max(1, round(w * scale)))
            crop = np.asarray(rows @ crop @ cols.T, dtype=np.float32)
            h, w = crop.shape
        oy, ox = (_CANVAS - h) // 2, (_CANVAS - w) // 2
        out[m, oy : oy + h, ox : ox + w] = np.clip(np.rint(crop * 255.0), 0, 255).astype(np.uint8)
    return out


def _zoomed(
    arr: npt.NDArray[np.generic], atoms: npt.NDArray[np.int32], hd: float, factor: int, masks: bool
) -> Candidates | None:
    """The candidates of the part of ``arr`` around the atoms, when reading it alone gains at
    least 1.5 times the working resolution (else, or when it reads as nothing, ``None``)."""
    ys, xs = np.nonzero(atoms >= 0)
    # Generous margins: at the first, coarse look a digit's faint end may have been lost.
    px, py = 2.0 + 1.5 * hd, 1.0 + 0.4 * hd
    height, width = arr.shape[:2]
    x0, x1 = max(0, int((xs.min() - px) * factor)), min(width, int((xs.max() + 1 + px) * factor))
    y0, y1 = max(0, int((ys.min() - py) * factor)), min(height, int((ys.max() + 1 + py) * factor))
    finer = max(1, -(-(y1 - y0) // _WORK_HEIGHT), -(-(x1 - x0) // _WORK_WIDTH))
    if factor < 1.5 * finer:
        return None
    inner = candidates(arr[y0:y1, x0:x1], masks=masks, zoom=False)
    if inner.reason is not None:
        return None
    shift = np.asarray([x0, y0, x0, y0], dtype=np.int64)
    inner.boxes = inner.boxes + shift
    inner.pair_boxes = inner.pair_boxes + shift
    inner.origin = (x0, y0)
    return inner


def _pair_crops(
    ink: npt.NDArray[np.float32], masks: list[npt.NDArray[np.bool_]], boxes: IntArray
) -> tuple[npt.NDArray[np.uint8], IntArray]:
    """Each possible pair's picture (see :attr:`Candidates.pair_crops`) and its two digits' boxes."""
    out = np.zeros((len(masks), *PAIR_SHAPE), dtype=np.float32)
    halves = np.zeros((len(masks), 2, 4), dtype=np.int64)
    for m, (mask, (x0, y0, x1, y1)) in enumerate(zip(masks, boxes.tolist(), strict=True)):
        crop = (ink * mask)[y0:y1, x0:x1]
        h, w = crop.shape
        scale = min(_PAIR_INNER[0] / h, _PAIR_INNER[1] / w)
        th, tw = max(1, round(h * scale)), max(1, round(w * scale))
        oy, ox = (PAIR_SHAPE[0] - th) // 2, (PAIR_SHAPE[1] - tw) // 2
        out[m, oy : oy + th, ox : ox + tw] = resize_matrix(h, th) @ crop @ resize_matrix(w, tw).T
        inside = mask[y0:y1, x0:x1]
        profile = inside.sum(axis=0).astype(np.float64)
        middle = np.arange(w)
        window = (middle >= 0.3 * w) & (middle <= 0.7 * w)
        if window.any() and w >= 2:
            cost = np.where(window, profile + 1e-3 * np.abs(middle - w / 2), np.inf)
            split = max(1, min(w - 1, int(np.argmin(cost))))
        else:
            split = max(1, w // 2)
        for side, cols in enumerate((slice(0, split), slice(split, w))):
            ys, xs = np.nonzero(inside[:, cols])
            start = 0 if side == 0 else split
            if ys.size:
                halves[m, side] = (x0 + start + xs.min(), y0 + ys.min(), x0 + start + xs.max() + 1, y0 + ys.max() + 1)
            else:
                halves[m, side] = (x0 + start, y0, x0 + (split if side == 0 else w), y1)
    width = stroke_width(out > 0.5)
    thin = (width < _PAIR_STROKE) & (out.max(axis=(1, 2)) > 0)
    if thin.any():
        grow = np.clip((_PAIR_STROKE - width[thin]) / 2, 0.0, 1.0).astype(np.float32)[:, None, None]
        out[thin] = np.maximum(out[thin], grow * max_filter(out[thin], 1))
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8), halves


def _atoms(ink: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int32], float, FloatArray]:
    """Atom index per pixel (``-1``: none), left to right; the digit height; each atom's cut cost."""
    mask = hysteresis(ink)
    comp = components(mask)
    if not comp.count:
        return np.full(ink.shape, -1, np.int32), 1.0, np.zeros(0)
    hd = max(comp.digit_height(), 1.0)
    comp, hd = _without(mask, solid_edges(mask, hd), comp, hd)
    stroke = mean_stroke(mask)
    comp, hd = _without(mask, thin_lines(mask, hd, stroke, 1) | thin_lines(mask, hd, stroke, 0), comp, hd)
    if not comp.count:
        return np.full(ink.shape, -1, np.int32), 1.0, np.zeros(0)
    keep = _not_specks(comp, hd)
    h, w = mask.shape
    pieces: list[tuple[float, npt.NDArray[np.bool_], int, float]] = []
    cols = np.arange(w)[None, :]
    for c in np.flatnonzero(keep).tolist():
        part = comp.labels == c
        y0, y1, x0, x1 = int(comp.y0[c]), int(comp.y1[c]), int(comp.x0[c]), int(comp.x1[c])
        paths = _cut_paths(part[y0:y1, x0:x1], hd, stroke) if x1 - x0 >= 0.55 * hd else []
        left_of_prev = np.zeros((h, w), dtype=bool)
        cost_before = 0.0
        for cost, path in [*paths, (0.0, None)]:
            if path is None:
                left = np.ones((h, w), dtype=bool)
            else:
                full = np.empty(h, dtype=np.int64)
                full[y0:y1] = path + x0
                full[:y0], full[y1:] = full[y0], full[y1 - 1]
                left = cols < full[:, None]
            piece = part & left & ~left_of_prev
            if piece.any():
                pieces.append((float(np.nonzero(piece)[1].mean()), piece, c, cost_before))
            left_of_prev = left
            cost_before = cost
    pieces.sort(key=lambda t: t[0])
    atoms = np.full((h, w), -1, dtype=np.int32)
    cut_cost = np.zeros(len(pieces))
    for i, (_, piece, c, cost) in enumerate(pieces):
        atoms[piece] = i
        if i and pieces[i - 1][2] == c:
            cut_cost[i] = cost
    return atoms, hd, cut_cost


def _without(
    mask: npt.NDArray[np.bool_], gone: npt.NDArray[np.bool_], comp: Components, hd: float
) -> tuple[Components, float]:
    """``mask`` less ``gone`` (in place); its components and digit height, found again only when
    anything went."""
    if not gone.any():
        return comp, hd
    mask &= ~gone
    comp = components(mask)
    return comp, max(comp.digit_height(), 1.0)


def _not_specks(comp: Components, hd: float) -> npt.NDArray[np.bool_]:
    """Components that are (parts of) digits.

    Not far taller than the digits (page edges, what is left of a thick margin line), not slabs
    (a stroke width over 2.5 times the typical one: a black page edge, a smudge), not small ones
    beside the digits (specks, dots, commas). A small component over or under a big one (at
    least 30 % of its width shared) is kept: a broken stroke of that digit, the atoms may join it.
    """
    small = (comp.height < 0.5 * hd) & (comp.width < 0.5 * hd)
    big = ~small
    keep = comp.height <= 1.8 * hd
    strokes = np.asarray(
        [
            mean_stroke(comp.labels[y0:y1, x0:x1] == i)
            for i, (y0, y1, x0, x1) in enumerate(
                zip(comp.y0.tolist(), comp.y1.tolist(), comp.x0.tolist(), comp.x1.tolist(), strict=True)
            )
        ]
    )
    typical = float(np.median(strokes[keep & big])) if (keep & big).any() else float(np.median(strokes))
    keep &= strokes <= 2.5 * typical
    heaviest = float(comp.area[keep].max()) if keep.any() else 0.0
    for i in np.flatnonzero(small).tolist():
        shared = np.minimum(comp.x1[i], comp.x1[big]) - np.maximum(comp.x0[i], comp.x0[big])
        if not (shared > 0.3 * max(int(comp.width[i]), 1)).any() or comp.area[i] < 0.04 * heaviest:
            keep[i] = False
    return keep


def _cut_paths(part: npt.NDArray[np.bool_], hd: float, stroke: float, most: int = 6) -> list[tuple[float, IntArray]]:
    """Top-to-bottom paths through a component's box that cross the least ink.

    Returns:
        Up to ``most`` non-crossing cuts, left to right: (strokes crossed, column per row).
    """
    h, w = part.shape
    cost = part.astype(np.float64) + 0.02
    total = np.empty((h, w))
    step = np.zeros((h, w), dtype=np.int64)
    total[0] = cost[0]
    inf = np.array([np.inf])
    cols = np.arange(w)
    for r in range(1, h):
        prev = total[r - 1]
        options = np.stack([np.concatenate((inf, prev[:-1])) + 0.3, prev, np.concatenate((prev[1:], inf)) + 0.3])
        k = options.argmin(axis=0)
        total[r] = cost[r] + options[k, cols]
        step[r] = k - 1
    end = total[-1]
    margin = max(2, int(0.2 * hd))
    ends = [c for c in range(margin, w - margin) if end[c] <= end[max(0, c - 2) : c + 3].min() + 1e-9]
    ends.sort(key=lambda c: float(end[c]))
    rows = np.arange(h)
    paths: list[IntArray] = []
    for c in ends:
        path = np.empty(h, dtype=np.int64)
        path[-1] = c
        for r in range(h - 1, 0, -1):
            path[r - 1] = path[r] + step[r, path[r]]
        paths.append(path)
    paths += _projection_cuts(part, hd, stroke, margin)
    out: list[tuple[float, IntArray]] = []
    for path in paths:
        strokes = float(part[rows, path].sum()) / stroke
        if strokes > 3.5 or any(np.abs(path - p).mean() < margin for _, p in out):
            continue
        left = part & (cols[None, :] < path[:, None])
        right = part & ~left
        if not left.any() or not right.any():
            continue
        lx, rx = np.nonzero(left)[1], np.nonzero(right)[1]
        if lx.max() - lx.min() + 1 < 0.15 * hd or rx.max() - rx.min() + 1 < 0.15 * hd:
            continue
        out.append((strokes, path))
        if len(out) >= most:
            break
    out.sort(key=lambda t: float(t[1].mean()))
    for i in range(1, len(out)):
        out[i] = (out[i][0], np.maximum(out[i][1], out[i - 1][1]))
    return out


def _projection_cuts(part: npt.NDArray[np.bool_], hd: float, stroke: float, margin: int) -> list[IntArray]:
    """Straight cuts at the columns of least ink that cross at most two strokes, fewest strokes first.

    Only in components at least 0.7 digit heights tall (a pair of touching digits; not a flat
    piece such as a 5's flag). They add the cuts that the least-ink paths miss where two digits
    overlap (the path's cheapest end lies elsewhere).
    """
    h, w = part.shape
    if h < 0.7 * hd:
        return []
    ink = part.sum(axis=0)
    starts = (np.diff(part.astype(np.int8), axis=0) == 1).sum(axis=0) + part[0]
    found = [
        (float(ink[c]) / stroke, c)
        for c in range(margin, w - margin)
        if ink[c] <= ink[max(0, c - 2) : c + 3].min() and starts[c] <= 2
    ]
    found.sort()
    return [np.full(h, c, dtype=np.int64) for _, c in found]

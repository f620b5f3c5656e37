"""Pure numpy image operations on stacks of same-size pictures, for :mod:`daft_mnist.vision._prepare`.

Everything here works on a whole stack ``(N, H, W)`` at once (float32 in [0, 255] or [0, 1]):
luminance with alpha compositing, integer area-averaging, the border ring, a bilinear
interpolation matrix, Otsu's threshold, grey dilation, stroke width, mass-profile spans, and
the one separable resampling that maps a box onto the 28x28 frame with its centre of mass at
the centre. The pipeline that decides what to do with a picture lives in ``_prepare``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "BOX",
    "CENTRE",
    "FRAME",
    "LUMA",
    "WORK_MAX",
    "alpha_paper",
    "axis_matrix",
    "border",
    "close_rows",
    "downscale",
    "gray_downscaled",
    "interp_matrix",
    "max_filter",
    "offset",
    "otsu",
    "profile_span",
    "resample",
    "resize_matrix",
    "shift_boxes",
    "stroke_width",
    "to_gray",
]

FRAME = 28
"""Side of the output frame, in pixels."""
BOX = 20
"""Longest side of the digit inside the frame, in pixels."""
WORK_MAX = 256
"""Pictures whose longest side exceeds this are area-averaged down to at most this size first."""
CENTRE = FRAME / 2 + 0.5
"""Where the centre of mass goes, in continuous coordinates (pixel ``i`` spans ``[i, i+1)``): the
centre of pixel (14, 14), MNIST's convention (its test set's mean centre of mass is 13.99, 14.01)."""
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""ITU-R 601 luminance weights of R, G and B."""


def to_gray(a: npt.NDArray[np.uint8], paper: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.float32]:
    """Luminance in [0, 255], float32 ``(N, H, W)``; alpha composited onto the paper.

    ``paper``: for RGBA pictures converted a strip at a time, each picture's paper level from
    :func:`alpha_paper` on the whole picture (NaN for an opaque one); by default it is found here.
    """
    c = a.shape[3]
    if c == 1:
        return a[..., 0].astype(np.float32)
    lum = a[..., :3].astype(np.float32) @ LUMA
    if c == 3:
        return lum
    alpha = a[..., 3].astype(np.float32) / 255.0
    if paper is not None:
        opaque = np.isnan(paper)
        if opaque.all():
            return lum
        level = np.where(opaque, 0.0, paper).astype(np.float32)[:, None, None]
        return np.where(opaque[:, None, None], lum, alpha * lum + (1.0 - alpha) * level).astype(np.float32)
    opaque = alpha.min(axis=(1, 2)) >= 1.0
    if opaque.all():
        return lum
    # The ink is what is opaque: paper is white under dark ink, black under light ink.
    weight = alpha.sum(axis=(1, 2))
    ink_level = (lum * alpha).sum(axis=(1, 2)) / np.maximum(weight, 1e-6)
    paper_level = np.where(ink_level < 127.5, 255.0, 0.0).astype(np.float32)[:, None, None]
    out = alpha * lum + (1.0 - alpha) * paper_level
    return np.where(opaque[:, None, None], lum, out).astype(np.float32)


def alpha_paper(a: npt.NDArray[np.uint8], rows: int) -> npt.NDArray[np.float32]:
    """Per RGBA picture, the paper level :func:`to_gray` composites onto (NaN when opaque),
    from sums over strips of ``rows`` rows, so that no float copy of a whole picture is made."""
    n = a.shape[0]
    low = np.full(n, 255, dtype=np.uint8)
    weight = np.zeros(n, dtype=np.float64)
    inked = np.zeros(n, dtype=np.float64)
    for r0 in range(0, a.shape[1], rows):
        strip = a[:, r0 : r0 + rows]
        alpha = strip[..., 3].astype(np.float32) / 255.0
        low = np.minimum(low, strip[..., 3].min(axis=(1, 2)))
        weight += alpha.sum(axis=(1, 2), dtype=np.float64)
        inked += ((strip[..., :3].astype(np.float32) @ LUMA) * alpha).sum(axis=(1, 2), dtype=np.float64)
    ink_level = inked / np.maximum(weight, 1e-6)
    paper = np.where(ink_level < 127.5, 255.0, 0.0)
    return np.where(low >= 255, np.nan, paper).astype(np.float32)


def gray_downscaled(a: npt.NDArray[np.uint8], strip_pixels: int = 1 << 22) -> npt.NDArray[np.float32]:
    """:func:`to_gray` then :func:`downscale`, a strip of rows at a time for large pictures.

    Memory stays bounded: a 20000x20000 picture never becomes a float32 copy of itself
    (1.6 GB); each strip of about ``strip_pixels`` pixels is converted and area-averaged in
    turn. Pictures of up to ``strip_pixels`` pixels in all take the one-pass route.
    """
    n, h, w, c = a.shape
    k = -(-max(h, w) // WORK_MAX)
    if k <= 1 or n * h * w <= strip_pixels:
        return downscale(to_gray(a))
    rows = max(1, strip_pixels // (n * w * k)) * k  # a whole number of k-row blocks per strip
    paper = alpha_paper(a, rows) if c == 4 else None
    out = np.empty((n, -(-h // k), -(-w // k)), dtype=np.float32)
    for r0 in range(0, h, rows):
        part = downscale(to_gray(a[:, r0 : r0 + rows], paper), k)
        out[:, r0 // k : r0 // k + part.shape[1]] = part
    return out


def downscale(g: npt.NDArray[np.float32], k: int | None = None) -> npt.NDArray[np.float32]:
    """Area-average by an integer factor ``k`` (default: so that the longest side is at most
    :data:`WORK_MAX`); a partial last block is padded with the edge's pixels."""
    n, h, w = g.shape
    if k is None:
        k = -(-max(h, w) // WORK_MAX)
    if k <= 1:
        return g
    ph, pw = -h % k, -w % k
    if ph or pw:
        g = np.pad(g, ((0, 0), (0, ph), (0, pw)), mode="edge")
    hh, ww = g.shape[1] // k, g.shape[2] // k
    out: npt.NDArray[np.float32] = g.reshape(n, hh, k, ww, k).mean(axis=(2, 4), dtype=np.float32)
    return out


def border(g: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The pixels of the outer ring (about 4% of the side, at least 1 px), ``(N, P)``."""
    n, h, w = g.shape
    b = max(1, round(0.04 * min(h, w)))
    if 2 * b >= min(h, w):
        return g.reshape(n, -1)
    parts = [g[:, :b, :], g[:, -b:, :], g[:, b:-b, :b], g[:, b:-b, -b:]]
    return np.concatenate([p.reshape(n, -1) for p in parts], axis=1)


def interp_matrix(size: int, cells: int) -> npt.NDArray[np.float32]:
    """Bilinear interpolation of ``cells`` cell-centred values onto ``size`` pixel centres."""
    pos = (np.arange(size) + 0.5) * cells / size - 0.5
    pos = np.clip(pos, 0, cells - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, cells - 1)
    frac = (pos - lo).astype(np.float32)
    m = np.zeros((size, cells), dtype=np.float32)
    np.add.at(m, (np.arange(size), lo), 1.0 - frac)
    np.add.at(m, (np.arange(size), hi), frac)
    return m


def otsu(sorted_x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Otsu's threshold per row of sorted values in [0, 255] (64 bins)."""
    n = sorted_x.shape[0]
    bins = 64
    idx = (sorted_x * np.float32(bins / 256.0)).astype(np.int64)
    np.minimum(idx, bins - 1, out=idx)
    idx += np.arange(n)[:, None] * bins
    hist = np.bincount(idx.ravel(), minlength=n * bins).reshape(n, bins)
    centres = (np.arange(bins) + 0.5) * (256.0 / bins)
    w0 = np.cumsum(hist, axis=1)
    m0 = np.cumsum(hist * centres, axis=1)
    total, mtotal = w0[:, -1:], m0[:, -1:]
    w1 = total - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w0 * w1 * (m0 / w0 - (mtotal - m0) / w1) ** 2
    between = np.nan_to_num(between, nan=-1.0, posinf=-1.0, neginf=-1.0)
    best = between.argmax(axis=1)
    return np.asarray((best + 1) * (256.0 / bins), dtype=np.float32)


def stroke_width(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Mean stroke width in pixels, ~ 2 * area / boundary length (boundary counted in 4-steps)."""
    area = mask.sum(axis=(1, 2)).astype(np.float64)
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    edges = (padded[:, 1:, :] != padded[:, :-1, :]).sum(axis=(1, 2)) + (padded[:, :, 1:] != padded[:, :, :-1]).sum(
        axis=(1, 2)
    )
    # 4-connected boundary steps overestimate a curve's length by 4/pi on average.
    length = np.maximum(edges.astype(np.float64) * (np.pi / 4) / 2, 1.0)
    return np.asarray(area / length, dtype=np.float64)


def max_filter(y: npt.NDArray[np.float32], r: int) -> npt.NDArray[np.float32]:
    """Square grey dilation of radius ``r`` (separable)."""
    if r <= 0:
        return y
    out = y.copy()
    p = np.pad(y, ((0, 0), (r, r), (0, 0)))
    for d in range(2 * r + 1):
        np.maximum(out, p[:, d : d + y.shape[1], :], out=out)
    p = np.pad(out, ((0, 0), (0, 0), (r, r)))
    res = out.copy()
    for d in range(2 * r + 1):
        np.maximum(res, p[:, :, d : d + y.shape[2]], out=res)
    return res


def resize_matrix(size_in: int, size_out: int) -> npt.NDArray[np.float32]:
    """``(size_out, size_in)`` weights resizing one axis: bilinear when enlarging, area averaging when shrinking.

    ``M_rows @ a @ M_cols.T`` resizes a 2-D array.
    """
    if size_out >= size_in:
        pos = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, size_in - 1)
        m = np.zeros((size_out, size_in), dtype=np.float32)
        np.add.at(m, (np.arange(size_out), lo), 1.0 - (pos - lo))
        np.add.at(m, (np.arange(size_out), hi), pos - lo)
        return m
    edges = np.linspace(0.0, size_in, size_out + 1)
    i = np.arange(size_in)
    w = np.clip(np.minimum(i + 1, edges[1:, None]) - np.maximum(i, edges[:-1, None]), 0.0, None)
    return np.asarray(w / w.sum(axis=1, keepdims=True), dtype=np.float32)


def close_rows(mask: npt.NDArray[np.bool_], gap: int) -> npt.NDArray[np.bool_]:
    """Closing along each row of a boolean ``(n, size)`` mask: gaps of up to ``2 * gap`` pixels
    between set pixels are filled (a dilation then an erosion by ``2 * gap + 1`` pixels)."""
    size = mask.shape[1]
    pad = np.pad(mask, ((0, 0), (gap, gap)))
    dil = np.zeros_like(mask)
    for d in range(2 * gap + 1):
        dil |= pad[:, d : d + size]
    pad = np.pad(dil, ((0, 0), (gap, gap)), constant_values=True)
    closed = dil.copy()
    for d in range(2 * gap + 1):
        closed &= pad[:, d : d + size]
    out: npt.NDArray[np.bool_] = closed | mask
    return out


def profile_span(prof: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Span of a mass profile's significant runs: runs closer than a small gap are merged, and
    runs holding under 10% of the heaviest run's mass (specks, edges) are dropped."""
    n, size = prof.shape
    peak = prof.max(axis=1, keepdims=True)
    inky = (prof > 0.005 * peak) & (peak > 0)
    closed = close_rows(inky, max(1, round(0.015 * size)))
    starts = closed & ~np.pad(closed, ((0, 0), (1, 0)))[:, :size]
    label = np.where(closed, np.cumsum(starts, axis=1), 0)  # 1.. per run, 0 outside
    nruns = int(label.max()) + 1
    flat = (label + np.arange(n)[:, None] * nruns).ravel()
    mass = np.bincount(flat, weights=(prof * closed).ravel(), minlength=n * nruns).reshape(n, nruns)
    mass[:, 0] = 0
    keep_run = mass >= 0.1 * mass.max(axis=1, keepdims=True)
    keep_run[:, 0] = False
    keep = np.take_along_axis(keep_run, label, axis=1) & inky
    anyk = keep.any(axis=1)
    first = np.where(anyk, keep.argmax(axis=1), 0)
    last = np.where(anyk, size - keep[:, ::-1].argmax(axis=1), 0)
    return first.astype(np.int64), last.astype(np.int64)


def resample(
    y: npt.NDArray[np.float32],
    y0: npt.NDArray[np.int64],
    y1: npt.NDArray[np.int64],
    x0: npt.NDArray[np.int64],
    x1: npt.NDArray[np.int64],
) -> npt.NDArray[np.uint8]:
    """Scale each box's longest side to :data:`BOX` and put its centre of mass at the frame's centre."""
    n, h, w = y.shape
    side = np.maximum(np.maximum(y1 - y0, x1 - x0), 1).astype(np.float64)
    scale = side / BOX  # input pixels per output pixel
    rows_in = np.arange(h)[None, :] + 0.5
    cols_in = np.arange(w)[None, :] + 0.5
    inside_r = (rows_in > y0[:, None]) & (rows_in < y1[:, None])
    inside_c = (cols_in > x0[:, None]) & (cols_in < x1[:, None])
    yr = y.sum(axis=2) * inside_r
    yc = y.sum(axis=1) * inside_c
    mass = np.maximum(yr.sum(axis=1), 1e-9)
    cy = (yr * rows_in).sum(axis=1) / mass
    cx = (yc * cols_in).sum(axis=1) / mass
    ay = offset(y0, y1, cy, scale)
    ax = offset(x0, x1, cx, scale)
    out = np.zeros((n, FRAME, FRAME), dtype=np.float32)
    # Boxes already BOX pixels long are shifted by whole pixels, not resampled (MNIST itself).
    shift = scale == 1.0
    if shift.any():
        out[shift] = shift_boxes(y[shift], y0[shift], y1[shift], x0[shift], x1[shift], ay[shift], ax[shift])
    rest = ~shift
    if rest.any():
        rmat = axis_matrix(h, y0[rest], y1[rest], ay[rest], scale[rest])
        cmat = axis_matrix(w, x0[rest], x1[rest], ax[rest], scale[rest])
        out[rest] = np.matmul(np.matmul(rmat, y[rest]), cmat.transpose(0, 2, 1))
    return np.asarray(np.clip(np.rint(out * 255.0), 0, 255), dtype=np.uint8)


def offset(
    start: npt.NDArray[np.int64],
    stop: npt.NDArray[np.int64],
    centre: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Frame position of the box's start: puts ``centre`` at the frame's centre, rounded to a
    whole output pixel (as MNIST did) and kept so that the box stays inside the frame."""
    extent = (stop - start) / scale
    a = np.rint(CENTRE - (centre - start) / scale)
    return np.clip(a, 0, np.maximum(FRAME - np.ceil(extent - 1e-6), 0))


def shift_boxes(
    y: npt.NDArray[np.float32],
    y0: npt.NDArray[np.int64],
    y1: npt.NDArray[np.int64],
    x0: npt.NDArray[np.int64],
    x1: npt.NDArray[np.int64],
    ay: npt.NDArray[np.float64],
    ax: npt.NDArray[np.float64],
) -> npt.NDArray[np.float32]:
    """Copy each box into the frame at whole-pixel offsets ``(ay, ax)``."""
    n, h, w = y.shape
    rows_in = np.arange(h)[None, :]
    cols_in = np.arange(w)[None, :]
    inside_r = (rows_in >= y0[:, None]) & (rows_in < y1[:, None])
    inside_c = (cols_in >= x0[:, None]) & (cols_in < x1[:, None])
    boxed = y * (inside_r[:, :, None] & inside_c[:, None, :])
    out = np.zeros((n, FRAME, FRAME), dtype=np.float32)
    dy = y0 - ay.astype(np.int64)  # frame row o shows input row o + dy
    dx = x0 - ax.astype(np.int64)
    pairs, inverse = np.unique(np.stack([dy, dx], axis=1), axis=0, return_inverse=True)
    for k, (sy, sx) in enumerate(pairs):
        sel = inverse.ravel() == k
        oy0, oy1 = max(0, -sy), min(FRAME, h - sy)
        ox0, ox1 = max(0, -sx), min(FRAME, w - sx)
        if oy1 > oy0 and ox1 > ox0:
            out[sel, oy0:oy1, ox0:ox1] = boxed[sel, oy0 + sy : oy1 + sy, ox0 + sx : ox1 + sx]
    return out


def axis_matrix(
    size: int,
    start: npt.NDArray[np.int64],
    stop: npt.NDArray[np.int64],
    a: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
) -> npt.NDArray[np.float32]:
    """``(N, FRAME, size)`` weights mapping input pixels of ``[start, stop)`` onto the frame.

    Output coordinate ``u`` samples input coordinate ``start + (u - a) * scale``: area
    averaging over the output pixel's footprint when shrinking, bilinear when enlarging.
    """
    o = np.arange(FRAME, dtype=np.float32)[None, :, None]
    i = np.arange(size, dtype=np.float32)[None, None, :]
    st = start.astype(np.float32)[:, None, None]
    sc = scale.astype(np.float32)[:, None, None]
    aa = a.astype(np.float32)[:, None, None]
    lo = st + (o - aa) * sc
    shrink = sc >= 1.0
    if shrink.all():
        weights = np.clip(np.minimum(i + 1, lo + sc) - np.maximum(i, lo), 0, None) / sc
    else:
        area = np.clip(np.minimum(i + 1, lo + sc) - np.maximum(i, lo), 0, None) / sc
        # Bilinear: only output pixels whose centre falls inside the box, clamped to the box's
        # pixels, so that the box spans exactly its extent and nothing spills around it.
        centre = lo + 0.5 * sc
        end = stop.astype(np.float32)[:, None, None]
        pos = np.clip(centre - 0.5, st, end - 1)
        bilinear = np.clip(1.0 - np.abs(i - pos), 0, None) * ((centre >= st) & (centre <= end))
        weights = np.where(shrink, area, bilinear)
    inside = (i >= st) & (i < stop.astype(np.float32)[:, None, None])
    return np.where(inside, weights, 0.0).astype(np.float32)

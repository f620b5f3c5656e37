"""MNIST-style preparation of arbitrary digit pictures, in pure numpy.

MNIST digits were made from bilevel scans: each digit's bounding box was scaled (keeping its
aspect ratio) so that its longest side is 20 pixels, with anti-aliasing, and the result was
placed in a 28x28 frame so that its centre of mass sits at the centre. Ink is bright (255) on a
black (0) background. A photo, scan or drawing of a digit becomes an MNIST-like image here by
the same steps, made robust to what real pictures bring:

1. **grayscale**: luminance; transparent pixels are paper (alpha is composited onto a paper
   whose polarity is the opposite of the ink's);
2. **working resolution**: pictures larger than :data:`WORK_MAX` pixels are area-averaged by an
   integer factor (thin strokes survive as grey);
3. **polarity**: the background is the level of the border and of most pixels; the image is
   inverted when that level is the light one, so that ink is bright;
4. **background removal**: a smooth background surface (a low percentile per block, smoothed
   by a median over neighbouring blocks) is subtracted from larger pictures, which removes
   shadows, uneven lighting and paper strips; then what whole rows and columns share (straight
   grid lines, dark picture edges);
5. **contrast**: a ramp from just above the background (noise, grid lines and paper texture
   below it become 0) to the typical ink level (255); clean digital images (flat background)
   keep their grey levels;
6. **stroke width**: strokes that would come out much thinner than MNIST's (about 2-3 px at
   20 px height) are dilated at working resolution;
7. **crop**: specks (ink components under 10% of the heaviest one's mass, on a coarse grid) are
   erased from larger pictures; the ink's bounding box comes from row and column mass profiles,
   ignoring light runs separated from the digit's mass by an empty gap;
8. **scale and centre**: one separable resampling per image (area averaging when shrinking,
   bilinear when enlarging) maps the box's longest side to 20 px and the centre of mass to the
   centre of the 28x28 frame (to the nearest output pixel, as MNIST did).

An MNIST image goes through (almost) unchanged. Pictures without a usable digit get a reason
instead of pixels, by one rule: a canvas too small to hold a digit (under 3 px on a side, or 5 on
the longer one); a blank picture (no contrast at all: no channel, and not the composited grey,
varies by :data:`MIN_CONTRAST` levels); no clear digit (ink not above the noise, none standing out
from the background, or ink everywhere); several digits side by side (see
:func:`~daft_mnist.vision._components.clear_digit_count`: a number is read with ``read_number``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from daft_mnist.vision._components import clear_digit_count, column_gap
from daft_mnist.vision._image_ops import (
    BOX,
    FRAME,
    WORK_MAX,
    border,
    gray_downscaled,
    interp_matrix,
    max_filter,
    otsu,
    profile_span,
    resample,
    stroke_width,
)
from daft_mnist.vision._marks import SCATTERED_REASON, find_marks, ink_features, no_digit_reasons

__all__ = [
    "BOX",
    "CLEAN_FRACTION",
    "FRAME",
    "MAX_COVERAGE",
    "MIN_CONTRAST",
    "MIN_SNR",
    "WORK_MAX",
    "PreparedBatch",
    "check_image",
    "finished_digit",
    "ink_bright",
    "prepare_batch",
    "prepare_stack",
    "size_reason",
    "stretch",
    "uneven_background_removed",
]

MIN_CONTRAST = 16.0
"""Ink that differs from the background by less than this many grey levels is no ink."""
_MIN_SIDE = 3
_MIN_LONG_SIDE = 5
"""A canvas with a side under :data:`_MIN_SIDE` pixels, or a longer side under
:data:`_MIN_LONG_SIDE`, cannot hold a digit: the smallest legible bitmap digits are 3x5 pixels;
a thinner canvas is a line (resampled, a 1xN strip would become a 20 px long sliver)."""
MIN_SNR = 6.0
"""Typical ink must exceed this many times the background's noise (random noise: about 4)."""
MAX_COVERAGE = 0.5
"""Ink covering more than this fraction of the picture is not a digit on a background."""
CLEAN_FRACTION = 0.4
"""A picture is 'clean' (digital drawing, MNIST) when at least this fraction of its pixels is
exactly at the border's level: photos and scans have noise, drawings a flat background."""
_TARGET_STROKE = 2.6
"""Typical MNIST stroke width at 20 px digit height, as measured by :func:`stroke_width`."""
_THIN_STROKE = 0.55
"""Strokes predicted thinner than this fraction of :data:`_TARGET_STROKE` are dilated."""
_CHUNK_PIXELS = 1 << 23
"""Upper bound on input pixels processed at once by :func:`prepare_stack`."""


@dataclass
class PreparedBatch:
    """What :func:`prepare_batch` returns.

    Attributes:
        pixels: uint8 ``(N, 28, 28)``, MNIST-like: bright ink on black, digit's longest side
            20 px, centre of mass at the centre. Rows with a reason hold zeros.
        reasons: One entry per image: ``None`` when the image was prepared, otherwise a short
            reason why it holds no usable digit (such rows must not get a confident digit).
    """

    pixels: npt.NDArray[np.uint8]
    reasons: list[str | None] = field(default_factory=list)


# --- public entry points ---------------------------------------------------------------


def prepare_batch(images: Sequence[npt.ArrayLike]) -> PreparedBatch:
    """Prepare pictures of any sizes and channel layouts; same-shape ones are done together.

    Args:
        images: uint8 arrays, each ``HxW``, ``HxWx1``, ``HxWx3`` (RGB) or ``HxWx4`` (RGBA).

    Returns:
        A :class:`PreparedBatch` with one row per image, in order.

    Raises:
        TypeError: An image is not uint8.
        ValueError: An image's shape is not one of the above.
    """
    n = len(images)
    pixels = np.zeros((n, FRAME, FRAME), dtype=np.uint8)
    reasons: list[str | None] = [None] * n
    groups: dict[tuple[int, ...], list[int]] = {}
    arrays: list[npt.NDArray[np.uint8]] = []
    for i, img in enumerate(images):
        arr = check_image(np.asarray(img), f"image {i}")
        arrays.append(arr)
        reasons[i] = size_reason(arr.shape[0], arr.shape[1])
        if reasons[i] is not None:
            continue
        groups.setdefault(arr.shape, []).append(i)
    for idx in groups.values():
        stack = np.stack([arrays[i] for i in idx]) if len(idx) > 1 else arrays[idx[0]][None]
        out = prepare_stack(stack)
        pixels[idx] = out.pixels
        for j, i in enumerate(idx):
            reasons[i] = out.reasons[j]
    return PreparedBatch(pixels=pixels, reasons=reasons)


def prepare_stack(arr: npt.ArrayLike) -> PreparedBatch:
    """Prepare a stack of same-size pictures, vectorized over the stack.

    Args:
        arr: uint8 ``(N, H, W)``, ``(N, H, W, 1)``, ``(N, H, W, 3)`` or ``(N, H, W, 4)``.

    Returns:
        A :class:`PreparedBatch` with ``N`` rows.
    """
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        raise TypeError(f"expected a uint8 stack, got dtype {a.dtype}")
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4 or a.shape[3] not in (1, 3, 4):
        raise ValueError(f"expected a stack of shape (N, H, W) or (N, H, W, 1|3|4), got {a.shape}")
    n, h, w = a.shape[:3]
    shape_reason = size_reason(h, w)
    if shape_reason is not None:
        return PreparedBatch(np.zeros((n, FRAME, FRAME), dtype=np.uint8), [shape_reason] * n)
    step = max(1, _CHUNK_PIXELS // (h * w))
    pixels = np.zeros((n, FRAME, FRAME), dtype=np.uint8)
    reasons: list[str | None] = []
    for start in range(0, n, step):
        p, r = _prepare_chunk(a[start : start + step])
        pixels[start : start + step] = p
        reasons.extend(r)
    return PreparedBatch(pixels=pixels, reasons=reasons)


def finished_digit(img: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
    """The 28x28 pixels of a picture that already is an MNIST digit, else ``None`` (it is to be prepared).

    One rule for every route that sees pictures (``classify`` on an ``Image`` column, the Daft
    provider): a 28x28 grey picture (one channel, or equal RGB channels, opaque) whose ink is
    bright on a dark background (the border's median and the picture's median both under
    128), as MNIST's own digits, goes through as it is. Dark ink on light paper at 28x28 is a
    picture to prepare (inverted, cropped, centred), like any other size.
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.dtype != np.uint8 or a.shape[:2] != (FRAME, FRAME):
        return None
    if a.ndim == 3:
        if a.shape[2] not in (3, 4) or (a.shape[2] == 4 and (a[..., 3] != 255).any()):
            return None
        if not ((a[..., 1] == a[..., 0]).all() and (a[..., 2] == a[..., 0]).all()):
            return None
        a = a[..., 0]
    ring = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    if np.median(ring) >= 128 or np.median(a) >= 128:
        return None
    return np.ascontiguousarray(a)


# --- steps -----------------------------------------------------------------------------


def size_reason(h: int, w: int) -> str | None:
    """Why an ``h`` x ``w`` canvas cannot hold a digit, whatever its pixels; ``None`` if it can."""
    if h == 0 or w == 0:
        return f"image is empty ({h}x{w} pixels)"
    if min(h, w) < _MIN_SIDE or max(h, w) < _MIN_LONG_SIDE:
        return f"image is too small to hold a digit ({h}x{w} pixels)"
    return None


def check_image(arr: npt.NDArray[np.generic], where: str) -> npt.NDArray[np.uint8]:
    if arr.dtype != np.uint8:
        raise TypeError(f"{where}: expected uint8 pixels, got dtype {arr.dtype}")
    out = np.asarray(arr, dtype=np.uint8)
    if out.ndim == 2:
        out = out[..., None]
    if out.ndim != 3 or out.shape[2] not in (1, 3, 4):
        raise ValueError(f"{where}: expected shape HxW, HxWx1, HxWx3 or HxWx4, got {arr.shape}")
    return out


def _prepare_chunk(a: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], list[str | None]]:
    # Blank: no contrast at all, neither in the composited grey (a fully transparent picture is
    # all paper) nor in any channel. The channels count because compositing multiplies colour by
    # alpha: flat colour under a flat, noisy alpha (+-6 levels each) varies by over 16 grey levels.
    # (One channel at a time: numpy reduces (N, H, W) slices over (H, W) 20x faster than (N, H, W, C).)
    channel_range = np.max(
        [a[..., c].max(axis=(1, 2)).astype(np.int16) - a[..., c].min(axis=(1, 2)) for c in range(a.shape[3])], axis=0
    )
    gray = gray_downscaled(a)  # large pictures a strip at a time: never a float copy of the whole
    ink = ink_bright(gray)
    contrast = np.minimum(ink.max(axis=(1, 2)) - ink.min(axis=(1, 2)), channel_range)
    level = np.median(border(ink), axis=1).astype(np.float32)
    clean = (np.abs(ink - level[:, None, None]) <= 0.5).mean(axis=(1, 2)) >= CLEAN_FRACTION
    x = _remove_background(ink, level, clean)
    y, coverage, snr = stretch(x, clean)
    y, marks = find_marks(y, drop_specks=min(y.shape[1:]) >= 48)  # small pictures keep every mark
    marks_say = no_digit_reasons(marks, ink_features(y, x, _ink_box(y)))
    # Several digits side by side are not one digit (28x28 inputs are digits by contract).
    several = [0] * len(y)
    for i in np.flatnonzero(column_gap(y)).tolist() if y.shape[1:] != (FRAME, FRAME) else []:
        several[i] = clear_digit_count(y[i])
    y = _normalize_strokes(y)
    y0, y1, x0, x1 = _ink_box(y)
    out = resample(y, y0, y1, x0, x1)
    reasons: list[str | None] = []
    for i in range(len(a)):
        reason: str | None = None
        if contrast[i] < MIN_CONTRAST:
            reason = "image is blank (no ink)"
        elif snr[i] < MIN_SNR and min(y.shape[1:]) >= 48:  # small pictures keep shading: no judge
            reason = f"image has no clear digit: the ink is only {snr[i]:.1f}x the background's noise"
        elif y1[i] <= y0[i]:
            reason = "image has no clear digit: no ink stands out from the background"
        elif coverage[i] > MAX_COVERAGE:
            reason = f"image has no clear digit: ink covers {coverage[i]:.0%} of the picture"
        elif (say := marks_say[i]) is not None and not (several[i] > 1 and say.startswith(SCATTERED_REASON)):
            reason = say  # the ink must look like pen strokes (vision/_marks.py)
        elif several[i] > 1:  # (several digits are several marks: not scattered specks)
            reason = f"{several[i]} digits found: read it with read_number"
        reasons.append(reason)
    bad = np.array([r is not None for r in reasons], dtype=bool)
    out[bad] = 0
    return out, reasons


def ink_bright(g: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Invert the pictures whose background is the light level, so that ink is bright."""
    n = g.shape[0]
    flat = g.reshape(n, -1)
    # The extremes, not percentiles: a small digit on a large canvas is under 1% of the pixels.
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    med = np.median(flat, axis=1)
    edge = np.median(border(g), axis=1)
    mid = (lo + hi) / 2
    score = (edge - mid) + (med - mid)
    # Ties (symmetric histograms) are broken by the mean: ink is the minority.
    tie = np.abs(score) < 1e-3
    score = np.where(tie, flat.mean(axis=1) - mid, score)
    light = score > 0
    return np.where(light[:, None, None], 255.0 - g, g).astype(np.float32)


def _remove_background(
    x: npt.NDArray[np.float32], level: npt.NDArray[np.float32], clean: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float32]:
    """Subtract the background: the border ``level`` from clean pictures, a smooth surface from
    the other larger ones; then straight lines."""
    h, w = x.shape[1:]
    out = np.asarray(np.maximum(x - level[:, None, None], 0.0), dtype=np.float32)
    if min(h, w) >= 48 and not clean.all():  # (small pictures keep their shading)
        out[~clean] = uneven_background_removed(x[~clean])
    # Straight grid or ruling lines, and dark picture edges, at any size: what a whole row or
    # column has in common (its 5th percentile: a digit's stroke, even in a tight crop, leaves
    # some of a row dark; MNIST digits leave most of it, so they go through unchanged).
    out = np.maximum(out - np.percentile(out, 5.0, axis=2, keepdims=True), 0.0)
    out = np.maximum(out - np.percentile(out, 5.0, axis=1, keepdims=True), 0.0)
    return np.asarray(out, dtype=np.float32)


def uneven_background_removed(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``x`` less a smooth background: each of 8x8 blocks' 25th percentile, median-smoothed over
    neighbouring blocks (blocks full of ink do not count), interpolated bilinearly."""
    n, h, w = x.shape
    grid = 8
    bh, bw = h // grid, w // grid
    blocks = x[:, : bh * grid, : bw * grid].reshape(n, grid, bh, grid, bw).transpose(0, 1, 3, 2, 4)
    low = np.percentile(blocks.reshape(n, grid, grid, bh * bw), 25.0, axis=3).astype(np.float32)
    padded = np.pad(low, ((0, 0), (1, 1), (1, 1)), mode="edge")
    shifts = [padded[:, i : i + grid, j : j + grid] for i in range(3) for j in range(3)]
    smooth = np.median(np.stack(shifts), axis=0).astype(np.float32)
    surface = interp_matrix(h, grid) @ smooth @ interp_matrix(w, grid).T
    return np.asarray(np.maximum(x - surface, 0.0), dtype=np.float32)


def stretch(
    x: npt.NDArray[np.float32],
    clean: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Map background to 0 and typical ink to 1.

    Returns:
        The image in [0, 1], the fraction of it that is ink, and the typical ink level over the
        background's noise (infinite for clean pictures).
    """
    n, h, w = x.shape
    p = h * w
    flat_x = x.reshape(n, p)
    # Clean pictures keep their grey levels (MNIST goes through unchanged): 0 to their maximum.
    lo = np.zeros(n, dtype=np.float32)
    hi = flat_x.max(axis=1)
    snr = np.full(n, np.inf)
    noisy = ~clean
    if noisy.any():
        # Others lose noise, grid lines and paper texture below a ramp that starts part way to
        # Otsu's threshold, and have their typical ink (the median above Otsu's) saturated.
        s = np.sort(flat_x[noisy], axis=1)
        t = otsu(s)
        above = (s > t[:, None]).sum(axis=1)
        rows = np.arange(len(s))
        ink = np.where(above > 0, s[rows, np.clip(p - above + above // 2, 0, p - 1)], s[:, -1])
        # When the ink is a small fraction of the picture, Otsu's threshold can fall between the
        # paper and its texture or grid lines: the brightest 0.5% then says where the ink is.
        peak = s[:, p - 1 - p // 200]
        ink = np.maximum(ink, 0.6 * peak)
        below = p - above
        q1 = s[rows, np.clip(below // 4, 0, p - 1)]
        q3 = s[rows, np.clip((3 * below) // 4, 0, p - 1)]
        noise = (q3 - q1) / 1.349
        lo[noisy] = np.minimum(np.maximum(np.maximum(0.4 * t, 0.3 * ink), 3.0 * noise), 0.8 * ink)
        hi[noisy] = ink
        snr[noisy] = ink / np.maximum(noise, 1e-3)
    hi = np.maximum(hi, lo + 1.0)
    y = (x - lo[:, None, None]) * (1.0 / (hi - lo))[:, None, None]
    np.clip(y, 0.0, 1.0, out=y)
    coverage = (y > 0.5).reshape(n, p).mean(axis=1)
    return y.astype(np.float32, copy=False), coverage, snr


def _normalize_strokes(y: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Dilate pictures whose strokes would come out much thinner than MNIST's."""
    mask = y > 0.5
    width = stroke_width(mask)
    y0, y1, x0, x1 = _ink_box(y)
    side = np.maximum(y1 - y0, x1 - x0).astype(np.float64)
    out_width = width * BOX / np.maximum(side, 1.0)
    need = out_width < _THIN_STROKE * _TARGET_STROKE
    if not need.any():
        return y
    # Grow each side of the strokes by `grow` working pixels: a max filter of whole radius
    # ceil(grow), its new ring weighted by the fraction, so that sub-pixel growth is possible.
    grow = np.where(need, (_TARGET_STROKE * side / BOX - width) / 2, 0.0)
    grow = np.clip(grow, 0.0, max(1.0, y.shape[1] / 16))
    radius = np.ceil(grow).astype(np.int64)
    y = y.copy()
    for r in np.unique(radius[radius > 0]):
        sel = radius == r
        frac = (grow[sel] / r).astype(np.float32)[:, None, None]
        y[sel] = np.maximum(y[sel], frac * max_filter(y[sel], int(r)))
    return y


def _ink_box(y: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int64], ...]:
    """Bounding box ``(y0, y1, x0, x1)`` (end-exclusive) of the digit's ink, per picture."""
    y0, y1 = profile_span(y.sum(axis=2))
    x0, x1 = profile_span(y.sum(axis=1))
    return y0, y1, x0, x1

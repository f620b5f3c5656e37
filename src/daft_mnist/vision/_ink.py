"""The ink of a picture of a number, found as :mod:`daft_mnist.vision._prepare` finds a digit's.

Steps 1-5 of the single-digit preparation (grayscale, polarity, background surface, whole-row
lines, contrast) at a working resolution that keeps a wide number's digits large, with the same
reasons for a picture without ink. Whole-column lines stay: a ``1`` in a tight crop spans a
column, so :mod:`daft_mnist.vision._segment` tells lines from digits by their length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from daft_mnist.vision._image_ops import border, downscale, to_gray
from daft_mnist.vision._prepare import (
    CLEAN_FRACTION,
    MAX_COVERAGE,
    MIN_CONTRAST,
    MIN_SNR,
    check_image,
    ink_bright,
    size_reason,
    stretch,
    uneven_background_removed,
)

__all__ = ["InkMap", "find_ink"]


@dataclass
class InkMap:
    """What :func:`find_ink` returns for one picture of several digits.

    Attributes:
        ink: float32 ``(h, w)`` in [0, 1]: bright ink on black, at working resolution.
        factor: Working pixels are ``factor`` x ``factor`` blocks of the picture.
        reason: Why the picture holds no ink to read (``None`` when it does).
    """

    ink: npt.NDArray[np.float32]
    factor: int
    reason: str | None


def _without_row_lines(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``x`` less what each row has in common (its 5th percentile: a ruled line across the whole
    picture), except where a stroke meets the line from above or below: there the line's pixels
    stay, so that a digit sitting on the line (a flat 0's bottom along a baseline) keeps its stroke."""
    level = np.percentile(x, 5.0, axis=2, keepdims=True)
    out = np.asarray(np.maximum(x - level, 0.0), dtype=np.float32)
    peak = float(x.max())
    line = level[0, :, 0] > 0.25 * peak
    if not line.any() or line.all():
        return out
    starts = np.flatnonzero(line & ~np.concatenate(([False], line[:-1])))
    ends = np.flatnonzero(line & ~np.concatenate((line[1:], [False]))) + 1
    strong = out[0] > 0.3 * peak
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        meets = np.zeros(x.shape[2], dtype=bool)
        if a > 0:
            meets |= strong[a - 1]
        if b < x.shape[1]:
            meets |= strong[b]
        for _ in range(2):
            meets[1:] |= meets[:-1].copy()
            meets[:-1] |= meets[1:].copy()
        out[0, a:b, meets] = x[0, a:b, meets]
    return out


def find_ink(image: npt.ArrayLike, *, max_height: int = 160, max_width: int = 1024) -> InkMap:
    """The ink of a picture of a number: steps 1-5 above, at most ``max_height`` x ``max_width``
    working pixels (numbers are wide). Whole-column lines stay (a ``1`` in a tight crop spans a
    column: the caller tells lines from digits by their length); a digit's reasons apply."""
    arr = check_image(np.asarray(image), "image")
    h, w = arr.shape[:2]
    shape_reason = size_reason(h, w)
    if shape_reason is not None:
        return InkMap(np.zeros((1, 1), np.float32), 1, shape_reason)
    a = arr[None]
    factor = max(1, -(-h // max_height), -(-w // max_width))
    gray = to_gray(a)
    if factor > 1:
        gray = downscale(gray, factor)
    contrast = min(
        float(gray.max() - gray.min()),
        float(max(int(a[..., c].max()) - int(a[..., c].min()) for c in range(a.shape[3]))),
    )
    ink = ink_bright(gray)
    level = np.median(border(ink), axis=1).astype(np.float32)
    clean = (np.abs(ink - level[:, None, None]) <= 0.5).mean(axis=(1, 2)) >= CLEAN_FRACTION
    x = np.asarray(np.maximum(ink - level[:, None, None], 0.0), dtype=np.float32)
    if min(ink.shape[1:]) >= 48 and not clean[0]:
        x = uneven_background_removed(ink)
    x = _without_row_lines(x)
    y, coverage, snr = stretch(x, clean)
    reason: str | None = None
    if contrast < MIN_CONTRAST:
        reason = "image is blank (no ink)"
    elif snr[0] < MIN_SNR - 1.0 and min(y.shape[1:]) >= 48:  # patterned backgrounds (cheques) raise the noise
        reason = f"image has no clear digit: the ink is only {snr[0]:.1f}x the background's noise"
    elif not (y[0] > 0.5).any():
        reason = "image has no clear digit: no ink stands out from the background"
    elif coverage[0] > MAX_COVERAGE:
        reason = f"image has no clear digit: ink covers {coverage[0]:.0%} of the picture"
    return InkMap(y[0], factor, reason)

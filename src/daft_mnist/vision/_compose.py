"""Pictures of numbers composed from pictures of single digits, in numpy.

For tests, benchmarks and training the whole-digit scorer: digits (MNIST-style 28x28, bright on
black) are cropped, scaled to a height, and laid side by side with chosen gaps (negative gaps
overlap: touching digits), baseline shifts and a margin. Where ink overlaps the brighter wins;
an owner map says which digit each inked pixel came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from daft_mnist.vision._image_ops import max_filter, resize_matrix

__all__ = ["Composed", "as_written", "compose_number", "varied_digit"]


@dataclass
class Composed:
    """A composed number.

    Attributes:
        picture: uint8 ``(H, W)``, bright ink on black (invert it for dark on light).
        owner: int8 ``(H, W)``: which digit each inked pixel came from, ``-1`` for background.
        boxes: ``(k, 4)``: each digit's ``x0, y0, x1, y1`` (end-exclusive).
    """

    picture: npt.NDArray[np.uint8]
    owner: npt.NDArray[np.int8]
    boxes: npt.NDArray[np.int64]


def _scaled(digit: npt.NDArray[np.uint8], height: int) -> npt.NDArray[np.float32]:
    d = np.asarray(digit, dtype=np.float32)
    rows, cols = np.nonzero(d > 0.1 * d.max())
    d = d[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = d.shape
    width = max(1, round(w * height / h))
    return np.asarray(resize_matrix(h, height) @ d @ resize_matrix(w, width).T, dtype=np.float32)


def compose_number(
    digits: Sequence[npt.ArrayLike],
    *,
    height: int = 40,
    gaps: Sequence[float] | None = None,
    scales: Sequence[float] | None = None,
    shifts: Sequence[float] | None = None,
    margin: float = 0.3,
) -> Composed:
    """Lay digit pictures side by side.

    Args:
        digits: uint8 pictures of one digit each, bright ink on black (MNIST style).
        height: Digit height in pixels (before ``scales``).
        gaps: Per space between digits (``len(digits) - 1``), the gap in digit heights;
            negative values overlap the digits' boxes (0 or less: touching when the strokes meet).
        scales: Per digit, a factor on ``height``.
        shifts: Per digit, the baseline's shift in digit heights (positive: down).
        margin: The blank margin around the number, in digit heights.
    """
    k = len(digits)
    gaps = list(gaps) if gaps is not None else [0.25] * (k - 1)
    scales = list(scales) if scales is not None else [1.0] * k
    shifts = list(shifts) if shifts is not None else [0.0] * k
    if len(gaps) != k - 1 or len(scales) != k or len(shifts) != k:
        raise ValueError(
            f"expected {k - 1} gaps and {k} scales and shifts, got {len(gaps)}, {len(scales)}, {len(shifts)}"
        )
    parts = [
        _scaled(np.asarray(d, dtype=np.uint8), max(4, round(height * s))) for d, s in zip(digits, scales, strict=True)
    ]
    pad = round(margin * height)
    xs, x = [], pad
    for i, p in enumerate(parts):
        if i:
            x = max(pad, x + round(gaps[i - 1] * height))
        xs.append(x)
        x += p.shape[1]
    bottom = [pad + height + round(s * height) for s in shifts]
    top = min(b - p.shape[0] for b, p in zip(bottom, parts, strict=True))
    dy = pad - top
    width = max(xi + p.shape[1] for xi, p in zip(xs, parts, strict=True)) + pad
    full_h = max(b + dy for b in bottom) + pad
    canvas = np.zeros((full_h, width), dtype=np.float32)
    owner = np.full((full_h, width), -1, dtype=np.int8)
    boxes = []
    for i, (p, xi, b) in enumerate(zip(parts, xs, bottom, strict=True)):
        y0 = b + dy - p.shape[0]
        region = canvas[y0 : y0 + p.shape[0], xi : xi + p.shape[1]]
        wins = p > region
        region[wins] = p[wins]
        owner[y0 : y0 + p.shape[0], xi : xi + p.shape[1]][wins & (p > 25)] = i
        boxes.append((xi, y0, xi + p.shape[1], y0 + p.shape[0]))
    picture = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return Composed(picture, owner, np.asarray(boxes, dtype=np.int64))


def varied_digit(rng: np.random.Generator, digit: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """A digit picture (uint8, bright on black) now and then stretched or squeezed sideways
    (12 %: 1.2-1.7 times as wide, 10 %: 0.65-0.85 times), and now and then with thicker strokes
    (20 %): the variety of real handwriting that MNIST's size-normalized digits lack, for training."""
    d = np.asarray(digit, dtype=np.float32)
    w = d.shape[1]
    r = rng.random()
    if r < 0.12:
        d = d @ resize_matrix(w, round(w * rng.uniform(1.2, 1.7))).T
    elif r < 0.22:
        d = d @ resize_matrix(w, round(w * rng.uniform(0.65, 0.85))).T
    if rng.random() < 0.2:
        d = max_filter(d[None], 1)[0]
    return np.clip(np.rint(d), 0, 255).astype(np.uint8)


def as_written(rng: np.random.Generator, composed: Composed) -> npt.NDArray[np.uint8]:
    """The composed picture as it may come to the reader, for training: now and then (20 %) an
    underline or a ruled baseline from a random start to the right edge, and either polarity."""
    pic = composed.picture
    if rng.random() < 0.2:
        y = min(pic.shape[0] - 1, int(composed.boxes[:, 3].max()) + int(rng.integers(0, 4)))
        x0 = int(rng.integers(0, max(1, composed.boxes[0, 0])))
        pic = pic.copy()
        pic[y : y + 2, x0:] = np.maximum(pic[y : y + 2, x0:], 200)
    if rng.random() < 0.5:
        pic = 255 - pic
    return pic

"""Generated pictures with no digit on them, seeded: what a camera or scanner brings without a digit.

Blank pages with specks, dust, smudges, shadows, paper texture, ruled and squared lines, filled
squares and blobs, alone and together, light paper and dark, grey and colour, 28 to 480 pixels.
Used by ``tests/test_no_digit.py`` and ``benchmarks/blank_pages.py`` (the false-digit rate).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

KINDS = (
    "plain",
    "speck",
    "dust",
    "smudge",
    "shadow",
    "texture",
    "ruled",
    "grid",
    "square",
    "blob",
    "speck+shadow+texture",
    "smudge+ruled",
    "square+texture",
    "dust+grid+shadow",
)
"""Every kind of page :func:`blank_pages` makes, in order."""

SIZES = ((28, 28), (40, 40), (64, 64), (100, 80), (200, 200), (300, 240), (480, 360))


def _canvas(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return np.full((h, w), rng.uniform(195.0, 250.0), dtype=np.float64)


def _speck(page: np.ndarray, rng: np.random.Generator, count: int | None = None) -> None:
    h, w = page.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(count if count is not None else int(rng.integers(1, 4))):
        r = rng.uniform(0.5, max(1.0, 0.012 * max(h, w)))
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        dark = rng.uniform(60.0, 180.0)
        page -= dark * (np.hypot(yy - cy, xx - cx) <= r)


def _dust(page: np.ndarray, rng: np.random.Generator) -> None:
    _speck(page, rng, int(rng.integers(8, 40)))


def _smudge(page: np.ndarray, rng: np.random.Generator) -> None:
    h, w = page.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(1, 3))):
        s = rng.uniform(0.05, 0.2) * max(h, w)
        cy, cx = rng.uniform(0.2 * h, 0.8 * h), rng.uniform(0.2 * w, 0.8 * w)
        a = rng.uniform(20.0, 90.0)
        sy, sx = s * rng.uniform(0.6, 1.4), s * rng.uniform(0.6, 1.4)
        page -= a * np.exp(-(((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2) / 2)


def _shadow(page: np.ndarray, rng: np.random.Generator) -> None:
    h, w = page.shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * yy + np.sin(angle) * xx
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-9)
    page -= rng.uniform(20.0, 90.0) * ramp ** rng.uniform(1.0, 3.0)


def _texture(page: np.ndarray, rng: np.random.Generator) -> None:
    h, w = page.shape
    page += rng.normal(0.0, rng.uniform(2.0, 10.0), (h, w))
    coarse = rng.normal(0.0, rng.uniform(2.0, 8.0), (-(-h // 16), -(-w // 16)))
    page += np.kron(coarse, np.ones((16, 16)))[:h, :w]


def _ruled(page: np.ndarray, rng: np.random.Generator, vertical: bool = False) -> None:
    h, w = page.shape
    step = max(4, int(rng.uniform(0.06, 0.15) * max(h, w)))
    width = max(1, round(0.004 * max(h, w)))
    dark = rng.uniform(30.0, 90.0)
    for y in range(int(rng.integers(0, step)), h, step):
        page[y : y + width, :] -= dark
    if vertical:
        for x in range(int(rng.integers(0, step)), w, step):
            page[:, x : x + width] -= dark


def _grid(page: np.ndarray, rng: np.random.Generator) -> None:
    _ruled(page, rng, vertical=True)


def _square(page: np.ndarray, rng: np.random.Generator) -> None:
    h, w = page.shape
    side = int(rng.uniform(0.1, 0.4) * min(h, w)) + 1
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    ratio = rng.uniform(0.7, 1.4)
    sh = max(1, min(h - y, int(side * ratio)))
    page[y : y + sh, x : x + side] -= rng.uniform(120.0, 200.0)


def _blob(page: np.ndarray, rng: np.random.Generator) -> None:
    h, w = page.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r = rng.uniform(0.06, 0.2) * min(h, w) + 1
    cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
    page -= rng.uniform(100.0, 200.0) * (np.hypot((yy - cy) / rng.uniform(0.7, 1.3), xx - cx) <= r)


_STEPS: dict[str, Callable[[np.ndarray, np.random.Generator], None]] = {
    "plain": lambda page, rng: None,
    "speck": _speck,
    "dust": _dust,
    "smudge": _smudge,
    "shadow": _shadow,
    "texture": _texture,
    "ruled": _ruled,
    "grid": _grid,
    "square": _square,
    "blob": _blob,
}


def blank_page(kind: str, rng: np.random.Generator, size: tuple[int, int] | None = None) -> np.ndarray:
    """One page of ``kind`` (``"smudge+ruled"``: both), uint8: ``HxW``, or ``HxWx3`` (coloured, a third of them).

    A fifth of them are dark paper with light marks (a photo of a blackboard, a negative).
    """
    h, w = size if size is not None else SIZES[int(rng.integers(0, len(SIZES)))]
    page = _canvas(rng, h, w)
    for step in kind.split("+"):
        _STEPS[step](page, rng)
    page = np.clip(page, 0, 255)
    if rng.uniform() < 0.2:
        page = 255.0 - page
    if rng.uniform() < 1 / 3:
        tint = rng.uniform(0.85, 1.0, 3)
        return np.clip(page[..., None] * tint, 0, 255).round().astype(np.uint8)
    return page.round().astype(np.uint8)


def blank_pages(n_per_kind: int, seed: int = 0) -> Iterator[tuple[str, np.ndarray]]:
    """``(kind, page)`` for ``n_per_kind`` pages of each of :data:`KINDS`, seeded."""
    rng = np.random.default_rng(seed)
    for kind in KINDS:
        for _ in range(n_per_kind):
            yield kind, blank_page(kind, rng)

"""The one grid both picture functions of :mod:`daft_mnist.plots` draw with (PIL, imported when drawing).

:func:`grid` lays equal cells out with their captions; :func:`check_layout` and
:func:`column_or_default` are the grids' one option check and one rule for caption columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from daft_mnist.data._options import check_int

if TYPE_CHECKING:
    import daft
    from PIL import Image

__all__ = [
    "SIDE",
    "Caption",
    "check_layout",
    "column_or_default",
    "digit_picture",
    "font",
    "grid",
    "pair_picture",
    "text_size",
    "thumbnail",
]

SIDE = 28
"""An MNIST digit's side in pixels."""


def font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pillow built without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def text_size(draw: Any, text: str, font: Any) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return int(right - left), int(bottom - top)


Caption = list[tuple[str, Any]]
"""The caption lines of one grid cell, each with its ink (a grey level, or an RGB tuple)."""


def check_layout(limit: int, columns: int, size: int) -> tuple[int, int, int]:
    """The grids' one option check: ``limit`` and ``columns`` at least 1, ``size`` at least 28 (as ints)."""
    return (
        check_int("limit", limit, minimum=1),
        check_int("columns", columns, minimum=1),
        check_int("size", size, minimum=SIDE),
    )


def column_or_default(df: daft.DataFrame, value: str | None, default: str) -> str | None:
    """The grids' one rule for caption columns: ``"auto"`` is ``default`` when the frame has it,
    else none; a named column must exist (checked by the caller); ``None`` is none."""
    if value == "auto":
        return default if default in df.column_names else None
    return value


def grid(cells: Sequence[Image.Image], captions: Sequence[Caption], *, columns: int, mode: str, font: Any) -> Any:
    """The grids' one layout: equal cells of ``columns`` per row, each picture centered at the top
    of its cell with its caption lines centered under it; an empty grid is a small notice."""
    from PIL import Image, ImageDraw

    white = 255 if mode == "L" else (255, 255, 255)
    pad = 4
    probe = ImageDraw.Draw(Image.new(mode, (1, 1)))
    sizes = [text_size(probe, text, font) for lines in captions for text, _ in lines]
    line_h = max([h for _, h in sizes] or [0]) + 3
    text_w = max([w for w, _ in sizes] or [0])
    if not cells:
        empty = Image.new(mode, (max(text_w, 4 * SIDE) + 2 * pad, SIDE + 2 * pad), color=white)
        ImageDraw.Draw(empty).text((pad, pad), "no rows", fill=0 if mode == "L" else (0, 0, 0), font=font)
        return empty
    width = max(c.width for c in cells)
    height = max(c.height for c in cells)
    lines = max(len(c) for c in captions)
    cell_w = max(width, text_w) + 2 * pad
    cell_h = height + 2 * pad + (line_h * lines + pad if lines else 0)
    cols = min(columns, len(cells))
    out = Image.new(mode, (cols * cell_w, -(-len(cells) // cols) * cell_h), color=white)
    draw = ImageDraw.Draw(out)
    for i, (cell, caption) in enumerate(zip(cells, captions, strict=True)):
        x0, y0 = (i % cols) * cell_w, (i // cols) * cell_h
        out.paste(cell, (x0 + (cell_w - cell.width) // 2, y0 + pad))
        for k, (text, ink) in enumerate(caption):
            tw, _ = text_size(draw, text, font)
            draw.text((x0 + (cell_w - tw) // 2, y0 + pad + height + pad + k * line_h), text, fill=ink, font=font)
    return out


def digit_picture(pixels: npt.NDArray[np.uint8], size: int) -> Image.Image:
    """One 28x28 digit, white on black as in MNIST, scaled to ``size`` pixels (nearest neighbour)."""
    from PIL import Image

    digit = Image.fromarray(pixels.reshape(SIDE, SIDE), mode="L")
    return digit if size == SIDE else digit.resize((size, size), Image.Resampling.NEAREST)


def thumbnail(value: Any, size: int) -> Image.Image:
    """A picture of any size and mode (array or ``PIL.Image``) fitted into ``size`` x ``size``, RGB."""
    from PIL import Image

    if isinstance(value, Image.Image):
        picture = value
    else:
        arr = np.asarray(value)
        if arr.ndim == 3 and arr.shape[2] in (1, 2):
            arr = arr[..., 0]  # L, or LA without its alpha
        picture = Image.fromarray(np.ascontiguousarray(arr.astype(np.uint8, copy=False)))
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        canvas = Image.new("RGBA", picture.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(canvas, picture.convert("RGBA"))
    picture = picture.convert("RGB")
    w, h = picture.size
    ratio = size / max(w, h, 1)
    shape = (max(1, round(w * ratio)), max(1, round(h * ratio)))
    resample = Image.Resampling.NEAREST if ratio > 1 else Image.Resampling.BOX
    return picture.resize(shape, resample)


def pair_picture(original: Any, prepared: Any, size: int) -> Image.Image:
    """The original picture fitted into a framed ``size`` square, beside its prepared digit."""
    from PIL import Image, ImageDraw

    gap = 6
    pair = Image.new("RGB", (2 * size + gap, size), color=(255, 255, 255))
    ImageDraw.Draw(pair).rectangle((0, 0, size - 1, size - 1), outline=(200, 200, 200))
    if original is not None:
        thumb = thumbnail(original, size)
        pair.paste(thumb, ((size - thumb.width) // 2, (size - thumb.height) // 2))
    digit = np.zeros(SIDE * SIDE, dtype=np.uint8)
    if prepared is not None:
        digit = np.asarray(prepared, dtype=np.uint8).reshape(-1)
    pair.paste(digit_picture(digit, size).convert("RGB"), (size + gap, 0))
    return pair

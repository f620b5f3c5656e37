"""The photo decoder: one image file -> an upright 8-bit picture no larger than a digit needs.

A phone photo is 12 megapixels; the preparation (``vision._prepare``) works at a longest side of
at most :data:`WORK_SIDE` pixels (it area-averages larger pictures by an integer factor ``k``).
Each file is therefore decoded straight at that working size: JPEG files with Pillow's
``draft()`` (the decoder's DCT scaling, 1/2 to 1/8 of the size, at no extra cost; and only the
luminance, JPEG's Y channel, which is the grey the preparation computes from RGB with the same
ITU-R 601 weights: 12 % faster end to end and a third of the memory) and then an
area-averaging ``resize`` (``BOX``) to the working size; other formats are decoded whole, one at a
time, and area-averaged. The working size is what the preparation would have worked at from the
full picture (``ceil(W / k) x ceil(H / k)``), so nothing it uses is lost, and no full-size picture
outlives its decode.

Then, in this order:

* the EXIF orientation (tag 274, all eight values, as ``ImageOps.exif_transpose`` applies it) is
  applied, so a photo stored sideways with an orientation tag comes out upright;
* the pixels become one of the modes the preparation reads, ``L``, ``RGB`` or ``RGBA`` (uint8):
  16-bit (``I;16*``) and 32-bit (``I``) greys are scaled from their bit depth, floats (``F``) in
  [0, 1] or 0-255, ``1``-bit to 0/255, ``LA``/``La``/``PA``/palette with transparency to
  ``RGBA``, ``P``/``CMYK``/``YCbCr``/``LAB``/``HSV`` to ``RGB``.

A file that cannot give a whole picture is a :class:`DecodeError` with a short reason: missing,
empty, not an image format Pillow reads, truncated (``ImageFile.LOAD_TRUNCATED_IMAGES`` is left
False: a cut-off file is never half a picture), corrupt, or too large to decode
(``PIL.Image.MAX_IMAGE_PIXELS``). Pure Pillow and numpy; no Daft.
"""

from __future__ import annotations

import io
import os
import re
import threading
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from daft_mnist.errors import DataError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["WORK_SIDE", "DecodeError", "Decoded", "decode_file", "decoded_count", "to_8bit", "working_size"]

WORK_SIDE = 256
"""Longest side the preparation works at (``vision._image_ops.WORK_MAX``; a test keeps them equal)."""

_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
              7: "TRANSVERSE", 8: "ROTATE_90"}  # fmt: skip
"""EXIF orientation -> the ``Image.Transpose`` that makes the picture upright (``ImageOps.exif_transpose``'s table)."""

_COUNT_LOCK = threading.Lock()
_decoded_total = 0


def decoded_count() -> int:
    """How many pictures this process has decoded so far (for tests that count pictures in flight)."""
    return _decoded_total


def _count_one() -> None:
    global _decoded_total
    with _COUNT_LOCK:
        _decoded_total += 1


class DecodeError(DataError):
    """A file that gives no whole picture; ``reason`` says why in a few words (no file name)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Decoded:
    """A decoded picture.

    Attributes:
        pixels: uint8 ``(H, W, C)``, ``C`` = 1 (L), 3 (RGB) or 4 (RGBA), upright, at most the
            working size.
        original: The file's own ``(width, height)`` before orientation and scaling.
        orientation: The EXIF orientation applied (1: none).
    """

    pixels: npt.NDArray[np.uint8]
    original: tuple[int, int]
    orientation: int = 1


def working_size(width: int, height: int, side: int = WORK_SIDE) -> tuple[int, int]:
    """The ``(width, height)`` the preparation works at for a ``width`` x ``height`` picture.

    Pictures whose longest side is at most ``side`` keep their size; larger ones are divided
    by ``k = ceil(max(width, height) / side)``, rounding up, as the preparation's area average.
    """
    k = -(-max(width, height) // side)
    if k <= 1:
        return width, height
    return -(-width // k), -(-height // k)


def decode_file(source: str | os.PathLike[str] | bytes | IO[bytes], *, side: int = WORK_SIDE) -> Decoded:
    """Decode one image file (a path, its bytes or an open binary file) at the working size.

    Args:
        source: A local path, the file's bytes, or a binary file object.
        side: Longest side the picture is needed at (default :data:`WORK_SIDE`).

    Returns:
        The :class:`Decoded` picture.

    Raises:
        DecodeError: The file is missing or empty, not an image, truncated, corrupt, or too
            large to decode; ``reason`` says which.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise DecodeError("empty file (0 bytes)")
        fp: Any = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            if os.path.getsize(source) == 0:
                raise DecodeError("empty file (0 bytes)")
            fp = open(source, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise DecodeError("file not found") from None
        except IsADirectoryError:
            raise DecodeError("a folder, not a file") from None
        except PermissionError:
            raise DecodeError("permission denied") from None
    else:
        fp = source
    try:
        with Image.open(fp) as im:
            decoded = _decode_opened(im, side)
    except DecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise DecodeError(_too_large(str(exc))) from None
    except UnidentifiedImageError:
        raise DecodeError("not an image file Pillow can read (unknown format)") from None
    except MemoryError:
        raise DecodeError("too large to decode: out of memory") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError) as exc:
        raise DecodeError(_broken(exc)) from None
    finally:
        if fp is not source:
            fp.close()
    _count_one()
    return decoded


def _too_large(message: str) -> str:
    from PIL import Image

    found = re.search(r"\((\d+) pixels\)", message)
    size = f"{int(found.group(1)) / 1e6:.1f} MP" if found else "its size"
    limit = Image.MAX_IMAGE_PIXELS
    shown = f"{2 * limit / 1e6:g} MP, twice PIL.Image.MAX_IMAGE_PIXELS" if limit else "PIL.Image.MAX_IMAGE_PIXELS"
    return f"too large to decode: {size} is over the limit of {shown} (a decompression bomb guard)"


def _broken(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return f"truncated file ({text or type(exc).__name__})"
    return f"corrupt image file ({type(exc).__name__}: {text})"


def _orientation(im: PILImage.Image) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block: the picture as stored
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def _decode_opened(im: PILImage.Image, side: int) -> Decoded:
    from PIL import Image

    original = im.size
    orientation = _orientation(im)
    target = working_size(*original, side=side)
    if im.format == "JPEG" and im.mode in ("L", "RGB"):
        # DCT scaling to at least `target`, and only the luminance (JPEG's Y is the preparation's grey).
        im.draft("L", target)
    im.load()  # decode now: truncated and corrupt files fail here, not later
    if im.size[0] < 1 or im.size[1] < 1:
        raise DecodeError(f"empty picture ({original[0]}x{original[1]} pixels)")
    out = to_8bit(im)
    if out.size != target:
        out = out.resize(target, Image.Resampling.BOX)
    if orientation in _TRANSPOSE:
        out = out.transpose(Image.Transpose[_TRANSPOSE[orientation]])
    pixels = np.asarray(out, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return Decoded(np.ascontiguousarray(pixels), original, orientation)


def to_8bit(im: PILImage.Image) -> PILImage.Image:
    """``im`` in ``L``, ``RGB`` or ``RGBA`` with 8 bits a channel (the module's rules, above)."""
    from PIL import Image

    mode = im.mode
    if mode in ("L", "RGB", "RGBA"):
        return im
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im)
        if mode == "F":
            a = np.nan_to_num(a.astype(np.float64))
            top = float(a.max()) if a.size else 0.0
            scaled = a * 255.0 if top <= 1.0 else a
        else:
            a = a.astype(np.float64)
            top = float(a.max()) if a.size else 0.0
            depth = 8 if top <= 255 else 16 if top <= 65535 else 32
            scaled = a / ((1 << depth) - 1) * 255.0
        return Image.fromarray(np.clip(scaled, 0, 255).round().astype(np.uint8), "L")
    if mode in ("LA", "La", "PA", "RGBa", "RGBX") or (mode == "P" and "transparency" in im.info):
        return im.convert("RGBA") if mode != "RGBX" else im.convert("RGB")
    return im.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV, ...

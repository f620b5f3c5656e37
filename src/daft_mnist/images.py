"""Expression builders for MNIST pixels: validate, reshape to 28x28, render as images.

Every builder takes and returns a :class:`daft.Expression`, so it composes inside any
``select`` / ``with_column``. The work is done by Daft's native casts; the only Python that
runs is one vectorized check per batch (never per row), which turns what a bare cast would
silently make null (a list of the wrong length, a pixel outside 0-255) into a clear error.

A column that is already valid by its type (``FixedSizeList[UInt8; 784]`` as
:func:`~daft_mnist.load_mnist` gives, ``Tensor[UInt8; [28, 28]]``, ``Image[L; 28 x 28]``)
goes through that check as a zero-copy pass-through: no copy and no scan of its values,
only a look at its type and null counts. The DataFrame helpers (:mod:`daft_mnist.frames`)
skip the UDF altogether for such columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from daft_mnist.data._columns import pixel_checker
from daft_mnist.data._rules import HEIGHT, WIDTH, OnError, pixels_to_numpy

if TYPE_CHECKING:
    from daft import Expression

__all__ = [
    "checked_pixels",
    "image_2d",
    "pixels_to_numpy",
    "to_image",
]


def _name_of(expr: Expression) -> str:
    try:
        return str(expr.name())
    except Exception:
        return "image"


def checked_pixels(image: Expression, *, on_error: OnError = "raise") -> Expression:
    """Check that every row holds exactly 784 integer pixels in 0-255; return them as ``List[UInt8; 784]``.

    A bare ``cast`` turns a wrong-length list or an out-of-range pixel into a silent null;
    this raises :class:`~daft_mnist.errors.DataError` naming the column, the row (within its
    batch) and the problem instead.

    Args:
        image: Lists of pixels (any integer or float type), 28x28 tensors or images.
        on_error: What a malformed row (wrong length, a pixel outside 0-255) does:
            ``"raise"`` (default) fails the query naming the row; ``"null"`` keeps every
            row, with null for malformed ones, and logs them. A null row stays null whatever the setting,
            as in Daft's own functions: it was reported by the step that made it null.

    Returns:
        A ``FixedSizeList[UInt8; 784]`` expression with the input's name.

    Input that is already ``FixedSizeList[UInt8; 784]`` (or a 28x28 uint8 tensor or image)
    without null rows passes through without a copy or a scan of its pixels.
    """
    return _checked(image, on_error, "checked_pixels")


def _checked(image: Expression, on_error: OnError, step: str) -> Expression:
    name = _name_of(image)
    out: Expression = pixel_checker(on_error, name, step=step)(image).alias(name)
    return out


def image_2d(image: Expression, *, on_error: OnError = "raise") -> Expression:
    """Reshape 784 pixels into a fixed-shape ``Tensor[UInt8; [28, 28]]`` (row-major).

    Args:
        image: Lists of 784 pixel values (as read by :func:`~daft_mnist.load_mnist`) or
            anything :func:`checked_pixels` accepts.
        on_error: See :func:`checked_pixels`.

    Returns:
        An expression of type ``Tensor[UInt8; [28, 28]]``.

    Examples:
        >>> import daft
        >>> from daft_mnist import image_2d
        >>> df = daft.from_pydict({"image": [list(range(784))]})
        >>> df.select(image_2d(df["image"]).alias("t")).schema()["t"].dtype
        Tensor[UInt8; [28, 28]]
    """
    from daft import DataType

    return _checked(image, on_error, "image_2d").cast(DataType.tensor(DataType.uint8(), (HEIGHT, WIDTH)))


def to_image(image: Expression, *, on_error: OnError = "raise") -> Expression:
    """Turn 28x28 pixels into a Daft ``Image[L; 28 x 28]`` (grayscale), shown as thumbnails in notebooks.

    Args:
        image: A ``Tensor[UInt8; [28, 28]]`` (from :func:`image_2d`) or 784-pixel lists.
        on_error: See :func:`checked_pixels`: ``"raise"`` (default) fails on a malformed
            row; ``"null"`` gives a null image for it, and counts it.

    Returns:
        An expression of type ``Image[L; 28 x 28]``.
    """
    from daft import DataType

    out: Expression = _checked(image, on_error, "to_image").cast(DataType.image("L", HEIGHT, WIDTH))
    return out

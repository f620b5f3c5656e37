"""Expression builder that prepares real pictures of digits the way MNIST's were made.

Photos, scans and drawings of any size and mode become ``Tensor[UInt8; [28, 28]]`` MNIST
images: grayscale (transparency composited onto the paper), ink made bright on dark, the
background level removed, cropped to the ink, the longest side scaled to 20 pixels with
antialiasing, and the centre of mass moved to the centre of the 28x28 frame. The work is
vectorized numpy over each batch (``daft_mnist.vision._prepare``); images of one shape go through
together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from daft_mnist.data._columns import picture_shape
from daft_mnist.data._rules import HEIGHT, NUM_PIXELS, WIDTH, OnError, check_on_error

if TYPE_CHECKING:
    import daft
    from daft import Expression

__all__ = ["Styled", "checked_styles", "mnist_style", "style_series"]


def mnist_style(image: Expression, *, on_error: OnError = "raise") -> Expression:
    """Prepare images of any size and mode as MNIST digits: ``Tensor[UInt8; [28, 28]]``.

    Args:
        image: A Daft ``Image`` column of any size and 8-bit mode (L, LA, RGB, RGBA), for
            example from :func:`~daft_mnist.load_images` or ``decode_image()``, or a uint8
            ``Tensor`` of images.
        on_error: A row that is not a usable image (corrupt, empty, an unsupported mode):
            ``"raise"`` (default) fails with a :class:`~daft_mnist.errors.DataError` naming it;
            ``"null"`` gives a null (logged; :meth:`~daft_mnist.Classifier.details` gives its reason).
            A null image stays null. A picture with no digit to find (a blank page) is null
            whatever the setting, with its reason logged and counted: it must not get a
            confident digit.

    Returns:
        A ``Tensor[UInt8; [28, 28]]`` expression named like ``image``, ready for
        :func:`~daft_mnist.classify_digit`.

    Examples:
        >>> import daft, numpy as np
        >>> from daft_mnist import mnist_style
        >>> page = np.full((200, 120, 3), 255, np.uint8)  # white paper, a dark bar of ink
        >>> page[40:160, 50:70] = 0
        >>> df = daft.from_pydict({"image": [page]}).select(daft.col("image").cast(daft.DataType.image("RGB")))
        >>> out = df.select(mnist_style(daft.col("image"))).to_pydict()["image"][0]
        >>> out.shape, int(out.max()), int(out[0, 0])
        ((28, 28), 255, 0)
    """
    from daft import DataType

    check_on_error(on_error)
    try:
        name = str(image.name())
    except Exception:
        name = "image"
    out: Expression = _styler(on_error, name)(image).cast(DataType.tensor(DataType.uint8(), (HEIGHT, WIDTH)))
    return out.alias(name)


def _styler(on_error: OnError, column: str) -> Any:
    import daft
    from daft import DataType

    @daft.func.batch(return_dtype=DataType.fixed_size_list(DataType.uint8(), NUM_PIXELS), use_process=False)
    def mnist_style_images(images: daft.Series) -> Any:
        return _style_batch(images, on_error, column)

    return mnist_style_images


@dataclass(frozen=True)
class Styled:
    """One batch of pictures prepared as MNIST digits.

    Attributes:
        pixels: ``(N, 784)`` uint8; zeros where a row has no digit.
        ok: Rows that hold a prepared digit.
        malformed: Rows that are not usable pictures (corrupt, empty, an unsupported layout).
        reasons: Per row, why it has no digit (``None`` for good rows and null inputs).
    """

    pixels: npt.NDArray[np.uint8]
    ok: npt.NDArray[np.bool_]
    malformed: npt.NDArray[np.bool_]
    reasons: list[str | None]


def style_series(images: daft.Series) -> Styled:
    """Prepare one batch (a Daft Series of images or uint8 tensors) as MNIST digits, vectorized.

    A picture that already is an MNIST digit (28x28, grey, bright ink on dark:
    :func:`~daft_mnist.vision._prepare.finished_digit`) is taken as it is; every other picture is
    prepared. The Daft provider (:mod:`daft_mnist.provider`) runs its rows through this same code.
    """
    from daft_mnist.vision._image_arrays import image_batch
    from daft_mnist.vision._prepare import finished_digit, prepare_batch, prepare_stack

    arrow = images.to_arrow()
    if str(arrow.type) == "null":  # a column of nulls only (Daft's Null type): null stays null
        n = len(arrow)
        return Styled(np.zeros((n, NUM_PIXELS), np.uint8), np.zeros(n, bool), np.zeros(n, bool), [None] * n)
    batch = image_batch(arrow, shape=picture_shape(images.datatype()))
    n = len(batch.images)
    pixels = np.zeros((n, NUM_PIXELS), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    reasons: list[str | None] = list(batch.reasons)
    malformed = np.array([why is not None for why in reasons], dtype=bool)
    finished = [None if img is None else finished_digit(img) for img in batch.images]
    for i, digit in enumerate(finished):
        if digit is not None:  # a 28x28 MNIST digit already: as it is (vision._prepare.finished_digit)
            pixels[i] = digit.reshape(-1)
            ok[i] = True
    if batch.stack is not None and not any(d is not None for d in finished):
        rows = list(range(n))
        prepared = prepare_stack(batch.stack)
    else:
        todo = [(i, img) for i, img in enumerate(batch.images) if img is not None and finished[i] is None]
        rows = [i for i, _ in todo]
        prepared = prepare_batch([img for _, img in todo])
    for k, i in enumerate(rows):
        why = prepared.reasons[k] if prepared.reasons else None
        if why is None:
            pixels[i] = prepared.pixels[k].reshape(-1)
            ok[i] = True
        else:
            reasons[i] = why
    return Styled(pixels, ok, malformed, reasons)


def checked_styles(images: daft.Series, on_error: OnError, column: str, step: str) -> Styled:
    """:func:`style_series` with the library's ``on_error`` rule applied, for one batch.

    A malformed picture raises a :class:`~daft_mnist.errors.DataError` naming ``step`` under
    ``"raise"``; under ``"null"`` it is logged and counted. A picture with no digit to find
    (blank, noise) is logged and counted whatever ``on_error`` says. Null inputs stay null.
    """
    from daft_mnist.diagnostics import record_bad_rows
    from daft_mnist.errors import DataError

    styled = style_series(images)
    n = len(styled.ok)
    malformed = np.flatnonzero(styled.malformed)
    if len(malformed) and on_error == "raise":
        i = int(malformed[0])
        where = f"row {i}" if n == 1 else f"row {i} of a {n}-row batch"
        raise DataError(
            f"{step}: column {column!r}: {len(malformed)} of {n} images cannot be prepared "
            f"({where}: {styled.reasons[i]}); pass on_error='null' to keep going with null for those rows"
        )
    bad = [f"row {i} of a {n}-row batch: {why}" for i, why in enumerate(styled.reasons) if why is not None]
    if bad:
        record_bad_rows(column, len(bad), bad[:3])
    return styled


def _style_batch(images: daft.Series, on_error: OnError, column: str) -> Any:
    import pyarrow as pa

    styled = checked_styles(images, on_error, column, "mnist_style")
    mask = None if styled.ok.all() else pa.array(~styled.ok)
    flat = pa.array(styled.pixels.reshape(-1), type=pa.uint8())
    return pa.FixedSizeListArray.from_arrays(flat, NUM_PIXELS, mask=mask)

"""Pictures of the results as ``PIL.Image`` objects: captioned grids of digits and a confusion matrix.

The functions take any DataFrame (lazy or collected), run only the small query they need
(at most ``limit`` rows for the grid; a 10x10 aggregation for the matrix) and draw with
pillow alone, so notebooks show the returned image inline and scripts call ``.save(path)``.
PIL is imported when a picture is drawn, never at ``import daft_mnist``.

Examples:
    >>> import daft
    >>> from daft_mnist import misclassified, plot_confusion_matrix, plot_digits
    >>> df = daft.from_pydict({
    ...     "image": [[0] * 784, [255] * 784, [128] * 784],
    ...     "label": [1, 7, 7],
    ...     "model_classification": [1, 7, 2],
    ... })
    >>> mistakes = plot_digits(misclassified(df))
    >>> mistakes.mode, mistakes.width > mistakes.height  # one digit, captioned "true 7 / pred 2"
    ('L', False)
    >>> plot_confusion_matrix(df).mode
    'RGB'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from daft_mnist._grid import (
    SIDE,
    Caption,
    check_layout,
    column_or_default,
    digit_picture,
    font,
    grid,
    pair_picture,
    text_size,
)
from daft_mnist.data._options import check_int
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft
    from PIL import Image

__all__ = ["IMAGE_COLUMNS", "PREDICTION_COLUMN", "plot_confusion_matrix", "plot_digits", "plot_prepared"]

IMAGE_COLUMNS = ("image_2d", "pil_image", "image")
"""Where :func:`plot_digits` looks for images by default, in this order (the helpers' output names)."""
PREDICTION_COLUMN = "model_classification"
"""The prediction column :func:`plot_digits` captions with by default, when present (``classify``'s)."""

_SIDE = SIDE
_NUM_CLASSES = 10


def _column_pixels(table: Any, name: str) -> npt.NDArray[np.uint8]:
    """uint8 ``(N, 784)`` from an Arrow column of pixel lists, tensors or Daft images."""
    from daft_mnist.images import pixels_to_numpy

    return pixels_to_numpy(table.column(name), column=name)


def _python_pixels(values: Sequence[Any], name: str) -> npt.NDArray[np.uint8]:
    """uint8 ``(N, 784)`` from a Python column (PIL images or numpy arrays)."""
    out = np.empty((len(values), _SIDE * _SIDE), dtype=np.uint8)
    for i, v in enumerate(values):
        arr = np.asarray(v)
        if arr.size != _SIDE * _SIDE:
            raise DataError(f"column {name!r}: row {i}: expected a 28x28 image, got an array of shape {arr.shape}")
        out[i] = arr.reshape(-1).astype(np.uint8)
    return out


def plot_digits(
    df: daft.DataFrame,
    *,
    image: str | None = None,
    label: str | None = "auto",
    prediction: str | None = "auto",
    caption: Callable[[Mapping[str, Any]], str] | None = None,
    limit: int = 50,
    columns: int = 10,
    size: int = 84,
) -> Image.Image:
    """Draw the first ``limit`` digits of a frame as a captioned grid.

    Each cell shows one image, white on black as in MNIST, with a caption under it: ``label``
    (``"7"``), or ``"true 7 / pred 2"`` when there is a prediction column, which is what a
    grid of mistakes wants. The defaults follow the other helpers' column names, so
    ``plot_digits(classify(df))`` and ``plot_digits(misclassified(df))`` need no arguments.

    Args:
        df: Any frame with an image column; only ``limit`` rows are read.
        image: Column of 784-pixel lists, 28x28 tensors (:func:`~daft_mnist.add_image_2d`),
            28x28 grayscale Daft images, or ``PIL.Image`` objects. ``None`` (default): the
            first of ``image_2d``, ``pil_image`` and ``image`` that the frame has.
        label: Column of true labels shown in captions, or ``None``. ``"auto"`` (default):
            ``label`` when the frame has it. A named column must exist.
        prediction: Column of predicted labels shown in captions, or ``None``. ``"auto"``
            (default): ``model_classification`` when the frame has it. A named column must exist.
        caption: A function of the row (a dict of every column but the image) returning its caption;
            overrides ``label``/``prediction``. Return ``""`` for no caption.
        limit: At most this many digits are drawn (in the frame's order).
        columns: Digits per row of the grid.
        size: Side of each digit in pixels (84 by default: each pixel a 3x3 block; at least 28).

    Returns:
        A grayscale ``PIL.Image.Image``. An empty frame gives a small image saying so.

    Raises:
        ValueError: A named column is missing, ``limit``/``columns`` is below 1 or ``size``
            below 28.
        DataError: An image is not 28x28 with pixels in 0-255.

    Examples:
        >>> import daft
        >>> from daft_mnist import plot_digits
        >>> df = daft.from_pydict({"image": [[0] * 784, [255] * 784], "label": [3, 8]})
        >>> grid = plot_digits(df, columns=2)
        >>> grid.mode, grid.width > 2 * 84, grid.height > 84  # two 84-pixel digits, captions below
        ('L', True, True)
        >>> plot_digits(df, caption=lambda row: f"digit {row['label']}").mode
        'L'
    """
    from daft_mnist.data._rules import require_columns

    limit, columns, size = check_layout(limit, columns, size)
    present = df.column_names
    if image is None:
        image = next((c for c in IMAGE_COLUMNS if c in present), None)
        if image is None:
            raise ValueError(f"expected one of the image columns {list(IMAGE_COLUMNS)}, got columns {present}")
    label = column_or_default(df, label, "label")
    prediction = column_or_default(df, prediction, PREDICTION_COLUMN)
    needed = [image] + [c for c in (label, prediction) if c is not None and caption is None]
    require_columns(df, needed)
    rows = df.limit(limit) if caption is not None else df.select(*needed).limit(limit)
    if df.schema()[image].dtype.is_python():
        data = rows.to_pydict()
        pixels = _python_pixels(data[image], image)
        records: dict[str, list[Any]] = {k: list(v) for k, v in data.items() if k != image}
    else:
        table = rows.to_arrow()
        pixels = _column_pixels(table, image)
        wanted = table.column_names if caption is not None else [c for c in needed if c != image]
        records = {k: table.column(k).to_pylist() for k in wanted if k != image}

    def text_of(i: int) -> str:
        if caption is not None:
            return caption({k: v[i] for k, v in records.items()})
        parts = []
        if label is not None:
            parts.append(str(records[label][i]) if prediction is None else f"true {records[label][i]}")
        if prediction is not None:
            parts.append(f"pred {records[prediction][i]}")
        return " / ".join(parts)

    captions: list[Caption] = [[(text, 0)] if (text := text_of(i)) else [] for i in range(len(pixels))]
    cells = [digit_picture(p, size) for p in pixels]
    picture: Image.Image = grid(cells, captions, columns=columns, mode="L", font=font(max(10, size // 7)))
    return picture


def plot_prepared(
    df: daft.DataFrame,
    *,
    original: str = "image",
    prepared: str = "image_2d",
    label: str | None = "auto",
    prediction: str | None = "auto",
    name: str | None = "auto",
    limit: int = 50,
    columns: int = 5,
    size: int = 84,
) -> Image.Image:
    """Draw each picture beside the 28x28 digit it was prepared into, captioned, as a grid.

    What :func:`~daft_mnist.mnist_style` (or :func:`~daft_mnist.add_image_2d` on an ``Image``
    column) made of a photo, scan or drawing: the original, fitted into ``size`` pixels, and
    the prepared digit, white on black as in MNIST, scaled to the same size. Captions give
    ``"true 7 / pred 2"`` (red for a mistake) and the file's name; a picture with no digit
    shows an empty frame captioned ``no digit``.

    Args:
        df: A frame with both image columns, e.g. ``add_image_2d(load_images(folder))`` or its
            mistakes (:func:`~daft_mnist.misclassified`); only ``limit`` rows are read.
        original: Column of the original pictures (a Daft ``Image`` of any size and mode,
            uint8 arrays or ``PIL.Image`` objects).
        prepared: Column of the prepared digits (28x28 tensors or images, 784-pixel lists).
        label: Column of true labels shown in captions, or ``None``. ``"auto"`` (default):
            ``label`` when the frame has it. A named column must exist.
        prediction: Column of predictions shown in captions, or ``None``. ``"auto"``
            (default): ``model_classification`` when the frame has it.
        name: Column of file paths whose last part is shown under each cell, or ``None``.
            ``"auto"`` (default): ``path`` when the frame has it.
        limit: At most this many pictures are drawn (in the frame's order).
        columns: Pairs per row of the grid.
        size: Side of each of the two squares of a pair, in pixels (at least 28).

    Returns:
        An RGB ``PIL.Image.Image``. An empty frame gives a small image saying so.

    Raises:
        ValueError: A named column is missing, ``limit``/``columns`` is below 1 or ``size``
            below 28.

    Examples:
        >>> import daft, numpy as np
        >>> from daft_mnist import add_image_2d
        >>> from daft_mnist.plots import plot_prepared
        >>> page = np.full((90, 60, 3), 230, np.uint8)
        >>> page[20:70, 25:35] = 20  # a dark "1" on light paper
        >>> df = daft.from_pydict({"image": [page], "label": [1]})
        >>> df = add_image_2d(df.with_column("image", daft.col("image").cast(daft.DataType.image("RGB"))))
        >>> picture = plot_prepared(df)
        >>> picture.mode, picture.width >= 2 * 84
        ('RGB', True)
    """
    from daft_mnist.data._rules import require_columns

    limit, columns, size = check_layout(limit, columns, size)
    label = column_or_default(df, label, "label")
    prediction = column_or_default(df, prediction, PREDICTION_COLUMN)
    name = column_or_default(df, name, "path")
    wanted = [c for c in (original, prepared, label, prediction, name) if c is not None]
    require_columns(df, wanted)
    data = df.select(*wanted).limit(limit).to_pydict()

    def caption_of(i: int) -> Caption:
        parts = []
        if label is not None:
            parts.append(f"true {data[label][i]}")
        if prediction is not None:
            parts.append(f"pred {data[prediction][i]}")
        wrong = label is not None and prediction is not None and data[label][i] != data[prediction][i]
        lines: Caption = [(" / ".join(parts), (180, 0, 0) if wrong else (0, 0, 0))] if parts else []
        if data[prepared][i] is None:
            lines.append(("no digit", (0, 0, 0)))
        if name is not None and data[name][i] is not None:
            base = str(data[name][i]).rstrip("/").rsplit("/", 1)[-1]
            lines.append((base if len(base) <= 24 else ".." + base[-22:], (0, 0, 0)))
        return lines

    n = len(data[original])
    cells = [pair_picture(data[original][i], data[prepared][i], size) for i in range(n)]
    captions = [caption_of(i) for i in range(n)]
    picture: Image.Image = grid(cells, captions, columns=columns, mode="RGB", font=font(max(10, size // 7)))
    return picture


def _matrix_from(df: daft.DataFrame | npt.ArrayLike, label: str, prediction: str) -> npt.NDArray[np.int64]:
    import daft

    if isinstance(df, daft.DataFrame):
        from daft_mnist.metrics import confusion_matrix

        table = confusion_matrix(df, label=label, prediction=prediction).to_arrow()
        matrix = np.zeros((_NUM_CLASSES, _NUM_CLASSES), dtype=np.int64)
        truth = table.column(label).to_pylist()
        pred = table.column("prediction").to_pylist()
        count = table.column("count").to_pylist()
        for t, p, c in zip(truth, pred, count, strict=True):
            if t is None or p is None:
                continue  # null labels or predictions have no cell (accuracy_by_label counts them as wrong)
            matrix[t, p] += c  # confusion_matrix refused anything but digits 0-9
        return matrix
    arr = np.asarray(df)
    if arr.shape != (_NUM_CLASSES, _NUM_CLASSES):
        raise ValueError(f"expected a DataFrame or a 10x10 array of counts, got an array of shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or (arr < 0).any():
        raise ValueError("expected non-negative counts in the 10x10 array")
    return arr.astype(np.int64)


def plot_confusion_matrix(
    df: daft.DataFrame | npt.ArrayLike,
    *,
    label: str = "label",
    prediction: str = PREDICTION_COLUMN,
    title: str | None = None,
    cell: int = 40,
) -> Image.Image:
    """Draw a 10x10 confusion-matrix heatmap: true label down, predicted label across.

    Off-diagonal cells (the mistakes) are shaded by count in red and the diagonal (the
    hits) in blue, each relative to its own maximum, so a few confusions stand out next to
    a thousand hits. Every non-zero cell carries its count.

    Args:
        df: A frame with true and predicted labels (aggregated with
            :func:`~daft_mnist.confusion_matrix`), or a 10x10 array of counts.
        label: Column of true labels.
        prediction: Column of predicted labels.
        title: Text above the matrix; default ``"accuracy 0.9912 on 10000 rows"``.
        cell: Side of one cell in pixels.

    Returns:
        An RGB ``PIL.Image.Image``.

    Raises:
        ValueError: A column is missing, or the array is not 10x10 non-negative counts.
        DataError: A label or prediction is outside 0-9.

    Examples:
        >>> import numpy as np
        >>> from daft_mnist import plot_confusion_matrix
        >>> picture = plot_confusion_matrix(np.eye(10, dtype=int) * 5, cell=20)
        >>> picture.mode, picture.width > 10 * 20, picture.height > 10 * 20
        ('RGB', True, True)
    """
    from PIL import Image, ImageDraw

    cell = check_int("cell", cell, minimum=12)
    matrix = _matrix_from(df, label, prediction)
    total = int(matrix.sum())
    hits = int(np.trace(matrix))
    if title is None:
        title = f"accuracy {hits / total:.4f} on {total} rows" if total else "no rows"
    title_font = font(max(10, cell // 3))
    small = font(max(8, cell // 4))
    margin_left = cell + 4
    margin_top = 2 * cell
    width = margin_left + _NUM_CLASSES * cell + 4
    height = margin_top + _NUM_CLASSES * cell + cell // 2 + 4
    out = Image.new("RGB", (width, height), color=(255, 255, 255))
    draw = ImageDraw.Draw(out)
    draw.text((4, 4), title, fill=(0, 0, 0), font=title_font)
    axis = "predicted label (columns)"
    draw.text((margin_left, cell - 2), axis, fill=(80, 80, 80), font=small)
    diag = np.diag(matrix)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    diag_max = max(int(diag.max()), 1)
    off_max = max(int(off.max()), 1)
    for j in range(_NUM_CLASSES):
        tw, _ = text_size(draw, str(j), small)
        draw.text(
            (margin_left + j * cell + (cell - tw) // 2, margin_top - cell // 2), str(j), fill=(0, 0, 0), font=small
        )
    for i in range(_NUM_CLASSES):
        draw.text((4, margin_top + i * cell + cell // 3), str(i), fill=(0, 0, 0), font=small)
        for j in range(_NUM_CLASSES):
            count = int(matrix[i, j])
            strength = count / (diag_max if i == j else off_max)
            shade = round(255 * (1 - 0.85 * strength))
            color = (shade, shade, 255) if i == j else (255, shade, shade)
            x0, y0 = margin_left + j * cell, margin_top + i * cell
            draw.rectangle((x0, y0, x0 + cell - 1, y0 + cell - 1), fill=color if count else (255, 255, 255))
            draw.rectangle((x0, y0, x0 + cell - 1, y0 + cell - 1), outline=(220, 220, 220))
            if count:
                text = str(count)
                tw, th = text_size(draw, text, small)
                ink = (255, 255, 255) if strength > 0.6 else (0, 0, 0)
                draw.text((x0 + (cell - tw) // 2, y0 + (cell - th) // 2), text, fill=ink, font=small)
    draw.text((4, height - cell // 2 - 2), "true label (rows)", fill=(80, 80, 80), font=small)
    return out

"""The tutorial's steps as DataFrame helpers: thin wrappers over the expression builders.

Each helper returns a new lazy frame with added columns (default names are the tutorial's);
nothing is collected or shown. One rule for outputs: a helper never replaces a column the
frame has unless given ``overwrite=True`` (a ``ValueError`` names the clash).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daft_mnist.data._options import check_bool, check_int, check_text
from daft_mnist.data._rules import (
    DEFAULT_BATCH_SIZE,
    HEIGHT,
    NUM_PIXELS,
    WIDTH,
    OnError,
    check_on_error,
    fresh_names,
    require_columns,
)

if TYPE_CHECKING:
    from typing import Unpack

    import daft

    from daft_mnist.classifier import ClassifyOptions

__all__ = ["add_image_2d", "add_pil_image", "classify", "picture_column"]

DETAIL_FIELDS = ("confidence", "top", "margin", "entropy", "error")
"""The fields of ``classify_digit(details=True)`` that :func:`classify` adds as ``{output}_<field>``."""


def _refuse_existing(df: daft.DataFrame, outputs: list[str], overwrite: bool) -> None:
    """The one rule for outputs: a ``ValueError`` if ``df`` has one of ``outputs`` and ``overwrite`` is not set."""
    clash = [name for name in outputs if name in df.column_names]
    if clash and not overwrite:
        raise ValueError(
            f"column(s) {clash} already exist (columns: {df.column_names}); pass another output= name, "
            "or overwrite=True to replace them"
        )


def _is_picture(dtype: daft.DataType) -> bool:
    """Whether a column of this type can hold pictures or pixels: an Image, a Tensor, or a list of integers."""
    from daft_mnist.data._columns import is_image_or_tensor

    if is_image_or_tensor(dtype):
        return True
    if dtype.is_list() or dtype.is_fixed_size_list():
        inner = dtype.dtype
        return bool(inner.is_integer())
    return False


def picture_column(df: daft.DataFrame) -> str:
    """The frame's one picture column: ``image_2d`` if present, else the one Image, Tensor or pixel-list column.

    Raises:
        ValueError: No such column, or several (the message names them: pass ``image=``).

    Examples:
        >>> import daft
        >>> from daft_mnist.frames import picture_column
        >>> picture_column(daft.from_pydict({"image": [[0] * 784], "label": [1]}))
        'image'
    """
    if "image_2d" in df.column_names:
        return "image_2d"
    found = [field.name for field in df.schema() if _is_picture(field.dtype)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(
            f"no picture column (an Image, a Tensor or a list of pixels) among {df.column_names}; pass image="
        )
    raise ValueError(f"several picture columns {found}; pass image= one of them")


def add_image_2d(
    df: daft.DataFrame,
    *,
    image: str = "image",
    output: str = "image_2d",
    on_error: OnError = "raise",
    overwrite: bool = False,
) -> daft.DataFrame:
    """Add ``output``: ``image`` as a 28x28 ``Tensor[UInt8]`` MNIST digit.

    MNIST pixels are reshaped (see :func:`~daft_mnist.image_2d`). Each row is checked once
    per pipeline: a column whose type already proves it valid (``FixedSizeList[UInt8; 784]``
    as :func:`~daft_mnist.load_mnist` gives, a 28x28 uint8 tensor, an ``Image[L; 28 x 28]``)
    is reshaped by a native cast, without a Python check; its null rows (made null, and
    counted, by the step that checked them) stay null.

    Pictures of any other size or mode (an ``Image`` column from
    :func:`~daft_mnist.load_images` or ``decode_image()``, uint8 tensors of another shape)
    are prepared the way MNIST was made, by :func:`~daft_mnist.mnist_style`: a picture with
    no digit (a blank page) gets a null tensor, its reason logged and counted.

    Args:
        df: Input frame.
        image: Column of 784-pixel lists, 28x28 tensors or images, or pictures of any size
            and mode.
        output: Name of the new column.
        on_error: ``"raise"`` or ``"null"`` (bad rows kept with a null tensor, and logged).
        overwrite: Replace ``output`` if the frame has it (by default that is a ``ValueError``).

    Examples:
        >>> import daft
        >>> from daft_mnist import add_image_2d
        >>> df = add_image_2d(daft.from_pydict({"image": [[0] * 392 + [255] * 392], "label": [1]}))
        >>> df.schema()["image_2d"].dtype
        Tensor[UInt8; [28, 28]]
        >>> df.to_pydict()["image_2d"][0][13:15, :3].tolist()
        [[0, 0, 0], [255, 255, 255]]
    """
    from daft import DataType, col

    from daft_mnist.data._columns import needs_styling, proves_valid_pixels
    from daft_mnist.images import image_2d
    from daft_mnist.preparation import mnist_style

    check_on_error(on_error)
    require_columns(df, [image])
    _refuse_existing(df, [output], overwrite)
    dtype = df.schema()[image].dtype
    if proves_valid_pixels(dtype):
        return df.with_column(output, col(image).cast(DataType.tensor(DataType.uint8(), (HEIGHT, WIDTH))))
    if needs_styling(dtype):
        return df.with_column(output, mnist_style(col(image), on_error=on_error))
    return df.with_column(output, image_2d(col(image), on_error=on_error))


def _to_pil_batch(images: Any, on_error: str = "raise", trusted: bool = False) -> Any:
    """Batch body of the ``as_pil`` UDF: ``PIL.Image`` per row, ``None`` for null rows.

    ``trusted``: the column's type proves it valid, so it is not checked again.
    """
    import daft
    import numpy as np
    from PIL import Image

    from daft_mnist.data._columns import check_pixels_batch
    from daft_mnist.data._rules import unwrap

    if trusted:
        fixed = unwrap(images.to_arrow())
    else:
        fixed = check_pixels_batch(images, on_error, images.name(), step="add_pil_image")
    n = len(fixed)
    flat = fixed.values.slice(fixed.offset * NUM_PIXELS, n * NUM_PIXELS).to_numpy(zero_copy_only=False)
    pixels = np.asarray(flat, dtype=np.uint8).reshape(n, HEIGHT, WIDTH)
    valid = fixed.is_valid().to_numpy(zero_copy_only=False) if fixed.null_count else np.ones(n, dtype=bool)
    pictures = [Image.fromarray(p) if ok else None for p, ok in zip(pixels, valid, strict=True)]
    # An explicit Python-typed Series: a plain list would be coerced back to arrays.
    return daft.Series.from_pylist(pictures, dtype=daft.DataType.python())


def add_pil_image(
    df: daft.DataFrame,
    *,
    image: str = "image_2d",
    output: str = "pil_image",
    as_pil: bool = False,
    on_error: OnError = "raise",
    overwrite: bool = False,
) -> daft.DataFrame:
    """Add ``output``: ``image`` rendered as a grayscale 28x28 image.

    By default a native Daft ``Image[L; 28 x 28]`` column, which notebooks show as
    thumbnails and which stays in Arrow memory. ``as_pil=True`` gives real ``PIL.Image``
    objects (a Python column) for code that wants them.

    As in :func:`add_image_2d`, a column whose type proves it valid (a 28x28 uint8 tensor
    from :func:`add_image_2d`, ``FixedSizeList[UInt8; 784]``, ``Image[L; 28 x 28]``) is not
    checked again: a native cast (or, with ``as_pil``, a plain conversion) and null rows
    stay null.

    Args:
        df: Input frame.
        image: A 28x28 tensor column (from :func:`add_image_2d`) or 784-pixel lists.
        output: Name of the new column.
        as_pil: Return ``PIL.Image.Image`` objects instead of a Daft Image column.
        on_error: ``"raise"`` (default) fails on a malformed row; ``"null"`` gives a null
            image (``None`` with ``as_pil``) for it, and logs it.
        overwrite: Replace ``output`` if the frame has it (by default that is a ``ValueError``).

    Examples:
        >>> import daft
        >>> from daft_mnist import add_image_2d, add_pil_image
        >>> df = add_image_2d(daft.from_pydict({"image": [[0] * 784], "label": [1]}))
        >>> add_pil_image(df).schema()["pil_image"].dtype
        Image[L; 28 x 28]
        >>> picture = add_pil_image(df, as_pil=True).to_pydict()["pil_image"][0]
        >>> picture.mode, picture.size
        ('L', (28, 28))
    """
    import daft
    from daft import DataType, col

    from daft_mnist.data._columns import proves_valid_pixels
    from daft_mnist.images import to_image

    check_on_error(on_error)
    as_pil = check_bool("as_pil", as_pil)
    require_columns(df, [image])
    _refuse_existing(df, [output], overwrite)
    trusted = proves_valid_pixels(df.schema()[image].dtype)
    if not as_pil:
        if trusted:
            return df.with_column(output, col(image).cast(DataType.image("L", HEIGHT, WIDTH)))
        return df.with_column(output, to_image(col(image), on_error=on_error))

    @daft.func.batch(return_dtype=DataType.python(), use_process=False)
    def to_pil(images: daft.Series) -> Any:
        return _to_pil_batch(images, on_error, trusted)

    return df.with_column(output, to_pil(col(image)))


PICTURE_BATCH_SIZE = 64
"""Default rows per model call of :func:`classify` on a column of pictures (prepared in the batch)."""


def classify(
    df: daft.DataFrame,
    *,
    image: str | None = None,
    output: str = "model_classification",
    details: bool = False,
    reasons: str | None = None,
    overwrite: bool = False,
    **options: Unpack[ClassifyOptions],
) -> daft.DataFrame:
    """Add ``output``: the CNN's predicted digit (``Int64``) for each image in ``image``.

    A thin wrapper over :func:`~daft_mnist.classify_digit`. The frame is re-batched to
    ``batch_size`` rows first (``into_batches``), so readers that emit tiny batches, such as
    ``read_json``, never reach the model a few rows at a time. For a column of pictures (an
    ``Image`` column from :func:`~daft_mnist.load_images`), prepared inside the model's batch,
    the default batch is :data:`PICTURE_BATCH_SIZE` (64) rows, so that a folder of photos holds
    few decoded pictures at once.

    Args:
        df: Input frame.
        image: Column of 28x28 tensors (from :func:`add_image_2d`), images, or 784-pixel
            lists. Default: the frame's one picture column (:func:`picture_column`:
            ``image_2d`` if present, else the one Image, Tensor or pixel-list column).
        output: Name of the prediction column.
        details: Also add, from the same model call, ``{output}_confidence`` (Float32, the
            calibrated probability of the prediction), ``{output}_top`` (the three most
            probable digits with their probabilities), ``{output}_margin``,
            ``{output}_entropy`` and ``{output}_error`` (String: why the row has no
            prediction, such as ``"expected 784 pixels, got 783"``, ``"image is blank (no
            ink)"``, ``"confidence 0.42 below min_confidence 0.9"``; null for predicted rows:
            route bad rows with ``where(col("model_classification_error").is_null())``). See
            :meth:`~daft_mnist.Classifier.details`.
        reasons: With ``details``, the column holding why a row's image is null, reported as
            its ``{output}_error`` (``reasons="load_error"`` after ``load_mnist(...,
            on_error="null")``); without it such a row's error says the image was null
            before classify.
        overwrite: Replace ``output`` (and the other columns it adds) if the frame has it;
            by default that is an error, so a label column is never silently replaced.
        **options: The options of :func:`~daft_mnist.classify_digit`, keyword-only:
            ``weights``, ``sha256``, ``device``, ``precision``, ``batch_size``,
            ``max_concurrency``, ``gpus``, ``cpus``, ``num_threads``, ``on_error``,
            ``min_confidence`` (a prediction less confident than this is null: abstain).

    Returns:
        The frame with the prediction column (and, with ``details``, the detail columns).

    Raises:
        TypeError: An unknown option.
        ValueError: ``image`` is missing (or not given and the frame has no single picture
            column), an output column exists and ``overwrite`` is not set, ``reasons``
            without ``details``, or an option is invalid.

    Examples:
        Building the query loads no model (and, without a GPU, no torch); the model loads
        when the frame runs (``collect``, ``show``, ``to_pydict``...).

        >>> import daft
        >>> from daft_mnist import add_image_2d, classify
        >>> df = add_image_2d(daft.from_pydict({"image": [[0] * 784], "label": [1]}))
        >>> classify(df).column_names
        ['image', 'label', 'image_2d', 'model_classification']
        >>> classify(df, details=True).column_names[3:]  # doctest: +NORMALIZE_WHITESPACE
        ['model_classification', 'model_classification_confidence', 'model_classification_top',
         'model_classification_margin', 'model_classification_entropy', 'model_classification_error']
    """
    from daft import col

    from daft_mnist.classifier import ClassifyOptions, classify_digit

    unknown = sorted(set(options) - ClassifyOptions.__optional_keys__)
    if unknown:
        hint = " (the image column is given as image=)" if "column" in unknown else ""
        hint += " (details=True gives the confidence and the error)" if {"confidence", "errors"} & set(unknown) else ""
        raise TypeError(f"classify() got unexpected keyword argument(s) {unknown}{hint}")
    image = picture_column(df) if image is None else check_text("image", image)
    check_text("output", output)
    details, overwrite = check_bool("details", details), check_bool("overwrite", overwrite)
    outputs = [output, *(f"{output}_{name}" for name in DETAIL_FIELDS)] if details else [output]
    require_columns(df, [image] if reasons is None else [image, reasons])
    _refuse_existing(df, outputs, overwrite)
    if reasons is not None and not details:
        raise ValueError(f"reasons= is reported in {output}_error: pass details=True with it")
    if reasons is not None and not df.schema()[reasons].dtype.is_string():
        raise ValueError(f"reasons= must name a String column, got {reasons!r} of type {df.schema()[reasons].dtype}")
    from daft_mnist.data._columns import needs_styling

    if "batch_size" not in options and needs_styling(df.schema()[image].dtype):
        # Pictures are prepared inside the model's batch: a small batch keeps few of them in memory.
        options = {**options, "batch_size": PICTURE_BATCH_SIZE}
    predicted = classify_digit(
        col(image), details=details, reasons=None if reasons is None else col(reasons), **options
    )
    batched = df.into_batches(check_int("batch_size", options.get("batch_size", DEFAULT_BATCH_SIZE), minimum=1))
    if not details:
        return batched.with_column(output, predicted)
    (tmp,) = fresh_names([*df.column_names, *outputs], f"__{output}_struct")  # never a user's column
    fields = {output: col(tmp)["prediction"], **{f"{output}_{name}": col(tmp)[name] for name in DETAIL_FIELDS}}
    return batched.with_column(tmp, predicted).with_columns(fields).exclude(tmp)

"""The tutorial's steps as DataFrame helpers: thin wrappers over the expression builders.

Each helper returns a new lazy frame with one added column (default names are the
tutorial's); nothing is collected or shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daft_mnist.data._columns import ERROR_COLUMN
from daft_mnist.data._rules import (
    DEFAULT_BATCH_SIZE,
    HEIGHT,
    NUM_PIXELS,
    WIDTH,
    OnError,
    check_on_error,
    require_columns,
)

if TYPE_CHECKING:
    from typing import Unpack

    import daft

    from daft_mnist.classifier import ClassifyOptions

__all__ = ["add_image_2d", "add_pil_image", "classify"]


def add_image_2d(
    df: daft.DataFrame, *, image: str = "image", output: str = "image_2d", on_error: OnError = "raise"
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
        on_error: ``"raise"`` or ``"null"`` (bad rows kept with a null tensor, and counted).

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
            image (``None`` with ``as_pil``) for it, and counts it.

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
    require_columns(df, [image])
    trusted = proves_valid_pixels(df.schema()[image].dtype)
    if not as_pil:
        if trusted:
            return df.with_column(output, col(image).cast(DataType.image("L", HEIGHT, WIDTH)))
        return df.with_column(output, to_image(col(image), on_error=on_error))

    @daft.func.batch(return_dtype=DataType.python(), use_process=False)
    def to_pil(images: daft.Series) -> Any:
        return _to_pil_batch(images, on_error, trusted)

    return df.with_column(output, to_pil(col(image)))


def classify(
    df: daft.DataFrame,
    *,
    image: str = "image_2d",
    output: str = "model_classification",
    overwrite: bool = False,
    **options: Unpack[ClassifyOptions],
) -> daft.DataFrame:
    """Add ``output``: the CNN's predicted digit (``Int64``) for each image in ``image``.

    A thin wrapper over :func:`~daft_mnist.classifier.classify_digit`. The frame is
    re-batched to ``batch_size`` rows first (``into_batches``), so readers that emit tiny
    batches, such as ``read_json``, never reach the model a few rows at a time.

    Args:
        df: Input frame.
        image: Column of 28x28 tensors (from :func:`add_image_2d`), 28x28 grayscale images,
            or 784-pixel lists.
        output: Name of the prediction column.
        overwrite: Replace ``output`` (and the other columns it adds) if the frame has it;
            by default that is an error, so a label column is never silently replaced.
        **options: The options of :func:`~daft_mnist.classifier.classify_digit`, keyword-only:
            ``weights``, ``sha256``, ``device``, ``precision``, ``batch_size``,
            ``max_concurrency``, ``gpus``, ``cpus``, ``num_threads``, ``on_error``,
            ``min_confidence`` (a prediction less confident than this is null: abstain), and
            the columns to add beside ``output``:

            * ``confidence=True``: ``{output}_confidence`` (Float32, the calibrated
              probability of the prediction), to sort by least confident;
            * ``details=True``: ``{output}_details``, the per-row certainty struct
              (prediction, confidence, top 3 digits with probabilities, margin, entropy;
              :meth:`~daft_mnist.Classifier.details`);
            * ``errors=True``: ``{output}_error`` (String), why the row has no prediction
              (``"expected 784 pixels, got 783"``, ``"image is blank (no ink)"``,
              ``"confidence 0.42 below min_confidence 0.9"``, ``"image is null (see the step
              that produced it)"``; for a row a loader made null under ``on_error="null"``,
              the loader's reason from its ``error`` column, such as ``"image: expected 784
              pixels, got 783"``), null for predicted rows: route bad rows with
              ``where(col("model_classification_error").is_null())``.

    Returns:
        The frame with the prediction column (and the columns asked for).

    Raises:
        TypeError: An unknown option.
        ValueError: ``image`` is missing, an output column exists and ``overwrite`` is not
            set, or an option is invalid.

    Examples:
        Building the query is free; the model loads when the frame runs (``collect``,
        ``show``, ``to_pydict``...).

        >>> import daft
        >>> from daft_mnist import add_image_2d, classify
        >>> df = add_image_2d(daft.from_pydict({"image": [[0] * 784], "label": [1]}))
        >>> classify(df, confidence=True).column_names
        ['image', 'label', 'image_2d', 'model_classification', 'model_classification_confidence']
        >>> str(classify(df, confidence=True).schema()["model_classification_confidence"].dtype)
        'Float32'
        >>> classify(df, details=True, errors=True).column_names[-3:]
        ['model_classification', 'model_classification_details', 'model_classification_error']
    """
    from daft import col

    from daft_mnist.classifier import ClassifyOptions, classify_digit

    unknown = sorted(set(options) - ClassifyOptions.__optional_keys__)
    if unknown:
        hint = " (the image column is given as image=)" if "column" in unknown else ""
        raise TypeError(f"classify() got unexpected keyword argument(s) {unknown}{hint}")
    asked = {"confidence": "confidence", "details": "details", "errors": "error"}
    extra = [field for option, field in asked.items() if options.get(option, False)]
    outputs = [output, *(f"{output}_{name}" for name in extra)]
    require_columns(df, [image])
    clash = [name for name in outputs if name in df.column_names]
    if clash and not overwrite:
        raise ValueError(
            f"column(s) {clash} already exist (columns: {df.column_names}); pass another output= name, "
            "or overwrite=True to replace them"
        )
    predicted = classify_digit(col(image), **options)
    batched = df.into_batches(options.get("batch_size", DEFAULT_BATCH_SIZE))
    if not extra:
        return batched.with_column(output, predicted)
    tmp = f"__{output}_struct"
    fields = {output: col(tmp)["prediction"], **{f"{output}_{name}": col(tmp)[name] for name in extra}}
    if "error" in extra and ERROR_COLUMN in df.column_names:
        # A row whose image a loader made null carries the loader's reason in ERROR_COLUMN:
        # report that reason, not just "image is null".
        from daft import lit
        from daft.functions import when

        from daft_mnist._udf import NULL_IMAGE_REASON

        came_null = col(tmp)["error"].eq_null_safe(lit(NULL_IMAGE_REASON)) & col(ERROR_COLUMN).not_null()
        fields[f"{output}_error"] = when(came_null, col(ERROR_COLUMN)).otherwise(col(tmp)["error"])
    return batched.with_column(tmp, predicted).with_columns(fields).exclude(tmp)

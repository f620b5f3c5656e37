"""Loader for folders, globs and lists of image files (PNG, JPEG, ...): the digits people actually have.

Files are listed here (a local folder is walked; a glob or a remote prefix is listed by Daft),
then downloaded and decoded by Daft's native ``url.download`` and ``decode_image``: no per-row
Python touches a file. Labels follow the ``ImageFolder`` / ``imagefolder`` convention (files in
``<label>/`` folders) or are given by the caller.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from daft_mnist.data._files import is_remote
from daft_mnist.data._rules import NUM_CLASSES, OnError, check_on_error
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft
    from daft.io import IOConfig

__all__ = ["IMAGE_SUFFIXES", "Labels", "load_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pbm", ".pgm", ".ppm")
"""File name endings read as images (case-insensitive) when a folder or prefix is listed."""

Labels = Literal["infer"] | Sequence[int] | Mapping[str, int] | None
"""``"infer"`` (from ``<label>/`` folders), one label per file, a mapping of path to label, or ``None``."""

_GLOB_CHARS = re.compile(r"[*?\[]")


def load_images(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    labels: Labels = "infer",
    on_error: OnError = "raise",
    io_config: IOConfig | None = None,
) -> daft.DataFrame:
    """Load image files as a lazy DataFrame of ``path``, ``image`` and (when known) ``label``.

    Args:
        source: A local folder (walked recursively), a glob (``"scans/*.png"``,
            ``"s3://bucket/digits/**/*.jpg"``), a remote prefix ending in ``/``, or a list of
            paths/URLs. In a folder or prefix, files whose names end in one of
            :data:`IMAGE_SUFFIXES` are read; a list is read as given.
        labels: ``"infer"`` (default): when files sit in ``<label>/`` folders named ``0``-``9``
            (the ``ImageFolder`` convention), a ``label`` column from the folder names; files
            directly in the folder give no ``label`` column. A sequence gives one label per
            file of a list ``source`` (in its order); a mapping gives a label per path;
            ``None`` adds no ``label`` column.
        on_error: A file that is not a readable image: ``"raise"`` (default) fails the query
            with a :class:`~daft_mnist.errors.DataError` naming the file; ``"null"`` keeps
            the row with a null ``image`` (logged and counted, see
            :func:`daft_mnist.bad_row_count`).
        io_config: Daft IO configuration (credentials, endpoints) for remote files.

    Returns:
        A lazy DataFrame: ``path`` (String), ``image`` (Daft ``Image`` of each file's own
        size and mode) and ``label`` (Int64) when labels are known. Rows are sorted by path.

    Raises:
        DataError: The folder does not exist or holds no image files, a ``<label>/`` folder
            is not a digit 0-9, or the labels do not match the files.
        ValueError: ``on_error`` or ``labels`` is not an accepted value.

    Examples:
        >>> import daft_mnist as dm
        >>> df = dm.load_images("my_digits/")  # doctest: +SKIP
        >>> dm.classify(df, image="image")  # doctest: +SKIP
    """
    import daft
    from daft import DataType, col
    from daft.functions import when

    check_on_error(on_error)
    paths, shown = _list_files(source, io_config)
    label_values = _labels_for(paths, labels, shown)
    columns: dict[str, Any] = {"path": paths}
    if label_values is not None:
        columns["label"] = label_values
    df = daft.from_pydict(columns)
    if label_values is not None:
        df = df.with_column("label", col("label").cast(DataType.int64()))
    image = col("path").download(on_error="null", io_config=io_config).decode_image(on_error="null", mode=None)
    df = df.with_column("image", image)
    checked = _decoded_check(on_error)(col("path"), col("image").not_null())
    df = df.with_column("image", when(checked, col("image")).otherwise(None))
    order = ["path", "image", *(["label"] if label_values is not None else [])]
    return df.select(*order)


def _list_files(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], io_config: IOConfig | None
) -> tuple[list[str], str]:
    """The files to read, sorted, and how to name the source in messages."""
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if not isinstance(text, str):
            raise TypeError(f"source must be a str path, a URL or a list of them, got {type(source).__name__}")
        literal = Path(text.removeprefix("file://")).expanduser()
        if is_remote(text) or (_GLOB_CHARS.search(text) and not literal.exists()):
            return _glob(text, io_config), text  # a local name that exists is that file, never a glob
        folder = Path(text.removeprefix("file://")).expanduser()
        if folder.is_file():
            return [str(folder.resolve())], text
        if not folder.is_dir():
            raise DataError(f"image source not found: {text} (expected a folder, a glob, a URL or a list of files)")
        found = sorted(
            str(Path(root, name).resolve())
            for root, _, names in os.walk(folder)
            for name in names
            if name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")
        )
        if not found:
            raise DataError(f"{text}: no image files found (expected files ending in {', '.join(IMAGE_SUFFIXES)})")
        return found, text
    if isinstance(source, bytes):
        raise TypeError("source must be a str path, a URL or a list of them, got bytes")
    items = [os.fspath(s) for s in source]
    bad = [s for s in items if not isinstance(s, str)]
    if bad:
        raise TypeError(f"source list must hold str paths or URLs, got {type(bad[0]).__name__}")
    if not items:
        raise DataError("the list of image files is empty")
    paths = [s if is_remote(s) else str(Path(s.removeprefix("file://")).expanduser().resolve()) for s in items]
    missing = [p for p in paths if not is_remote(p) and not Path(p).is_file()]
    if missing:
        raise DataError(f"{len(missing)} of {len(paths)} image files not found (first: {missing[0]})")
    return [str(p) for p in paths], f"a list of {len(paths)} files"


def _glob(pattern: str, io_config: IOConfig | None) -> list[str]:
    import daft

    glob = pattern + "**" if pattern.endswith("/") else pattern
    try:
        listed = daft.from_glob_path(glob, io_config=io_config).to_pydict()["path"]
    except Exception as exc:
        raise DataError(f"{pattern}: cannot list the files ({type(exc).__name__}: {exc})") from None
    # Local matches as plain paths, like a folder's files (Daft lists them as file:// URLs).
    paths = sorted(p.removeprefix("file://") for p in listed if p.lower().endswith(IMAGE_SUFFIXES))
    if not paths:
        raise DataError(f"{pattern}: no image files found (expected files ending in {', '.join(IMAGE_SUFFIXES)})")
    return paths


def _labels_for(paths: list[str], labels: Labels, shown: str) -> list[int] | None:
    if labels is None:
        return None
    if isinstance(labels, str):
        if labels != "infer":
            raise ValueError(f"labels must be 'infer', a sequence, a mapping or None, got {labels!r}")
        return _infer_labels(paths, shown)
    if isinstance(labels, Mapping):
        keys = {_key(k): v for k, v in labels.items()}
        missing = [p for p in paths if _key(p) not in keys]
        if missing:
            raise DataError(f"labels has no entry for {len(missing)} of {len(paths)} files (first: {missing[0]})")
        values = [keys[_key(p)] for p in paths]
    else:
        values = list(labels)
        if len(values) != len(paths):
            raise DataError(f"labels has {len(values)} values for {len(paths)} files; expected one label per file")
    arr = np.asarray(values, dtype=object)
    bad = [v for v in arr if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < NUM_CLASSES]
    if bad:
        raise DataError(f"labels must be integers 0-9, got {bad[0]!r}")
    return [int(v) for v in values]


def _key(path: str) -> str:
    return path if is_remote(path) else str(Path(path).expanduser().resolve())


def _infer_labels(paths: list[str], shown: str) -> list[int] | None:
    """Labels from ``<label>/`` parent folders, or ``None`` when every file sits in one folder."""
    parents = [p.rstrip("/").rsplit("/", 2)[-2] if "/" in p else "" for p in paths]
    if len(set(parents)) == 1 and not parents[0].isdigit():
        return None  # a flat folder: no labels
    wrong = sorted({d for d in parents if not (len(d) == 1 and d.isdigit())})
    if wrong:
        raise DataError(
            f"{shown}: cannot infer labels: files sit in folders {wrong[:3]} that are not digits 0-9 "
            "(expected <label>/ folders named 0-9, as in ImageFolder); pass labels=None to load without labels"
        )
    return [int(d) for d in parents]


def _decoded_check(on_error: OnError) -> Any:
    """A batch check of decoding: a row whose file did not decode raises naming the file, or is counted."""
    import daft
    from daft import DataType

    @daft.func.batch(return_dtype=DataType.bool(), use_process=False)
    def check_decoded_images(paths: daft.Series, decoded: daft.Series) -> Any:
        ok = np.asarray(decoded.to_arrow().to_numpy(zero_copy_only=False), dtype=bool)
        if ok.all():
            return decoded
        failed = [p for p, good in zip(paths.to_pylist(), ok, strict=True) if not good]
        if on_error == "raise":
            more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
            raise DataError(
                f"{len(failed)} of {len(ok)} files are not readable images ({', '.join(failed[:3])}{more}): "
                "missing, truncated, or not an image format Daft decodes (PNG, JPEG, ...); "
                "pass on_error='null' to keep them as rows with a null image"
            )
        from daft_mnist.diagnostics import record_bad_rows

        record_bad_rows("image", len(failed), [f"not a readable image: {p}" for p in failed[:3]])
        return decoded

    return check_decoded_images

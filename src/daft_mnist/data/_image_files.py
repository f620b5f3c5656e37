"""Loader for folders, globs and lists of image files (PNG, JPEG, ...): the digits people actually have.

Files are listed here (a local folder is walked; a glob or a remote prefix is listed by Daft),
then read in small batches (:data:`DECODE_BATCH` files): local files directly, remote ones by
Daft's native ``url.download`` under one time limit per file; each file is decoded by the photo
decoder (``data._decode``: straight to the working size the preparation needs, upright, 8-bit)
in a batch UDF, a few files at a time on threads (Pillow decodes without the GIL). Memory is
bounded by the batch, whatever the number of files: no full-size picture is kept. Labels follow
the ``ImageFolder`` / ``imagefolder`` convention (files in ``<label>/`` folders) or are given by
the caller.
"""

from __future__ import annotations

import concurrent.futures
import glob
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from daft_mnist.data._files import is_remote, redact_url
from daft_mnist.data._folders import link_problem, walk_files
from daft_mnist.data._options import option_error
from daft_mnist.data._remote import TIMEOUT_ENV, http_get, remote_timeout, short_error
from daft_mnist.data._rules import MAX_REPORTED, NUM_CLASSES, OnError, check_on_error
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft
    from daft.io import IOConfig

__all__ = ["DECODE_BATCH", "IMAGE_SUFFIXES", "LOAD_ERROR", "Labels", "holds_pictures", "load_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pbm", ".pgm", ".ppm")
"""File name endings read as images (case-insensitive) when a folder or prefix is listed."""

Labels = Literal["infer"] | Sequence[int] | Mapping[str, int] | None
"""``"infer"`` (from ``<label>/`` folders), one label per file, a mapping of path to label, or ``None``."""

DECODE_BATCH = 32
"""Files decoded per batch: with the model's batch after it, this bounds the pictures in memory."""
LOAD_ERROR = "load_error"
"""The column of why a row's image is null, added under ``on_error="null"``."""
_MAX_THREADS = 4

_GLOB_CHARS = re.compile(r"[*?\[]")
_DIGITS = frozenset("0123456789")
_LABELS_EXPECTED = "'infer', a sequence of labels 0-9 (one per file), a mapping of path to label, or None"


def load_images(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    labels: Labels = "infer",
    on_error: OnError = "raise",
    io_config: IOConfig | None = None,
    timeout: float | None = None,
    batch_size: int = DECODE_BATCH,
) -> daft.DataFrame:
    """Load image files as a lazy DataFrame of ``path``, ``image`` and (when known) ``label``.

    Each file is decoded at the size a digit needs, not more: a picture whose longest side is
    over 256 pixels (the working size of the preparation, :func:`~daft_mnist.mnist_style`) comes
    out area-averaged to it (JPEG files are decoded at that scale directly), so a folder of
    12-megapixel phone photos streams through in bounded memory. The EXIF orientation is
    applied (a photo stored sideways comes out upright), and every picture is 8-bit ``L``,
    ``RGB`` or ``RGBA`` (16-bit, 1-bit, palette, grey+alpha, CMYK pictures are converted).

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
        on_error: A file that gives no whole picture (missing, empty, not an image, truncated,
            corrupt, too large to decode, or a remote file not downloaded in time):
            ``"raise"`` (default) fails the query with a :class:`~daft_mnist.errors.DataError`
            naming the file and why; ``"null"`` keeps the row with a null ``image`` and the
            reason in a ``load_error`` column (logged; count them with
            :func:`daft_mnist.error_counts`). One bad file never fails the others' rows.
        io_config: Daft IO configuration (credentials, endpoints) for remote files. Without
            it, remote files are read with HTTP timeouts within ``timeout``.
        timeout: Time limit in seconds for each remote file (listing, connecting and
            downloading); default ``$DAFT_MNIST_TIMEOUT``, else 30 s, as
            :func:`~daft_mnist.load_mnist`.
        batch_size: Files decoded per batch (default 32): the pictures held at once grow with
            it, never with the number of files.

    Returns:
        A lazy DataFrame: ``path`` (String), ``image`` (Daft ``Image``, each picture at most
        256 pixels on its longest side, in its own mode), ``label`` (Int64) when labels are
        known, and ``load_error`` (String, null for good rows) with ``on_error="null"``. Rows
        are sorted by path.

    Raises:
        DataError: The folder does not exist or holds no image files, a ``<label>/`` folder
            is not a digit 0-9, the labels do not match the files, or a remote listing fails
            or takes longer than ``timeout``.
        ValueError: ``on_error``, ``labels``, ``timeout`` or ``batch_size`` is not an accepted value.

    Examples:
        >>> import daft_mnist as dm
        >>> df = dm.load_images("my_digits/")  # doctest: +SKIP
        >>> dm.classify(df, image="image")  # doctest: +SKIP
    """
    import daft
    from daft import DataType, col

    check_on_error(on_error)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    seconds = remote_timeout(timeout)
    paths, shown = _list_files(source, io_config, seconds, on_error)
    label_values = _labels_for(paths, labels, shown)
    columns: dict[str, Any] = {"path": paths}
    if label_values is not None:
        columns["label"] = label_values
    df = daft.from_pydict(columns).into_batches(batch_size)
    if label_values is not None:
        df = df.with_column("label", col("label").cast(DataType.int64()))
    if io_config is not None and any(is_remote(p) for p in paths):
        # Credentials: Daft's IO reads every file (its own retries; no total time limit of ours).
        decoded = _decoder(on_error, seconds)(col("path"), col("path").download(on_error="null", io_config=io_config))
    elif any(is_remote(p) and not _is_http(p) for p in paths):
        data = col("path").download(on_error="null", io_config=_timed_io_config(seconds))
        decoded = _decoder(on_error, seconds)(col("path"), data)
    else:  # local files and http(s) URLs are read by the decoder itself, http(s) within `seconds` each
        decoded = _decoder(on_error, seconds)(col("path"))
    df = df.with_column("__decoded", decoded)
    order: list[Any] = [col("path"), col("__decoded")["image"].alias("image")]
    if label_values is not None:
        order.append(col("label"))
    if on_error == "null":
        order.append(col("__decoded")["error"].alias(LOAD_ERROR))
    return df.select(*order)


def _is_http(path: str) -> bool:
    return path.lower().startswith(("http://", "https://"))


def _timed_io_config(seconds: float) -> IOConfig:
    """HTTP connect and read timeouts whose two tries fit in ``seconds``."""
    from daft.io import HTTPConfig, IOConfig

    ms = max(1, int(seconds * 1000) // 4)
    return IOConfig(http=HTTPConfig(connect_timeout_ms=ms, read_timeout_ms=ms, num_tries=2))


def _decoder(on_error: OnError, seconds: float) -> Any:
    """The batch UDF: file paths (and downloaded bytes, for remote files) -> ``{image, error}``."""
    import daft
    from daft import DataType

    dtype = DataType.struct({"image": DataType.image(), "error": DataType.string()})

    @daft.func.batch(return_dtype=dtype, use_process=False)
    def decode_image_files(paths: daft.Series, data: daft.Series | None = None) -> Any:
        return _decode_batch(paths.to_pylist(), None if data is None else data.to_pylist(), on_error, seconds)

    return decode_image_files


def _decode_one(path: str, data: bytes | None, downloaded: bool, seconds: float) -> tuple[Any, str | None]:
    from daft_mnist.data._decode import DecodeError, decode_file

    if downloaded and data is None:
        why = f"not downloaded: missing, refused, or no answer within {seconds:g} s (timeout= or ${TIMEOUT_ENV})"
        return None, why
    broken = None if data is not None or is_remote(path) else link_problem(path)
    if broken is not None:
        return None, f"{broken}; remove the link or point it to an image file"
    try:
        if data is None and _is_http(path):
            data = http_get(path, seconds)
        return decode_file(data if data is not None else path).pixels, None
    except DecodeError as exc:
        return None, exc.reason
    except DataError as exc:  # a download that failed: its message says why and how long it waited
        return None, redact_url(str(exc))
    except Exception as exc:  # never one bad file failing the frame
        return None, f"cannot decode ({short_error(exc)})"


def _decode_batch(paths: list[str], data: list[bytes | None] | None, on_error: OnError, seconds: float) -> Any:
    """Decode one batch of files on a few threads; a struct ``{image, error}`` per file."""
    import daft
    import pyarrow as pa
    from daft import DataType

    blobs: list[bytes | None] = data if data is not None else [None] * len(paths)
    remote = [data is not None] * len(paths)  # downloaded by Daft (a list mixing local and remote files throughout)
    threads = min(_MAX_THREADS, os.cpu_count() or 1, len(paths))
    if threads > 1:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(_decode_one, paths, blobs, remote, [seconds] * len(paths)))
    else:
        results = [_decode_one(p, b, r, seconds) for p, b, r in zip(paths, blobs, remote, strict=True)]
    reasons = [why for _, why in results]
    failed = [(redact_url(p), why) for p, why in zip(paths, reasons, strict=True) if why is not None]
    if failed:
        named = "; ".join(f"{p}: {why}" for p, why in failed[:MAX_REPORTED])
        more = f"; and {len(failed) - MAX_REPORTED} more" if len(failed) > MAX_REPORTED else ""
        if on_error == "raise":
            raise DataError(
                f"{len(failed)} of {len(paths)} files are not readable images ({named}{more}); "
                "pass on_error='null' to keep them as rows with a null image and the reason in 'load_error'"
            )
        from daft_mnist.diagnostics import record_bad_rows

        record_bad_rows("image", len(failed), [f"{p}: {why}" for p, why in failed[:MAX_REPORTED]])
    images = daft.Series.from_pylist([pixels for pixels, _ in results], dtype=DataType.image()).to_arrow()
    errors = pa.array(reasons, type=pa.string())
    return daft.Series.from_arrow(pa.StructArray.from_arrays([images, errors], names=["image", "error"]))


def _list_files(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    io_config: IOConfig | None,
    seconds: float,
    on_error: OnError = "raise",
) -> tuple[list[str], str]:
    """The files to read, sorted, and how to name the source in messages.

    One rule for folders and globs: files whose names end in :data:`IMAGE_SUFFIXES` and do not
    start with ``.`` (hidden files, macOS ``._x.png`` AppleDouble files); local files are named
    by their absolute path, links where they sit (not resolved). A list is read as given.
    """
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if not isinstance(text, str):
            raise TypeError(f"source must be a str path, a URL or a list of them, got {type(source).__name__}")
        literal = Path(text.removeprefix("file://")).expanduser()
        if is_remote(text):
            return _glob_remote(text, io_config, seconds), text
        if _GLOB_CHARS.search(text) and not os.path.lexists(literal):
            return _glob_local(
                str(literal), text, on_error
            ), text  # a local name that exists is that file, never a glob
        if literal.is_file():
            return [_absolute(literal)], text
        if not literal.is_dir():
            _check_link(str(literal))
            raise DataError(
                f"image source not found: {text} (no such file or folder; expected a folder, a glob, a URL "
                "or a list of files)"
            )
        found = sorted(_walk_folder(literal, on_error))
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
    paths = [s if is_remote(s) else _absolute(Path(s.removeprefix("file://")).expanduser()) for s in items]
    for p in paths:
        if not is_remote(p) and on_error == "raise":
            _check_link(p)
    missing = [p for p in paths if not is_remote(p) and not Path(p).is_file() and link_problem(p) is None]
    if missing:
        raise DataError(f"{len(missing)} of {len(paths)} image files not found (first: {missing[0]})")
    return paths, f"a list of {len(paths)} files"


def _absolute(path: str | os.PathLike[str]) -> str:
    """The one form of a local ``path`` column: absolute, normalized, links not resolved."""
    return os.path.abspath(os.fspath(path))


def _is_picture_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")


def _check_link(path: str) -> None:
    """A link that leads nowhere (dangling, or a loop) is a :class:`DataError` naming it."""
    why = link_problem(path)
    if why is not None:
        raise DataError(f"{path}: {why}; remove the link or point it to an image file")


def holds_pictures(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds (at any depth, links followed) a file :func:`load_images` reads."""
    try:
        return any(_is_picture_name(os.path.basename(path)) for path in walk_files(folder))
    except DataError:  # a loop: load_images says so
        return True


def _walk_folder(folder: Path, on_error: OnError) -> list[str]:
    """The picture files under ``folder`` (recursively, symbolic links followed and named where they
    sit), absolute. A broken link among them is an error, or under ``on_error="null"`` a row whose
    reason says what is wrong with it; a broken link to a folder, or a loop, is always an error."""
    found = []
    for path in walk_files(folder):
        name = os.path.basename(path)
        if _is_picture_name(name):
            if on_error == "raise":
                _check_link(path)
            found.append(_absolute(path))
        elif not os.path.splitext(name)[1] and not name.startswith("."):
            _check_link(path)  # a <label>/ folder that is a broken link: no file to make a row of
    return found


def _glob_local(pattern: str, shown: str, on_error: OnError) -> list[str]:
    """Local glob matches under the folder rule (``**`` is recursive), sorted absolute paths."""
    paths = []
    for match in glob.glob(pattern, recursive=True):
        if _is_picture_name(os.path.basename(match)) and not os.path.isdir(match):
            if on_error == "raise":
                _check_link(match)
            paths.append(_absolute(match))
    if not paths:
        raise DataError(f"{shown}: no files match (expected files ending in {', '.join(IMAGE_SUFFIXES)})")
    return sorted(paths)


def _glob_remote(pattern: str, io_config: IOConfig | None, seconds: float) -> list[str]:
    """A remote glob or prefix listed by Daft within ``seconds``, under the folder rule."""
    import daft

    glob_pattern = pattern + "**" if pattern.endswith("/") else pattern
    config = io_config if io_config is not None else _timed_io_config(seconds)

    def listing() -> list[str]:
        return list(daft.from_glob_path(glob_pattern, io_config=config).to_pydict()["path"])

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        listed = pool.submit(listing).result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        raise DataError(
            f"{redact_url(pattern)}: cannot list the files: no answer within {seconds:g} s (timeout= or ${TIMEOUT_ENV})"
        ) from None
    except Exception as exc:
        if "MicroPartition" not in str(exc) and "No matching file" not in str(exc):
            raise DataError(f"{redact_url(pattern)}: cannot list the files ({short_error(exc)})") from None
        listed = []  # Daft's words for a glob that matches nothing
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    paths = sorted(p for p in listed if _is_picture_name(p.rstrip("/").rsplit("/", 1)[-1]))
    if not paths:
        raise DataError(f"{redact_url(pattern)}: no files match (expected files ending in {', '.join(IMAGE_SUFFIXES)})")
    return paths


def _labels_for(paths: list[str], labels: Labels, shown: str) -> list[int] | None:
    if labels is None:
        return None
    if isinstance(labels, str):
        if labels != "infer":
            raise option_error("labels", _LABELS_EXPECTED, labels)
        return _infer_labels(paths, shown)
    if isinstance(labels, bytes | bytearray) or not isinstance(labels, Mapping | Iterable):
        raise option_error("labels", _LABELS_EXPECTED, labels)
    if isinstance(labels, Mapping):
        keys = {_key(k): v for k, v in labels.items()}
        missing = [p for p in paths if _key(p) not in keys]
        if missing:
            raise DataError(f"labels has no entry for {len(missing)} of {len(paths)} files (first: {missing[0]})")
        values = [keys[_key(p)] for p in paths]
    else:
        values = list(cast("Iterable[int]", labels))  # a list, a tuple, a numpy array, ...
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
    if len(set(parents)) == 1 and parents[0] not in _DIGITS:
        return None  # a flat folder: no labels
    wrong = sorted({d for d in parents if d not in _DIGITS})  # ASCII 0-9 only: not "²", "٣" or "07"
    if wrong:
        raise DataError(
            f"{shown}: cannot infer labels: files sit in folders {wrong[:3]} that are not digits 0-9 "
            "(expected <label>/ folders named 0-9, as in ImageFolder); pass labels=None to load without labels"
        )
    return [int(d) for d in parents]

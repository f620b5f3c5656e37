"""Loading MNIST: :func:`load_mnist` picks the loader by the source's form and name.

The loaders live in private modules, one per format: ``_json`` (the tutorial's JSON lines,
local or remote through ``_remote``'s download cache), ``_idx`` (the original IDX files) and
``_parquet``; each ends with the checked cast of ``_columns``. Folders of image files (photos,
scans, drawings of any size) are read by :func:`load_images` (``_image_files``).
:func:`convert` writes any MNIST source once, checked, as a Parquet file that
:func:`load_mnist` reads back without checking the pixels again.

Every loader returns a lazy :class:`daft.DataFrame` with ``image`` (``List[UInt8; 784]``,
the 784 pixels row-major) and ``label`` (``Int64``). JSON is read with a schema hint, so no
Python runs per row; a vectorized check per batch turns what a bare cast would silently null
(wrong length, pixel outside 0-255, fractional values) into a clear error.
"""

from __future__ import annotations

import glob
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from daft_mnist.data._files import display_path, is_remote, redact_url, regular_file, same_file
from daft_mnist.data._idx import labels_path_for, load_idx, load_idx_dir, read_idx
from daft_mnist.data._image_files import holds_pictures, load_images
from daft_mnist.data._json import JSON_SUFFIXES, load_json_local, load_json_remote
from daft_mnist.data._options import check_bool, check_choice, check_optional_number
from daft_mnist.data._parquet import load_parquet, write_parquet_file
from daft_mnist.data._rules import OnError, check_on_error
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft
    from daft.io import IOConfig

__all__ = [
    "DATA_DIR_ENV",
    "ConvertResult",
    "FILENAMES",
    "TEST_URL",
    "TRAIN_URL",
    "convert",
    "data_dir",
    "default_source",
    "load_images",
    "load_mnist",
    "local_data_dirs",
    "read_idx",
]

Split = Literal["test", "train"]

TEST_URL = "https://github.com/Eventual-Inc/mnist-json/raw/master/mnist_handwritten_test.json.gz"
"""The tutorial's public test set (10,000 images)."""
TRAIN_URL = "https://github.com/Eventual-Inc/mnist-json/raw/master/mnist_handwritten_train.json.gz"
"""The training set (60,000 images) in the same format, next to the test set."""

FILENAMES: dict[str, str] = {
    "test": "mnist_handwritten_test.json.gz",
    "train": "mnist_handwritten_train.json.gz",
}
"""File names of each split, in a data directory and at the URLs above."""

DATA_DIR_ENV = "DAFT_MNIST_DATA_DIR"
"""Environment variable naming a local directory that holds the files of :data:`FILENAMES`."""

_URLS: dict[str, str] = {"test": TEST_URL, "train": TRAIN_URL}


def data_dir() -> Path | None:
    """The local data directory from ``$DAFT_MNIST_DATA_DIR``, or ``None`` when unset."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def _check_split(split: str) -> None:
    check_choice("split", split, tuple(_URLS))


def _project_root() -> Path | None:
    """The project folder when the package runs from its source tree (an editable install), else ``None``."""
    root = Path(__file__).resolve().parents[2]  # <root>/src/daft_mnist/io.py
    return root if (root / "pyproject.toml").is_file() else None


def local_data_dirs() -> list[Path]:
    """Where :func:`default_source` looks for the MNIST files, in order.

    ``$DAFT_MNIST_DATA_DIR`` when set (and then only it); else ``../shared/data`` from the
    current folder and from the project's folder (where ``make`` points the variable), so
    ``python`` and notebooks started in the project find the same files as ``make``.
    """
    d = data_dir()
    if d is not None:
        return [d]
    found: list[Path] = []
    for base in (Path.cwd(), _project_root()):
        if base is not None:
            candidate = Path(os.path.normpath(base.parent / "shared" / "data"))
            if candidate not in found:
                found.append(candidate)
    return found


def default_source(split: Split = "test") -> str:
    """Where ``load_mnist(split=...)`` reads from when given no source.

    The file in the first of :func:`local_data_dirs` that holds it (``$DAFT_MNIST_DATA_DIR``,
    else ``../shared/data``), else the public URL.
    """
    _check_split(split)
    for d in local_data_dirs():
        p = d / FILENAMES[split]
        if p.is_file():
            return str(p)
    return _URLS[split]


def _no_local_copy(exc: DataError, split: str) -> DataError:
    """The download of the default source failed: say where a local copy was looked for, and what to do."""
    looked = ", ".join(str(d) for d in local_data_dirs()) or "nowhere"
    return DataError(
        f"{exc}; no local copy of {FILENAMES[split]} was found (looked in {looked}): set ${DATA_DIR_ENV} to the "
        f"folder that holds it, or pass its path, e.g. load_mnist('path/to/{FILENAMES[split]}')"
    )


def load_mnist(
    source: str | os.PathLike[str] | None = None,
    *,
    split: Split = "test",
    io_config: IOConfig | None = None,
    on_error: OnError = "raise",
    cache: bool = True,
    strict_json: bool = False,
    timeout: float | None = None,
) -> daft.DataFrame:
    """Load MNIST as a lazy DataFrame of ``image`` (784 uint8 pixels) and ``label`` (Int64).

    Args:
        source: A local path, ``http(s)://`` or ``s3://`` URL (anything Daft reads) of the
            tutorial's JSON-lines (``.json[l][.gz]``); a Parquet file written by this library
            (``.parquet``); an IDX images file (``*-idx3-ubyte[.gz]``, its labels file found
            beside it); a local directory holding the IDX files of ``split``, or Parquet files; a
            glob of Parquet files (``data/*.parquet``, local or remote). ``None``
            reads :func:`default_source` of ``split``.
        split: ``"test"`` or ``"train"``; used when ``source`` is ``None`` or a directory.
        io_config: Daft IO configuration (credentials, endpoints) for remote sources.
        on_error: What a bad row does (a line that is not a JSON object, an image that is
            not 784 integers in 0-255, a label that is not an integer 0-9). ``"raise"``
            (default) fails with a :class:`~daft_mnist.errors.DataError` naming the column,
            the row and the problem. ``"null"`` keeps every row: a bad image or label becomes
            null, the rows are logged (logger ``"daft_mnist"``), and the frame gets a ``load_error``
            column (String) with each bad row's reason (count them with
            :func:`daft_mnist.error_counts`; pass ``reasons="load_error"`` to
            :func:`~daft_mnist.classify`); later steps keep those
            rows as nulls (a null image gives a null 28x28 tensor and a null prediction)
            whatever their own ``on_error``, without counting them again. File-level faults
            (a missing file, unreadable gzip, IDX files that disagree) always raise.
        cache: For a remote JSON-lines file: ``True`` (default) downloads it once, when
            ``load_mnist`` is called, into the download cache (``$DAFT_MNIST_CACHE_DIR``, else
            ``~/.cache/daft-mnist``; reused while the remote size is unchanged) and reads it
            from there, so it is checked like a local file (bad lines are reported with their
            line numbers). ``False`` streams it with Daft's reader instead: for files too
            large to copy, or Ray clusters whose workers do not share this machine's disk; a
            line that is not JSON then fails the query with Daft's own JSON error, which
            names neither the file nor the line.
        strict_json: Local and cached JSON files are checked before reading: a fast check of
            each line's shape (brackets, braces, keys, number characters) catches text that
            is not JSON, truncated or concatenated lines and ``true``/``false``/``null``, and
            names their lines. It lets through lines whose numbers or commas alone are broken
            (``[1 2]``, ``[1,,2]``); Daft's reader then fails with its own JSON error, without
            a line number. ``True`` parses every line with Python's :mod:`json` instead (about
            a second per 10,000 lines, once per file and process) and names those lines too.
        timeout: Total time limit in seconds of a remote download (connect, redirects,
            retries and body together); default ``$DAFT_MNIST_TIMEOUT``, else 30 s. Errors
            that will not heal (HTTP 4xx, connection refused) fail at once; the error says
            how long it waited.

    Returns:
        A lazy DataFrame with columns ``image`` (``List[UInt8; 784]``) and ``label`` (``Int64``);
        with ``on_error="null"`` also ``load_error`` (``String``): why the row's image or label is
        null (``"image: expected 784 pixels, got 783"``), null for good rows. An empty file
        gives an empty frame with these columns.

    Raises:
        DataError: The source is missing, unreadable or not MNIST. Local files are checked
            here (missing, truncated gzip, lines that are not JSON objects, IDX headers);
            the rows themselves are checked when the frame runs.
        ValueError: ``split`` or ``on_error`` is not one of the accepted values.
    """
    _check_split(split)
    check_on_error(on_error)
    cache, strict_json = check_bool("cache", cache), check_bool("strict_json", strict_json)
    timeout = check_optional_number("timeout", timeout, above=0)
    raw = default_source(split) if source is None else os.fspath(source)
    if not isinstance(raw, str):
        raise DataError(
            f"source must be a str path or URL (or an os.PathLike of str), got {type(raw).__name__} "
            f"{raw!r}: decode it first, e.g. os.fsdecode(source)"
        )
    src = raw
    if not is_remote(src):
        local = Path(src.removeprefix("file://"))
        parquet = _local_parquet_files(local)
        if parquet:
            return load_parquet([str(p) for p in parquet], io_config, on_error)
        if local.is_dir():
            try:
                return load_idx_dir(local, split, on_error)
            except DataError:
                if not holds_pictures(local):
                    raise
            raise DataError(
                f"{src}: a folder of pictures, not MNIST data (load_mnist reads .json[l][.gz], .parquet or IDX "
                "files); read pictures of digits with daft_mnist.load_images(folder)"
            )
        if not local.exists() and not local.is_symlink():
            missing = "no files match" if glob.has_magic(src) else "does not exist"
            raise DataError(
                f"MNIST source not found: {src} {missing} (expected a file, a directory of IDX or Parquet files, "
                "or a glob of Parquet files)"
            )
        regular_file(local, src)  # a FIFO, device or socket would block or never end
        src = str(local)
    # a local name is taken literally (?, # and glob characters included); a URL's query is not its name
    name = (urllib.parse.urlsplit(src).path if is_remote(src) else src).lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        return load_parquet(src, io_config, on_error)
    if "idx3-ubyte" in name:
        if is_remote(src):
            raise DataError(f"IDX files are read from local paths only; got {redact_url(src)}")
        return load_idx(Path(src), labels_path_for(Path(src)), on_error)
    if is_remote(src):
        try:
            return load_json_remote(src, io_config, on_error, cache, strict_json, timeout)
        except DataError as exc:
            if source is None:  # the public URL was the fallback: say how to use a local copy instead
                raise _no_local_copy(exc, split) from None
            raise
    if name.endswith(JSON_SUFFIXES):
        return load_json_local(Path(src), on_error, strict=strict_json)
    raise DataError(
        f"cannot tell the format of {redact_url(src)!r}: expected .json/.jsonl[.gz], .parquet, "
        "an *-idx3-ubyte[.gz] file or a directory of IDX files"
    )


def _local_parquet_files(local: Path) -> list[Path]:
    """The Parquet files a local folder holds (when it holds no IDX files), or a glob of them matches.

    A path that exists is taken literally (its glob characters included); only a path that
    does not exist and ends in ``.parquet``/``.pq`` is expanded as a glob.
    """
    if local.is_dir():
        if any("idx3-ubyte" in p.name for p in local.iterdir()):
            return []
        return sorted(p for p in local.iterdir() if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES)
    if local.exists() or local.suffix.lower() not in PARQUET_SUFFIXES or not glob.has_magic(str(local)):
        return []
    return sorted(Path(p) for p in glob.glob(str(local)) if Path(p).is_file())


# ---------------------------------------------------------------------------- convert

PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert` wrote.

    Attributes:
        path: The Parquet file.
        num_rows: Rows written (every row of the source, bad ones included as nulls).
        null_images: Rows written with a null image (bad images, with ``on_error="null"``).
        null_labels: Rows written with a null label (bad labels, with ``on_error="null"``).
    """

    path: Path
    num_rows: int
    null_images: int
    null_labels: int


def _source_files(source: str) -> list[Path]:
    """The local files a ``load_mnist`` source reads (an IDX images file's labels file too)."""
    if is_remote(source):
        return []
    p = Path(source.removeprefix("file://")).expanduser()
    if p.is_dir():
        return [f for f in p.iterdir() if f.is_file()]
    return [p, labels_path_for(p)] if "idx3-ubyte" in p.name else [p]


def _convert_target(out: str | os.PathLike[str], source: str, overwrite: bool) -> Path:
    raw = os.fspath(out)
    if not isinstance(raw, str) or is_remote(raw):
        raise ValueError(f"out must be a local file path, got {redact_url(str(raw))!r}")
    target = Path(raw.removeprefix("file://")).expanduser()
    shown = display_path(raw)
    if target.suffix.lower() not in PARQUET_SUFFIXES:
        raise ValueError(f"out must end with .parquet or .pq (so load_mnist reads it back), got {shown!r}")
    if target.is_dir():
        raise ValueError(f"out {shown!r} is a directory; expected a file path")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"out {shown!r}: folder {display_path(str(target.parent))!r} does not exist")
    for f in _source_files(source):
        if same_file(target, f):
            raise DataError(f"out {shown!r} is the input {display_path(str(f))}; refusing to write over it")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise FileExistsError(f"out {shown!r} already exists; pass overwrite=True (--overwrite) to replace it")
    return target


def convert(
    source: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    split: Split = "test",
    on_error: OnError = "raise",
    overwrite: bool = False,
    io_config: IOConfig | None = None,
    cache: bool = True,
    strict_json: bool = False,
    timeout: float | None = None,
) -> ConvertResult:
    """Write an MNIST source once, checked, as one Parquet file that :func:`load_mnist` reads fast.

    The source is read and checked by :func:`load_mnist` (same arguments), and its rows are
    written in order as ``image`` (``FixedSizeList[UInt8; 784]``) and ``label`` (``Int64``).
    ``load_mnist(out)`` gives the same rows back, and since the image type proves every image
    valid it skips the pixel check (labels are still checked: an ``Int64`` does not prove 0-9).

    The file is written through a temporary file beside ``out`` and renamed into place only
    when complete, so a failed run leaves nothing behind and never a partial file. It is never
    written over an input of the conversion, even with ``overwrite=True``.

    Args:
        source: What :func:`load_mnist` reads (JSON lines, Parquet, IDX file or folder, URL);
            ``None`` for :func:`default_source` of ``split``.
        out: A local ``.parquet`` (or ``.pq``) file path; its folder must exist.
        split: As in :func:`load_mnist`.
        on_error: As in :func:`load_mnist`. With ``"null"``, bad rows are written as nulls
            (with their reasons in ``load_error``); reading the file
            back keeps them as nulls without counting them again.
        overwrite: Replace ``out`` if it exists (default: refuse).
        io_config: Daft IO configuration for a remote source.
        cache: As in :func:`load_mnist`.
        strict_json: As in :func:`load_mnist`.
        timeout: As in :func:`load_mnist`.

    Returns:
        A :class:`ConvertResult` with the path, the rows written and the null counts.

    Raises:
        DataError: The source is missing or not MNIST, a bad row with ``on_error="raise"``, or
            ``out`` is an input of the conversion.
        FileExistsError: ``out`` exists and ``overwrite`` is false.
        FileNotFoundError: The folder of ``out`` does not exist.
        ValueError: ``out`` is not a local ``.parquet``/``.pq`` path, or a bad ``split`` or ``on_error``.

    Examples:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> from daft_mnist.io import convert, load_mnist
        >>> d = Path(tempfile.mkdtemp())
        >>> rows = [{"image": [0] * 784, "label": 3}, {"image": [300] * 784, "label": 7}]
        >>> _ = (d / "digits.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
        >>> result = convert(d / "digits.jsonl", d / "digits.parquet", on_error="null")
        >>> result.num_rows, result.null_images, result.null_labels
        (2, 1, 0)
        >>> load_mnist(d / "digits.parquet").to_pydict()["label"]
        [3, 7]
    """
    _check_split(split)
    check_on_error(on_error)
    cache, strict_json = check_bool("cache", cache), check_bool("strict_json", strict_json)
    timeout = check_optional_number("timeout", timeout, above=0)
    overwrite = check_bool("overwrite", overwrite)
    raw = default_source(split) if source is None else os.fspath(source)
    if not isinstance(raw, str):
        raise DataError(f"source must be a str path or URL, got {type(raw).__name__} {raw!r}")
    target = _convert_target(out, raw, overwrite)
    df = load_mnist(
        raw,
        split=split,
        io_config=io_config,
        on_error=on_error,
        cache=cache,
        strict_json=strict_json,
        timeout=timeout,
    )
    counts = write_parquet_file(df, target)
    return ConvertResult(target, counts.num_rows, counts.null_images, counts.null_labels)

"""Loaders: the tutorial's gzipped JSON-lines, the original IDX files, and Parquet.

Every loader returns a lazy :class:`daft.DataFrame` with ``image`` (``List[UInt8; 784]``, the
784 pixels row-major) and ``label`` (``Int64``). JSON is read with a schema hint, so no Python
runs per row; a vectorized check per batch turns what a bare cast would silently null (wrong
length, pixel outside 0-255, fractional values) into a clear error.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft
    from daft.io import IOConfig

__all__ = [
    "DATA_DIR_ENV",
    "FILENAMES",
    "TEST_URL",
    "TRAIN_URL",
    "data_dir",
    "default_source",
    "load_mnist",
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
_IDX_PREFIX: dict[str, str] = {"test": "t10k", "train": "train"}
_JSON_BATCH_ROWS = 4096
_JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")


def data_dir() -> Path | None:
    """The local data directory from ``$DAFT_MNIST_DATA_DIR``, or ``None`` when unset."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def _check_split(split: str) -> None:
    if split not in _URLS:
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")


def default_source(split: Split = "test") -> str:
    """Where ``load_mnist(split=...)`` reads from when given no source.

    The file in ``$DAFT_MNIST_DATA_DIR`` if that directory holds it, else the public URL.
    """
    _check_split(split)
    d = data_dir()
    if d is not None:
        p = d / FILENAMES[split]
        if p.is_file():
            return str(p)
    return _URLS[split]


def _is_remote(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


def _mnist_schema() -> dict[str, Any]:
    from daft import DataType

    # Float64 pixels keep fractional or out-of-range values visible to the check (an Int64 or
    # UInt8 hint would truncate or null them silently); Float64 holds every 0-255 int exactly.
    return {"image": DataType.list(DataType.float64()), "label": DataType.float64()}


def load_mnist(
    source: str | os.PathLike[str] | None = None,
    *,
    split: Split = "test",
    io_config: IOConfig | None = None,
) -> daft.DataFrame:
    """Load MNIST as a lazy DataFrame of ``image`` (784 uint8 pixels) and ``label`` (Int64).

    Args:
        source: A local path, ``http(s)://`` or ``s3://`` URL (anything Daft reads) of the
            tutorial's JSON-lines (``.json[l][.gz]``); a Parquet file written by this library
            (``.parquet``); an IDX images file (``*-idx3-ubyte[.gz]``, its labels file found
            beside it); or a local directory holding the IDX files of ``split``. ``None``
            reads :func:`default_source` of ``split``.
        split: ``"test"`` or ``"train"``; used when ``source`` is ``None`` or a directory.
        io_config: Daft IO configuration (credentials, endpoints) for remote sources.

    Returns:
        A lazy DataFrame with columns ``image`` (``List[UInt8; 784]``) and ``label`` (``Int64``).

    Raises:
        DataError: A local file is missing or not MNIST (checked when the frame runs, for rows).
        ValueError: ``split`` is not ``"test"`` or ``"train"``.
    """
    _check_split(split)
    src = default_source(split) if source is None else os.fspath(source)
    if not _is_remote(src):
        local = Path(src.removeprefix("file://"))
        if local.is_dir():
            return _load_idx_dir(local, split)
        if not local.exists():
            raise DataError(f"MNIST source not found: {src} (expected a file or a directory of IDX files)")
        src = str(local)
    name = src.lower().split("?", 1)[0]
    if name.endswith(".parquet") or name.endswith(".pq"):
        return _load_parquet(src, io_config)
    if "idx3-ubyte" in name:
        if _is_remote(src):
            raise DataError(f"IDX files are read from local paths only; got {src}")
        return _load_idx(Path(src), _labels_path_for(Path(src)))
    if name.endswith(_JSON_SUFFIXES) or _is_remote(src):
        return _load_json(src, io_config)
    raise DataError(
        f"cannot tell the format of {src!r}: expected .json/.jsonl[.gz], .parquet, "
        "an *-idx3-ubyte[.gz] file or a directory of IDX files"
    )


def _finish(df: daft.DataFrame, image: str = "image", label: str = "label") -> daft.DataFrame:
    """Checked cast of raw columns to the library's schema: List[UInt8; 784] and Int64 0-9."""
    from daft import col

    from daft_mnist.images import checked_pixels
    from daft_mnist.labels import checked_labels

    return df.select(checked_pixels(col(image)).alias("image"), checked_labels(col(label)).alias("label"))


def _load_json(src: str, io_config: IOConfig | None) -> daft.DataFrame:
    import daft

    df = daft.read_json(src, schema=_mnist_schema(), io_config=io_config)
    missing = [c for c in ("image", "label") if c not in df.column_names]
    if missing:
        raise DataError(f"{src}: expected JSON objects with keys 'image' and 'label'; missing {missing}")
    # Re-batch right at the reader: with any batch-size requirement further down (into_batches,
    # a UDF's batch_size), Daft 0.7 otherwise feeds the operators between reader and that point
    # one row at a time, so the per-batch pixel check would run 10,000 times per 10,000 rows.
    return _finish(df.into_batches(_JSON_BATCH_ROWS))


def _load_parquet(src: str, io_config: IOConfig | None) -> daft.DataFrame:
    import daft

    df = daft.read_parquet(src, io_config=io_config)
    missing = [c for c in ("image", "label") if c not in df.column_names]
    if missing:
        raise DataError(f"{src}: expected Parquet columns 'image' and 'label', got {df.column_names}")
    return _finish(df)


def _open_maybe_gzip(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file not found: {path}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc})") from None
    return raw


def read_idx(path: str | os.PathLike[str]) -> npt.NDArray[np.uint8]:
    """Read an unsigned-byte IDX file (``idx1``/``idx3``, optionally gzipped) into a numpy array.

    Raises:
        DataError: Wrong magic number, a type other than unsigned byte, or a truncated body.
    """
    p = Path(path)
    data = _open_maybe_gzip(p)
    if len(data) < 4:
        raise DataError(f"{p}: too short for an IDX header ({len(data)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise DataError(
            f"{p}: wrong IDX magic number 0x{int.from_bytes(data[:4], 'big'):08x}; "
            "expected 0x00000801 (labels) or 0x00000803 (images)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{p}: truncated IDX header ({len(data)} bytes, expected {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims))
    body = len(data) - header
    if body != expected:
        raise DataError(f"{p}: IDX body has {body} bytes, expected {expected} for shape {dims} (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _labels_path_for(images: Path) -> Path:
    name = images.name.replace("idx3-ubyte", "idx1-ubyte").replace("images", "labels")
    return images.with_name(name)


def _load_idx_dir(directory: Path, split: str) -> daft.DataFrame:
    prefix = _IDX_PREFIX[split]
    for suffix in ("", ".gz"):
        images = directory / f"{prefix}-images-idx3-ubyte{suffix}"
        if images.is_file():
            return _load_idx(images, _labels_path_for(images))
    raise DataError(
        f"{directory}: no {split} IDX files; expected {prefix}-images-idx3-ubyte[.gz] and "
        f"{prefix}-labels-idx1-ubyte[.gz]"
    )


def _load_idx(images_path: Path, labels_path: Path) -> daft.DataFrame:
    import daft
    import pyarrow as pa

    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: expected images of shape (N, 28, 28), got {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected a 1-d labels file, got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"image and label counts disagree: {images_path} has {len(images)} images, "
            f"{labels_path} has {len(labels)} labels"
        )
    if len(labels) and int(labels.max()) > 9:
        bad = int(np.flatnonzero(labels > 9)[0])
        raise DataError(f"{labels_path}: row {bad}: expected a label 0-9, got {int(labels[bad])}")
    flat = pa.array(np.ascontiguousarray(images).reshape(-1), type=pa.uint8())
    table = pa.table(
        {
            "image": pa.FixedSizeListArray.from_arrays(flat, 784),
            "label": pa.array(labels.astype(np.int64), type=pa.int64()),
        }
    )
    return daft.from_arrow(table)

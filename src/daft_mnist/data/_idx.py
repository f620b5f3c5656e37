"""IDX files (the original MNIST format): the reader and the loader of an images/labels pair."""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from daft_mnist.data._columns import finish
from daft_mnist.data._files import GZIP_MAGIC, regular_file
from daft_mnist.data._rules import HEIGHT, NUM_PIXELS, WIDTH, OnError, label_check
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft

__all__ = ["IDX_PREFIX", "MAX_IDX_BYTES", "labels_path_for", "load_idx", "load_idx_dir", "read_idx"]

MAX_IDX_BYTES = 256 << 20
"""Largest (decompressed) IDX file read (256 MiB); MNIST's largest, the training images, is 47 MB."""

IDX_PREFIX: dict[str, str] = {"test": "t10k", "train": "train"}
"""File name prefix of each split's IDX files."""


def _open_maybe_gzip(path: Path) -> bytes:
    """The bytes of a regular file ``path``, decompressed when they are gzip, at most :data:`MAX_IDX_BYTES`."""
    if not path.exists() and not path.is_symlink():
        raise DataError(f"IDX file not found: {path}")
    real = regular_file(path)
    too_big = f"{path}: larger than {MAX_IDX_BYTES >> 20} MiB (MAX_IDX_BYTES); MNIST's IDX files are at most 47 MB"
    with open(real, "rb") as fh:
        raw = fh.read(MAX_IDX_BYTES + 1)
    if raw[:2] != GZIP_MAGIC:
        if len(raw) > MAX_IDX_BYTES:
            raise DataError(too_big)
        return raw
    out = bytearray()
    data = raw
    while data:
        z = zlib.decompressobj(wbits=31)
        try:
            out += z.decompress(data, MAX_IDX_BYTES + 1 - len(out))
        except zlib.error as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc})") from None
        if len(out) > MAX_IDX_BYTES or z.unconsumed_tail:
            raise DataError(too_big)
        if not z.eof:
            raise DataError(f"{path}: not a readable gzip file (truncated: the stream ends before its end marker)")
        data = z.unused_data
        if data and data[:2] != GZIP_MAGIC:
            raise DataError(f"{path}: bytes that are not gzip after the end of the gzip stream")
    return bytes(out)


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
    expected = math.prod(dims)  # Python ints: sizes from the header cannot overflow
    if expected > MAX_IDX_BYTES:
        raise DataError(
            f"{p}: the IDX header's sizes {dims} describe {expected} bytes, more than MNIST can be "
            f"({MAX_IDX_BYTES >> 20} MiB, MAX_IDX_BYTES); a corrupt header"
        )
    body = len(data) - header
    if body != expected:
        raise DataError(f"{p}: IDX body has {body} bytes, expected {expected} for shape {dims} (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def labels_path_for(images: Path) -> Path:
    """The labels file beside an images file (``...-images-idx3-ubyte`` -> ``...-labels-idx1-ubyte``)."""
    name = images.name.replace("idx3-ubyte", "idx1-ubyte").replace("images", "labels")
    return images.with_name(name)


def load_idx_dir(directory: Path, split: str, on_error: OnError) -> daft.DataFrame:
    """Load the IDX files of ``split`` from a directory (plain or ``.gz``)."""
    prefix = IDX_PREFIX[split]
    for suffix in ("", ".gz"):
        images = directory / f"{prefix}-images-idx3-ubyte{suffix}"
        if images.is_file():
            return load_idx(images, labels_path_for(images), on_error)
    if "idx3-ubyte" in directory.name or "idx1-ubyte" in directory.name:
        inside = sorted(p.name for p in directory.iterdir())[:3]
        raise DataError(
            f"{directory}: a folder named like an IDX file, not an IDX file (it holds {inside or 'nothing'}); "
            "pass the IDX images file inside it, or a folder holding "
            f"{prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz]"
        )
    raise DataError(
        f"{directory}: no {split} IDX files; expected {prefix}-images-idx3-ubyte[.gz] and "
        f"{prefix}-labels-idx1-ubyte[.gz]"
    )


def load_idx(images_path: Path, labels_path: Path, on_error: OnError) -> daft.DataFrame:
    """Load an IDX images file and its labels file; labels are checked here, pixels are valid by type."""
    import daft
    import pyarrow as pa

    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (HEIGHT, WIDTH):
        raise DataError(f"{images_path}: expected images of shape (N, 28, 28), got {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected a 1-d labels file, got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"image and label counts disagree: {images_path} has {len(images)} images, "
            f"{labels_path} has {len(labels)} labels"
        )
    label_arr = pa.array(labels.astype(np.int64), type=pa.int64())
    if on_error == "raise":
        check = label_check(label_arr, "label")
        if check.any():
            i = int(check.bad_rows(1)[0])
            raise DataError(
                f"{labels_path}: {check.count} of {len(labels)} labels are invalid (row {i}: expected a label "
                f"0-9, got {int(labels[i])}); pass on_error='null' to keep those rows with a null label"
            )
    flat = pa.array(np.ascontiguousarray(images).reshape(-1), type=pa.uint8())
    table = pa.table(
        {
            "image": pa.FixedSizeListArray.from_arrays(flat, NUM_PIXELS),
            "label": label_arr,
        }
    )
    return finish(daft.from_arrow(table), on_error)

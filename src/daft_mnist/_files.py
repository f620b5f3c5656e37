"""File helpers shared by the loaders, the weights, checkpoints and the CLI (no Daft, no torch).

One place for: the download cache directory, atomic writes, SHA-256 of a file, the gzip magic
and the local-or-remote test of a source string.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "CACHE_DIR_ENV",
    "GZIP_MAGIC",
    "cache_dir",
    "file_sha256",
    "is_gzip",
    "is_remote",
    "write_atomically",
]

CACHE_DIR_ENV = "DAFT_MNIST_CACHE_DIR"
"""Environment variable overriding the download cache directory."""

GZIP_MAGIC = b"\x1f\x8b"
"""The first two bytes of every gzip stream."""


def is_remote(source: str) -> bool:
    """Whether ``source`` is a URL that Daft's IO reads (``http(s)://``, ``s3://``, ...), not a local path."""
    return "://" in source and not source.startswith("file://")


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def cache_dir() -> Path:
    """Download cache: ``$DAFT_MNIST_CACHE_DIR``, else ``$XDG_CACHE_HOME/daft-mnist``, else ``~/.cache/daft-mnist``."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "daft-mnist"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's contents."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomically(
    target: Path, write: Callable[[BinaryIO], object], *, check: Callable[[Path], object] | None = None
) -> None:
    """Write ``target`` through a temporary file beside it, renamed into place only when complete.

    ``write`` fills the open file; ``check`` may inspect the finished temporary file and raise.
    A reader never sees a partial file, and nothing is left behind when either raises.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        if check is not None:
            check(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()

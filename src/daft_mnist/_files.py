"""File helpers shared by the loaders, the weights, checkpoints and the CLI (no Daft, no torch).

One place for: the download cache directory, atomic writes, SHA-256 of a file, the gzip magic
and the local-or-remote test of a source string.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from daft_mnist.errors import DataError

__all__ = [
    "CACHE_DIR_ENV",
    "GZIP_MAGIC",
    "cache_dir",
    "cache_subdir",
    "daft_literal_path",
    "file_sha256",
    "is_gzip",
    "is_remote",
    "redact_url",
    "regular_file",
    "write_atomically",
]

CACHE_DIR_ENV = "DAFT_MNIST_CACHE_DIR"
"""Environment variable overriding the download cache directory."""

GZIP_MAGIC = b"\x1f\x8b"
"""The first two bytes of every gzip stream."""


def is_remote(source: str) -> bool:
    """Whether ``source`` is a URL that Daft's IO reads (``http(s)://``, ``s3://``, ...), not a local path."""
    return "://" in source and not source.startswith("file://")


_GLOB_SPECIAL = re.compile(r"([\\*?\[\]{}])")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s?#]*@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:token|secret|signature|sig|password|passwd|pwd|key|credential|auth)[a-z0-9_.-]*)=)[^&#\s'\"]*"
)


def redact_url(text: str) -> str:
    """``text`` with credentials in URLs scrubbed: ``user:pass@`` and the values of sensitive query keys.

    ``https://u:p@host/f?token=abc&x=1`` becomes ``https://***@host/f?token=***&x=1``. Used for
    every loader message and log line that names a source.
    """
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def daft_literal_path(path: str | os.PathLike[str]) -> str:
    """A local file's absolute path written so Daft's readers read exactly that file.

    Daft's readers expand ``*``, ``?``, ``[...]`` and ``{a,b}`` in a path as a glob (so
    ``d[12].json`` would read ``d1.json`` and ``d2.json``); a backslash makes each of those
    characters (and a backslash) literal.
    """
    return _GLOB_SPECIAL.sub(r"\\\1", os.path.abspath(os.fspath(path)))


def regular_file(path: str | os.PathLike[str], shown: str | None = None) -> Path:
    """``path`` with symlinks resolved, when it is a regular file; else a clear :class:`DataError`.

    A FIFO, socket or device (``/dev/zero``, also behind a symlink) would block a reader
    forever or feed it without end: only regular files are read.

    Raises:
        DataError: The path is missing or not a regular file.
    """
    label = redact_url(shown or os.fspath(path))
    resolved = Path(path).resolve()
    try:
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"MNIST source not found: {label}") from None
    except OSError as exc:
        raise DataError(f"{label}: cannot read it ({type(exc).__name__}: {exc})") from None
    if not stat.S_ISREG(mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(mode)
            else "a FIFO (named pipe)"
            if stat.S_ISFIFO(mode)
            else "a character device"
            if stat.S_ISCHR(mode)
            else "a block device"
            if stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        target = f" (it resolves to {resolved})" if str(resolved) != os.path.abspath(os.fspath(path)) else ""
        raise DataError(f"{label}: is {kind}{target}; expected a regular file")
    return resolved


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


def cache_subdir(*parts: str) -> Path:
    """The folder ``cache_dir()/parts...``, created; a clear :class:`DataError` when that is impossible.

    Raises:
        DataError: ``$DAFT_MNIST_CACHE_DIR`` (or a folder on the way) is a file, or not writable.
    """
    base = cache_dir()
    target = base.joinpath(*parts)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(
            f"the download cache {base} (${CACHE_DIR_ENV}, else ~/.cache/daft-mnist) is not a folder: "
            f"a file is in the way of {target}; point ${CACHE_DIR_ENV} to a folder"
        ) from None
    except OSError as exc:
        raise DataError(
            f"cannot create the download cache folder {target} ({type(exc).__name__}: {exc}); "
            f"point ${CACHE_DIR_ENV} to a writable folder"
        ) from None
    return target


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

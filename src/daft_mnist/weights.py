"""Where weights come from: the bundled file, a local path, or a verified remote download.

Remote weights (``http(s)://``, ``s3://``, ``gs://``, ...) must come with a SHA-256. They are
downloaded once per machine into a cache directory, under a file lock so that worker
processes starting together download once, and written atomically (temp file, checksum,
rename), so a half-written file is never used.
"""

from __future__ import annotations

import os
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from daft_mnist._files import cache_dir, file_sha256, is_remote, write_atomically
from daft_mnist.errors import WeightsError

__all__ = [
    "BUNDLED_WEIGHTS",
    "bundled_weights_path",
    "resolve_weights",
]

BUNDLED_WEIGHTS = "mnist_cnn.pt"
"""File name of the weights shipped inside the package (``daft_mnist/weights/``)."""

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def bundled_weights_path() -> Path:
    """Path of the weights bundled in the installed package."""
    path = Path(str(resources.files("daft_mnist") / "weights" / BUNDLED_WEIGHTS))
    if not path.is_file():
        raise WeightsError(f"the bundled weights are missing from the installed package: expected {path}")
    return path


def _normalize_sha(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    s = sha256.strip().lower()
    if not _SHA256_RE.match(s):
        raise WeightsError(f"sha256 must be 64 hexadecimal characters, got {sha256!r}")
    return s


def _verify(path: Path, sha256: str | None, source: str) -> None:
    if sha256 is None:
        return
    actual = file_sha256(path)
    if actual != sha256:
        raise WeightsError(
            f"{source}: SHA-256 mismatch: expected {sha256}, got {actual}; refusing to use these weights"
        )


def resolve_weights(weights: str | os.PathLike[str] | None = None, *, sha256: str | None = None) -> Path:
    """Turn a weights argument into a verified local file path.

    Args:
        weights: ``None`` for the bundled weights, a local path, or a remote URL.
        sha256: Expected hex SHA-256 of the file. Required for remote URLs; checked for
            local files when given.

    Returns:
        A local path whose contents match ``sha256`` when one was given.

    Raises:
        WeightsError: Missing file, malformed or mismatching checksum, remote URL without a
            checksum, or a failed download.
    """
    expected = _normalize_sha(sha256)
    if weights is None:
        path = bundled_weights_path()
        _verify(path, expected, "bundled weights")
        return path
    text = os.fspath(weights)
    if not is_remote(text):
        path = Path(text.removeprefix("file://")).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        _verify(path, expected, str(path))
        return path
    if expected is None:
        raise WeightsError(
            f"remote weights {text} need sha256=<64 hex characters> so that what is downloaded can be verified "
            "(compute it with `sha256sum FILE`)"
        )
    return _download_cached(text, expected)


def _download_cached(url: str, sha256: str) -> Path:
    from filelock import FileLock

    name = os.path.basename(url.split("?", 1)[0]) or "weights.pt"
    target_dir = cache_dir() / sha256[:16]
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / name
    with FileLock(str(target) + ".lock", timeout=600):
        if target.is_file():
            if file_sha256(target) == sha256:
                return target
            target.unlink()  # a stale or tampered cache entry: fetch again
        write_atomically(target, lambda out: _fetch(url, out), check=lambda tmp: _verify(tmp, sha256, url))
    return target


def _copy_counting(src: Any, out: BinaryIO) -> int:
    total = 0
    while chunk := src.read(1 << 20):
        out.write(chunk)
        total += len(chunk)
    return total


def _fetch(url: str, out: BinaryIO) -> None:
    scheme = url.split("://", 1)[0].lower()
    try:
        if scheme in ("http", "https"):
            import urllib.request

            with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - scheme checked above
                expected = resp.headers.get("Content-Length")
                got = _copy_counting(resp, out)
            if expected is not None and expected.isdigit() and got != int(expected):
                raise WeightsError(
                    f"could not download weights from {url}: incomplete download, got {got} of {expected} bytes"
                )
        else:
            import pyarrow.fs as pafs

            fs, path = pafs.FileSystem.from_uri(url)
            with fs.open_input_stream(path) as src:
                shutil.copyfileobj(src, out)
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"could not download weights from {url}: {type(exc).__name__}: {exc}") from None

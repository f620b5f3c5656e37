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

from daft_mnist.data._files import (
    display_path,
    file_sha256,
    is_remote,
    make_cache_subdir,
    not_a_regular_file,
    redact_url,
    write_atomically,
)
from daft_mnist.errors import CacheDirError, WeightsError

__all__ = [
    "BUNDLED_WEIGHTS",
    "bundled_weights_path",
    "resolve_weights",
]

BUNDLED_WEIGHTS = "mnist_cnn.pt"
"""File name of the weights shipped inside the package (``daft_mnist/model/bundled/``)."""

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def bundled_weights_path() -> Path:
    """Path of the weights bundled in the installed package."""
    path = Path(str(resources.files("daft_mnist") / "model" / "bundled" / BUNDLED_WEIGHTS))
    if not path.is_file():
        raise WeightsError(f"the bundled weights are missing from the installed package: expected {path}")
    return path


def _error(message: str) -> WeightsError:
    """A :class:`WeightsError` whose message never carries a URL's credentials."""
    return WeightsError(redact_url(message))


def _normalize_sha(sha256: object) -> str | None:
    if sha256 is None:
        return None
    if not isinstance(sha256, str):
        hint = " (decode it: sha256=value.decode())" if isinstance(sha256, (bytes, bytearray)) else ""
        raise WeightsError(
            f"sha256 must be a str of 64 hexadecimal characters, got a value of type {type(sha256).__name__}{hint}"
        )
    s = sha256.strip().lower()
    if not _SHA256_RE.match(s):
        raise WeightsError(f"sha256 must be 64 hexadecimal characters, got {sha256!r}")
    return s


def _verify(path: Path, sha256: str | None, source: str) -> None:
    if sha256 is None:
        return
    actual = file_sha256(path)
    if actual != sha256:
        raise _error(f"{source}: SHA-256 mismatch: expected {sha256}, got {actual}; refusing to use these weights")


def resolve_weights(
    weights: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None = None, *, sha256: str | None = None
) -> Path:
    """Turn a weights argument into a verified local file path.

    Args:
        weights: ``None`` for the bundled weights, a local path (``str``, ``bytes`` or
            ``os.PathLike``), or a remote URL.
        sha256: Expected hex SHA-256 of the file. Required for remote URLs; checked for
            local files when given.

    Returns:
        A local path whose contents match ``sha256`` when one was given.

    Raises:
        WeightsError: Missing file, a path that is not a regular file (a directory, a FIFO,
            ...), malformed or mismatching checksum, remote URL without a checksum, an
            unusable download cache, or a failed download. URLs in messages have their
            credentials scrubbed.
        TypeError: ``weights`` is not ``None``, a path or a URL.
    """
    expected = _normalize_sha(sha256)
    if weights is None:
        path = bundled_weights_path()
        _verify(path, expected, "bundled weights")
        return path
    text = weights_text(weights)
    if not is_remote(text):
        path = Path(text.removeprefix("file://")).expanduser()
        check_weights_file(path)
        _verify(path, expected, display_path(str(path)))
        return path
    if expected is None:
        raise _error(
            f"remote weights {text} need sha256=<64 hex characters> so that what is downloaded can be verified "
            "(compute it with `sha256sum FILE`)"
        )
    return _download_cached(text, expected)


def weights_text(weights: object) -> str:
    """A weights argument (``str``, ``bytes``, ``os.PathLike``) as text; a clear ``TypeError`` for anything else."""
    try:
        return os.fsdecode(weights)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"weights must be None, a path (str, bytes or os.PathLike) or a URL, got a value of type "
            f"{type(weights).__name__}"
        ) from None


def check_weights_file(path: Path) -> None:
    """Refuse, without opening it, a weights path that is missing or not a regular file (never blocks on a FIFO)."""
    problem = not_a_regular_file(path)
    if problem is None:
        return
    if problem.startswith("not found"):
        raise WeightsError(f"weights file not found: {display_path(str(path))}")
    raise WeightsError(
        f"weights path {display_path(str(path))} is {problem}; expected a checkpoint file (.pt) saved with torch.save"
    )


def _download_cached(url: str, sha256: str) -> Path:
    from filelock import FileLock

    name = os.path.basename(url.split("?", 1)[0].split("#", 1)[0]) or "weights.pt"
    try:
        target_dir = make_cache_subdir(sha256[:16])
    except CacheDirError as exc:
        raise _error(f"cannot download weights from {url}: {exc}") from None
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
                raise _error(
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
        raise _error(f"could not download weights from {url}: {type(exc).__name__}: {exc}") from None

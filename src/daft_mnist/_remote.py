"""The download cache of remote files, fetched with Daft's IO (same schemes and credentials as Daft's readers)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from daft_mnist._files import GZIP_MAGIC, cache_dir, write_atomically
from daft_mnist.diagnostics import logger
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    from daft.io import IOConfig

__all__ = ["cached_remote_copy", "short_error"]


def short_error(exc: BaseException) -> str:
    """``Type: message`` of an exception on one line, cut to 300 characters (for error messages)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


def cached_remote_copy(src: str, io_config: IOConfig | None) -> Path:
    """A local copy of the remote file ``src`` in the download cache, fetched with Daft's IO.

    Daft's IO means the same schemes and credentials (``io_config``) as ``daft.read_json``.
    The copy is keyed by URL and reused while the remote size is unchanged (or, with a
    warning, when the remote file cannot be checked: offline); it is written to a temporary
    file and renamed, under a file lock, so concurrent processes download it once and never
    read a partial copy.

    Raises:
        DataError: The file cannot be reached, or the download is incomplete.
    """
    import daft
    from daft import col
    from daft.functions import download
    from filelock import FileLock

    size: int | None = None
    probe_error: BaseException | None = None
    try:
        sizes = daft.from_glob_path(src, io_config=io_config).to_pydict()["size"]
    except Exception as exc:  # offline, 404, a server without HEAD: decided below
        probe_error = exc
    else:
        if len(sizes) != 1:
            raise DataError(f"{src}: expected one file, found {len(sizes)} (globs are not supported here)")
        size = sizes[0]
    name = os.path.basename(src.split("?", 1)[0]) or "mnist.json"
    target_dir = cache_dir() / "data" / hashlib.sha256(src.encode()).hexdigest()[:16]
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / name
    with FileLock(str(target) + ".lock", timeout=600):
        # A gzip stream behind a URL without .gz is kept as NAME.gz, so readers decompress it.
        for candidate in (target, target.with_name(name + ".gz")):
            if candidate.is_file() and (size is None or candidate.stat().st_size == size):
                if probe_error is not None:
                    logger.warning(
                        "%s: could not check the remote file (%s); using the cached copy %s",
                        src,
                        short_error(probe_error),
                        candidate,
                    )
                return candidate
        try:
            fetched = daft.from_pydict({"url": [src]}).select(download(col("url"), io_config=io_config).alias("data"))
            data = fetched.to_pydict()["data"][0]
        except Exception as exc:
            if probe_error is not None:
                why = short_error(probe_error)
                raise DataError(f"MNIST source not found or not reachable: {src} ({why})") from None
            raise DataError(f"could not download {src}: {short_error(exc)}") from None
        if data is None or (size is not None and len(data) != size):
            got = 0 if data is None else len(data)
            raise DataError(f"could not download {src}: incomplete download, got {got} of {size} bytes")
        if data[:2] == GZIP_MAGIC and not name.lower().endswith(".gz"):
            target = target.with_name(name + ".gz")
        write_atomically(target, lambda out: out.write(data))
    logger.info("downloaded %s (%d bytes) to %s", src, len(data), target)
    return target

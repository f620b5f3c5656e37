"""The download cache of remote files: one total time limit, http(s)-only redirects, validated copies.

``http(s)://`` URLs (without an ``io_config``) are fetched with Python's HTTP client, under
one deadline for the whole fetch (connect, redirects, retries, body), following redirects only
to ``http(s)``; the copy is reused while the server's validators (``ETag``, ``Last-Modified``,
size) are unchanged and the copy's SHA-256 still matches what was downloaded. Other schemes
(``s3://``, ...) and calls with an ``io_config`` (credentials) use Daft's IO, with the same
deadline enforced around it.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import hashlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daft_mnist.data._files import GZIP_MAGIC, file_sha256, make_cache_subdir, redact_url, write_atomically
from daft_mnist.diagnostics import logger
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    from daft.io import IOConfig

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TIMEOUT_ENV",
    "cached_remote_copy",
    "daft_io_config",
    "http_get",
    "remote_timeout",
    "short_error",
]

DEFAULT_TIMEOUT_S = 30.0
"""Total time limit of one remote read (connect, redirects, retries and body), in seconds."""
TIMEOUT_ENV = "DAFT_MNIST_TIMEOUT"
"""Environment variable overriding :data:`DEFAULT_TIMEOUT_S` (seconds); ``timeout=`` wins over it."""
_MAX_TRIES = 3
"""Attempts for errors that may heal (5xx, timeouts, dropped connections); 4xx and refused: one."""
_BLOCK = 1 << 20


def short_error(exc: BaseException) -> str:
    """``Type: message`` of an exception on one line, cut to 300 characters, credentials scrubbed."""
    text = redact_url(" ".join(str(exc).split()))
    return f"{type(exc).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


def remote_timeout(timeout: float | None = None) -> float:
    """The total time limit in seconds: ``timeout``, else ``$DAFT_MNIST_TIMEOUT``, else :data:`DEFAULT_TIMEOUT_S`."""
    value: Any = timeout
    if value is None:
        value = os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"${TIMEOUT_ENV} must be a number of seconds, got {value!r}") from None
    if not seconds > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {value!r}")
    return seconds


def daft_io_config(timeout: float | None = None) -> IOConfig:
    """An ``IOConfig`` for Daft's readers: HTTP connect/read timeouts and tries within :func:`remote_timeout`."""
    from daft.io import HTTPConfig, IOConfig

    ms = int(remote_timeout(timeout) * 1000)
    return IOConfig(http=HTTPConfig(connect_timeout_ms=ms // 2, read_timeout_ms=ms // 2, num_tries=2))


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.monotonic()

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def waited(self) -> str:
        took = time.monotonic() - self.start
        return f"after {took:.1f} s (time limit {self.seconds:g} s: timeout= or ${TIMEOUT_ENV})"


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) URLs only (never ``file://``, ``ftp://``, ...)."""

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        target = urllib.parse.urljoin(req.full_url, headers.get("location") or headers.get("uri") or "")
        if urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https"):
            raise DataError(
                f"{redact_url(req.full_url)}: the server redirects to {redact_url(target)!r}; "
                "only http(s) redirects are followed"
            )
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class _Fetched:
    def __init__(self, status: int, headers: Any, body: bytes | None) -> None:
        self.status, self.headers, self.body = status, headers, body

    def validators(self) -> dict[str, str | None]:
        return {k: self.headers.get(k) for k in ("ETag", "Last-Modified", "Content-Length")}


def _request(url: str, method: str, deadline: _Deadline) -> _Fetched:
    """One http(s) request with retries, within the deadline; the body for GET."""
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": "daft-mnist", "Accept-Encoding": "identity"}
    if parts.username is not None:
        netloc = parts.hostname or ""
        netloc += f":{parts.port}" if parts.port else ""
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        token = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
    opener = urllib.request.build_opener(_HttpOnlyRedirects())
    last: BaseException | None = None
    for attempt in range(_MAX_TRIES):
        if deadline.left() <= 0:
            break
        try:
            req = urllib.request.Request(url, headers=headers, method=method)  # noqa: S310 - http(s) only
            with opener.open(req, timeout=deadline.left()) as r:
                body = _read_body(r, deadline) if method == "GET" else None
                return _Fetched(r.status, r.headers, body)
        except urllib.error.HTTPError as exc:
            last = exc
            if exc.code < 500:
                break  # 4xx will not heal
        except urllib.error.URLError as exc:
            last = exc.reason if isinstance(exc.reason, BaseException) else exc
            if isinstance(last, (ConnectionRefusedError, DataError)):
                break
        except DataError:
            raise
        except OSError as exc:  # timeouts, resets, incomplete reads
            last = exc
        time.sleep(max(0.0, min(0.2 * 2**attempt, deadline.left())))
    assert last is not None or deadline.left() <= 0
    raise _FailedError(last, deadline)


class _FailedError(Exception):
    def __init__(self, cause: BaseException | None, deadline: _Deadline) -> None:
        self.cause, self.deadline = cause, deadline
        why = short_error(cause) if cause is not None else "no answer"
        if cause is None or isinstance(cause, TimeoutError) or deadline.left() <= 0:
            why = f"timed out: {why}"
        super().__init__(f"{why}; gave up {deadline.waited()}")

    @property
    def not_found(self) -> bool:
        return isinstance(self.cause, urllib.error.HTTPError) and self.cause.code in (404, 410)


def http_get(url: str, timeout: float | None = None) -> bytes:
    """The body of an ``http(s)://`` URL, within one total time limit (:func:`remote_timeout`), not cached.

    Raises:
        DataError: No whole body within the time limit, an HTTP error, a refused connection, or
            a redirect that leaves http(s); the message says which and how long it waited.
    """
    deadline = _Deadline(remote_timeout(timeout))
    try:
        got = _request(url, "GET", deadline)
    except _FailedError as exc:
        raise DataError(f"not downloaded: {exc}") from None
    return got.body or b""


def _read_body(r: Any, deadline: _Deadline) -> bytes:
    """The response body, each read bounded by the time left; the length the server declared is enforced."""
    declared = r.headers.get("Content-Length")
    parts: list[bytes] = []
    got = 0
    while True:
        left = deadline.left()
        if left <= 0:
            raise TimeoutError(f"the body was still arriving ({got} bytes so far)")
        sock = getattr(getattr(getattr(r, "fp", None), "raw", None), "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(left)  # each read waits at most the time left
        block = r.read(_BLOCK)
        if not block:
            break
        parts.append(block)
        got += len(block)
    if declared is not None and declared.isdigit() and got != int(declared):
        raise OSError(f"incomplete download, got {got} of {declared} bytes")
    return b"".join(parts)


def _meta_path(target_dir: Path) -> Path:
    return target_dir / "download.meta"


def _load_meta(target_dir: Path) -> dict[str, Any]:
    try:
        meta = json.loads(_meta_path(target_dir).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _cached(target_dir: Path, meta: dict[str, Any]) -> Path | None:
    """The cached copy when its SHA-256 is still the one downloaded (content hash), else ``None``."""
    name = meta.get("file")
    if not isinstance(name, str):
        return None
    path = target_dir / name
    return path if path.is_file() and file_sha256(path) == meta.get("sha256") else None


def _cache_name(src: str) -> str:
    name = os.path.basename(urllib.parse.urlsplit(src).path) or "mnist.json"
    if name.lower().endswith(".gz") and not name.endswith(".gz"):
        name = name[:-3] + ".gz"  # Daft's reader decompresses *.gz only
    return name


def cached_remote_copy(src: str, io_config: IOConfig | None, timeout: float | None = None) -> Path | None:
    """A local copy of the remote file ``src`` in the download cache; ``None`` for an empty remote file.

    The copy is keyed by URL and reused while the server's validators (``ETag``,
    ``Last-Modified``, size) are unchanged and its SHA-256 matches the download (or, with a
    warning, when the remote cannot be checked: offline). An empty body is an error unless
    the server declares an empty file (``Content-Length: 0``); it is never cached. The whole
    fetch runs within :func:`remote_timeout` seconds.

    Raises:
        DataError: The file cannot be reached within the time limit, is incomplete, or a
            redirect leaves http(s).
    """
    from filelock import FileLock

    deadline = _Deadline(remote_timeout(timeout))
    shown = redact_url(src)
    target_dir = make_cache_subdir("data", hashlib.sha256(src.encode()).hexdigest()[:16])
    name = _cache_name(src)
    http = urllib.parse.urlsplit(src).scheme.lower() in ("http", "https") and io_config is None
    with FileLock(str(target_dir / "download.lock"), timeout=max(deadline.left(), 1.0)):
        meta = _load_meta(target_dir)
        copy = _cached(target_dir, meta)
        if http:
            data, validators = _fetch_http(src, shown, deadline, copy, meta)
        else:
            data, validators = _fetch_daft(src, shown, io_config, deadline, copy)
        if data is None:
            assert copy is not None
            return copy
        if not data:
            if validators.get("Content-Length") == "0":
                return None  # the server says the file is empty: an empty frame, nothing cached
            raise DataError(f"could not download {shown}: the download is empty (and the server did not say so)")
        target = target_dir / (name + ".gz" if data[:2] == GZIP_MAGIC and not name.endswith(".gz") else name)
        write_atomically(target, lambda out: out.write(data))
        digest = hashlib.sha256(data).hexdigest()
        record = {"file": target.name, "sha256": digest, **validators}
        write_atomically(_meta_path(target_dir), lambda out: out.write(json.dumps(record).encode()))
    logger.info("downloaded %s (%d bytes) to %s", shown, len(data), target)
    return target


def _fetch_http(
    src: str, shown: str, deadline: _Deadline, copy: Path | None, meta: dict[str, Any]
) -> tuple[bytes | None, dict[str, str | None]]:
    """(new body or ``None`` to reuse ``copy``, the server's validators)."""
    if copy is not None:
        try:
            head = _request(src, "HEAD", deadline)
        except _FailedError as exc:
            logger.warning("%s: could not check the remote file (%s); using the cached copy %s", shown, exc, copy)
            return None, {}
        now = head.validators()
        known = {k: meta.get(k) for k in now}
        if (now["ETag"] or now["Last-Modified"]) and now == known:
            return None, now
    try:
        got = _request(src, "GET", deadline)
    except _FailedError as exc:
        if copy is not None:
            logger.warning("%s: could not check the remote file (%s); using the cached copy %s", shown, exc, copy)
            return None, {}
        if exc.not_found or isinstance(exc.cause, (urllib.error.URLError, ConnectionError)):
            raise DataError(f"MNIST source not found or not reachable: {shown} ({exc})") from None
        raise DataError(f"could not download {shown}: {exc}") from None
    return got.body or b"", got.validators()


def _fetch_daft(
    src: str, shown: str, io_config: IOConfig | None, deadline: _Deadline, copy: Path | None
) -> tuple[bytes | None, dict[str, str | None]]:
    """Size probe and download with Daft's IO (other schemes, or an ``io_config``), within the deadline."""
    import daft
    from daft import col
    from daft.functions import download

    def probe() -> list[Any]:
        return list(daft.from_glob_path(src, io_config=io_config).to_pydict()["size"])

    def fetch() -> Any:
        df = daft.from_pydict({"url": [src]}).select(download(col("url"), io_config=io_config).alias("data"))
        return df.to_pydict()["data"][0]

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        try:
            sizes = pool.submit(probe).result(timeout=max(deadline.left(), 0.01))
        except Exception as exc:
            if copy is not None:
                why = short_error(exc)
                logger.warning("%s: could not check the remote file (%s); using the cached copy %s", shown, why, copy)
                return None, {}
            why = f"timed out {deadline.waited()}" if isinstance(exc, TimeoutError) else short_error(exc)
            raise DataError(f"MNIST source not found or not reachable: {shown} ({why})") from None
        if len(sizes) != 1:
            raise DataError(f"{shown}: expected one file, found {len(sizes)} (globs are not supported here)")
        size = sizes[0]
        if copy is not None and copy.stat().st_size == size:
            return None, {}  # no validators through Daft's IO: the size, and the copy's own hash
        try:
            data = pool.submit(fetch).result(timeout=max(deadline.left(), 0.01))
        except Exception as exc:
            why = f"timed out {deadline.waited()}" if isinstance(exc, TimeoutError) else short_error(exc)
            raise DataError(f"could not download {shown}: {why}") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    got = 0 if data is None else len(data)
    if size is not None and got != size:
        raise DataError(f"could not download {shown}: incomplete download, got {got} of {size} bytes")
    return bytes(data or b""), {"Content-Length": str(size) if size is not None else None}

"""File helpers shared by the loaders, the weights, checkpoints and the CLI (no Daft, no torch).

One place for: the download cache directory, atomic writes, SHA-256 of a file, the gzip magic,
the local-or-remote test of a source string, what kind of file a path is, and the scrubbing of
credentials from URLs in messages.
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

__all__ = [
    "CACHE_DIR_ENV",
    "GZIP_MAGIC",
    "cache_dir",
    "daft_literal_path",
    "display_path",
    "file_sha256",
    "is_gzip",
    "is_remote",
    "make_cache_subdir",
    "not_a_regular_file",
    "redact_url",
    "regular_file",
    "same_file",
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


def _cache_dir_and_origin() -> tuple[Path, str]:
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser(), f"${CACHE_DIR_ENV}"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "daft-mnist", "$XDG_CACHE_HOME"
    return Path.home() / ".cache" / "daft-mnist", "the home directory"


def cache_dir() -> Path:
    """Download cache: ``$DAFT_MNIST_CACHE_DIR``, else ``$XDG_CACHE_HOME/daft-mnist``, else ``~/.cache/daft-mnist``.

    Raises:
        CacheDirError: The path, or a folder above it, exists but is not a directory; the
            message names the environment variable it came from.
    """
    path, origin = _cache_dir_and_origin()
    for existing in (path, *path.parents):
        if existing.exists():
            if not existing.is_dir():
                from daft_mnist.errors import CacheDirError

                what = "it" if existing == path else f"{display_path(str(existing))} above it"
                raise CacheDirError(
                    f"download cache {display_path(str(path))} (from {origin}) cannot be used: {what} is "
                    f"{_kind(existing)}, not a directory; point {CACHE_DIR_ENV} at a directory"
                )
            break
    return path


def make_cache_subdir(*parts: str) -> Path:
    """``cache_dir() / parts``, created; a :class:`~daft_mnist.errors.CacheDirError` naming the variable if not."""
    from daft_mnist.errors import CacheDirError

    path = cache_dir().joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _, origin = _cache_dir_and_origin()
        raise CacheDirError(
            f"cannot create the download cache folder {display_path(str(path))} (from {origin}): "
            f"{type(exc).__name__}: {exc.strerror or exc}; point {CACHE_DIR_ENV} at a writable directory"
        ) from None
    return path


# ---------------------------------------------------------------------------- kinds of files


def display_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """A path as text that can always be printed (undecodable bytes shown as ``\\xNN`` escapes)."""
    text = os.fsdecode(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _kind(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except OSError:
        return "missing"
    return _mode_kind(mode)


def _mode_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "a special file"


def not_a_regular_file(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a file, or ``None`` when it is a regular file (links followed).

    Uses :func:`os.stat` only: a FIFO is never opened, so this never blocks. The reason is
    ``"not found"`` or ``"not a regular file (a directory)"``, ``"not a regular file (a FIFO
    (named pipe))"``, ...
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "not found"
    except NotADirectoryError:
        return "not found (a folder on its path is a file)"
    except OSError as exc:
        return f"not readable ({type(exc).__name__}: {exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    return f"not a regular file ({_mode_kind(mode)})"


_GLOB_SPECIAL = re.compile(r"([\\*?\[\]{}])")


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
    forever or feed it without end: only regular files are read (checked with
    :func:`not_a_regular_file`, which never opens the path).

    Raises:
        DataError: The path is missing or not a regular file.
    """
    from daft_mnist.errors import DataError

    label = redact_url(shown or os.fspath(path))
    resolved = Path(path).resolve()
    problem = not_a_regular_file(resolved)
    if problem is None:
        return resolved
    if problem == "not found":
        raise DataError(f"MNIST source not found: {label}")
    target = f" (it resolves to {resolved})" if str(resolved) != os.path.abspath(os.fspath(path)) else ""
    raise DataError(f"{label}: {problem}{target}; expected a regular file")


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file: equal once resolved (symlinks followed), or the same inode (hard links)."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    try:
        if pa.resolve() == pb.resolve():
            return True
    except (OSError, RuntimeError):
        pass
    try:
        return os.path.samefile(pa, pb)
    except OSError:
        return False


# ---------------------------------------------------------------------------- credentials in URLs

_URL_RE = re.compile(r"""\b([A-Za-z][A-Za-z0-9+.\-]*://)([^\s'"<>`]*)""")
_USERINFO_RE = re.compile(r"^([^/?#]*)@")  # up to the authority's last "@" (a raw "@" in a password too)
_PARAM_RE = re.compile(r"""([?&#;])([^=&#\s]+)=([^&#\s'"<>`)\]]*)""")
_SENSITIVE_WORDS = (
    "token",
    "secret",
    "signature",
    "password",
    "passwd",
    "credential",
    "auth",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "accesskey",
    "private",
    "session",
    "cookie",
)
_SENSITIVE_NAMES = {"sig", "key", "pwd", "pass", "code", "jwt", "bearer", "sas", "x-amz-date-signature"}
REDACTED = "***"


def _is_sensitive(name: str) -> bool:
    n = name.lower()
    return n in _SENSITIVE_NAMES or any(word in n for word in _SENSITIVE_WORDS)


def _redact_one(match: re.Match[str]) -> str:
    scheme, rest = match.group(1), match.group(2)
    rest = _USERINFO_RE.sub(REDACTED + "@", rest, count=1)

    def param(m: re.Match[str]) -> str:
        return f"{m.group(1)}{m.group(2)}={REDACTED}" if _is_sensitive(m.group(2)) else m.group(0)

    return scheme + _PARAM_RE.sub(param, rest)


def redact_url(text: str) -> str:
    """``text`` with credentials scrubbed from every URL inside it.

    The user information (``https://user:password@host`` -> ``https://***@host``) and the
    values of sensitive query or fragment parameters (``token``, ``access_token``,
    ``X-Amz-Signature``, ``X-Amz-Credential``, ``X-Amz-Security-Token``, ``sig``, ``key``,
    ``password``, ...) become ``***``. The rest of the text is unchanged.

    Examples:
        >>> redact_url("could not read https://bob:hunter2@example.com/a.pt?token=abc&v=1")
        'could not read https://***@example.com/a.pt?token=***&v=1'
    """
    return _URL_RE.sub(_redact_one, text)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's contents."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux says it (``/proc/self/status``)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and put back at once
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


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
        # mkstemp makes the file 0600; the file written gets the mode a plain open() would give
        # (0666 less the umask), or keeps the mode of the file it replaces.
        os.fchmod(fd, _mode_for(target))
        with os.fdopen(fd, "wb") as out:
            write(out)
        if check is not None:
            check(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()

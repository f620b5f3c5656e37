"""Loaders: the tutorial's gzipped JSON-lines, the original IDX files, and Parquet.

Every loader returns a lazy :class:`daft.DataFrame` with ``image`` (``List[UInt8; 784]``, the
784 pixels row-major) and ``label`` (``Int64``). JSON is read with a schema hint, so no Python
runs per row; a vectorized check per batch turns what a bare cast would silently null (wrong
length, pixel outside 0-255, fractional values) into a clear error.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from daft_mnist._files import GZIP_MAGIC, cache_dir, is_gzip, is_remote, write_atomically
from daft_mnist._rules import OnError, check_on_error, label_problem, pixel_problem
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

logger = logging.getLogger("daft_mnist")

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
    on_error: OnError = "raise",
    cache: bool = True,
    strict_json: bool = False,
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
        on_error: What a bad row does (a line that is not a JSON object, an image that is
            not 784 integers in 0-255, a label that is not an integer 0-9). ``"raise"``
            (default) fails with a :class:`~daft_mnist.errors.DataError` naming the column,
            the row and the problem. ``"null"`` keeps every row: a bad image or label becomes
            null, the rows are logged (logger ``"daft_mnist"``) and counted
            (:func:`daft_mnist.bad_row_count`, or count the nulls). File-level faults (a
            missing file, unreadable gzip, IDX files that disagree) always raise.
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

    Returns:
        A lazy DataFrame with columns ``image`` (``List[UInt8; 784]``) and ``label`` (``Int64``).
        An empty file gives an empty frame with these columns.

    Raises:
        DataError: The source is missing, unreadable or not MNIST. Local files are checked
            here (missing, truncated gzip, lines that are not JSON objects, IDX headers);
            the rows themselves are checked when the frame runs.
        ValueError: ``split`` or ``on_error`` is not one of the accepted values.
    """
    _check_split(split)
    check_on_error(on_error)
    src = default_source(split) if source is None else os.fspath(source)
    if not is_remote(src):
        local = Path(src.removeprefix("file://"))
        if local.is_dir():
            return _load_idx_dir(local, split, on_error)
        if not local.exists():
            raise DataError(f"MNIST source not found: {src} (expected a file or a directory of IDX files)")
        src = str(local)
    name = src.lower().split("?", 1)[0]
    if name.endswith(".parquet") or name.endswith(".pq"):
        return _load_parquet(src, io_config, on_error)
    if "idx3-ubyte" in name:
        if is_remote(src):
            raise DataError(f"IDX files are read from local paths only; got {src}")
        return _load_idx(Path(src), _labels_path_for(Path(src)), on_error)
    if name.endswith(_JSON_SUFFIXES) or is_remote(src):
        if is_remote(src):
            return _load_json_remote(src, io_config, on_error, cache, strict_json)
        return _load_json_local(Path(src), on_error, strict=strict_json)
    raise DataError(
        f"cannot tell the format of {src!r}: expected .json/.jsonl[.gz], .parquet, "
        "an *-idx3-ubyte[.gz] file or a directory of IDX files"
    )


def _finish(df: daft.DataFrame, on_error: OnError = "raise", source: JsonLines | None = None) -> daft.DataFrame:
    """Checked cast of raw columns to the library's schema: List[UInt8; 784] and Int64 0-9.

    With ``source``, errors about bad rows also name their lines in that file.
    """
    from daft import col

    from daft_mnist.images import _checker
    from daft_mnist.labels import _labels_checker

    return df.select(
        _checker(on_error, "image", source)(col("image")).alias("image"),
        _labels_checker(on_error, "label", source)(col("label")).alias("label"),
    )


def _empty_frame() -> daft.DataFrame:
    """A frame with no rows and exactly the schema :func:`load_mnist` gives."""
    import daft
    import pyarrow as pa

    table = pa.table(
        {
            "image": pa.array([], type=pa.list_(pa.uint8(), 784)),
            "label": pa.array([], type=pa.int64()),
        }
    )
    return _finish(daft.from_arrow(table))


@dataclass(frozen=True)
class _JsonScan:
    """What the pre-flight scan of a local JSON-lines file found."""

    rows: int
    bad_lines: int
    first_bad: tuple[tuple[int, str], ...]


_scan_cache: dict[tuple[str, int, int, bool], _JsonScan] = {}
_scan_lock = threading.Lock()
_MAX_REPORTED = 3


def _describe_line(raw: bytes) -> str:
    """Why a line that does not look like a JSON object is not one (for error messages)."""
    preview = raw[:40].decode("utf-8", errors="replace")
    more = "..." if len(raw) > 40 else ""
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return f"not valid JSON ({exc.args[0] if exc.args else exc}): {preview!r}{more}"
    return f"a JSON {type(value).__name__}, expected an object with 'image' and 'label': {preview!r}{more}"


_SCAN_CHUNK_BYTES = 8 << 20
_PLAIN_CHARS = b'0123456789,.-+eE[]{}:" \t\r\n'


def _line_chunks(fh: Any) -> Iterator[bytes]:
    """The decompressed stream in pieces of about 8 MB that end at a line break."""
    rest = b""
    while block := fh.read(_SCAN_CHUNK_BYTES):
        buf = rest + block
        cut = buf.rfind(b"\n") + 1
        if cut:
            yield buf[:cut]
        rest = buf[cut:]
    if rest:
        yield rest


def _plain_mnist_rows(chunk: bytes) -> int | None:
    """How many rows, if every line of ``chunk`` is one ``{"image": [...], "label": ...}`` of numbers.

    A few C-level passes over the whole chunk, no per-line Python: one object per line (no
    blank lines, no text around it), one pair of brackets and braces per line, and nothing but
    the two keys (in that order), number characters and whitespace besides. ``None``
    when any of that fails; the caller then looks at each line. This catches text that is
    not JSON, truncated and concatenated lines, ``true``/``false``/``null`` and strings;
    a malformed number or an empty slot (``[1,,2]``) passes, and Daft's reader rejects it.
    """
    if not chunk:
        return None
    k = chunk.count(b"{")
    if not (
        chunk.startswith(b"{")
        and (chunk.endswith(b"}\n") or chunk.endswith(b"}"))
        and chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1) == k  # no blank or partial lines
        and chunk.count(b"}\n{") == k - 1  # each line is exactly one object
        and chunk.count(b"}") == k
        and chunk.count(b"[") == k
        and chunk.count(b"]") == k
    ):
        return None
    if chunk.translate(None, _PLAIN_CHARS) != b"imaglabl" * k:
        return None
    return k


def _line_problem(line: bytes, *, strict: bool = False) -> str | None:
    """Why one stripped, non-blank line cannot be an MNIST JSON object (None when it can).

    ``strict`` parses every line with :mod:`json` instead of trusting the fast shape check.
    """
    if line[:1] != b"{" or line[-1:] != b"}":
        return _describe_line(line)
    if not strict and _plain_mnist_rows(line) == 1:
        return None  # (a malformed number inside still reaches Daft's reader, see above)
    try:
        obj = json.loads(line)
    except ValueError:
        return _describe_line(line)
    if not isinstance(obj, dict):
        return _describe_line(line)
    for key in ("image", "label"):
        value = obj.get(key)
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, bool) for v in values):
            return f"a JSON boolean in {key!r} (true/false is not a number)"
    return None


def _scan_local_json(path: Path, shown: str | None = None, *, strict: bool = False) -> _JsonScan:
    """Read a local JSON-lines file once (streaming) and find what Daft's reader would choke on.

    Checks that a ``.gz`` file is a complete gzip stream and that every non-blank line is
    a JSON object (``{...}``; the values are checked later, per batch, by the column
    checks). The result is cached by path, size and modification time. Messages name the
    file as ``shown`` (the URL of a cached remote file), else by its path.

    Raises:
        DataError: The file is missing, or compressed in a way that does not match its name,
            or a truncated / corrupt gzip stream.
    """
    label = shown or str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError(f"MNIST source not found: {label}") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, strict)
    with _scan_lock:
        cached = _scan_cache.get(key)
    if cached is not None:
        return cached
    gzipped = is_gzip(path)
    named_gz = path.name.lower().endswith(".gz")
    if named_gz and not gzipped and st.st_size > 0:
        raise DataError(f"{label}: named .gz but not gzip-compressed (expected the gzip magic bytes 1f 8b)")
    if gzipped and not named_gz:
        raise DataError(f"{label}: gzip-compressed but not named .gz; rename it to {path.name}.gz")
    rows = 0
    bad = 0
    first: list[tuple[int, str]] = []
    lines_before = 0
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as fh:
            for chunk in _line_chunks(fh):
                fast = None if strict else _plain_mnist_rows(chunk)
                if fast is not None:  # the whole chunk is well-formed MNIST objects
                    rows += fast
                else:
                    for offset, line in enumerate(chunk.split(b"\n"), start=1):
                        stripped = line.strip()
                        if not stripped:
                            continue
                        rows += 1
                        problem = _line_problem(stripped, strict=strict)
                        if problem is not None:
                            bad += 1
                            if len(first) < _MAX_REPORTED:
                                first.append((lines_before + offset, problem))
                lines_before += chunk.count(b"\n")
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(
            f"{label}: not a readable gzip file (truncated or corrupt: {type(exc).__name__}: {exc}); "
            "expected a complete gzip stream of JSON lines"
        ) from None
    scan = _JsonScan(rows, bad, tuple(first))
    with _scan_lock:
        _scan_cache[key] = scan
    return scan


@dataclass(frozen=True)
class JsonLines:
    """Where a column came from: a JSON-lines file, to name the lines of bad rows in errors.

    Small and picklable; handed to the column checks by :func:`load_mnist`. Only used when a
    check has already failed, so the normal path never pays for it.
    """

    path: str
    shown: str

    def first_bad(self, field: str, limit: int = _MAX_REPORTED) -> str:
        """`` (in FILE: line N: why; ...)`` for the first bad ``field`` values, or ``""``.

        Parses the file line by line with :mod:`json` (about a second per 10,000 lines):
        the error path only. Returns ``""`` when the file cannot be read here (another
        machine of a cluster) or no line is bad.
        """
        check = pixel_problem if field == "image" else label_problem
        found: list[str] = []
        path = Path(self.path)
        try:
            with gzip.open(path, "rb") if is_gzip(path) else open(path, "rb") as fh:
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue  # reported by the pre-flight scan, not by the column checks
                    problem = check(obj.get(field) if isinstance(obj, dict) else None)
                    if problem is not None:
                        found.append(f"line {lineno}: {problem}")
                        if len(found) >= limit:
                            break
        except (OSError, EOFError, zlib.error):
            return ""
        return f" (in {self.shown}: {'; '.join(found)})" if found else ""


def _load_json_local(path: Path, on_error: OnError, shown: str | None = None, strict: bool = False) -> daft.DataFrame:
    import daft

    label = shown or str(path)
    scan = _scan_local_json(path, shown, strict=strict)
    if scan.rows == 0:
        return _empty_frame()
    if scan.bad_lines:
        detail = "; ".join(f"line {n}: {why}" for n, why in scan.first_bad)
        if on_error == "raise":
            raise DataError(
                f"{label}: {scan.bad_lines} of {scan.rows} lines are not JSON objects of numbers ({detail}); "
                'expected one {"image": [...784 pixels], "label": 0-9} object per line; '
                "pass on_error='null' to keep those lines as rows with a null image and label"
            )
        logger.warning(
            "%s: %d of %d lines are not JSON objects of numbers and are kept as rows with a null image and label (%s)",
            label,
            scan.bad_lines,
            scan.rows,
            detail,
        )
        return _finish(_read_json_lines_leniently(str(path)), on_error)
    df = daft.read_json(str(path), schema=_mnist_schema())
    return _finish(_require_json_columns(df, label), on_error, JsonLines(str(path.resolve()), label))


def _require_json_columns(df: daft.DataFrame, src: str) -> daft.DataFrame:
    missing = [c for c in ("image", "label") if c not in df.column_names]
    if missing:
        raise DataError(f"{src}: expected JSON objects with keys 'image' and 'label'; missing {missing}")
    # Re-batch right at the reader: with any batch-size requirement further down (into_batches,
    # a UDF's batch_size), Daft 0.7 otherwise feeds the operators between reader and that point
    # one row at a time, so the per-batch pixel check would run 10,000 times per 10,000 rows.
    return df.into_batches(_JSON_BATCH_ROWS)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


def _cached_remote_copy(src: str, io_config: IOConfig | None) -> Path:
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
                        _short(probe_error),
                        candidate,
                    )
                return candidate
        try:
            fetched = daft.from_pydict({"url": [src]}).select(download(col("url"), io_config=io_config).alias("data"))
            data = fetched.to_pydict()["data"][0]
        except Exception as exc:
            if probe_error is not None:
                raise DataError(f"MNIST source not found or not reachable: {src} ({_short(probe_error)})") from None
            raise DataError(f"could not download {src}: {_short(exc)}") from None
        if data is None or (size is not None and len(data) != size):
            got = 0 if data is None else len(data)
            raise DataError(f"could not download {src}: incomplete download, got {got} of {size} bytes")
        if data[:2] == GZIP_MAGIC and not name.lower().endswith(".gz"):
            target = target.with_name(name + ".gz")
        write_atomically(target, lambda out: out.write(data))
    logger.info("downloaded %s (%d bytes) to %s", src, len(data), target)
    return target


def _load_json_remote(
    src: str, io_config: IOConfig | None, on_error: OnError, cache: bool, strict_json: bool = False
) -> daft.DataFrame:
    import daft

    if cache:
        return _load_json_local(_cached_remote_copy(src, io_config), on_error, shown=src, strict=strict_json)

    try:
        df = daft.read_json(src, schema=_mnist_schema(), io_config=io_config)
    except Exception as exc:
        if "Empty JSON file" in str(exc):
            return _empty_frame()
        raise DataError(f"{src}: cannot read it as gzipped JSON lines of MNIST ({type(exc).__name__}: {exc})") from exc
    return _finish(_require_json_columns(df, src), on_error)


def _parse_json_line(line: str | None) -> tuple[list[float | None] | None, float | None]:
    """One line to (pixels, label); anything that is not there or not a number becomes None."""
    if line is None:
        return None, None
    try:
        obj = json.loads(line)
    except ValueError:
        return None, None
    if not isinstance(obj, dict):
        return None, None
    image = obj.get("image")
    pixels: list[float | None] | None = None
    if isinstance(image, list):
        pixels = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None for v in image]
    label = obj.get("label")
    lab = float(label) if isinstance(label, (int, float)) and not isinstance(label, bool) else None
    return pixels, lab


def _read_json_lines_leniently(src: str) -> daft.DataFrame:
    """Slow path for a file with bad lines under ``on_error="null"``: one row per non-blank line."""
    import daft
    import pyarrow as pa
    from daft import DataType, col

    @daft.func.batch(
        return_dtype=DataType.struct({"image": DataType.list(DataType.float64()), "label": DataType.float64()}),
        use_process=False,
    )
    def parse_mnist_json_lines(text: daft.Series) -> Any:
        parsed = [_parse_json_line(line) for line in text.to_pylist()]
        images = pa.array([p for p, _ in parsed], type=pa.list_(pa.float64()))
        labels = pa.array([lab for _, lab in parsed], type=pa.float64())
        return pa.StructArray.from_arrays([images, labels], names=["image", "label"])

    parsed = daft.read_text(src).select(parse_mnist_json_lines(col("text")).alias("row"))
    return parsed.select(col("row")["image"].alias("image"), col("row")["label"].alias("label"))


def _load_parquet(src: str, io_config: IOConfig | None, on_error: OnError) -> daft.DataFrame:
    import daft

    df = daft.read_parquet(src, io_config=io_config)
    missing = [c for c in ("image", "label") if c not in df.column_names]
    if missing:
        raise DataError(f"{src}: expected Parquet columns 'image' and 'label', got {df.column_names}")
    return _finish(df, on_error)


def _open_maybe_gzip(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file not found: {path}") from None
    if raw[:2] == GZIP_MAGIC:
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


def _load_idx_dir(directory: Path, split: str, on_error: OnError) -> daft.DataFrame:
    prefix = _IDX_PREFIX[split]
    for suffix in ("", ".gz"):
        images = directory / f"{prefix}-images-idx3-ubyte{suffix}"
        if images.is_file():
            return _load_idx(images, _labels_path_for(images), on_error)
    raise DataError(
        f"{directory}: no {split} IDX files; expected {prefix}-images-idx3-ubyte[.gz] and "
        f"{prefix}-labels-idx1-ubyte[.gz]"
    )


def _load_idx(images_path: Path, labels_path: Path, on_error: OnError) -> daft.DataFrame:
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
    if on_error == "raise" and len(labels) and int(labels.max()) > 9:
        bad = np.flatnonzero(labels > 9)
        raise DataError(
            f"{labels_path}: {len(bad)} of {len(labels)} labels are invalid (row {int(bad[0])}: expected a label "
            f"0-9, got {int(labels[bad[0]])}); pass on_error='null' to keep those rows with a null label"
        )
    flat = pa.array(np.ascontiguousarray(images).reshape(-1), type=pa.uint8())
    table = pa.table(
        {
            "image": pa.FixedSizeListArray.from_arrays(flat, 784),
            "label": pa.array(labels.astype(np.int64), type=pa.int64()),
        }
    )
    return _finish(daft.from_arrow(table), on_error)

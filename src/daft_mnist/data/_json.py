"""JSON-lines files (the tutorial's format): pre-check, reader with a schema hint, line finder, lenient reader.

A local (or cached remote) file is scanned once before reading so that lines Daft's reader
would choke on are named by their line numbers; the rows are then read with a schema hint
(no Python per row) and checked per batch by :mod:`daft_mnist.data._columns`. When a row check
fails, :class:`JsonLines` reads the file again and names the bad rows' lines, with the same
checks (:func:`~daft_mnist.data._rules.pixel_check`, :func:`~daft_mnist.data._rules.label_check`).
"""

from __future__ import annotations

import gzip
import math
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daft_mnist.data._columns import LINE_ERROR, empty_frame, finish
from daft_mnist.data._files import daft_literal_path, is_gzip, redact_url, regular_file
from daft_mnist.data._remote import cached_remote_copy, daft_io_config, short_error
from daft_mnist.data._rules import MAX_REPORTED, OnError, RowCheck, label_check, pixel_check
from daft_mnist.data._stream import SCAN_CHUNK_BYTES, line_chunks, loads_json, open_lines
from daft_mnist.diagnostics import logger
from daft_mnist.errors import DataError

if TYPE_CHECKING:
    import daft
    from daft.io import IOConfig

__all__ = [
    "JSON_SUFFIXES",
    "JsonLines",
    "JsonScan",
    "as_label",
    "as_pixels",
    "check_json_values",
    "loads_json",
    "load_json_local",
    "load_json_remote",
    "mnist_schema",
    "parse_json_line",
    "read_json_lines_leniently",
    "scan_local_json",
]

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
"""File name endings read as JSON lines."""
_JSON_BATCH_ROWS = 4096
_FINDER_ROWS = 4096
"""Lines the line finder parses into one Arrow batch before checking it."""


def mnist_schema() -> dict[str, Any]:
    """The schema hint for Daft's JSON reader: ``image`` as ``List[Float64]``, ``label`` as ``Float64``."""
    from daft import DataType

    # Float64 pixels keep fractional or out-of-range values visible to the check (an Int64 or
    # UInt8 hint would truncate or null them silently); Float64 holds every 0-255 int exactly.
    return {"image": DataType.list(DataType.float64()), "label": DataType.float64()}


@dataclass(frozen=True)
class JsonScan:
    """What the pre-flight scan of a local JSON-lines file found."""

    rows: int
    bad_lines: int
    first_bad: tuple[tuple[int, str], ...]


_scan_cache: dict[tuple[str, int, int, bool], JsonScan] = {}
_scan_lock = threading.Lock()


def _describe_line(raw: bytes) -> str:
    """Why a line that does not look like a JSON object is not one (for error messages)."""
    preview = raw[:40].decode("utf-8", errors="replace")
    more = "..." if len(raw) > 40 else ""
    try:
        value = loads_json(raw)
    except ValueError as exc:
        return f"not valid JSON ({exc.args[0] if exc.args else exc}): {preview!r}{more}"
    return f"a JSON {type(value).__name__}, expected an object with 'image' and 'label': {preview!r}{more}"


_SCAN_CHUNK_BYTES = SCAN_CHUNK_BYTES
_NUMBER_CHARS = b'0123456789,.-+eE:" \t\r'
"""What a plain MNIST line holds besides its structure (braces, brackets, newline) and keys."""
_ROW_SHAPE = b"{imag[]labl}\n"
_NOT_EXPONENT = bytes(c for c in range(256) if c not in b"eE")
_SUSPECT_NUMBER = re.compile(rb"[0-9]{19}|[eE][+-]?[0-9]{3}")
"""Numbers that may not fit Daft's reader (19+ digits, 3-digit exponents): looked at line by line."""
_ALL_DIGITS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_SUSPECT_SHAPES = (b"0" * 19, b"e000", b"e+000", b"e-000", b"E000", b"E+000", b"E-000")
""":data:`_SUSPECT_NUMBER` once every digit is ``0``: plain substring searches, no regex."""


def _suspect_numbers(chunk: bytes, objects: int) -> bool:
    """Whether ``chunk`` (``objects`` MNIST objects of number characters) may hold a :data:`_SUSPECT_NUMBER`.

    The same answer as ``_SUSPECT_NUMBER.search(chunk)``, about 30 times faster: digits are
    mapped to ``0`` by one ``bytes.translate`` and the shapes found by substring search (the
    regex tried a 19-digit match at every digit). With no exponent at all (the only ``e`` are
    those of the keys ``image`` and ``label``) only long numbers are looked for.
    """
    zeroed = chunk.translate(_ALL_DIGITS_ZERO)
    if len(chunk.translate(None, _NOT_EXPONENT)) == 2 * objects:
        return _SUSPECT_SHAPES[0] in zeroed
    return any(shape in zeroed for shape in _SUSPECT_SHAPES)


def _plain_mnist_rows(chunk: bytes) -> int | None:
    """How many rows, if every line of ``chunk`` is one ``{"image": [...], "label": ...}`` of numbers.

    A few C-level passes over the whole chunk, no per-line Python: one object per line (no
    blank lines, no text around it), one pair of brackets and braces per line, and nothing but
    the two keys (in that order), number characters and whitespace besides. ``None``
    when any of that fails; the caller then looks at each line. This catches text that is
    not JSON, truncated and concatenated lines, ``true``/``false``/``null`` and strings;
    a malformed number or an empty slot (``[1,,2]``) passes, and Daft's reader rejects it.

    The structure is read from one ``bytes.translate`` that deletes the number characters:
    what is left must be ``{imag[]labl}`` and a newline per line (the keys without their
    ``e``, which numbers may hold too); one ``count`` checks that no whitespace sits between a
    line's ``}`` and the next line's ``{``.
    """
    if not chunk or not chunk.startswith(b"{") or not (chunk.endswith(b"}\n") or chunk.endswith(b"}")):
        return None
    shape = chunk.translate(None, _NUMBER_CHARS)
    if not chunk.endswith(b"\n"):
        shape += b"\n"
    k, rest = divmod(len(shape), len(_ROW_SHAPE))
    if rest or shape != _ROW_SHAPE * k:
        return None
    if chunk.count(b"}\n{") != k - 1:
        return None
    if _suspect_numbers(chunk, k):
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
        obj = loads_json(line)
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


def scan_local_json(path: Path, shown: str | None = None, *, strict: bool = False) -> JsonScan:
    """Read a local JSON-lines file once (streaming, memory bounded) and find what Daft's reader would choke on.

    Checks that the path is a regular file, that a ``.gz`` file is one complete gzip stream
    with nothing after it, the text is UTF-8 without a BOM, no line is longer than
    :data:`~daft_mnist.data._stream.MAX_LINE_BYTES` nor the whole more than
    :data:`~daft_mnist.data._stream.MAX_INFLATED_BYTES`, no line is blank between rows, and every
    line is a JSON object (``{...}``) with numbers Daft's reader takes (the values are
    checked later, per batch, by the column checks). The result is cached by path, size and
    modification time. Messages name the file as ``shown`` (the URL of a cached remote file),
    else by its path.

    Raises:
        DataError: Any of the above, naming the file (and the line).
    """
    label = redact_url(shown or str(path))
    real = regular_file(path, label)
    st = real.stat()
    key = (str(real), st.st_size, st.st_mtime_ns, strict)
    with _scan_lock:
        cached = _scan_cache.get(key)
    if cached is not None:
        return cached
    gzipped = is_gzip(real)
    named_gz = path.name.lower().endswith(".gz")
    if named_gz and not gzipped and st.st_size > 0:
        raise DataError(f"{label}: named .gz but not gzip-compressed (expected the gzip magic bytes 1f 8b)")
    if gzipped and not named_gz:
        raise DataError(f"{label}: gzip-compressed but not named .gz; rename it to {path.name}.gz")
    if gzipped and not path.name.endswith(".gz"):
        raise DataError(
            f"{label}: the name ends in {path.name[-3:]!r}, not '.gz' in lower case; Daft's reader decompresses "
            f"only files named *.gz: rename it to {path.name[:-3]}.gz"
        )
    rows = 0
    bad = 0
    first: list[tuple[int, str]] = []
    blank: list[int] = []
    fh, stream = open_lines(real, label, gzipped)
    with fh:
        for line_no, chunk in line_chunks(stream, label, _SCAN_CHUNK_BYTES):
            fast = None if strict else _plain_mnist_rows(chunk)
            if fast is not None:  # the whole chunk is well-formed MNIST objects
                rows += fast
                continue
            pieces = chunk.split(b"\n")
            if chunk.endswith(b"\n"):
                pieces.pop()  # the end of the last line, not a line
            for offset, line in enumerate(pieces):
                stripped = line.strip()
                if not stripped:
                    blank.append(line_no + offset)
                    continue
                rows += 1
                problem = _line_problem(stripped, strict=strict)
                if problem is not None:
                    bad += 1
                    if len(first) < MAX_REPORTED:
                        first.append((line_no + offset, problem))
    if rows and blank:
        where = ", ".join(map(str, blank[:MAX_REPORTED]))
        where += f" and {len(blank) - MAX_REPORTED} more" if len(blank) > MAX_REPORTED else ""
        raise DataError(
            f"{label}: {len(blank)} blank line(s) among the rows (line {where}); Daft's JSON reader refuses "
            "blank lines: remove them (e.g. grep -v '^[[:space:]]*$')"
        )
    scan = JsonScan(rows, bad, tuple(first))
    with _scan_lock:
        _scan_cache[key] = scan
    return scan


@dataclass(frozen=True)
class JsonLines:
    """Where a column came from: a JSON-lines file, to name the lines of bad rows in errors.

    A :class:`~daft_mnist.data._rules.RowSource`: small and picklable, handed to the column checks
    by :func:`load_json_local`. Only used when a check has already failed, so the normal path
    never pays for it.
    """

    path: str
    shown: str

    def first_bad(self, field: str, limit: int = MAX_REPORTED) -> str:
        """`` (in FILE: line N: why; ...)`` for the first bad ``field`` values, or ``""``.

        Reads the file again (the error path only): lines are parsed with :mod:`json` into
        Arrow batches as Daft's reader with :func:`mnist_schema` gives them, and checked by
        the very checks the column ran. Returns ``""`` when the file cannot be read here
        (another machine of a cluster) or no line is bad.
        """
        try:
            found = [f"line {n}: {why}" for n, why in islice(self.bad_lines(field), limit)]
        except (OSError, EOFError, zlib.error):
            return ""
        return f" (in {self.shown}: {'; '.join(found)})" if found else ""

    def bad_lines(self, field: str) -> Iterator[tuple[int, str]]:
        """(line number, reason) of each line whose ``field`` (``"image"`` or ``"label"``) is bad, in order.

        Lines that are blank or not JSON objects are skipped (the pre-check reports them).

        Raises:
            OSError: The file cannot be read.
        """
        path = Path(self.path)
        with gzip.open(path, "rb") if is_gzip(path) else open(path, "rb") as fh:
            numbers: list[int] = []
            values: list[Any] = []
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = loads_json(line)
                except ValueError:
                    continue  # reported by the pre-flight scan, not by the column checks
                numbers.append(lineno)
                values.append(obj.get(field) if isinstance(obj, dict) else None)
                if len(numbers) >= _FINDER_ROWS:
                    yield from _bad_in_batch(field, numbers, values)
                    numbers, values = [], []
            yield from _bad_in_batch(field, numbers, values)


def check_json_values(field: str, values: list[Any]) -> RowCheck:
    """The row check of ``field`` over parsed JSON values, as Daft's reader with :func:`mnist_schema` types them."""
    import pyarrow as pa

    if field == "image":
        return pixel_check(pa.array([as_pixels(v) for v in values], type=pa.list_(pa.float64())), field)
    return label_check(pa.array([as_label(v) for v in values], type=pa.float64()), field)


def _bad_in_batch(field: str, numbers: list[int], values: list[Any]) -> Iterator[tuple[int, str]]:
    """(line number, reason) of the bad rows of one batch of parsed lines."""
    if not numbers:
        return
    check = check_json_values(field, values)
    for row in check.bad_rows():
        yield numbers[row], str(check.reason(int(row)))


def load_json_local(path: Path, on_error: OnError, shown: str | None = None, strict: bool = False) -> daft.DataFrame:
    """Load a local JSON-lines file: pre-check (cached), then Daft's reader with the schema hint, checked.

    Lines that are not JSON objects raise here, or under ``on_error="null"`` are read by
    :func:`read_json_lines_leniently` as null rows. ``shown`` names the file in messages.
    """
    import daft

    label = redact_url(shown or str(path))
    scan = scan_local_json(path, shown, strict=strict)
    if scan.rows == 0:
        return empty_frame(on_error)
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
        return finish(read_json_lines_leniently(str(path)), on_error)
    df = daft.read_json(daft_literal_path(path), schema=mnist_schema())
    return finish(_require_json_columns(df, label), on_error, JsonLines(str(path.resolve()), label))


def _require_json_columns(df: daft.DataFrame, src: str) -> daft.DataFrame:
    """Refuse a frame without ``image`` and ``label``; re-batch it at the reader."""
    missing = [c for c in ("image", "label") if c not in df.column_names]
    if missing:
        raise DataError(f"{src}: expected JSON objects with keys 'image' and 'label'; missing {missing}")
    # Re-batch right at the reader: with any batch-size requirement further down (into_batches,
    # a UDF's batch_size), Daft 0.7 otherwise feeds the operators between reader and that point
    # one row at a time, so the per-batch pixel check would run 10,000 times per 10,000 rows.
    return df.into_batches(_JSON_BATCH_ROWS)


def load_json_remote(
    src: str,
    io_config: IOConfig | None,
    on_error: OnError,
    cache: bool,
    strict_json: bool = False,
    timeout: float | None = None,
) -> daft.DataFrame:
    """Load a remote JSON-lines file: through the download cache (``cache=True``), else streamed by Daft.

    ``timeout``: the total time limit of the download (see :func:`~daft_mnist.data._remote.remote_timeout`).
    """
    import daft

    shown = redact_url(src)
    if cache:
        copy = cached_remote_copy(src, io_config, timeout)
        if copy is None:
            return empty_frame(on_error)
        return load_json_local(copy, on_error, shown=src, strict=strict_json)

    try:
        df = daft.read_json(src, schema=mnist_schema(), io_config=io_config or daft_io_config(timeout))
    except Exception as exc:
        if "Empty JSON file" in str(exc):
            return empty_frame(on_error)
        raise DataError(f"{shown}: cannot read it as gzipped JSON lines of MNIST ({short_error(exc)})") from None
    return finish(_require_json_columns(df, shown), on_error)


def _number(v: Any) -> float | None:
    """A JSON number as float64 (what the reader's Float64 hint gives); None for anything else."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        return float(v)
    except OverflowError:  # an integer literal beyond float64: infinite, as a float literal would be
        return math.inf if v > 0 else -math.inf


def as_pixels(image: Any) -> list[float | None] | None:
    """A parsed JSON ``image`` as ``List[Float64]``: None unless a list; non-numbers become None."""
    return [_number(v) for v in image] if isinstance(image, list) else None


def as_label(label: Any) -> float | None:
    """A parsed JSON ``label`` as ``Float64``: None unless a number."""
    return _number(label)


def parse_json_line(line: str | None) -> tuple[list[float | None] | None, float | None]:
    """One line to (pixels, label); anything that is not there or not a number becomes None."""
    if line is None:
        return None, None
    try:
        obj = loads_json(line)
    except ValueError:
        return None, None
    if not isinstance(obj, dict):
        return None, None
    return as_pixels(obj.get("image")), as_label(obj.get("label"))


def read_json_lines_leniently(src: str) -> daft.DataFrame:
    """Slow path for a file with bad lines under ``on_error="null"``: one row per non-blank line.

    A line that is not an MNIST JSON object gives a row with a null image and label, and its
    reason in :data:`~daft_mnist.data._columns.LINE_ERROR` (which :func:`~daft_mnist.data._columns.finish`
    turns into the row's ``error``).
    """
    import daft
    import pyarrow as pa
    from daft import DataType, col

    @daft.func.batch(
        return_dtype=DataType.struct(
            {"image": DataType.list(DataType.float64()), "label": DataType.float64(), LINE_ERROR: DataType.string()}
        ),
        use_process=False,
    )
    def parse_mnist_json_lines(text: daft.Series) -> Any:
        lines = text.to_pylist()
        parsed = [parse_json_line(line) for line in lines]
        images = pa.array([p for p, _ in parsed], type=pa.list_(pa.float64()))
        labels = pa.array([lab for _, lab in parsed], type=pa.float64())
        why = [None if line is None else _line_problem(line.strip().encode(), strict=True) for line in lines]
        reasons = pa.array([None if w is None else f"line: {w}" for w in why], type=pa.string())
        return pa.StructArray.from_arrays([images, labels, reasons], names=["image", "label", LINE_ERROR])

    parsed = daft.read_text(daft_literal_path(src)).select(parse_mnist_json_lines(col("text")).alias("row"))
    return parsed.select(*(col("row")[name].alias(name) for name in ("image", "label", LINE_ERROR)))
